//! Client requests: `submit` on the leader, forwarding from followers, and
//! the answers that tell a follower where its forwarded request went.

use crate::message::{Message, ProposeOutcome};
use crate::raft::Raft;
use bytes::Bytes;
use quorate_core::{Entry, EntryKind, LogIndex, NodeId, RequestId, Role, SubmitError};
use std::collections::BTreeMap;

impl Raft {
    pub(crate) fn submit_request(&mut self, data: Bytes) -> Result<RequestId, SubmitError> {
        if data.len() > self.config.request_bytes_max {
            return Err(SubmitError::TooLarge {
                size_bytes: data.len(),
                limit_bytes: self.config.request_bytes_max,
            });
        }
        let leader = self.role == Role::Leader;
        let forward_to = match self.leader {
            Some(leader) if leader != self.id && self.config.forward_proposals => Some(leader),
            _ => None,
        };
        if !leader && forward_to.is_none() {
            return Err(SubmitError::NotLeader {
                leader_hint: self.leader,
            });
        }
        if self.requests.len() >= self.config.pending_requests_max {
            return Err(SubmitError::Busy {
                in_flight: self.requests.len(),
                limit: self.config.pending_requests_max,
            });
        }
        if leader {
            if let Some(error) = self.uncommitted_busy() {
                return Err(error);
            }
            let id = self.requests.allocate();
            let (index, term) = self.append_command(data);
            self.requests.place(id, index, term, self.log.applied());
            return Ok(id);
        }
        let to = forward_to.expect("forwarding target checked above");
        let id = self.requests.allocate();
        self.requests
            .forwarded(id, self.ticks + u64::from(self.config.forward_ticks_max));
        let message = Message::Propose {
            term: self.term,
            incarnation: self.incarnation,
            request_id: id.0,
            data,
        };
        if self.incarnation_durable {
            self.send_now.push((to, message));
        } else {
            // The leader's answer is matched by incarnation; until this
            // incarnation is durable a crash could reuse it.
            self.send_after_persist.push((to, message));
        }
        Ok(id)
    }

    fn uncommitted_busy(&self) -> Option<SubmitError> {
        let uncommitted = (self.log.last_index() - self.log.committed()) as usize;
        (uncommitted >= self.config.uncommitted_entries_max).then_some(SubmitError::Busy {
            in_flight: uncommitted,
            limit: self.config.uncommitted_entries_max,
        })
    }

    fn append_command(&mut self, data: Bytes) -> (LogIndex, u64) {
        let index = self.log.last_index() + 1;
        self.log.append(Entry {
            index,
            term: self.term,
            kind: EntryKind::Command,
            data,
        });
        (index, self.term)
    }

    /// Leader side of forwarding.
    ///
    /// The network may duplicate a Propose; appending it twice would apply
    /// the request twice. Every proposal answered this term is remembered
    /// per origin (see [`SeenProposals`]) and a copy is answered again
    /// without appending, even after this node stepped down within the term.
    /// A Propose of an earlier term never reaches here, so the table only
    /// has to live as long as the term.
    pub(crate) fn handle_propose(
        &mut self,
        from: NodeId,
        incarnation: u64,
        request_id: u64,
        data: Bytes,
    ) {
        let window = self.config.pending_requests_max;
        let seen = self
            .proposals_seen
            .entry(from)
            .or_insert_with(|| SeenProposals::new(incarnation));
        if incarnation > seen.incarnation {
            *seen = SeenProposals::new(incarnation);
        }
        let verdict = seen.verdict(incarnation, request_id);
        let outcome = match verdict {
            Seen::Duplicate(Some(outcome)) => outcome,
            Seen::Duplicate(None) | Seen::OldIncarnation => {
                self.drop_message();
                return;
            }
            Seen::New => {
                let outcome = self.place_forwarded(data);
                let seen = self
                    .proposals_seen
                    .get_mut(&from)
                    .expect("entry made above");
                seen.record(request_id, outcome, window);
                outcome
            }
        };
        // Not a promise about durable state: if we crash before writing the
        // entry, no entry ever exists at (index, term), and the origin fails
        // the request when another entry commits there.
        let reply = Message::ProposeResponse {
            term: self.term,
            incarnation,
            request_id,
            outcome,
        };
        self.send_now.push((from, reply));
    }

    fn place_forwarded(&mut self, data: Bytes) -> ProposeOutcome {
        if self.role != Role::Leader {
            // A node restarted with a vote for itself this term may have led
            // it and appended an earlier copy of this very proposal (a
            // network duplicate) before the restart erased `proposals_seen`.
            // Saying "not leader" would tell the origin the request certainly
            // had no effect, while that copy may yet commit.
            if self.may_have_led_before_restart {
                ProposeOutcome::MayHaveBeenPlaced
            } else {
                ProposeOutcome::NotLeader {
                    leader_hint: self.leader,
                }
            }
        } else if data.len() > self.config.request_bytes_max {
            ProposeOutcome::TooLarge {
                size_bytes: data.len(),
                limit_bytes: self.config.request_bytes_max,
            }
        } else if let Some(SubmitError::Busy { in_flight, limit }) = self.uncommitted_busy() {
            ProposeOutcome::Busy { in_flight, limit }
        } else {
            let (index, term) = self.append_command(data);
            ProposeOutcome::Placed { index, term }
        }
    }

    /// Origin side of forwarding.
    pub(crate) fn handle_propose_response(
        &mut self,
        incarnation: u64,
        request_id: u64,
        outcome: ProposeOutcome,
    ) {
        if incarnation != self.incarnation || !self.requests.take_unplaced(request_id) {
            // Meant for an earlier incarnation, answered twice, or already
            // timed out.
            self.drop_message();
            return;
        }
        let id = RequestId(request_id);
        match outcome {
            ProposeOutcome::Placed { index, term } => {
                self.requests.place(id, index, term, self.log.applied());
            }
            ProposeOutcome::MayHaveBeenPlaced => {
                self.requests.reject(
                    id,
                    SubmitError::Indeterminate {
                        reason: "the leader it was forwarded to lost track of it",
                    },
                );
            }
            ProposeOutcome::NotLeader { leader_hint } => {
                self.requests
                    .reject(id, SubmitError::NotLeader { leader_hint });
            }
            ProposeOutcome::Busy { in_flight, limit } => {
                self.requests
                    .reject(id, SubmitError::Busy { in_flight, limit });
            }
            ProposeOutcome::TooLarge {
                size_bytes,
                limit_bytes,
            } => {
                self.requests.reject(
                    id,
                    SubmitError::TooLarge {
                        size_bytes,
                        limit_bytes,
                    },
                );
            }
        }
    }
}

/// Forwarded proposals one origin sent this term, so that duplicates are
/// answered again instead of appended again.
///
/// Holds the answers to the last `pending_requests_max` request ids (an
/// origin never has more outstanding); ids at or below `floor` fell out of
/// the window and count as seen. A genuinely new proposal that was delayed
/// past the window is therefore never appended: its origin times it out as
/// indeterminate, which is truthful.
#[derive(Debug)]
pub(crate) struct SeenProposals {
    incarnation: u64,
    floor: u64,
    answers: BTreeMap<u64, ProposeOutcome>,
}

enum Seen {
    New,
    Duplicate(Option<ProposeOutcome>),
    OldIncarnation,
}

impl SeenProposals {
    fn new(incarnation: u64) -> Self {
        SeenProposals {
            incarnation,
            floor: 0,
            answers: BTreeMap::new(),
        }
    }

    fn verdict(&self, incarnation: u64, request_id: u64) -> Seen {
        if incarnation < self.incarnation {
            Seen::OldIncarnation
        } else if request_id <= self.floor {
            Seen::Duplicate(None)
        } else if let Some(outcome) = self.answers.get(&request_id) {
            Seen::Duplicate(Some(*outcome))
        } else {
            Seen::New
        }
    }

    fn record(&mut self, request_id: u64, outcome: ProposeOutcome, window: usize) {
        self.answers.insert(request_id, outcome);
        while self.answers.len() > window {
            let (oldest, _) = self.answers.pop_first().expect("non-empty");
            self.floor = self.floor.max(oldest);
        }
    }
}
