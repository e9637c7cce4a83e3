//! The in-memory Raft log and its durability bookkeeping.
//!
//! The log is a window: the latest snapshot covers every index up to
//! `snapshot_index`, and memory holds only the entries after it (§7). The
//! window is bounded by how often the driver compacts (it hands over a
//! snapshot every `snapshot_entries` applied entries, see
//! [`Protocol::compact`](quorate_core::Protocol::compact)) plus the
//! uncommitted entries a leader accepts (`uncommitted_entries_max`).
//! Besides the entries it tracks these positions:
//!
//! - `snapshot_index` / `snapshot_term`: where the snapshot ends; the term
//!   there is what the log-matching check at the boundary compares.
//! - `committed`: known committed (§5.3); never decreases.
//! - `applied`: highest index handed out as an output (or covered by an
//!   installed snapshot); never exceeds `committed`.
//! - `stable`: the log up to here is durable (its write was advanced).
//!
//! and what the next storage write must contain (`unstable_from`,
//! `truncate_from`, a snapshot not yet written, `compact_to`).
//!
//! Invariant: `snapshot_index <= applied <= committed <= last_index`.

use quorate_core::{Entry, LogIndex, Snapshot, Term};

/// The entries plus commit/apply/durability positions.
#[derive(Debug, Default)]
pub(crate) struct RaftLog {
    /// The latest snapshot, kept whole so a leader can send it to a follower
    /// whose next entry it no longer holds. `None` before the first one.
    snapshot: Option<Snapshot>,
    /// Last index the snapshot covers (0 without one).
    snapshot_index: LogIndex,
    /// Term of the entry at `snapshot_index` (0 without a snapshot).
    snapshot_term: Term,
    /// `entries[i]` has index `snapshot_index + 1 + i`.
    entries: Vec<Entry>,
    committed: LogIndex,
    applied: LogIndex,
    /// Durable prefix, as of the last advanced write.
    stable: LogIndex,
    /// First index not yet handed to storage in any write batch.
    unstable_from: LogIndex,
    /// Storage must discard entries from here before appending: set when a
    /// conflict removes entries that were already handed to storage, or
    /// when an installed snapshot replaces the log.
    truncate_from: Option<LogIndex>,
    /// The snapshot has not been handed to storage yet.
    snapshot_unwritten: bool,
    /// The installed snapshot came from a peer (rather than from our own
    /// state machine) and is not written yet; local compaction waits for it.
    install_unwritten: bool,
    /// What `stable` becomes when the outstanding write is advanced.
    pending_stable: Option<LogIndex>,
}

/// The log part of one storage write.
pub(crate) struct LogWrite {
    pub(crate) snapshot: Option<Snapshot>,
    pub(crate) truncate_from: Option<LogIndex>,
    pub(crate) entries: Vec<Entry>,
    pub(crate) compact_to: Option<LogIndex>,
}

/// What installing a snapshot from a peer did to the log (§7).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Installed {
    /// The snapshot is not beyond the commit index: nothing changed.
    Stale,
    /// The log held the snapshot's last entry: the entries after it stay.
    KeptSuffix,
    /// The log did not hold it: the whole log was discarded.
    DiscardedLog,
}

impl RaftLog {
    /// A log recovered from storage: everything in it is durable. Entries
    /// follow the snapshot directly (the caller checked it).
    pub(crate) fn recovered(
        snapshot: Option<Snapshot>,
        entries: Vec<Entry>,
        committed: LogIndex,
    ) -> Self {
        let (snapshot_index, snapshot_term) = snapshot
            .as_ref()
            .map_or((0, 0), |s| (s.meta.last_index, s.meta.last_term));
        let last = snapshot_index + entries.len() as LogIndex;
        assert!(
            committed <= last,
            "recovered commit index {committed} beyond last index {last}"
        );
        RaftLog {
            snapshot,
            snapshot_index,
            snapshot_term,
            entries,
            // The snapshot holds committed state; the state machine restarts
            // from it.
            committed: committed.max(snapshot_index),
            applied: snapshot_index,
            stable: last,
            unstable_from: last + 1,
            truncate_from: None,
            snapshot_unwritten: false,
            install_unwritten: false,
            pending_stable: None,
        }
    }

    pub(crate) fn last_index(&self) -> LogIndex {
        self.snapshot_index + self.entries.len() as LogIndex
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries.last().map_or(self.snapshot_term, |e| e.term)
    }

    pub(crate) fn committed(&self) -> LogIndex {
        self.committed
    }

    pub(crate) fn applied(&self) -> LogIndex {
        self.applied
    }

    pub(crate) fn stable(&self) -> LogIndex {
        self.stable
    }

    /// Last index the snapshot covers (0 without one).
    pub(crate) fn snapshot_index(&self) -> LogIndex {
        self.snapshot_index
    }

    /// The latest snapshot, if any.
    pub(crate) fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// Term of the entry at `index`: 0 for index 0, the snapshot's term at
    /// its last index, `None` inside the snapshot or past the end.
    pub(crate) fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.entry(index).map(|e| e.term)
    }

    pub(crate) fn entry(&self, index: LogIndex) -> Option<&Entry> {
        let offset = index.checked_sub(self.snapshot_index + 1)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    /// §5.4.1: is a log ending at `(last_index, last_term)` at least as up
    /// to date as ours?
    pub(crate) fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// Entries from `from` on, as many as fit in `bytes_max` but at least
    /// one when any exist. `from` must lie after the snapshot.
    pub(crate) fn entries_from(&self, from: LogIndex, bytes_max: usize) -> Vec<Entry> {
        assert!(
            from > self.snapshot_index,
            "entries from {from} are compacted into the snapshot ending at {}",
            self.snapshot_index
        );
        let start = ((from - self.snapshot_index - 1) as usize).min(self.entries.len());
        // Find where the byte budget ends first, then copy the run in one
        // allocation (pushing one by one regrew the vector several times).
        let mut end = start;
        let mut bytes = 0usize;
        for entry in &self.entries[start..] {
            let size = entry.size_bytes();
            if end > start && bytes + size > bytes_max {
                break;
            }
            bytes += size;
            end += 1;
        }
        self.entries[start..end].to_vec()
    }

    /// The largest index `<= index` whose term is `<= term`, with its term:
    /// where a leader and a follower can possibly agree (etcd's
    /// `findConflictByTerm`). Used on both sides of fast backtracking.
    /// The search stops at the snapshot: everything up to it is committed,
    /// so at worst the two sides agree there (or need a snapshot).
    pub(crate) fn find_conflict_by_term(&self, index: LogIndex, term: Term) -> (LogIndex, Term) {
        let mut i = index.min(self.last_index());
        loop {
            if i <= self.snapshot_index {
                return (i, self.term_at(i).unwrap_or(0));
            }
            let t = self.term_at(i).expect("index within the log");
            if t <= term {
                return (i, t);
            }
            i -= 1;
        }
    }

    /// Leader: appends a new entry at the end.
    pub(crate) fn append(&mut self, entry: Entry) {
        assert_eq!(
            entry.index,
            self.last_index() + 1,
            "appended entry must follow the last one"
        );
        assert!(
            entry.term >= self.last_term(),
            "entry term {} below last term {}",
            entry.term,
            self.last_term()
        );
        self.entries.push(entry);
    }

    /// Follower: merges entries that follow a matched `prev_log_index`
    /// (§5.3 receiver steps 3 and 4). Entries already present with the same
    /// term are kept; only a real conflict truncates, so a stale or
    /// duplicated AppendEntries never shortens the log. Takes the entries by
    /// value so the new ones move into the log rather than being cloned.
    /// Every entry lies after the snapshot (the caller skips the committed
    /// prefix). Returns the first index removed, if any.
    pub(crate) fn merge(&mut self, entries: Vec<Entry>) -> Option<LogIndex> {
        // Entries before the first new or conflicting one are already held.
        let first_new = entries
            .iter()
            .position(|entry| self.term_at(entry.index) != Some(entry.term))?;
        let index = entries[first_new].index;
        assert!(
            index > self.snapshot_index,
            "merging entry {index} inside the snapshot ending at {}",
            self.snapshot_index
        );
        let truncated = if index <= self.last_index() {
            self.truncate_from(index);
            Some(index)
        } else {
            None
        };
        self.entries.extend(entries.into_iter().skip(first_new));
        truncated
    }

    fn truncate_from(&mut self, index: LogIndex) {
        assert!(
            index > self.committed,
            "truncating from {index} would remove committed entries (commit index {})",
            self.committed
        );
        assert!(index > self.snapshot_index && index <= self.last_index());
        self.entries
            .truncate((index - self.snapshot_index - 1) as usize);
        if index < self.unstable_from {
            // Storage already has (or is writing) entries from `index` on.
            self.truncate_from = Some(self.truncate_from.map_or(index, |t| t.min(index)));
            self.unstable_from = index;
        }
        self.stable = self.stable.min(index - 1);
        if let Some(pending) = self.pending_stable.as_mut() {
            *pending = (*pending).min(index - 1);
        }
    }

    /// Raises the commit index (never lowers it).
    pub(crate) fn commit_to(&mut self, index: LogIndex) -> bool {
        if index <= self.committed {
            return false;
        }
        assert!(
            index <= self.last_index(),
            "commit index {index} beyond last index {}",
            self.last_index()
        );
        self.committed = index;
        true
    }

    /// Local compaction (§7): `snapshot` holds the state machine after
    /// every output up to its last index, which the caller has checked is
    /// beyond the current snapshot and at most `applied`. Drops the entries
    /// it covers and schedules it for the next write. Returns false (and
    /// changes nothing) while a snapshot installed from a peer is still
    /// waiting to be written: that one is newer.
    pub(crate) fn compact(&mut self, snapshot: Snapshot) -> bool {
        let index = snapshot.meta.last_index;
        assert!(
            index > self.snapshot_index && index <= self.applied,
            "compacting to {index} outside ({}, applied {}]",
            self.snapshot_index,
            self.applied
        );
        assert_eq!(self.term_at(index), Some(snapshot.meta.last_term));
        if self.install_unwritten {
            return false;
        }
        // Applied entries were handed to storage before they were handed
        // out, so compaction never drops an entry storage has not seen.
        assert!(
            self.unstable_from > index,
            "compacting to {index} past unwritten entry {}",
            self.unstable_from
        );
        self.entries.drain(..(index - self.snapshot_index) as usize);
        self.set_snapshot(snapshot);
        true
    }

    /// Follower: installs a snapshot a leader sent (§7 receiver rules). A
    /// snapshot at or below the commit index is stale and ignored. When the
    /// log holds the snapshot's last entry (same index and term), the
    /// entries after it are kept; otherwise the whole log is discarded. The
    /// state machine is replaced, so the snapshot's last index becomes both
    /// committed and applied.
    pub(crate) fn install(&mut self, snapshot: Snapshot) -> Installed {
        let index = snapshot.meta.last_index;
        if index <= self.committed {
            return Installed::Stale;
        }
        let outcome = if self.term_at(index) == Some(snapshot.meta.last_term) {
            self.entries.drain(..(index - self.snapshot_index) as usize);
            Installed::KeptSuffix
        } else {
            self.entries.clear();
            Installed::DiscardedLog
        };
        self.set_snapshot(snapshot);
        self.committed = index;
        self.applied = index;
        // Storage may hold a different (or no) entry at `index`, and so may
        // keep or drop its suffix; rewriting everything after the snapshot
        // makes it hold exactly this log either way. The suffix is short:
        // a follower that needs a snapshot is far behind.
        self.truncate_from = Some(index + 1);
        self.unstable_from = index + 1;
        self.install_unwritten = true;
        self.stable = self.stable.min(index);
        if let Some(pending) = self.pending_stable.as_mut() {
            *pending = (*pending).min(index);
        }
        outcome
    }

    fn set_snapshot(&mut self, snapshot: Snapshot) {
        self.snapshot_index = snapshot.meta.last_index;
        self.snapshot_term = snapshot.meta.last_term;
        self.snapshot = Some(snapshot);
        self.snapshot_unwritten = true;
    }

    /// Takes what the next storage write must carry.
    pub(crate) fn take_write(&mut self) -> Option<LogWrite> {
        assert!(
            self.pending_stable.is_none(),
            "a log write is already outstanding"
        );
        let last = self.last_index();
        if !self.snapshot_unwritten && self.truncate_from.is_none() && self.unstable_from > last {
            return None;
        }
        assert!(
            self.unstable_from > self.snapshot_index,
            "unwritten entry {} inside the snapshot ending at {}",
            self.unstable_from,
            self.snapshot_index
        );
        let entries = self
            .entries
            .iter()
            .skip((self.unstable_from - self.snapshot_index - 1) as usize)
            .cloned()
            .collect();
        let (snapshot, compact_to) = if self.snapshot_unwritten {
            (self.snapshot.clone(), Some(self.snapshot_index))
        } else {
            (None, None)
        };
        self.snapshot_unwritten = false;
        self.install_unwritten = false;
        self.unstable_from = last + 1;
        self.pending_stable = Some(last);
        Some(LogWrite {
            snapshot,
            truncate_from: self.truncate_from.take(),
            entries,
            compact_to,
        })
    }

    /// The outstanding write is durable.
    pub(crate) fn write_done(&mut self) {
        if let Some(stable) = self.pending_stable.take() {
            debug_assert!(stable <= self.last_index());
            self.stable = stable;
        }
    }

    /// Takes committed entries to hand out: at most `count_max`, and only
    /// entries that will be durable once the current write completes (the
    /// driver applies outputs after persisting).
    pub(crate) fn take_committed(&mut self, count_max: usize) -> Vec<Entry> {
        let to = self
            .committed
            .min(self.applied + count_max as LogIndex)
            .min(self.last_index());
        let out: Vec<Entry> = ((self.applied + 1)..=to)
            .map(|i| self.entry(i).expect("committed entry present").clone())
            .collect();
        if let Some(last) = out.last() {
            assert!(last.index > self.applied, "applied index must only grow");
            self.applied = last.index;
        }
        out
    }
}
