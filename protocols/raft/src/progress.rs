//! What a leader knows about one follower's log (etcd's `Progress`).

use quorate_core::LogIndex;
use std::collections::VecDeque;

/// How the leader is currently replicating to a follower.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ProgressState {
    /// Where the logs agree is unknown: one AppendEntries per round trip,
    /// backing `next` up on every rejection.
    Probe,
    /// The logs agree up to `matched`: stream entries optimistically,
    /// advancing `next` as they are sent, up to the in-flight limit.
    Replicate,
    /// The follower needs entries the leader has compacted away: one
    /// InstallSnapshot (ending at `snapshot_pending`) is in flight and
    /// nothing else is sent until it is acknowledged or
    /// `snapshot_retry_ticks` pass (§7).
    Snapshot,
}

/// Replication state for one follower.
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    /// Highest index known to be replicated (durably) on the follower.
    pub(crate) matched: LogIndex,
    /// Next index to send.
    pub(crate) next: LogIndex,
    pub(crate) state: ProgressState,
    /// Probe: a message is out and its answer not yet in.
    pub(crate) probe_sent: bool,
    /// Replicate: last index of each unacknowledged AppendEntries carrying
    /// entries, oldest first; at most `inflight_appends_max` long.
    pub(crate) inflights: VecDeque<LogIndex>,
    /// Heard from the follower since the last CheckQuorum round.
    pub(crate) recent_active: bool,
    /// Send an AppendEntries even if it carries no entries (to find out
    /// whether the follower lost messages).
    pub(crate) empty_append_due: bool,
    /// Snapshot: last index of the snapshot in flight.
    pub(crate) snapshot_pending: LogIndex,
    /// Snapshot: leader ticks since it was sent.
    pub(crate) snapshot_ticks: u32,
}

impl Progress {
    /// A follower about whom a new leader knows nothing yet (§5.3: next
    /// starts just past the leader's last entry).
    pub(crate) fn new(last_index: LogIndex) -> Self {
        Progress {
            matched: 0,
            next: last_index + 1,
            state: ProgressState::Probe,
            probe_sent: false,
            inflights: VecDeque::new(),
            recent_active: false,
            empty_append_due: true,
            snapshot_pending: 0,
            snapshot_ticks: 0,
        }
    }

    /// An InstallSnapshot ending at `index` went out.
    pub(crate) fn become_snapshot(&mut self, index: LogIndex) {
        self.state = ProgressState::Snapshot;
        self.snapshot_pending = index;
        self.snapshot_ticks = 0;
        self.probe_sent = false;
        self.inflights.clear();
        self.empty_append_due = false;
    }

    /// Leader tick: a snapshot unanswered for `retry_ticks` was probably
    /// lost (or its answer was); fall back to probing, which sends it again
    /// if the follower still needs it.
    pub(crate) fn tick(&mut self, retry_ticks: u32) {
        if self.state == ProgressState::Snapshot {
            self.snapshot_ticks += 1;
            if self.snapshot_ticks >= retry_ticks {
                self.become_probe();
            }
        }
    }

    fn become_probe(&mut self) {
        self.state = ProgressState::Probe;
        self.next = self.matched + 1;
        self.probe_sent = false;
        self.inflights.clear();
    }

    fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next = self.matched + 1;
        self.probe_sent = false;
        self.inflights.clear();
    }

    /// May another AppendEntries go out now?
    pub(crate) fn can_send(&self, inflight_appends_max: usize) -> bool {
        match self.state {
            ProgressState::Probe => !self.probe_sent,
            ProgressState::Replicate => self.inflights.len() < inflight_appends_max,
            ProgressState::Snapshot => false,
        }
    }

    /// Records that an AppendEntries ending at `last_sent` (its prev index
    /// when empty) went out.
    pub(crate) fn sent(&mut self, entries_count: usize, last_sent: LogIndex) {
        match self.state {
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Replicate => {
                if entries_count > 0 {
                    self.next = last_sent + 1;
                    self.inflights.push_back(last_sent);
                }
            }
            ProgressState::Snapshot => {
                unreachable!("no AppendEntries goes out while a snapshot is in flight")
            }
        }
        self.empty_append_due = false;
    }

    /// An acknowledgement up to `match_index` arrived. Returns true when it
    /// told us something new.
    pub(crate) fn on_accepted(&mut self, match_index: LogIndex) -> bool {
        let updated = match_index > self.matched;
        if updated {
            self.matched = match_index;
        }
        match self.state {
            ProgressState::Probe => {
                // Any answer to a probe lets the next one go; a match moves
                // us to streaming.
                self.probe_sent = false;
                if match_index >= self.matched {
                    self.become_replicate();
                }
            }
            ProgressState::Replicate => {
                self.next = self.next.max(self.matched + 1);
                while self.inflights.front().is_some_and(|&i| i <= match_index) {
                    self.inflights.pop_front();
                }
            }
            ProgressState::Snapshot => {
                // The snapshot (or entries reaching as far) arrived: the
                // logs agree up to `matched`, so stream from there.
                if self.matched >= self.snapshot_pending {
                    self.become_replicate();
                }
            }
        }
        updated
    }

    /// A rejection of an AppendEntries with prev index `rejected` arrived;
    /// `next_hint` is where the leader's and follower's logs can possibly
    /// agree, plus one. Returns false when the rejection is stale.
    pub(crate) fn on_rejected(&mut self, rejected: LogIndex, next_hint: LogIndex) -> bool {
        match self.state {
            ProgressState::Replicate => {
                if rejected <= self.matched {
                    // Answers a message older than what we already matched.
                    return false;
                }
                // Probably a lost message: restart from what is known.
                self.become_probe();
                true
            }
            // Answers an AppendEntries sent before the snapshot.
            ProgressState::Snapshot => false,
            ProgressState::Probe => {
                if self.next - 1 != rejected {
                    return false;
                }
                self.next = next_hint.min(rejected).max(self.matched + 1);
                self.probe_sent = false;
                true
            }
        }
    }

    /// A heartbeat answer arrived: the follower is alive, so un-stick the
    /// pipeline in case messages were lost.
    pub(crate) fn on_heartbeat_response(
        &mut self,
        leader_last_index: LogIndex,
        inflight_appends_max: usize,
    ) {
        match self.state {
            ProgressState::Probe => self.probe_sent = false,
            ProgressState::Replicate => {
                if self.inflights.len() >= inflight_appends_max {
                    // A full window that is not draining: assume the oldest
                    // message was lost, so one more may go and expose the gap.
                    self.inflights.pop_front();
                }
            }
            // Retried on a timer instead: a snapshot can take far longer
            // than a heartbeat round trip to write.
            ProgressState::Snapshot => {}
        }
        if self.matched < leader_last_index {
            self.empty_append_due = true;
        }
    }
}
