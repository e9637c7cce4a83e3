//! Raft consensus (Ongaro & Ousterhout, "In Search of an Understandable
//! Consensus Algorithm", extended version, and Ongaro's thesis) as a
//! deterministic, sans-IO state machine.
//!
//! [`Raft`] implements [`quorate_core::Protocol`] with byte requests and
//! [`quorate_core::Committed`] outputs, so it is a
//! [`quorate_core::Consensus`]: the node driver, the simulator and unit
//! tests all drive it the same way, through `tick`, `step`, `submit`,
//! `ready` and `advance`.
//!
//! Implemented: leader election with randomized timeouts (§5.2), PreVote
//! and CheckQuorum with leader stickiness (thesis §9.6, §6.2), log
//! replication with the log-matching check and fast backtracking (§5.3),
//! the commit rule of §5.4.2, batched and pipelined AppendEntries,
//! request forwarding from followers, log compaction and InstallSnapshot
//! (§7). Not yet: membership changes, leader transfer, ReadIndex reads,
//! chunked snapshots. See `docs/raft.md`.
#![deny(missing_docs)]

mod config;
mod election;
mod hard_state;
mod log;
mod message;
mod progress;
mod proposals;
mod raft;
mod replication;
mod requests;
mod snapshot;
mod step;

pub use config::Config;
#[cfg(feature = "mutants")]
pub use config::Mutant;
pub use hard_state::HardState;
pub use message::{AppendOutcome, Message, ProposeOutcome};
pub use raft::Raft;
