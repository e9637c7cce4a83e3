//! Leader election: timers (§5.2), PreVote (thesis §9.6), votes, and the
//! leader's CheckQuorum (thesis §6.2).

use crate::message::Message;
use crate::raft::Raft;
use quorate_core::{LogIndex, NodeId, Role, Term};

impl Raft {
    /// Follower / (pre-)candidate tick: start an election once the
    /// randomized timeout passes without hearing from a leader.
    pub(crate) fn tick_election(&mut self) {
        self.election_elapsed += 1;
        if self.election_elapsed >= self.election_timeout {
            self.campaign();
        }
    }

    /// Leader tick: heartbeats, and stepping down without a quorum.
    pub(crate) fn tick_leader(&mut self) {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        for progress in self.progress.values_mut() {
            progress.tick(self.config.snapshot_retry_ticks);
        }
        if self.election_elapsed >= self.config.election_ticks_min {
            self.election_elapsed = 0;
            if self.config.check_quorum {
                let active = 1 + self.progress.values().filter(|p| p.recent_active).count();
                if active < self.quorum() {
                    // Cut off from a majority: another leader may already be
                    // serving, so stop accepting requests (thesis §6.2).
                    self.become_follower(self.term, None);
                    return;
                }
                for progress in self.progress.values_mut() {
                    progress.recent_active = false;
                }
            }
        }
        if self.heartbeat_elapsed >= self.config.heartbeat_ticks {
            self.heartbeat_elapsed = 0;
            self.broadcast_heartbeat();
        }
    }

    fn campaign(&mut self) {
        if self.config.pre_vote {
            self.become_pre_candidate();
        } else {
            self.become_candidate();
        }
        self.votes.insert(self.id, true);
        if self.poll() == Some(true) {
            // A single-voter group wins at once.
            self.win_round();
            return;
        }
        self.request_votes();
    }

    fn request_votes(&mut self) {
        let last_log_index = self.log.last_index();
        let last_log_term = self.log.last_term();
        for &peer in &self.peers {
            if self.role == Role::PreCandidate {
                // Nothing durable backs a pre-vote request.
                let message = Message::PreVote {
                    term: self.term + 1,
                    last_log_index,
                    last_log_term,
                };
                self.send_now.push((peer, message));
            } else {
                // Our own vote counts towards the quorum, so it must be
                // durable before anyone acts on our candidacy: a restart
                // must not let us vote for someone else in this term.
                let message = Message::Vote {
                    term: self.term,
                    last_log_index,
                    last_log_term,
                };
                self.send_after_persist.push((peer, message));
            }
        }
    }

    /// The quorum's verdict so far: won, lost, or still open.
    fn poll(&self) -> Option<bool> {
        let granted = self.votes.values().filter(|&&g| g).count();
        let rejected = self.votes.len() - granted;
        if granted >= self.quorum() {
            Some(true)
        } else if rejected >= self.quorum() {
            Some(false)
        } else {
            None
        }
    }

    fn win_round(&mut self) {
        match self.role {
            Role::PreCandidate => {
                self.become_candidate();
                self.votes.insert(self.id, true);
                if self.poll() == Some(true) {
                    self.become_leader();
                } else {
                    self.request_votes();
                }
            }
            Role::Candidate => self.become_leader(),
            role => unreachable!("won an election while {role:?}"),
        }
    }

    /// §5.2, §5.4.1 and thesis §9.6: grant when we have not voted for
    /// someone else this term (or, for a pre-vote, the term is newer) and
    /// the candidate's log is at least as up to date as ours.
    pub(crate) fn handle_vote_request(
        &mut self,
        from: NodeId,
        pre_vote: bool,
        term: Term,
        last_log_index: LogIndex,
        last_log_term: Term,
    ) {
        let can_vote = self.vote == Some(from)
            || (self.vote.is_none() && self.leader.is_none())
            || (pre_vote && term > self.term);
        let granted = can_vote && self.log.is_up_to_date(last_log_index, last_log_term);
        if pre_vote {
            let reply = Message::PreVoteResponse {
                term: if granted { term } else { self.term },
                granted,
            };
            self.send_now.push((from, reply));
            return;
        }
        let reply = Message::VoteResponse {
            term: self.term,
            granted,
        };
        if !granted {
            self.send_after_persist.push((from, reply));
            return;
        }
        self.vote = Some(from);
        // Granting a vote defers our own candidacy (§5.2).
        self.election_elapsed = 0;
        if self.config.mutant_unpersisted_vote() {
            self.vote_volatile = true;
            self.send_now.push((from, reply));
        } else {
            // The grant is a promise never to vote for anyone else in this
            // term; it may leave only once the vote is durable.
            self.send_after_persist.push((from, reply));
        }
    }

    pub(crate) fn handle_vote_response(
        &mut self,
        from: NodeId,
        pre_vote: bool,
        term: Term,
        granted: bool,
    ) {
        let relevant = if pre_vote {
            self.role == Role::PreCandidate
                && term == if granted { self.term + 1 } else { self.term }
        } else {
            self.role == Role::Candidate && term == self.term
        };
        if !relevant {
            // Answers arriving after the round was decided are expected,
            // not faults; anything else is stale.
            let late =
                term == self.term && granted && matches!(self.role, Role::Candidate | Role::Leader);
            if !late {
                self.drop_message();
            }
            return;
        }
        self.votes.entry(from).or_insert(granted);
        match self.poll() {
            Some(true) => self.win_round(),
            Some(false) => self.become_follower(self.term, None),
            None => {}
        }
    }
}
