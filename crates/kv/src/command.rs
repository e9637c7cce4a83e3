//! The commands the key-value state machine applies, and its answers, and
//! how a command is decoded from a log entry without copying.

use bytes::Bytes;
use quorate_core::{CommandData, DecodeError};
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

impl Command {
    /// Decodes `data`, the whole of which must be one postcard-encoded
    /// command, into a command whose keys and values are slices of `data`
    /// (no allocation, no copy): the decoder runs over a borrowed twin of
    /// [`Command`] and each borrowed field becomes `data.slice_ref(field)`.
    ///
    /// The result equals postcard's own decoding of `data`, and fails on
    /// the same inputs: postcard encodes a `Bytes` (`serialize_bytes`) and
    /// a byte slice the same way (a varint length, then the bytes), and
    /// the twin's variants and fields are in the same order.
    pub fn decode_borrowed(data: CommandData<'_>) -> Result<Command, DecodeError> {
        let borrowed = CommandRef::decode(data.as_slice())?;
        let slice = |field: &[u8]| data.share(field);
        Ok(match borrowed {
            CommandRef::Get { key } => Command::Get { key: slice(key) },
            CommandRef::Put { key, value } => Command::Put {
                key: slice(key),
                value: slice(value),
            },
            CommandRef::Delete { key } => Command::Delete { key: slice(key) },
            CommandRef::CompareAndSwap { key, expected, new } => Command::CompareAndSwap {
                key: slice(key),
                expected: expected.map(slice),
                new: slice(new),
            },
        })
    }
}

/// [`Command`] with its byte fields borrowed from the encoded data. Must
/// list the same variants with the same fields in the same order: postcard
/// identifies variants by position and fields by order (the round-trip
/// property test in this crate checks that the two decode alike).
#[derive(Clone, Copy, Debug, Deserialize)]
pub(crate) enum CommandRef<'a> {
    Get {
        #[serde(borrow)]
        key: &'a [u8],
    },
    Put {
        #[serde(borrow)]
        key: &'a [u8],
        #[serde(borrow)]
        value: &'a [u8],
    },
    Delete {
        #[serde(borrow)]
        key: &'a [u8],
    },
    CompareAndSwap {
        #[serde(borrow)]
        key: &'a [u8],
        #[serde(borrow)]
        expected: Option<&'a [u8]>,
        #[serde(borrow)]
        new: &'a [u8],
    },
}

impl<'a> CommandRef<'a> {
    /// Decodes one command from `data`, borrowing its fields.
    pub(crate) fn decode(data: &'a [u8]) -> Result<CommandRef<'a>, DecodeError> {
        quorate_core::decode_exact(data)
    }
}

impl Command {
    /// The command with its fields borrowed.
    pub(crate) fn as_ref(&self) -> CommandRef<'_> {
        match self {
            Command::Get { key } => CommandRef::Get { key },
            Command::Put { key, value } => CommandRef::Put { key, value },
            Command::Delete { key } => CommandRef::Delete { key },
            Command::CompareAndSwap { key, expected, new } => CommandRef::CompareAndSwap {
                key,
                expected: expected.as_deref(),
                new,
            },
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Keys and values of any bytes, empty included, and long enough for a
    /// multi-byte length prefix.
    fn field() -> impl Strategy<Value = Bytes> {
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Bytes::from)
    }

    fn command() -> impl Strategy<Value = Command> {
        prop_oneof![
            field().prop_map(|key| Command::Get { key }),
            (field(), field()).prop_map(|(key, value)| Command::Put { key, value }),
            field().prop_map(|key| Command::Delete { key }),
            (field(), prop::option::of(field()), field())
                .prop_map(|(key, expected, new)| Command::CompareAndSwap { key, expected, new }),
        ]
    }

    /// What postcard itself makes of `data` (the `StateMachine` default).
    fn postcard_decode(data: &[u8]) -> Option<Command> {
        match postcard::take_from_bytes::<Command>(data) {
            Ok((command, [])) => Some(command),
            _ => None,
        }
    }

    /// The byte fields of a command.
    fn fields(command: &Command) -> Vec<&Bytes> {
        match command {
            Command::Get { key } | Command::Delete { key } => vec![key],
            Command::Put { key, value } => vec![key, value],
            Command::CompareAndSwap { key, expected, new } => {
                let mut all = vec![key, new];
                all.extend(expected);
                all
            }
        }
    }

    proptest! {
        /// The borrowed decoder returns what postcard returns, and every
        /// non-empty key and value points into the entry's own buffer.
        #[test]
        fn borrowed_decode_equals_postcard_and_shares_the_buffer(command in command()) {
            let data = Bytes::from(postcard::to_allocvec(&command).unwrap());
            let decoded = Command::decode_borrowed((&data).into()).unwrap();
            prop_assert_eq!(Some(decoded.clone()), postcard_decode(&data));
            prop_assert_eq!(&decoded, &command);
            let buffer = data.as_ptr_range();
            for field in fields(&decoded).into_iter().filter(|f| !f.is_empty()) {
                let range = field.as_ptr_range();
                prop_assert!(buffer.start <= range.start && range.end <= buffer.end);
            }
        }

        /// Damaged encodings (cut short, extended, or with one byte
        /// changed) fail or succeed exactly as with postcard, with the same
        /// command when they succeed.
        #[test]
        fn borrowed_decode_accepts_exactly_what_postcard_accepts(
            command in command(),
            cut in any::<prop::sample::Index>(),
            extra in prop::collection::vec(any::<u8>(), 0..3),
            flip in any::<(prop::sample::Index, u8)>(),
        ) {
            let encoded = postcard::to_allocvec(&command).unwrap();
            let truncated = encoded[..cut.index(encoded.len() + 1)].to_vec();
            let mut extended = encoded.clone();
            extended.extend_from_slice(&extra);
            let mut flipped = encoded.clone();
            let at = flip.0.index(flipped.len());
            flipped[at] ^= flip.1;
            for damaged in [truncated, extended, flipped] {
                let data = Bytes::from(damaged);
                prop_assert_eq!(Command::decode_borrowed((&data).into()).ok(), postcard_decode(&data));
            }
        }
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let command = Command::Delete {
            key: Bytes::from_static(b"k"),
        };
        let mut data = postcard::to_allocvec(&command).unwrap();
        data.extend_from_slice(&[0, 0]);
        assert_eq!(
            Command::decode_borrowed((&Bytes::from(data)).into()),
            Err(DecodeError::TrailingBytes { len: 2 })
        );
    }
}
