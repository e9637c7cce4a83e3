//! [`DurableLog`]: the durable state of one protocol instance and the rules
//! for applying a [`WriteBatch`] to it.
//!
//! Kept apart from any medium so that every storage (in memory, a write-ahead
//! log replayed at recovery) validates and applies batches the same way.

use bytes::Bytes;
use quorate_core::{Entry, LogIndex, Recovered, Snapshot, StorageError, Term, WriteBatch};
use std::collections::VecDeque;

/// Hard state, snapshot and log of one protocol instance, as storage holds
/// them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurableLog {
    hard_state: Option<Bytes>,
    snapshot: Option<Snapshot>,
    /// Contiguous entries following the snapshot (or index 0).
    entries: VecDeque<Entry>,
}

impl DurableLog {
    /// An empty log: no hard state, no snapshot, no entries.
    pub fn new() -> Self {
        DurableLog::default()
    }

    /// Rebuilds a log from recovered state, checking that it is well formed.
    pub fn from_recovered(recovered: Recovered) -> Result<Self, StorageError> {
        let mut log = DurableLog {
            hard_state: recovered.hard_state,
            snapshot: recovered.snapshot,
            entries: VecDeque::new(),
        };
        let batch = WriteBatch {
            entries: recovered.entries,
            ..WriteBatch::default()
        };
        log.apply(batch).map_err(|error| StorageError::Corruption {
            location: "recovered log".to_string(),
            detail: error.to_string(),
        })?;
        Ok(log)
    }

    /// Everything held, in the shape recovery returns it.
    pub fn to_recovered(&self) -> Recovered {
        Recovered {
            hard_state: self.hard_state.clone(),
            snapshot: self.snapshot.clone(),
            entries: self.entries.iter().cloned().collect(),
        }
    }

    /// The last hard state written, if any.
    pub fn hard_state(&self) -> Option<&Bytes> {
        self.hard_state.as_ref()
    }

    /// The last snapshot installed, if any.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// Index of the last entry the snapshot covers (0 without one).
    pub fn snapshot_index(&self) -> LogIndex {
        self.snapshot_position().0
    }

    /// The entry at `index`, if held (not covered by the snapshot).
    pub fn entry(&self, index: LogIndex) -> Option<&Entry> {
        let first = self.entries.front()?.index;
        let offset = usize::try_from(index.checked_sub(first)?).ok()?;
        self.entries.get(offset)
    }

    /// The term at `index`: from the entry, from the snapshot when it ends
    /// there, 0 for index 0; `None` when unknown.
    pub fn term(&self, index: LogIndex) -> Option<Term> {
        if index == 0 {
            return Some(0);
        }
        let (snapshot_index, snapshot_term) = self.snapshot_position();
        if index == snapshot_index {
            return Some(snapshot_term);
        }
        self.term_at(index)
    }

    /// The entries after the snapshot, in index order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Index of the last entry, or of the snapshot when the log is empty.
    pub fn last_index(&self) -> LogIndex {
        self.last_position().0
    }

    /// Number of entries held after the snapshot.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no entries are held after the snapshot.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn snapshot_position(&self) -> (LogIndex, Term) {
        self.snapshot
            .as_ref()
            .map_or((0, 0), |s| (s.meta.last_index, s.meta.last_term))
    }

    fn last_position(&self) -> (LogIndex, Term) {
        self.entries
            .back()
            .map_or_else(|| self.snapshot_position(), |e| (e.index, e.term))
    }

    fn term_at(&self, index: LogIndex) -> Option<Term> {
        self.entry(index).map(|e| e.term)
    }

    /// Checks `batch` against the contract without changing anything.
    ///
    /// Returns [`StorageError::InvalidBatch`] naming the first broken rule.
    pub fn check(&self, batch: &WriteBatch) -> Result<(), StorageError> {
        // Walk the parts over a view of the log (a window of the current
        // entries plus the snapshot position) instead of a copy, so checking
        // costs O(batch), not O(log).
        let (first_index, _) = self
            .entries
            .front()
            .map_or((self.snapshot_position().0 + 1, 0), |e| (e.index, e.term));
        let mut view = View {
            snapshot: self.snapshot_position(),
            first_index,
            last_index: self.last_position().0,
        };

        // 1. Snapshot: never older than the installed one.
        if let Some(snapshot) = &batch.snapshot {
            let index = snapshot.meta.last_index;
            if index < view.snapshot.0 {
                return Err(invalid(format!(
                    "snapshot at index {index} is older than the installed one at {}",
                    view.snapshot.0
                )));
            }
            let keeps_log = self.term_at(index) == Some(snapshot.meta.last_term);
            view.snapshot = (index, snapshot.meta.last_term);
            view.first_index = index + 1;
            if !keeps_log {
                view.last_index = index;
            }
        }

        // 2. Truncation: never into the snapshot.
        if let Some(from) = batch.truncate_from {
            if from <= view.snapshot.0 {
                return Err(invalid(format!(
                    "truncate_from {from} reaches into the snapshot ending at {}",
                    view.snapshot.0
                )));
            }
            view.last_index = view.last_index.min(from - 1);
        }

        // 3. Appends: contiguous, following the last kept entry, terms never
        // decreasing.
        let (mut last_index, mut last_term) = if view.last_index >= view.first_index {
            let term = self
                .term_at(view.last_index)
                .expect("the view's last index lies inside the stored log");
            (view.last_index, term)
        } else {
            view.snapshot
        };
        for entry in &batch.entries {
            if entry.index != last_index + 1 {
                return Err(invalid(format!(
                    "entry {} does not follow the last entry {last_index}",
                    entry.index
                )));
            }
            if entry.term < last_term {
                return Err(invalid(format!(
                    "entry {} has term {} below the previous term {last_term}",
                    entry.index, entry.term
                )));
            }
            (last_index, last_term) = (entry.index, entry.term);
        }

        // 4. Compaction: only up to a snapshot.
        if let Some(to) = batch.compact_to {
            if to > view.snapshot.0 {
                return Err(invalid(format!(
                    "compact_to {to} is beyond the snapshot ending at {}",
                    view.snapshot.0
                )));
            }
        }
        Ok(())
    }

    /// Applies `batch` in the documented order, all or nothing.
    ///
    /// On error, `self` is unchanged.
    pub fn apply(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        self.check(&batch)?;
        self.apply_checked(batch);
        Ok(())
    }

    /// Applies a batch that [`check`](DurableLog::check) accepted.
    fn apply_checked(&mut self, batch: WriteBatch) {
        if let Some(snapshot) = batch.snapshot {
            let index = snapshot.meta.last_index;
            if self.term_at(index) == Some(snapshot.meta.last_term) {
                while self.entries.front().is_some_and(|e| e.index <= index) {
                    self.entries.pop_front();
                }
            } else {
                self.entries.clear();
            }
            self.snapshot = Some(snapshot);
        }
        if let Some(from) = batch.truncate_from {
            while self.entries.back().is_some_and(|e| e.index >= from) {
                self.entries.pop_back();
            }
        }
        self.entries.extend(batch.entries);
        if let Some(to) = batch.compact_to {
            while self.entries.front().is_some_and(|e| e.index <= to) {
                self.entries.pop_front();
            }
        }
        if let Some(hard_state) = batch.hard_state {
            self.hard_state = Some(hard_state);
        }
        // Paired with `check`: the log is still contiguous and follows the
        // snapshot.
        debug_assert!(self
            .entries
            .front()
            .is_none_or(|e| e.index == self.snapshot_position().0 + 1));
    }
}

/// The shape of the log while a batch is checked: entries
/// `first_index..=last_index` of the stored log remain.
struct View {
    snapshot: (LogIndex, Term),
    first_index: LogIndex,
    last_index: LogIndex,
}

fn invalid(reason: String) -> StorageError {
    StorageError::InvalidBatch(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quorate_core::{EntryKind, SnapshotMeta};

    fn entry(index: LogIndex, term: Term) -> Entry {
        Entry {
            index,
            term,
            kind: EntryKind::Command,
            data: Bytes::from(format!("{index}")),
        }
    }

    fn append(entries: Vec<Entry>) -> WriteBatch {
        WriteBatch {
            entries,
            ..WriteBatch::default()
        }
    }

    #[test]
    fn failed_batch_leaves_no_trace() {
        let mut log = DurableLog::new();
        log.apply(append(vec![entry(1, 1), entry(2, 1)])).unwrap();
        let before = log.clone();
        let bad = WriteBatch {
            hard_state: Some(Bytes::from_static(b"vote")),
            truncate_from: Some(2),
            entries: vec![entry(4, 1)],
            ..WriteBatch::default()
        };
        assert!(matches!(log.apply(bad), Err(StorageError::InvalidBatch(_))));
        assert_eq!(log, before);
    }

    #[test]
    fn decreasing_term_is_rejected() {
        let mut log = DurableLog::new();
        log.apply(append(vec![entry(1, 3)])).unwrap();
        assert!(log.check(&append(vec![entry(2, 2)])).is_err());
        assert!(log.check(&append(vec![entry(2, 3)])).is_ok());
    }

    #[test]
    fn snapshot_matching_the_log_keeps_the_suffix() {
        let mut log = DurableLog::new();
        log.apply(append((1..=5).map(|i| entry(i, 1)).collect()))
            .unwrap();
        let snapshot = Snapshot {
            meta: SnapshotMeta {
                last_index: 3,
                last_term: 1,
                membership: Bytes::new(),
            },
            data: Bytes::from_static(b"state"),
        };
        log.apply(WriteBatch {
            snapshot: Some(snapshot),
            ..WriteBatch::default()
        })
        .unwrap();
        let indexes: Vec<_> = log.to_recovered().entries.iter().map(|e| e.index).collect();
        assert_eq!(indexes, vec![4, 5]);
    }

    #[test]
    fn recovered_state_with_a_gap_is_corruption() {
        let recovered = Recovered {
            entries: vec![entry(1, 1), entry(3, 1)],
            ..Recovered::default()
        };
        assert!(matches!(
            DurableLog::from_recovered(recovered),
            Err(StorageError::Corruption { .. })
        ));
    }
}
