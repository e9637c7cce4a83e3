//! Log compaction and InstallSnapshot (§7, thesis chapter 5).
//!
//! The driver hands over a state-machine snapshot at its applied index
//! ([`Protocol::compact`](quorate_core::Protocol::compact)); the log drops
//! the entries it covers and storage gets the snapshot with `compact_to`.
//! A leader whose log no longer holds a follower's next entry sends the
//! snapshot instead of entries, one at a time per follower; the follower
//! installs it, keeping the entries after it when its log matches there.

use crate::log::Installed;
use crate::message::{AppendOutcome, Message};
use crate::raft::{encode_membership, Raft};
use bytes::Bytes;
use quorate_core::{LogIndex, NodeId, Snapshot, SnapshotMeta};

impl Raft {
    /// Local compaction: `data` is the state machine after every output up
    /// to `applied`. Ignored when not beyond the current snapshot.
    pub(crate) fn compact_log(&mut self, applied: LogIndex, data: Bytes) {
        assert!(
            applied <= self.log.applied(),
            "compact({applied}) beyond the last output handed out ({}) (n{})",
            self.log.applied(),
            self.id.0
        );
        if applied <= self.log.snapshot_index() {
            return;
        }
        let last_term = self
            .log
            .term_at(applied)
            .expect("an applied entry after the snapshot is in the log");
        let snapshot = Snapshot {
            meta: SnapshotMeta {
                last_index: applied,
                last_term,
                membership: encode_membership(&self.config.members),
            },
            data,
        };
        self.log.compact(snapshot);
    }

    /// Leader: `peer` needs entries at or below the snapshot; send the
    /// snapshot and wait for its answer (or `snapshot_retry_ticks`).
    pub(crate) fn send_snapshot(&mut self, peer: NodeId) {
        let snapshot = self
            .log
            .snapshot()
            .expect("a follower needs a snapshot only once one exists")
            .clone();
        let progress = self.progress.get_mut(&peer).expect("progress for peer");
        progress.become_snapshot(snapshot.meta.last_index);
        let message = Message::InstallSnapshot {
            term: self.term,
            snapshot,
        };
        self.send_now.push((peer, message));
    }

    /// Follower: §7 receiver rules. A snapshot not beyond our commit index
    /// is stale (our committed log already covers it). Otherwise it replaces
    /// the state machine; the log after it is kept when the log held its
    /// last entry, else discarded. The acknowledgement names the snapshot's
    /// last index and leaves only once the snapshot is durable.
    pub(crate) fn handle_install_snapshot(&mut self, from: NodeId, snapshot: Snapshot) {
        if snapshot.meta.membership != encode_membership(&self.config.members) {
            // Another membership: a misconfigured peer (membership changes
            // do not exist yet). Installing it would make our own restart
            // refuse the snapshot.
            self.drop_message();
            return;
        }
        let index = snapshot.meta.last_index;
        let match_index = match self.log.install(snapshot) {
            Installed::Stale => self.log.committed(),
            Installed::KeptSuffix => {
                self.requests.on_snapshot(index);
                index
            }
            Installed::DiscardedLog => {
                self.requests.on_snapshot(index);
                self.on_entries_removed(index + 1);
                index
            }
        };
        let reply = Message::AppendResponse {
            term: self.term,
            outcome: AppendOutcome::Accepted { match_index },
        };
        self.send_after_persist.push((from, reply));
    }
}
