//! The node's encodings: protocol messages in transport frames, and
//! state-machine commands in log entries. Only the node encodes; transports
//! and storages see bytes. Commands are decoded by the state machine itself
//! ([`StateMachine::apply_encoded`](quorate_core::StateMachine::apply_encoded),
//! postcard unless the state machine decodes without copying), so that the
//! simulator, which has no node, applies them the same way.
//!
//! # Frame layout
//!
//! ```text
//! +---------+----------------------+---------------------------+
//! | version | group (u32, LE)      | postcard(P::Message)      |
//! | 1 byte  | 4 bytes              | rest of the frame         |
//! +---------+----------------------+---------------------------+
//! ```
//!
//! The version byte lets a later format be rejected cleanly by older nodes
//! (and vice versa); the group id lets one transport carry many groups.
//! A frame that does not decode completely is dropped and counted, never a
//! panic.
//!
//! Encoders measure the message first (postcard's size pass only adds up
//! lengths) and write into a buffer of exactly that size: one allocation
//! per frame, and one for all the commands of a driver turn
//! ([`CommandBatch`]), where growing a `Vec` from empty took several.

use bytes::{Bytes, BytesMut};
use quorate_core::{decode_sharing, GroupId};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt;

/// The frame format this node speaks.
pub const WIRE_VERSION: u8 = 1;

/// Bytes before the message body: version and group.
pub const ENVELOPE_BYTES: usize = 1 + 4;

/// Why an inbound frame was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Shorter than the envelope.
    Truncated {
        /// The frame's length.
        len: usize,
    },
    /// Another wire format version.
    Version {
        /// The version the frame claims.
        found: u8,
    },
    /// Addressed to a group this node does not host.
    Group {
        /// The group the frame names.
        found: GroupId,
    },
    /// The body is not one valid message.
    Body {
        /// The decoder's complaint.
        reason: String,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Truncated { len } => write!(f, "frame of {len} bytes has no envelope"),
            FrameError::Version { found } => {
                write!(f, "frame version {found}, expected {WIRE_VERSION}")
            }
            FrameError::Group { found } => write!(f, "frame for unknown group {}", found.0),
            FrameError::Body { reason } => write!(f, "frame body does not decode: {reason}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Encodes `message` for `group` into one frame.
///
/// # Panics
///
/// When the message type cannot be serialized by postcard: a protocol
/// message type is fixed at compile time, so this is a programming error.
pub fn encode_frame<M: Serialize + fmt::Debug>(group: GroupId, message: &M) -> Bytes {
    let frame = serialized_bytes(message)
        .and_then(|body_bytes| {
            let mut envelope = Vec::with_capacity(ENVELOPE_BYTES + body_bytes);
            envelope.push(WIRE_VERSION);
            envelope.extend_from_slice(&group.0.to_le_bytes());
            postcard::to_extend(message, envelope)
        })
        .unwrap_or_else(|error| {
            panic!("protocol message {message:?} does not serialize with postcard: {error}")
        });
    Bytes::from(frame)
}

/// Decodes a frame addressed to `group`.
///
/// Entry and snapshot data in the message are slices of `frame`, not
/// copies ([`decode_sharing`]): a frame of a hundred entries costs no
/// allocation per entry.
pub fn decode_frame<M: DeserializeOwned>(group: GroupId, frame: &Bytes) -> Result<M, FrameError> {
    if frame.len() < ENVELOPE_BYTES {
        return Err(FrameError::Truncated { len: frame.len() });
    }
    if frame[0] != WIRE_VERSION {
        return Err(FrameError::Version { found: frame[0] });
    }
    let found = GroupId(u32::from_le_bytes([frame[1], frame[2], frame[3], frame[4]]));
    if found != group {
        return Err(FrameError::Group { found });
    }
    let (message, trailing_bytes) = decode_sharing(frame, |frame| {
        postcard::take_from_bytes::<M>(&frame[ENVELOPE_BYTES..])
            .map(|(message, rest)| (message, rest.len()))
    })
    .map_err(|error| FrameError::Body {
        reason: error.to_string(),
    })?;
    if trailing_bytes > 0 {
        return Err(FrameError::Body {
            reason: format!("{trailing_bytes} trailing bytes"),
        });
    }
    Ok(message)
}

/// Encodes a batch of state-machine commands into one buffer, each
/// command's data a slice of it.
///
/// Why one buffer: every command's data becomes a log entry that the
/// leader shares with its write batch, its followers' AppendEntries and
/// its outputs. A buffer of its own per command costs an allocation for
/// the buffer and another for the reference count the first share
/// creates; one buffer per batch pays both once.
#[derive(Debug, Default)]
pub struct CommandBatch {
    buffer: BytesMut,
}

impl CommandBatch {
    /// The length of `command`'s encoding, found without writing it.
    pub fn measure<C: Serialize>(command: &C) -> Result<usize, CommandEncodeError> {
        guard_panics(|| serialized_bytes(command).map_err(CommandEncodeError::Serialize))
    }

    /// Makes room for `total_bytes` of commands, the sum of what
    /// [`measure`](Self::measure) returned for them.
    pub fn reserve(&mut self, total_bytes: usize) {
        self.buffer.reserve(total_bytes);
    }

    /// Encodes `command`, which [`measure`](Self::measure) found to be
    /// `len` bytes long, and returns its data. On an error nothing of the
    /// command stays in the buffer.
    pub fn encode<C: Serialize>(
        &mut self,
        command: &C,
        len: usize,
    ) -> Result<Bytes, CommandEncodeError> {
        if len == 0 {
            // An empty `Bytes` refers to no buffer: no reference count for
            // every clone of the entry to update.
            return guard_panics(|| match postcard::to_slice(command, &mut []) {
                Ok(_) => Ok(Bytes::new()),
                Err(_) => Err(CommandEncodeError::Inconsistent { measured: 0 }),
            });
        }
        self.buffer.resize(len, 0);
        let buffer = &mut self.buffer;
        let written = guard_panics(|| match postcard::to_slice(command, buffer) {
            Ok(written) => Ok(written.len()),
            // Longer than measured.
            Err(postcard::Error::SerializeBufferFull) => {
                Err(CommandEncodeError::Inconsistent { measured: len })
            }
            Err(error) => Err(CommandEncodeError::Serialize(error)),
        });
        match written {
            Ok(written) if written == len => Ok(self.buffer.split().freeze()),
            outcome => {
                self.buffer.clear();
                Err(outcome
                    .err()
                    .unwrap_or(CommandEncodeError::Inconsistent { measured: len }))
            }
        }
    }
}

/// Why a command could not be encoded. The submitter gets it as
/// `SubmitError::InvalidCommand`; the node goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandEncodeError {
    /// The command's `Serialize` failed.
    #[error("command does not serialize: {0}")]
    Serialize(postcard::Error),
    /// The command's `Serialize` wrote a different length than it measured
    /// (it serializes differently each time).
    #[error("command serialized to other than the {measured} bytes it measured")]
    Inconsistent {
        /// The length the first serialization found.
        measured: usize,
    },
    /// The command's `Serialize` panicked. Caught so that one bad command
    /// cannot stop the driver, which would leave every other pending
    /// request without a truthful answer.
    #[error("the command's Serialize implementation panicked")]
    Panicked,
}

/// Runs a serialization, turning a panic in user code into an error.
fn guard_panics<T>(
    serialize: impl FnOnce() -> Result<T, CommandEncodeError>,
) -> Result<T, CommandEncodeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(serialize))
        .unwrap_or(Err(CommandEncodeError::Panicked))
}

/// The length of `value`'s postcard encoding, found without writing it.
fn serialized_bytes<T: Serialize + ?Sized>(value: &T) -> Result<usize, postcard::Error> {
    postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use quorate_core::{DecodeError, LogIndex, StateMachine, StorageError};
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Message {
        Vote { term: u64, granted: bool },
        Append(Vec<u64>),
    }

    const GROUP: GroupId = GroupId(7);

    #[test]
    fn frames_round_trip() {
        for message in [
            Message::Vote {
                term: 3,
                granted: true,
            },
            Message::Append(vec![1, 2, 3]),
        ] {
            let frame = encode_frame(GROUP, &message);
            assert_eq!(frame[0], WIRE_VERSION);
            assert_eq!(decode_frame::<Message>(GROUP, &frame), Ok(message));
        }
    }

    #[test]
    fn bad_envelopes_are_rejected() {
        let frame = encode_frame(GROUP, &Message::Append(vec![9]));
        assert_eq!(
            decode_frame::<Message>(GroupId(8), &frame),
            Err(FrameError::Group { found: GROUP })
        );
        let mut other_version = frame.to_vec();
        other_version[0] = WIRE_VERSION + 1;
        assert_eq!(
            decode_frame::<Message>(GROUP, &Bytes::from(other_version)),
            Err(FrameError::Version {
                found: WIRE_VERSION + 1
            })
        );
        assert_eq!(
            decode_frame::<Message>(GROUP, &frame.slice(..3)),
            Err(FrameError::Truncated { len: 3 })
        );
    }

    #[test]
    fn bad_bodies_are_rejected_without_panicking() {
        let frame = encode_frame(GROUP, &Message::Append(vec![9]));
        let mut trailing = frame.to_vec();
        trailing.push(0);
        assert!(matches!(
            decode_frame::<Message>(GROUP, &Bytes::from(trailing)),
            Err(FrameError::Body { .. })
        ));
        // A body claiming a huge vector inside a tiny frame.
        let mut huge = frame[..ENVELOPE_BYTES].to_vec();
        huge.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode_frame::<Message>(GROUP, &Bytes::from(huge)).is_err());
        // Every truncation of a valid frame fails cleanly.
        for len in 0..frame.len() {
            assert!(decode_frame::<Message>(GROUP, &frame.slice(..len)).is_err());
        }
    }

    /// A state machine with a tuple command, decoded by the trait's
    /// default (postcard) decoder.
    struct Tuples;

    impl StateMachine for Tuples {
        type Command = (u32, String);
        type Response = ();

        fn apply(&mut self, _index: LogIndex, _command: (u32, String)) {}

        fn snapshot(&self) -> Bytes {
            Bytes::new()
        }

        fn restore(&mut self, _snapshot: &[u8]) -> Result<(), StorageError> {
            Ok(())
        }
    }

    #[test]
    fn a_batch_of_commands_shares_one_buffer_and_round_trips() {
        let commands: Vec<(u32, String)> = (0..50u32)
            .map(|n| (n * 1000, "x".repeat(n as usize)))
            .collect();
        let lens: Vec<usize> = commands
            .iter()
            .map(|c| CommandBatch::measure(c).unwrap())
            .collect();
        let mut batch = CommandBatch::default();
        batch.reserve(lens.iter().sum());
        let encoded: Vec<Bytes> = commands
            .iter()
            .zip(&lens)
            .map(|(command, &len)| batch.encode(command, len).unwrap())
            .collect();
        for ((command, data), len) in commands.iter().zip(&encoded).zip(&lens) {
            assert_eq!(data.len(), *len);
            assert_eq!(data[..], postcard::to_allocvec(command).unwrap()[..]);
            assert_eq!(Tuples::decode_command(data).as_ref(), Ok(command));
        }
        // Consecutive slices of one allocation.
        for pair in encoded.windows(2) {
            assert_eq!(pair[0].as_ptr_range().end, pair[1].as_ptr());
        }
        // An empty command takes no part of the buffer.
        assert_eq!(CommandBatch::measure(&()), Ok(0));
        assert_eq!(batch.encode(&(), 0), Ok(Bytes::new()));
    }

    /// Serializes differently each time, or not at all.
    struct Fickle {
        calls: std::cell::Cell<usize>,
        fail: bool,
    }

    /// Panics when serialized.
    struct Panicky;

    impl Serialize for Panicky {
        fn serialize<S: serde::Serializer>(&self, _serializer: S) -> Result<S::Ok, S::Error> {
            panic!("a Serialize that panics");
        }
    }

    impl Serialize for Fickle {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            if self.fail {
                return Err(serde::ser::Error::custom("refuses to serialize"));
            }
            let calls = self.calls.get();
            self.calls.set(calls + 1);
            serializer.serialize_bytes(&vec![7u8; 10 - calls.min(10)])
        }
    }

    #[test]
    fn a_command_that_does_not_encode_fails_alone() {
        let mut batch = CommandBatch::default();
        let broken = Fickle {
            calls: Default::default(),
            fail: true,
        };
        assert!(matches!(
            CommandBatch::measure(&broken),
            Err(CommandEncodeError::Serialize(_))
        ));
        assert_eq!(
            CommandBatch::measure(&Panicky),
            Err(CommandEncodeError::Panicked)
        );
        assert_eq!(batch.encode(&Panicky, 4), Err(CommandEncodeError::Panicked));
        // Shorter the second time than it measured: refused, buffer reset.
        let fickle = Fickle {
            calls: Default::default(),
            fail: false,
        };
        let len = CommandBatch::measure(&fickle).unwrap();
        assert_eq!(
            batch.encode(&fickle, len),
            Err(CommandEncodeError::Inconsistent { measured: len })
        );
        // Longer the second time than it measured.
        let growing = Fickle {
            calls: std::cell::Cell::new(5),
            fail: false,
        };
        let short_len = CommandBatch::measure(&growing).unwrap();
        growing.calls.set(0);
        assert_eq!(
            batch.encode(&growing, short_len),
            Err(CommandEncodeError::Inconsistent {
                measured: short_len
            })
        );
        // The batch goes on with well-behaved commands.
        let command = (1u32, "after".to_string());
        let len = CommandBatch::measure(&command).unwrap();
        let data = batch.encode(&command, len).unwrap();
        assert_eq!(Tuples::decode_command(&data), Ok(command));
    }

    #[test]
    fn commands_round_trip_and_reject_trailing_bytes() {
        let command = (5u32, "put".to_string());
        let len = CommandBatch::measure(&command).unwrap();
        let data = CommandBatch::default().encode(&command, len).unwrap();
        // Sized up front: exactly the encoding, no spare capacity.
        assert_eq!(data.len(), postcard::to_allocvec(&command).unwrap().len());
        assert_eq!(Tuples::decode_command(&data), Ok(command));
        let mut longer = data.to_vec();
        longer.push(1);
        assert_eq!(
            Tuples::decode_command(&Bytes::from(longer)),
            Err(DecodeError::TrailingBytes { len: 1 })
        );
        assert!(Tuples::decode_command(&data.slice(..data.len() - 1)).is_err());
    }
}
