//! A point-in-time view of one protocol instance.

use crate::ids::{LogIndex, NodeId, Term};

/// The part a protocol instance currently plays.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Probing whether an election could succeed before disrupting the term
    /// (Raft PreVote).
    PreCandidate,
    /// Running an election.
    Candidate,
    /// Leads: orders requests.
    Leader,
    /// Replicates but never votes or leads.
    Learner,
}

/// A snapshot of a protocol instance's state, for operators and tests.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Status {
    /// This node.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Current term (or ballot round).
    pub term: Term,
    /// The leader this node knows of, if any.
    pub leader: Option<NodeId>,
    /// Highest index known to be committed (or chosen).
    pub commit_index: LogIndex,
    /// Highest index emitted as an output so far.
    pub applied_index: LogIndex,
    /// Index of the last entry in the local log.
    pub last_index: LogIndex,
    /// Index of the last entry the latest snapshot covers (0 without one).
    /// The log held in memory is `snapshot_index + 1 ..= last_index`.
    pub snapshot_index: LogIndex,
    /// Messages dropped because they were stale or malformed.
    pub dropped_messages: u64,
}
