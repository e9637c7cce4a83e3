//! Log replication (§5.3): the leader's AppendEntries with batching,
//! pipelining and fast backtracking, the follower's log-matching check, and
//! the commit rule (§5.4.2).

use crate::message::{AppendOutcome, Message};
use crate::raft::Raft;
use quorate_core::{Entry, LogIndex, NodeId, Term};

impl Raft {
    /// Entries from `first` on were removed from the log (a conflicting
    /// suffix, or a log a snapshot replaced): requests placed there fail,
    /// and acknowledgements still waiting for persist that cover them are
    /// dropped. Such an acknowledgement would reach its (older) leader after
    /// the removal is durable and claim entries we no longer hold, letting
    /// that leader count us towards committing them.
    pub(crate) fn on_entries_removed(&mut self, first: LogIndex) {
        self.requests.on_truncate(first);
        self.send_after_persist.retain(|(_, message)| {
            !matches!(
                message,
                Message::AppendResponse {
                    outcome: AppendOutcome::Accepted { match_index },
                    ..
                } if *match_index >= first
            )
        });
    }

    /// Leader: sends whatever each follower can take now. Called when a
    /// Ready is built, so requests submitted since the last one leave
    /// together (batching), up to `inflight_appends_max` messages of up to
    /// `append_bytes_max` bytes each per follower (pipelining).
    pub(crate) fn flush_appends(&mut self) {
        // By position rather than over a clone of `peers` (an allocation on
        // every Ready of a leader): sending changes progress, never peers.
        for position in 0..self.peers.len() {
            let peer = self.peers[position];
            // Each send either fills the window or advances `next`, so this
            // runs at most `inflight_appends_max + 1` times.
            loop {
                let last = self.log.last_index();
                let progress = &self.progress[&peer];
                if !progress.can_send(self.config.inflight_appends_max) {
                    break;
                }
                if progress.next <= self.log.snapshot_index() {
                    // The entry before `next` is compacted away: nothing to
                    // check log matching against, so send the snapshot (§7).
                    self.send_snapshot(peer);
                    break;
                }
                let has_entries = progress.next <= last;
                // A new commit index alone is no reason to send: it rides on
                // the next AppendEntries or heartbeat (at most
                // `heartbeat_ticks` away). A dedicated message per commit
                // would double the frames, follower writes and wake-ups per
                // entry at low load.
                if !has_entries && !progress.empty_append_due {
                    break;
                }
                self.send_append(peer);
                if !has_entries {
                    break;
                }
            }
        }
    }

    fn send_append(&mut self, peer: NodeId) {
        let last = self.log.last_index();
        let committed = self.log.committed();
        let progress = self.progress.get_mut(&peer).expect("progress for peer");
        let prev_log_index = progress.next - 1;
        let prev_log_term = self
            .log
            .term_at(prev_log_index)
            .expect("flush_appends sends a snapshot when next is inside it");
        let entries = if progress.next <= last {
            self.log
                .entries_from(progress.next, self.config.append_bytes_max)
        } else {
            Vec::new()
        };
        let last_sent = prev_log_index + entries.len() as LogIndex;
        progress.sent(entries.len(), last_sent);
        let message = Message::Append {
            term: self.term,
            prev_log_index,
            prev_log_term,
            entries,
            commit_index: committed,
        };
        self.send_now.push((peer, message));
    }

    pub(crate) fn broadcast_heartbeat(&mut self) {
        let committed = self.log.committed();
        for (&peer, progress) in self.progress.iter() {
            // Never tell a follower to commit beyond what it is known to
            // hold: its log past `matched` may still differ from ours.
            let commit_index = committed.min(progress.matched);
            let message = Message::Heartbeat {
                term: self.term,
                commit_index,
            };
            self.send_now.push((peer, message));
        }
    }

    /// Follower: §5.3 receiver rules 2-5.
    pub(crate) fn handle_append(
        &mut self,
        from: NodeId,
        mut prev_log_index: LogIndex,
        mut prev_log_term: Term,
        mut entries: Vec<Entry>,
        leader_commit: LogIndex,
    ) {
        let committed = self.log.committed();
        if prev_log_index < committed {
            // Our committed prefix is in every later leader's log (§5.4.3),
            // so the part of the message inside it carries nothing new.
            // Skip it and check the rest from the commit point.
            let inside = ((committed - prev_log_index) as usize).min(entries.len());
            if let Some(at_commit) = inside.checked_sub(1).and_then(|i| entries.get(i)) {
                // Inside our snapshot the term is unknown: nothing to check.
                let ours = self.log.term_at(at_commit.index);
                if ours.is_some() && ours != Some(at_commit.term) {
                    // A leader contradicting a committed entry: corrupt.
                    self.drop_message();
                    return;
                }
            }
            if prev_log_index + (entries.len() as LogIndex) <= committed {
                self.reply_append(
                    from,
                    AppendOutcome::Accepted {
                        match_index: committed,
                    },
                );
                return;
            }
            entries.drain(..inside);
            prev_log_index = committed;
            prev_log_term = self
                .log
                .term_at(committed)
                .expect("committed entry present");
        }

        if self.log.term_at(prev_log_index) != Some(prev_log_term) {
            let (hint_index, hint_term) = if prev_log_index > self.log.last_index() {
                (self.log.last_index(), self.log.last_term())
            } else {
                self.log
                    .find_conflict_by_term(prev_log_index, prev_log_term)
            };
            self.reply_append(
                from,
                AppendOutcome::Rejected {
                    rejected_prev_index: prev_log_index,
                    hint_index,
                    hint_term,
                },
            );
            return;
        }

        let last_new = prev_log_index + entries.len() as LogIndex;
        if let Some(truncated) = self.log.merge(entries) {
            self.on_entries_removed(truncated);
        }
        // §5.3 rule 5: commit up to the leader's commit, but only within
        // what this message proved matches.
        self.log.commit_to(leader_commit.min(last_new));
        self.reply_append(
            from,
            AppendOutcome::Accepted {
                match_index: last_new,
            },
        );
    }

    fn reply_append(&mut self, to: NodeId, outcome: AppendOutcome) {
        // Acknowledges log contents, so it may leave only once they are
        // durable.
        let reply = Message::AppendResponse {
            term: self.term,
            outcome,
        };
        self.send_after_persist.push((to, reply));
    }

    pub(crate) fn handle_heartbeat(&mut self, from: NodeId, leader_commit: LogIndex) {
        // The leader caps the commit at our match index, so everything up
        // to it is in our log and agrees with the leader's.
        self.log.commit_to(leader_commit.min(self.log.last_index()));
        let reply = Message::HeartbeatResponse { term: self.term };
        self.send_after_persist.push((from, reply));
    }

    pub(crate) fn handle_append_response(&mut self, from: NodeId, outcome: AppendOutcome) {
        let last = self.log.last_index();
        let progress = self.progress.get_mut(&from).expect("progress for peer");
        progress.recent_active = true;
        match outcome {
            AppendOutcome::Accepted { match_index } => {
                if match_index > last {
                    self.drop_message();
                    return;
                }
                if progress.on_accepted(match_index) {
                    self.maybe_commit();
                }
            }
            AppendOutcome::Rejected {
                rejected_prev_index,
                hint_index,
                hint_term,
            } => {
                if rejected_prev_index > last {
                    self.drop_message();
                    return;
                }
                // Skip every entry of ours that cannot match: those past
                // the follower's hint, and those of terms above its term
                // there (§5.3, the paragraph on conflicting terms).
                let next_hint = if hint_term > 0 {
                    self.log.find_conflict_by_term(hint_index, hint_term).0 + 1
                } else {
                    hint_index.min(last) + 1
                };
                let progress = self.progress.get_mut(&from).expect("progress for peer");
                if !progress.on_rejected(rejected_prev_index, next_hint) {
                    // Answers a message we already moved past.
                    self.drop_message();
                }
            }
        }
    }

    pub(crate) fn handle_heartbeat_response(&mut self, from: NodeId) {
        let last = self.log.last_index();
        let progress = self.progress.get_mut(&from).expect("progress for peer");
        progress.recent_active = true;
        progress.on_heartbeat_response(last, self.config.inflight_appends_max);
    }

    /// Leader: commit the highest index stored on a quorum, if it is of the
    /// current term (§5.4.2, Figure 8). The leader counts only what it has
    /// durably written itself.
    pub(crate) fn maybe_commit(&mut self) {
        // The highest index that a quorum has stored: the quorum-th largest
        // of the match indexes (this node's own is its stable index). Found
        // by counting, without collecting and sorting into a `Vec`: this
        // runs on every acknowledgement, and groups are small (n² for five
        // voters is 25 comparisons, against two allocations).
        let stable = self.log.stable();
        let matched = || {
            self.progress
                .values()
                .map(|p| p.matched)
                .chain(std::iter::once(stable))
        };
        let quorum = self.quorum();
        let candidate = matched()
            .filter(|&index| matched().filter(|&other| other >= index).count() >= quorum)
            .max()
            .expect("a quorum of at most all voters stores the smallest match index");
        if candidate <= self.log.committed() {
            return;
        }
        let current_term = self.log.term_at(candidate) == Some(self.term);
        if current_term || self.config.mutant_figure8() {
            let before = self.log.committed();
            self.log.commit_to(candidate);
            assert!(
                self.log.committed() > before,
                "commit index must advance: {before} -> {candidate}"
            );
        }
    }
}
