//! The messages Raft instances exchange. The node encodes them with postcard.

use bytes::Bytes;
use quorate_core::{Entry, LogIndex, NodeId, Snapshot, Term};
use serde::{Deserialize, Serialize};

/// One message between Raft instances.
///
/// Every message carries the sender's term; a receiver first reconciles
/// terms (§5.1: adopt a higher term, reject a lower one) and then handles
/// the message by role.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Message {
    /// "Would you vote for me if I started an election?" (thesis §9.6).
    /// `term` is the term the sender *would* campaign in (its term + 1);
    /// the receiver does not adopt it.
    PreVote {
        /// The term the sender would campaign in.
        term: Term,
        /// Index of the sender's last log entry.
        last_log_index: LogIndex,
        /// Term of the sender's last log entry.
        last_log_term: Term,
    },
    /// Answer to [`Message::PreVote`].
    PreVoteResponse {
        /// The pre-vote's term when granted, else the responder's term.
        term: Term,
        /// Whether the responder would vote for the sender.
        granted: bool,
    },
    /// RequestVote (§5.2).
    Vote {
        /// The candidate's term.
        term: Term,
        /// Index of the candidate's last log entry.
        last_log_index: LogIndex,
        /// Term of the candidate's last log entry.
        last_log_term: Term,
    },
    /// Answer to [`Message::Vote`]; sent only once the vote is durable.
    VoteResponse {
        /// The responder's term.
        term: Term,
        /// Whether the vote was granted.
        granted: bool,
    },
    /// AppendEntries (§5.3).
    Append {
        /// The leader's term.
        term: Term,
        /// Index of the entry immediately before `entries`.
        prev_log_index: LogIndex,
        /// Term of the entry at `prev_log_index`.
        prev_log_term: Term,
        /// Entries to store, contiguous from `prev_log_index + 1`; empty for
        /// a probe.
        entries: Vec<Entry>,
        /// The leader's commit index.
        commit_index: LogIndex,
    },
    /// Answer to [`Message::Append`] and [`Message::InstallSnapshot`]; sent
    /// only once the follower's log (or snapshot) is durable.
    AppendResponse {
        /// The responder's term.
        term: Term,
        /// Whether the log matched, and what the leader should do next.
        outcome: AppendOutcome,
    },
    /// InstallSnapshot (§7): the leader no longer holds the entries a
    /// follower needs next, so it sends its latest snapshot, whole, in one
    /// message. Its size is the state machine's snapshot plus a few bytes:
    /// the transport's frame limit (and the receiver's memory) bound the
    /// state a group can hold; there is no chunking yet.
    InstallSnapshot {
        /// The leader's term.
        term: Term,
        /// The snapshot; `meta` says where it ends.
        snapshot: Snapshot,
    },
    /// Leader heartbeat: asserts leadership and carries the commit index,
    /// capped at what the follower is known to hold.
    Heartbeat {
        /// The leader's term.
        term: Term,
        /// `min(leader commit, follower's match index)`.
        commit_index: LogIndex,
    },
    /// Answer to [`Message::Heartbeat`].
    HeartbeatResponse {
        /// The responder's term.
        term: Term,
    },
    /// A follower forwards a client request to the leader it knows.
    Propose {
        /// The follower's term.
        term: Term,
        /// The follower's incarnation (bumped and persisted on every
        /// restart), echoed back so a restarted follower never matches an
        /// old answer to a new request.
        incarnation: u64,
        /// The follower's request id, echoed back.
        request_id: u64,
        /// The request.
        data: Bytes,
    },
    /// The leader's answer to [`Message::Propose`].
    ProposeResponse {
        /// The leader's term.
        term: Term,
        /// Echo of [`Message::Propose::incarnation`].
        incarnation: u64,
        /// Echo of [`Message::Propose::request_id`].
        request_id: u64,
        /// Where the request went, or why it was refused.
        outcome: ProposeOutcome,
    },
}

impl Message {
    /// The term the message carries.
    pub fn term(&self) -> Term {
        match self {
            Message::PreVote { term, .. }
            | Message::PreVoteResponse { term, .. }
            | Message::Vote { term, .. }
            | Message::VoteResponse { term, .. }
            | Message::Append { term, .. }
            | Message::InstallSnapshot { term, .. }
            | Message::AppendResponse { term, .. }
            | Message::Heartbeat { term, .. }
            | Message::HeartbeatResponse { term }
            | Message::Propose { term, .. }
            | Message::ProposeResponse { term, .. } => *term,
        }
    }
}

/// A follower's verdict on an AppendEntries.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum AppendOutcome {
    /// The log matched; the follower's log agrees with the leader's up to
    /// and including `match_index`.
    Accepted {
        /// Last index known to match the leader's log.
        match_index: LogIndex,
    },
    /// The follower has no entry at `rejected_prev_index` with the given
    /// term (§5.3). The hint lets the leader skip a whole term of entries
    /// per round trip instead of one entry (§5.3, "fast backtracking").
    Rejected {
        /// The `prev_log_index` of the rejected message.
        rejected_prev_index: LogIndex,
        /// The largest index `<= rejected_prev_index` whose term is
        /// `<= ` the rejected `prev_log_term`, or the follower's last index
        /// when its log is shorter.
        hint_index: LogIndex,
        /// The follower's term at `hint_index`.
        hint_term: Term,
    },
}

/// The leader's answer to a forwarded proposal.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum ProposeOutcome {
    /// Appended at `(index, term)`. That pair names one entry for the life
    /// of the cluster: the origin reports the request committed when the
    /// entry committed at `index` has this `term`, and failed otherwise.
    Placed {
        /// Where the entry sits.
        index: LogIndex,
        /// The leader's term, which the entry carries.
        term: Term,
    },
    /// The receiver does not lead now, but led in this term before it
    /// restarted (or stepped down) and no longer remembers which proposals
    /// it appended: a copy of this proposal may sit in its log. The origin
    /// reports the request's outcome as unknown.
    MayHaveBeenPlaced,
    /// The receiver does not lead and did not lead in this term; nothing
    /// was appended.
    NotLeader {
        /// Who the receiver believes leads.
        leader_hint: Option<NodeId>,
    },
    /// The leader has too many uncommitted entries; nothing was appended.
    Busy {
        /// Uncommitted entries on the leader.
        in_flight: usize,
        /// The leader's `uncommitted_entries_max`.
        limit: usize,
    },
    /// The request exceeds the leader's `request_bytes_max`; nothing was
    /// appended.
    TooLarge {
        /// Size of the request.
        size_bytes: usize,
        /// The leader's `request_bytes_max`.
        limit_bytes: usize,
    },
}
