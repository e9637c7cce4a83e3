//! Errors, split by who must act on them.
//!
//! - [`SubmitError`]: the caller acts (retry elsewhere, back off, give up).
//! - [`ConfigError`]: the operator acts (fix the configuration).
//! - [`StorageError`]: nobody can: the node stops rather than risk
//!   acknowledging data it lost.
//!
//! Programmer errors (a broken invariant) are `assert!`s with context, not
//! error values.

use crate::ids::NodeId;
use thiserror::Error;

/// Why a request could not be (or might not have been) carried out.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// This node does not lead; the request was not appended anywhere.
    /// Retry at `leader_hint` when there is one.
    #[error("not the leader (leader hint: {leader_hint:?})")]
    NotLeader {
        /// The node this one believes leads, if it knows one.
        leader_hint: Option<NodeId>,
    },
    /// Too many requests are in flight; the request was not appended.
    /// Back off and retry.
    #[error("busy: {in_flight} requests in flight, limit {limit}")]
    Busy {
        /// Requests waiting now.
        in_flight: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The request is larger than the configured maximum; it was not appended.
    #[error("request of {size_bytes} bytes exceeds the limit of {limit_bytes} bytes")]
    TooLarge {
        /// Size of the request.
        size_bytes: usize,
        /// The configured limit.
        limit_bytes: usize,
    },
    /// The outcome is unknown: the request was appended somewhere, but this
    /// node lost track of it (leadership changed, the request timed out, or the
    /// node stopped). It may or may not take effect; retrying it may apply it
    /// twice unless the command is idempotent.
    #[error("outcome unknown: {reason}")]
    Indeterminate {
        /// What made the outcome unknown.
        reason: &'static str,
    },
    /// The node has stopped (shut down, or halted by a fatal error); the
    /// request was not appended.
    #[error("node stopped")]
    Stopped,
    /// The command could not be encoded, or its committed entry could not be
    /// decoded by the state machine's command type. A committed entry that
    /// does not decode is skipped on every replica alike; it had no effect.
    #[error("invalid command: {reason}")]
    InvalidCommand {
        /// The codec's complaint.
        reason: String,
    },
}

impl SubmitError {
    /// True when the request certainly did not take effect.
    pub fn is_definite_failure(&self) -> bool {
        !matches!(self, SubmitError::Indeterminate { .. })
    }
}

/// An invalid configuration value.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
#[error("invalid config: {field}: {reason}")]
pub struct ConfigError {
    /// The offending field.
    pub field: &'static str,
    /// Why its value is rejected.
    pub reason: String,
}

impl ConfigError {
    /// Builds an error for `field`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        ConfigError {
            field,
            reason: reason.into(),
        }
    }
}

/// A storage failure. Any of these stops the node: after a failed write or
/// sync, no further work is accepted (no retry that could acknowledge data
/// that is not durable).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The operating system reported an error.
    #[error("storage io error: {0}")]
    Io(#[from] std::io::Error),
    /// Recovered data failed a check inside acknowledged data.
    #[error("storage corruption at {location}: {detail}")]
    Corruption {
        /// Where (file and offset, or log index).
        location: String,
        /// What check failed.
        detail: String,
    },
    /// A batch broke the storage contract (e.g. appended entries that do not
    /// follow the last one). This is a bug in the caller.
    #[error("invalid write batch: {0}")]
    InvalidBatch(String),
    /// An earlier write failed; the storage refuses all further work.
    #[error("storage poisoned by an earlier failure")]
    Poisoned,
}
