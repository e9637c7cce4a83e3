//! The in-memory Raft log and its durability bookkeeping.
//!
//! The log lives in memory in full (snapshots and compaction come later),
//! so it grows with every entry until then. Besides the entries it tracks
//! three positions:
//!
//! - `committed`: known committed (§5.3); never decreases.
//! - `applied`: highest index handed out as an output; never exceeds
//!   `committed`.
//! - `stable`: the log up to here is durable (its write was advanced).
//!
//! and what the next storage write must contain (`unstable_from`,
//! `truncate_from`).

use quorate_core::{Entry, LogIndex, Term};

/// The entries plus commit/apply/durability positions.
#[derive(Debug, Default)]
pub(crate) struct RaftLog {
    /// `entries[i]` has index `i + 1`.
    entries: Vec<Entry>,
    committed: LogIndex,
    applied: LogIndex,
    /// Durable prefix, as of the last advanced write.
    stable: LogIndex,
    /// First index not yet handed to storage in any write batch.
    unstable_from: LogIndex,
    /// Storage must discard entries from here before appending: set when a
    /// conflict removes entries that were already handed to storage.
    truncate_from: Option<LogIndex>,
    /// What `stable` becomes when the outstanding write is advanced.
    pending_stable: Option<LogIndex>,
}

/// The entries part of one storage write.
pub(crate) struct LogWrite {
    pub(crate) truncate_from: Option<LogIndex>,
    pub(crate) entries: Vec<Entry>,
}

impl RaftLog {
    /// A log recovered from storage: everything in it is durable.
    pub(crate) fn recovered(entries: Vec<Entry>, committed: LogIndex) -> Self {
        let last = entries.len() as LogIndex;
        assert!(
            committed <= last,
            "recovered commit index {committed} beyond last index {last}"
        );
        RaftLog {
            entries,
            committed,
            applied: 0,
            stable: last,
            unstable_from: last + 1,
            truncate_from: None,
            pending_stable: None,
        }
    }

    pub(crate) fn last_index(&self) -> LogIndex {
        self.entries.len() as LogIndex
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries.last().map_or(0, |e| e.term)
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

    /// Term of the entry at `index`; index 0 (before the log) has term 0.
    pub(crate) fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index == 0 {
            return Some(0);
        }
        self.entry(index).map(|e| e.term)
    }

    pub(crate) fn entry(&self, index: LogIndex) -> Option<&Entry> {
        if index == 0 {
            return None;
        }
        self.entries.get((index - 1) as usize)
    }

    /// §5.4.1: is a log ending at `(last_index, last_term)` at least as up
    /// to date as ours?
    pub(crate) fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// Entries from `from` on, as many as fit in `bytes_max` but at least
    /// one when any exist.
    pub(crate) fn entries_from(&self, from: LogIndex, bytes_max: usize) -> Vec<Entry> {
        assert!(from >= 1, "entries are 1-based, asked from {from}");
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for entry in self.entries.iter().skip((from - 1) as usize) {
            let size = entry.size_bytes();
            if !out.is_empty() && bytes + size > bytes_max {
                break;
            }
            bytes += size;
            out.push(entry.clone());
        }
        out
    }

    /// The largest index `<= index` whose term is `<= term`, with its term:
    /// where a leader and a follower can possibly agree (etcd's
    /// `findConflictByTerm`). Used on both sides of fast backtracking.
    pub(crate) fn find_conflict_by_term(&self, index: LogIndex, term: Term) -> (LogIndex, Term) {
        let mut i = index.min(self.last_index());
        loop {
            let t = self.term_at(i).expect("index within the log");
            if t <= term || i == 0 {
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
    /// Returns the first index removed, if any.
    pub(crate) fn merge(&mut self, entries: Vec<Entry>) -> Option<LogIndex> {
        // Entries before the first new or conflicting one are already held.
        let first_new = entries
            .iter()
            .position(|entry| self.term_at(entry.index) != Some(entry.term))?;
        let index = entries[first_new].index;
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
        assert!(index >= 1 && index <= self.last_index());
        self.entries.truncate((index - 1) as usize);
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

    /// Takes the entries the next storage write must carry.
    pub(crate) fn take_write(&mut self) -> Option<LogWrite> {
        assert!(
            self.pending_stable.is_none(),
            "a log write is already outstanding"
        );
        let last = self.last_index();
        if self.truncate_from.is_none() && self.unstable_from > last {
            return None;
        }
        let entries = self
            .entries
            .iter()
            .skip((self.unstable_from - 1) as usize)
            .cloned()
            .collect();
        self.unstable_from = last + 1;
        self.pending_stable = Some(last);
        Some(LogWrite {
            truncate_from: self.truncate_from.take(),
            entries,
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
