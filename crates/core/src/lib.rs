//! Quorate's shared vocabulary.
//!
//! This crate holds what every other Quorate crate agrees on: identifiers,
//! log [`Entry`]s, the [`Ready`] batch with its IO ordering contract, the
//! error types, and the component traits ([`Protocol`], [`Consensus`],
//! [`TxnCoordinator`], [`Transport`], [`Storage`], [`StateMachine`],
//! [`Partitioner`], [`FailureDetector`]).
//!
//! Architecture invariant: nothing here performs IO, reads a clock, spawns a
//! task or draws randomness. Protocols built on these types run unchanged in
//! the tokio node driver, in the deterministic simulator and in unit tests.
#![deny(missing_docs)]

pub mod command_batch;
mod entry;
mod error;
mod ids;
mod protocol;
mod ready;
mod rng;
mod shared_bytes;
mod status;
mod storage;
mod traits;

pub use command_batch::CommandData;
pub use entry::{Entry, EntryKind, Snapshot, SnapshotMeta};
pub use error::{ConfigError, StorageError, SubmitError};
pub use ids::{GroupId, LogIndex, NodeId, ReadyId, RequestId, Term};
pub use protocol::{
    Committed, Consensus, Protocol, ProtocolConfig, TxnCoordinator, TxnDecision, TxnId,
};
pub use ready::Ready;
pub use rng::SeededRng;
pub use shared_bytes::decode_sharing;
pub use status::{Role, Status};
pub use storage::{Recovered, Storage, WriteBatch};
pub use traits::{
    decode_exact, DecodeError, FailureDetector, Liveness, Partitioner, ShardId, StateMachine,
    Transport, TransportStats, TryRecv,
};
