//! Inbound messages: sender and shape checks, term reconciliation (§5.1),
//! then dispatch by message and role (etcd's `Step`).

use crate::message::Message;
use crate::raft::Raft;
use quorate_core::{NodeId, Role};

impl Raft {
    pub(crate) fn step_message(&mut self, from: NodeId, message: Message) {
        if from == self.id || !self.is_member(from) || !well_formed(&message) {
            self.drop_message();
            return;
        }
        let term = message.term();
        if term > self.term {
            match &message {
                Message::PreVote { .. } | Message::Vote { .. } if self.in_lease() => {
                    // Leader stickiness: we heard from a live leader within
                    // the minimum election timeout, so this candidate is
                    // disruptive rather than necessary (thesis §9.6).
                    return;
                }
                // A pre-vote asks about a future term; it changes nothing.
                Message::PreVote { .. } => {}
                // A granted pre-vote answers with the term we would campaign
                // in; it is not evidence of a newer term.
                Message::PreVoteResponse { granted: true, .. } => {}
                Message::Append { .. }
                | Message::Heartbeat { .. }
                | Message::InstallSnapshot { .. } => {
                    self.become_follower(term, Some(from));
                }
                Message::Vote { .. } if self.role != Role::Leader => {
                    // §5.2: only a granted vote (or a leader's message)
                    // restarts the election timer. Restarting it on every
                    // newer term would let a candidate with a stale log and
                    // a fast clock block elections forever.
                    let (elapsed, timeout) = (self.election_elapsed, self.election_timeout);
                    self.become_follower(term, None);
                    self.election_elapsed = elapsed;
                    self.election_timeout = timeout;
                }
                _ => self.become_follower(term, None),
            }
        } else if term < self.term {
            match &message {
                Message::Append { .. }
                | Message::Heartbeat { .. }
                | Message::InstallSnapshot { .. } => {
                    // A stale leader may be cut off; tell it about the newer
                    // term so it steps down (without this, PreVote and
                    // CheckQuorum can leave it stuck forever).
                    let reply = Message::HeartbeatResponse { term: self.term };
                    self.send_now.push((from, reply));
                }
                Message::PreVote { .. } => {
                    let reply = Message::PreVoteResponse {
                        term: self.term,
                        granted: false,
                    };
                    self.send_now.push((from, reply));
                }
                _ => {}
            }
            self.drop_message();
            return;
        }

        match message {
            Message::PreVote {
                term,
                last_log_index,
                last_log_term,
            } => self.handle_vote_request(from, true, term, last_log_index, last_log_term),
            Message::Vote {
                term,
                last_log_index,
                last_log_term,
            } => self.handle_vote_request(from, false, term, last_log_index, last_log_term),
            Message::PreVoteResponse { term, granted } => {
                self.handle_vote_response(from, true, term, granted)
            }
            Message::VoteResponse { term, granted } => {
                self.handle_vote_response(from, false, term, granted)
            }
            Message::Append {
                prev_log_index,
                prev_log_term,
                entries,
                commit_index,
                ..
            } => {
                if !self.accept_leader(from) {
                    return;
                }
                self.handle_append(from, prev_log_index, prev_log_term, entries, commit_index);
            }
            Message::InstallSnapshot { snapshot, .. } => {
                if !self.accept_leader(from) {
                    return;
                }
                self.handle_install_snapshot(from, snapshot);
            }
            Message::Heartbeat { commit_index, .. } => {
                if !self.accept_leader(from) {
                    return;
                }
                self.handle_heartbeat(from, commit_index);
            }
            Message::AppendResponse { outcome, .. } => {
                if self.role != Role::Leader {
                    self.drop_message();
                    return;
                }
                self.handle_append_response(from, outcome);
            }
            Message::HeartbeatResponse { .. } => {
                if self.role != Role::Leader {
                    self.drop_message();
                    return;
                }
                self.handle_heartbeat_response(from);
            }
            Message::Propose {
                incarnation,
                request_id,
                data,
                ..
            } => self.handle_propose(from, incarnation, request_id, data),
            Message::ProposeResponse {
                incarnation,
                request_id,
                outcome,
                ..
            } => self.handle_propose_response(incarnation, request_id, outcome),
        }
    }

    /// A leader message of our own term arrived: `from` leads this term.
    /// Returns false (and drops the message) when that is impossible.
    fn accept_leader(&mut self, from: NodeId) -> bool {
        match self.role {
            Role::Leader => {
                // Two leaders in one term would break election safety
                // (§5.2); this message is forged or corrupt.
                self.drop_message();
                false
            }
            Role::Follower if self.leader == Some(from) => {
                self.election_elapsed = 0;
                true
            }
            Role::Follower if self.leader.is_some() => {
                // Another leader already claimed this term.
                self.drop_message();
                false
            }
            _ => {
                self.become_follower(self.term, Some(from));
                true
            }
        }
    }

    /// With CheckQuorum, a follower that heard from its leader within the
    /// minimum election timeout (and a leader, which hears from a quorum
    /// within it) refuses to help depose that leader.
    pub(crate) fn in_lease(&self) -> bool {
        self.config.check_quorum
            && self.leader.is_some()
            && self.election_elapsed < self.config.election_ticks_min
    }
}

/// Structural checks no valid sender ever fails.
fn well_formed(message: &Message) -> bool {
    match message {
        Message::Append {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            ..
        } => {
            if *prev_log_term > *term
                || (*prev_log_index == 0 && *prev_log_term != 0)
                || prev_log_index.checked_add(entries.len() as u64).is_none()
            {
                return false;
            }
            let mut term_floor = *prev_log_term;
            for (expected_index, entry) in (prev_log_index.saturating_add(1)..).zip(entries) {
                if entry.index != expected_index || entry.term < term_floor || entry.term > *term {
                    return false;
                }
                term_floor = entry.term;
            }
            true
        }
        Message::InstallSnapshot { term, snapshot } => {
            // A snapshot covers at least one entry, and entries carry terms
            // of at least 1 and at most the leader's.
            let meta = &snapshot.meta;
            meta.last_index > 0 && meta.last_term > 0 && meta.last_term <= *term
        }
        Message::PreVote {
            last_log_index,
            last_log_term,
            term,
        }
        | Message::Vote {
            last_log_index,
            last_log_term,
            term,
        } => *last_log_term <= *term && (*last_log_index > 0 || *last_log_term == 0),
        _ => true,
    }
}
