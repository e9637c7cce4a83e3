//! The sans-IO protocol trait and its two faces.

use crate::entry::Entry;
use crate::error::{ConfigError, SubmitError};
use crate::ids::{LogIndex, NodeId, ReadyId, RequestId};
use crate::ready::Ready;
use crate::status::Status;
use crate::storage::Recovered;
use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;

/// A protocol's tunables: a plain struct with defaults and a validity check.
///
/// The config names its protocol, so a node builder infers the protocol from
/// the config it is given: swapping protocols is swapping the config value.
pub trait ProtocolConfig: Clone + Debug + Send + Sync + 'static {
    /// The protocol this config configures.
    type Protocol: Protocol<Config = Self>;

    /// Checks every field; returns the first invalid one.
    fn validate(&self) -> Result<(), ConfigError>;
}

/// A deterministic, sans-IO protocol state machine (Raft, Paxos, 2PC, ...).
///
/// Inputs go in through [`tick`](Protocol::tick), [`step`](Protocol::step)
/// and [`submit`](Protocol::submit); the work they cause comes out as one
/// [`Ready`] batch, which the driver carries out and hands back with
/// [`advance`](Protocol::advance). See [`Ready`] for the ordering contract.
///
/// # To ensure correctness
///
/// Implementations do no IO, read no clock, spawn nothing, and draw
/// randomness only from a seed in their config: the same inputs in the same
/// order produce the same outputs, byte for byte. Time is logical ticks.
pub trait Protocol: Sized + Send + 'static {
    /// A message between instances of this protocol on different nodes.
    /// Comparable so that the node can encode a message it sends to several
    /// peers once.
    type Message: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + 'static;
    /// The protocol's tunables.
    type Config: ProtocolConfig<Protocol = Self>;
    /// What a client submits.
    type Request: Send + 'static;
    /// What the protocol decides, in order.
    type Output: Send + 'static;

    /// Builds an instance from what storage recovered (empty on first start).
    fn restore(id: NodeId, config: Self::Config, recovered: Recovered)
        -> Result<Self, ConfigError>;

    /// Advances logical time by one tick.
    fn tick(&mut self);

    /// Handles a message from a peer. Infallible: a stale, duplicated or
    /// nonsensical message is dropped and counted in
    /// [`Status::dropped_messages`].
    fn step(&mut self, from: NodeId, message: Self::Message);

    /// Submits a request. On success the request's fate is reported later:
    /// as an output carrying the returned id, or in [`Ready::failed`].
    fn submit(&mut self, request: Self::Request) -> Result<RequestId, SubmitError>;

    /// Takes the pending work, if any. Returns `None` while a batch is
    /// outstanding (not yet advanced) or when there is nothing to do.
    fn ready(&mut self) -> Option<Ready<Self::Message, Self::Output>>;

    /// Reports that the batch `ready` has been carried out in full.
    fn advance(&mut self, ready: ReadyId);

    /// Hands the protocol a snapshot of the state machine taken at
    /// `applied`, so it can discard its log up to there (log compaction,
    /// Raft §7).
    ///
    /// # To ensure correctness
    ///
    /// - The driver calls it between Ready batches (never while one is
    ///   outstanding), with `applied` the index of the last output it has
    ///   applied and `data` the state machine's
    ///   [`snapshot`](crate::StateMachine::snapshot) taken right after
    ///   applying it: the state produced by every output up to `applied`
    ///   and by nothing later. When to call it (every N applied entries, on
    ///   a size threshold) is the driver's choice.
    /// - The protocol fills the [`SnapshotMeta`](crate::SnapshotMeta)
    ///   itself (the term at `applied`, the membership in force there),
    ///   because only it knows them. It ignores a snapshot at or below the
    ///   one it already holds, and never compacts beyond what it has handed
    ///   out as outputs.
    /// - It then emits, in a later [`Ready`], a
    ///   [`WriteBatch`](crate::WriteBatch) with `snapshot` set to the new
    ///   snapshot and `compact_to = applied`, and keeps in memory only the
    ///   log after `applied` (plus the snapshot, to send to peers that fell
    ///   behind it). Until that batch is durable, storage still holds the
    ///   older state, which recovers to the same thing.
    /// - Because `snapshot.meta.last_index` equals the driver's applied
    ///   index, the driver does not restore its own snapshot into the state
    ///   machine (it restores only snapshots beyond what it applied: those
    ///   a peer sent).
    fn compact(&mut self, applied: LogIndex, data: Bytes);

    /// A point-in-time view for operators and tests.
    fn status(&self) -> Status;
}

/// One committed log entry, handed to the state machine in log order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Committed {
    /// The entry.
    pub entry: Entry,
    /// Set when the entry was submitted on this node by this instance: the
    /// id [`Protocol::submit`] returned for it.
    pub request: Option<RequestId>,
}

/// A protocol that orders opaque commands into one committed log
/// (Raft, Multi-Paxos).
///
/// Implemented for every [`Protocol`] with byte requests and [`Committed`]
/// outputs; code above consensus is generic over this trait, which is what
/// makes protocols interchangeable.
pub trait Consensus: Protocol<Request = Bytes, Output = Committed> {}

impl<P: Protocol<Request = Bytes, Output = Committed>> Consensus for P {}

/// Identifies one distributed transaction.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, serde::Deserialize,
)]
pub struct TxnId(pub u64);

/// The fate of a distributed transaction.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, serde::Deserialize)]
pub enum TxnDecision {
    /// Every participant applies the transaction.
    Commit,
    /// No participant applies the transaction.
    Abort,
}

/// A protocol that decides atomically whether a transaction spanning several
/// groups commits everywhere or nowhere (two-phase commit).
pub trait TxnCoordinator: Protocol<Output = (TxnId, TxnDecision)> {}

impl<P: Protocol<Output = (TxnId, TxnDecision)>> TxnCoordinator for P {}
