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
//! ([`CommandBatch`], one log entry), where growing a `Vec` from empty took
//! several.

use bytes::{Bytes, BytesMut};
use quorate_core::{command_batch, decode_sharing, GroupId};
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

/// Packs state-machine commands into the data of one log entry, in the
/// layout of [`quorate_core::command_batch`].
///
/// Why one entry per batch: everything a protocol does per entry
/// (appending it, writing it, sending it to each follower, counting its
/// acknowledgements, compacting it) is then paid once per batch, and the
/// batch costs one buffer and one reference count instead of two
/// allocations per command.
#[derive(Debug, Default)]
pub struct CommandBatch {
    buffer: BytesMut,
    commands: usize,
}

/// The least a batch buffer is allocated with. Each batch is split off the
/// front of the buffer, so later batches are carved out of the same
/// allocation until it is used up: one allocation per many turns instead
/// of one per turn. The entries of those batches share it, so it is freed
/// when the last of them is compacted away.
const BUFFER_BYTES_MIN: usize = 16 * 1024;

impl CommandBatch {
    /// The length of `command`'s encoding, found without writing it.
    pub fn measure<C: Serialize>(command: &C) -> Result<usize, CommandEncodeError> {
        guard_panics(|| serialized_bytes(command).map_err(CommandEncodeError::Serialize))
    }

    /// Makes room for `framed_bytes` more: the sum of
    /// [`command_batch::framed_len`] over the lengths
    /// [`measure`](Self::measure) returned.
    pub fn reserve(&mut self, framed_bytes: usize) {
        if self.buffer.capacity() - self.buffer.len() < framed_bytes {
            self.buffer.reserve(framed_bytes.max(BUFFER_BYTES_MIN));
        }
    }

    /// Bytes in the batch so far, length prefixes included.
    pub fn len_bytes(&self) -> usize {
        self.buffer.len()
    }

    /// Commands in the batch so far.
    pub fn len(&self) -> usize {
        self.commands
    }

    /// Whether the batch holds no command.
    pub fn is_empty(&self) -> bool {
        self.commands == 0
    }

    /// Appends `command`, which [`measure`](Self::measure) found to be
    /// `len` bytes long. On an error nothing of the command stays in the
    /// batch.
    pub fn push<C: Serialize>(
        &mut self,
        command: &C,
        len: usize,
    ) -> Result<(), CommandEncodeError> {
        let start = self.buffer.len();
        command_batch::put_len_prefix(&mut self.buffer, len);
        let body = self.buffer.len();
        self.buffer.resize(body + len, 0);
        let target = &mut self.buffer[body..];
        let written = guard_panics(|| match postcard::to_slice(command, target) {
            Ok(written) => Ok(written.len()),
            // Longer than measured.
            Err(postcard::Error::SerializeBufferFull) => {
                Err(CommandEncodeError::Inconsistent { measured: len })
            }
            Err(error) => Err(CommandEncodeError::Serialize(error)),
        });
        match written {
            Ok(written) if written == len => {
                self.commands += 1;
                Ok(())
            }
            outcome => {
                self.buffer.truncate(start);
                Err(outcome
                    .err()
                    .unwrap_or(CommandEncodeError::Inconsistent { measured: len }))
            }
        }
    }

    /// The batch as an entry's data; the builder is left empty, keeping
    /// whatever room remains in its buffer.
    pub fn take(&mut self) -> Bytes {
        let commands = std::mem::take(&mut self.commands);
        // An empty command is its one-byte zero prefix and any other takes
        // more, so a batch as long as its count holds only empty commands.
        if self.buffer.len() == commands {
            // Static data, so that the entry's many clones (write batch,
            // AppendEntries, outputs) update no reference count.
            if let Some(data) = command_batch::empty_commands(commands) {
                self.buffer.clear();
                return data;
            }
        }
        self.buffer.split().freeze()
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

    /// The commands of a batch, each decoded by the trait's default.
    fn unpack(data: &Bytes) -> Vec<Result<(u32, String), DecodeError>> {
        command_batch::commands(data)
            .map(|command| command.and_then(Tuples::decode_command))
            .collect()
    }

    #[test]
    fn a_batch_packs_commands_into_one_entry_and_round_trips() {
        let commands: Vec<(u32, String)> = (0..50u32)
            .map(|n| (n * 1000, "x".repeat(n as usize * 7)))
            .collect();
        let lens: Vec<usize> = commands
            .iter()
            .map(|c| CommandBatch::measure(c).unwrap())
            .collect();
        let framed: usize = lens.iter().map(|&len| command_batch::framed_len(len)).sum();
        let mut batch = CommandBatch::default();
        batch.reserve(framed);
        for (command, &len) in commands.iter().zip(&lens) {
            batch.push(command, len).unwrap();
        }
        assert_eq!((batch.len(), batch.len_bytes()), (50, framed));
        let data = batch.take();
        assert!(batch.is_empty() && batch.len_bytes() == 0);
        assert_eq!(data.len(), framed);
        let decoded: Vec<_> = unpack(&data).into_iter().map(Result::unwrap).collect();
        assert_eq!(decoded, commands);
        // Each command's bytes are exactly its postcard encoding.
        for (bytes, command) in command_batch::commands(&data).zip(&commands) {
            assert_eq!(
                bytes.unwrap()[..],
                postcard::to_allocvec(command).unwrap()[..]
            );
        }
        // An empty command is a zero length and nothing else; a batch of
        // them is static data.
        assert_eq!(CommandBatch::measure(&()), Ok(0));
        batch.push(&(), 0).unwrap();
        batch.push(&(), 0).unwrap();
        let empties = batch.take();
        assert_eq!(empties, Bytes::from_static(&[0, 0]));
        assert_eq!(
            empties.as_ptr(),
            command_batch::empty_commands(2).unwrap().as_ptr()
        );
        assert!(batch.is_empty() && batch.len_bytes() == 0);
        // The next batch comes out of the same allocation as the first.
        batch.reserve(command_batch::framed_len(lens[1]));
        batch.push(&commands[1], lens[1]).unwrap();
        let next = batch.take();
        assert_eq!(next.as_ptr(), data.as_ptr_range().end);
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
        assert_eq!(batch.push(&Panicky, 4), Err(CommandEncodeError::Panicked));
        // Shorter the second time than it measured: refused, buffer reset.
        let fickle = Fickle {
            calls: Default::default(),
            fail: false,
        };
        let len = CommandBatch::measure(&fickle).unwrap();
        assert_eq!(
            batch.push(&fickle, len),
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
            batch.push(&growing, short_len),
            Err(CommandEncodeError::Inconsistent {
                measured: short_len
            })
        );
        // Nothing of the refused commands stayed; the batch goes on.
        assert!(batch.is_empty() && batch.len_bytes() == 0);
        let command = (1u32, "after".to_string());
        let len = CommandBatch::measure(&command).unwrap();
        batch.push(&command, len).unwrap();
        assert_eq!(unpack(&batch.take()), vec![Ok(command)]);
    }

    #[test]
    fn commands_reject_trailing_bytes() {
        let command = (5u32, "put".to_string());
        let data = postcard::to_allocvec(&command).unwrap();
        let decode = |data: &[u8]| Tuples::decode_command((&Bytes::copy_from_slice(data)).into());
        assert_eq!(decode(&data), Ok(command));
        let mut longer = data.clone();
        longer.push(1);
        assert_eq!(decode(&longer), Err(DecodeError::TrailingBytes { len: 1 }));
        assert!(decode(&data[..data.len() - 1]).is_err());
    }
}
