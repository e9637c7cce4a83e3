//! The remaining component traits: transport, state machine, partitioner,
//! failure detector.

use crate::command_batch::CommandData;
use crate::error::StorageError;
use crate::ids::{LogIndex, NodeId};
use async_trait::async_trait;
use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};
use thiserror::Error;

/// Counters every transport keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Frames accepted by `send`.
    pub frames_sent: u64,
    /// Frames handed out by `recv`.
    pub frames_received: u64,
    /// Frames dropped because a per-peer queue was full, the peer is unknown
    /// or unreachable, or a frame was oversized.
    pub frames_dropped: u64,
}

/// What [`Transport::try_recv`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TryRecv {
    /// A frame that had already arrived, with its sender.
    Frame(NodeId, Bytes),
    /// Nothing has arrived yet.
    Empty,
    /// The transport has shut down; no frame will arrive.
    Closed,
}

/// Moves opaque frames between nodes.
///
/// Transports see bytes, never protocol types: the node encodes and decodes.
/// Delivery is best effort: frames may be lost, duplicated or reordered,
/// and protocols are built to tolerate that.
///
/// # To ensure correctness
///
/// - [`send`](Transport::send) never blocks and never waits for the peer:
///   it queues the frame (in a bounded per-peer queue) or drops it and counts
///   the drop. A slow or dead peer must never stall the caller.
/// - [`recv`](Transport::recv) is cancel-safe: dropping its future before
///   it completes loses no frame. (The node polls it inside `select!`.)
/// - The `NodeId` that `recv` returns is the authenticated sender, never a
///   value the sender merely claimed, when the transport offers
///   authentication.
/// - Every frame handed out is exactly a frame some peer passed to `send`.
/// - [`try_recv`](Transport::try_recv), when overridden, hands out the same
///   frames `recv` would, in the same order, and never waits.
#[async_trait]
pub trait Transport: Send + 'static {
    /// Queues `frame` for delivery to `to`, or drops it (and counts it).
    fn send(&self, to: NodeId, frame: Bytes);

    /// Waits for the next frame addressed to this node. `None` once the
    /// transport has shut down.
    async fn recv(&mut self) -> Option<(NodeId, Bytes)>;

    /// Takes a frame that has already arrived, without waiting.
    ///
    /// The node calls this after every wake-up until it finds nothing, to
    /// carry many frames in one batch. The default polls `recv` once, which
    /// allocates the boxed future `async_trait` makes on every call:
    /// a transport with a queue of its own should override it.
    fn try_recv(&mut self) -> TryRecv {
        let mut next = self.recv();
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match next.as_mut().poll(&mut context) {
            std::task::Poll::Ready(Some((from, frame))) => TryRecv::Frame(from, frame),
            std::task::Poll::Ready(None) => TryRecv::Closed,
            std::task::Poll::Pending => TryRecv::Empty,
        }
    }

    /// Counters since the transport was created.
    fn stats(&self) -> TransportStats {
        TransportStats::default()
    }
}

/// The application's deterministic state machine, fed committed commands in
/// log order.
///
/// # To ensure correctness
///
/// `apply` must be deterministic: the same commands in the same order give
/// the same state and the same responses on every replica. No clocks, no
/// randomness, no iteration over randomly seeded hash maps that reaches a
/// response or a snapshot. `apply` must not panic: a panic stops the node
/// (and, being deterministic, every replica at the same entry). A command
/// it cannot carry out is answered with a response that says so.
///
/// A command's `Serialize` runs on the node's driver task; one that fails
/// or panics refuses only that command (`SubmitError::InvalidCommand`).
///
/// Commands travel as postcard: the node encodes the commands it takes in
/// one turn into the data of one log entry (a
/// [`command_batch`](crate::command_batch)), and every replica applies each
/// command of it, in order, with
/// [`apply_encoded`](StateMachine::apply_encoded) (by default
/// [`decode_command`](StateMachine::decode_command), then `apply`). An
/// implementation that overrides either must accept exactly what postcard's
/// decoder accepts and do what the decoded command does, or replicas built
/// with and without the override would disagree.
pub trait StateMachine: Send + 'static {
    /// A command, encoded by the node (postcard) into the log.
    type Command: Serialize + DeserializeOwned + Send + 'static;
    /// What applying a command returns to its submitter.
    type Response: Send + 'static;

    /// Decodes one command's bytes, borrowed from a committed entry's
    /// batch; the whole of `data` must be one command (trailing bytes are
    /// an error).
    ///
    /// The default is postcard's decoder ([`decode_exact`]), which copies
    /// every owned field (a `Bytes` key, a `String`) out of `data`. A state
    /// machine whose command holds `Bytes` can override it to share those
    /// fields with the entry instead ([`CommandData::share`]): no
    /// allocation per field, at the price of the fields keeping the entry's
    /// buffer alive.
    fn decode_command(data: CommandData<'_>) -> Result<Self::Command, DecodeError> {
        decode_exact(data.as_slice())
    }

    /// Applies `command`, carried by the log entry at `index`.
    ///
    /// The commands of one entry share its index and are applied in the
    /// order they were packed, so `index` never decreases from one call to
    /// the next, and may repeat.
    fn apply(&mut self, index: LogIndex, command: Self::Command) -> Self::Response;

    /// Decodes one command's bytes and applies it: what every replica does
    /// with each command of a command entry. The node driver and the
    /// simulator both apply through this method (by way of
    /// [`command_batch::apply`](crate::command_batch::apply)).
    ///
    /// The default is [`decode_command`](StateMachine::decode_command) then
    /// [`apply`](StateMachine::apply). A state machine that can apply a
    /// command straight from the borrowed bytes, without building an owned
    /// command first, may override it; it must then end in the same state
    /// with the same response, and fail on exactly the data
    /// `decode_command` rejects (leaving the state unchanged).
    fn apply_encoded(
        &mut self,
        index: LogIndex,
        data: CommandData<'_>,
    ) -> Result<Self::Response, DecodeError> {
        let command = Self::decode_command(data)?;
        Ok(self.apply(index, command))
    }

    /// Serializes the whole state.
    fn snapshot(&self) -> Bytes;

    /// Replaces the whole state with a snapshot taken by
    /// [`snapshot`](StateMachine::snapshot). A snapshot that does not decode
    /// is [`StorageError::Corruption`] and leaves the state unchanged.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), StorageError>;
}

/// Decodes `data`, the whole of which must be one postcard-encoded value
/// (trailing bytes are an error). `T` may borrow from `data`.
pub fn decode_exact<'a, T: serde::Deserialize<'a>>(data: &'a [u8]) -> Result<T, DecodeError> {
    let (value, rest) = postcard::take_from_bytes(data)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(DecodeError::TrailingBytes { len: rest.len() })
    }
}

/// Why the data of a log entry is not a command
/// ([`StateMachine::decode_command`]). Every replica fails on the same bytes
/// the same way, so a node skips such an entry and answers its submitter
/// with `SubmitError::InvalidCommand`.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The data is not a postcard encoding of a command (truncated, an
    /// unknown variant, a bad length...).
    #[error("not a command: {0}")]
    Postcard(#[from] postcard::Error),
    /// A whole command decoded, with bytes left over.
    #[error("{len} bytes after the command")]
    TrailingBytes {
        /// How many bytes were left.
        len: usize,
    },
    /// The entry's command batch breaks off: a length prefix runs past the
    /// end of the data or does not terminate (see
    /// [`command_batch`](crate::command_batch)).
    #[error("command batch breaks off at byte {offset}")]
    Batch {
        /// Where the broken length prefix starts.
        offset: usize,
    },
}

/// Identifies one shard: a slice of the key space owned by one group.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, serde::Deserialize,
)]
pub struct ShardId(pub u32);

/// Maps keys to the shards that own them, and shards to the nodes that
/// replicate them. Pure and synchronous.
///
/// # To ensure correctness
///
/// Every node holding the same partitioner state answers identically: no
/// randomly seeded hashing.
pub trait Partitioner: Send + Sync + 'static {
    /// The shard that owns `key`.
    fn shard_for(&self, key: &[u8]) -> ShardId;

    /// The nodes that replicate `shard`, in preference order.
    fn replicas(&self, shard: ShardId) -> Vec<NodeId>;
}

/// What a failure detector believes about a peer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Liveness {
    /// Heard from recently.
    Alive,
    /// Silent for longer than usual; not yet given up on.
    Suspect {
        /// Ticks since the last heartbeat.
        silent_ticks: u64,
    },
    /// Silent long enough to be treated as failed.
    Dead {
        /// Ticks since the last heartbeat.
        silent_ticks: u64,
    },
}

/// Tells which peers are alive, suspected or dead. Sans-IO like the
/// protocols: fed heartbeats and ticks, asked for verdicts.
pub trait FailureDetector: Send + 'static {
    /// Records a heartbeat (any sign of life) from `from` at the current tick.
    fn heartbeat(&mut self, from: NodeId);

    /// Advances logical time by one tick.
    fn tick(&mut self);

    /// The current verdict on `node`.
    fn liveness(&self, node: NodeId) -> Liveness;
}
