//! The sequential specification of one key of the key-value store.

use bytes::Bytes;

/// What an operation asked for.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Input {
    /// Read the key.
    Get,
    /// Write the key.
    Put(Bytes),
    /// Remove the key.
    Delete,
    /// Write `new` if the key holds `expected` (`None`: is absent).
    Cas {
        /// Required current value.
        expected: Option<Bytes>,
        /// Value written on success.
        new: Bytes,
    },
}

/// What an operation answered.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Output {
    /// The outcome is unknown (`info`): any result is acceptable, and the
    /// operation may also never take effect.
    Unknown,
    /// A get read this value.
    Value(Option<Bytes>),
    /// A put completed.
    Written,
    /// A delete completed; the key existed or not.
    Deleted(bool),
    /// A cas completed; it swapped or not.
    Swapped(bool),
}

/// The state of one key: its value, absent as `None`.
pub type State = Option<Bytes>;

/// Applies `input` to `state` as a sequential store would, and returns the
/// new state when the result matches `output`, `None` when it cannot.
pub fn step(state: &State, input: &Input, output: &Output) -> Option<State> {
    match (input, output) {
        (Input::Get, Output::Unknown) => Some(state.clone()),
        (Input::Get, Output::Value(read)) => (read == state).then(|| state.clone()),
        (Input::Put(value), Output::Unknown | Output::Written) => Some(Some(value.clone())),
        (Input::Delete, Output::Unknown) => Some(None),
        (Input::Delete, Output::Deleted(existed)) => (*existed == state.is_some()).then_some(None),
        (Input::Cas { expected, new }, output) => {
            let swaps = state == expected;
            match output {
                Output::Unknown => Some(if swaps {
                    Some(new.clone())
                } else {
                    state.clone()
                }),
                Output::Swapped(true) => swaps.then(|| Some(new.clone())),
                Output::Swapped(false) => (!swaps).then(|| state.clone()),
                _ => None,
            }
        }
        // A result of the wrong shape never matches.
        _ => None,
    }
}
