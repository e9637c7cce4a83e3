//! The commands the key-value state machine applies, and its answers.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// One key-value operation. Every command, reads included, goes through the
/// log, which makes reads linearizable without any extra protocol support.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Command {
    /// Reads the value of `key`.
    Get {
        /// The key to read.
        key: Bytes,
    },
    /// Sets `key` to `value`.
    Put {
        /// The key to write.
        key: Bytes,
        /// Its new value.
        value: Bytes,
    },
    /// Removes `key`.
    Delete {
        /// The key to remove.
        key: Bytes,
    },
    /// Sets `key` to `new` only if its current value is `expected`
    /// (`None`: only if the key is absent).
    CompareAndSwap {
        /// The key to test and write.
        key: Bytes,
        /// The value the key must have now.
        expected: Option<Bytes>,
        /// The value to set when it does.
        new: Bytes,
    },
}

impl Command {
    /// The key the command touches.
    pub fn key(&self) -> &Bytes {
        match self {
            Command::Get { key }
            | Command::Put { key, .. }
            | Command::Delete { key }
            | Command::CompareAndSwap { key, .. } => key,
        }
    }

    /// True when applying the command cannot change the state.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Command::Get { .. })
    }
}

/// The answer to one [`Command`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Response {
    /// For [`Command::Get`]: the value read, `None` when the key is absent.
    Value(Option<Bytes>),
    /// For [`Command::Put`]: the value was written.
    Written,
    /// For [`Command::Delete`]: whether the key existed.
    Deleted {
        /// The key was present before the delete.
        existed: bool,
    },
    /// For [`Command::CompareAndSwap`]: whether the swap happened.
    Swapped(bool),
}
