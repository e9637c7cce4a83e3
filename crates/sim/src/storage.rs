//! Simulated storage: a log of write batches with a synced/unsynced line.
//!
//! Writes apply at once to the *current* state (what a running node would
//! read back from its page cache) and become *durable* only when a batch
//! with `sync` completes. A crash keeps the durable state plus a random
//! prefix of the unsynced batches (the storage contract allows losing an
//! unsynced batch only together with every later one). The first batch that
//! did not survive may have been torn half-way; a checksummed log detects
//! that and discards it, which the model reproduces by counting it lost.
//! A bit flipped inside acknowledged (synced) data is detected by the same
//! checksums and reported as [`StorageError::Corruption`], never served.

use bytes::Bytes;
use quorate_core::SeededRng;
use quorate_core::{Entry, LogIndex, Recovered, Snapshot, StorageError, Term, WriteBatch};

/// A materialized log: hard state, snapshot and the entries after it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogState {
    /// The last hard state written.
    pub hard_state: Option<Bytes>,
    /// The last snapshot installed.
    pub snapshot: Option<Snapshot>,
    /// Entries after the snapshot, contiguous.
    pub entries: Vec<Entry>,
}

impl LogState {
    /// Index of the last entry the snapshot covers (0 without one).
    pub fn snapshot_index(&self) -> LogIndex {
        self.snapshot.as_ref().map_or(0, |s| s.meta.last_index)
    }

    /// Index of the last entry (or of the snapshot's end).
    pub fn last_index(&self) -> LogIndex {
        self.entries
            .last()
            .map_or(self.snapshot_index(), |entry| entry.index)
    }

    /// The entry at `index`, if the log holds it (not covered by the
    /// snapshot).
    pub fn entry(&self, index: LogIndex) -> Option<&Entry> {
        let first = self.snapshot_index() + 1;
        if index < first {
            return None;
        }
        self.entries.get((index - first) as usize)
    }

    /// The term at `index`: from the entry, the snapshot's end, or 0 for
    /// index 0. `None` when unknown.
    pub fn term(&self, index: LogIndex) -> Option<Term> {
        if index == 0 {
            return Some(0);
        }
        if let Some(snapshot) = &self.snapshot {
            if snapshot.meta.last_index == index {
                return Some(snapshot.meta.last_term);
            }
        }
        self.entry(index).map(|entry| entry.term)
    }

    /// Applies `batch` in the order [`WriteBatch`] documents, after checking
    /// it keeps the log contiguous.
    pub fn apply(&mut self, batch: &WriteBatch) -> Result<(), StorageError> {
        let invalid = |detail: String| Err(StorageError::InvalidBatch(detail));
        if let Some(snapshot) = &batch.snapshot {
            let keeps_log = self.term(snapshot.meta.last_index) == Some(snapshot.meta.last_term);
            let skip = snapshot
                .meta
                .last_index
                .saturating_sub(self.snapshot_index()) as usize;
            if keeps_log && skip <= self.entries.len() {
                self.entries.drain(..skip);
            } else {
                self.entries.clear();
            }
            self.snapshot = Some(snapshot.clone());
        }
        if let Some(from) = batch.truncate_from {
            if from <= self.snapshot_index() {
                return invalid(format!(
                    "truncate_from {from} reaches into the snapshot ending at {}",
                    self.snapshot_index()
                ));
            }
            let keep = (from - self.snapshot_index() - 1) as usize;
            self.entries.truncate(keep);
        }
        for entry in &batch.entries {
            let expected = self.last_index() + 1;
            if entry.index != expected {
                return invalid(format!(
                    "appended entry {} does not follow the last index {}",
                    entry.index,
                    expected - 1
                ));
            }
            self.entries.push(entry.clone());
        }
        if let Some(to) = batch.compact_to {
            let drop = to.saturating_sub(self.snapshot_index()) as usize;
            if to > self.snapshot_index() {
                return invalid(format!(
                    "compact_to {to} beyond the snapshot ending at {}",
                    self.snapshot_index()
                ));
            }
            self.entries.drain(..drop.min(self.entries.len()));
        }
        if let Some(hard_state) = &batch.hard_state {
            self.hard_state = Some(hard_state.clone());
        }
        Ok(())
    }

    /// What a storage would hand a protocol at recovery.
    pub fn to_recovered(&self) -> Recovered {
        Recovered {
            hard_state: self.hard_state.clone(),
            snapshot: self.snapshot.clone(),
            entries: self.entries.clone(),
        }
    }
}

/// What a crash did to the storage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrashDamage {
    /// Unsynced batches lost.
    pub lost_batches: usize,
    /// Whether the first lost batch was torn (partly written, then discarded
    /// by the checksum at recovery).
    pub torn: bool,
}

/// One node's simulated disk.
#[derive(Clone, Debug, Default)]
pub struct SimStorage {
    durable: LogState,
    current: LogState,
    /// Batches written but not yet covered by a sync, oldest first. Bounded
    /// by the protocol: every protocol syncs what a vote or an append
    /// acknowledgement depends on, and those come constantly.
    unsynced: Vec<WriteBatch>,
    durable_batches: u64,
    corrupted: Option<String>,
}

impl SimStorage {
    /// An empty disk.
    pub fn new() -> Self {
        SimStorage::default()
    }

    /// What survives a crash, as of now.
    pub fn durable(&self) -> &LogState {
        &self.durable
    }

    /// Everything written, synced or not: what the running node has handed
    /// to storage.
    pub fn current(&self) -> &LogState {
        &self.current
    }

    /// Starts a write: the batch is visible in [`current`](Self::current) at
    /// once, durable after [`sync`](Self::sync).
    pub fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        self.current.apply(&batch)?;
        self.unsynced.push(batch);
        Ok(())
    }

    /// Makes every batch written so far durable.
    pub fn sync(&mut self) {
        for batch in self.unsynced.drain(..) {
            self.durable
                .apply(&batch)
                .expect("a batch that applied to the current state applies to the durable state");
            self.durable_batches += 1;
        }
        // Cheap agreement check (a full comparison would make every sync
        // linear in the log length).
        debug_assert_eq!(self.durable.last_index(), self.current.last_index());
        debug_assert_eq!(self.durable.hard_state, self.current.hard_state);
    }

    /// Loses unsynced writes as a power cut would: a random prefix of them
    /// survives, the first one lost may be torn.
    pub fn crash(&mut self, rng: &mut SeededRng, torn_write: f64) -> CrashDamage {
        let pending = std::mem::take(&mut self.unsynced);
        let survive = rng.index(pending.len() + 1);
        let lost_batches = pending.len() - survive;
        for batch in pending.into_iter().take(survive) {
            self.durable
                .apply(&batch)
                .expect("a batch that applied to the current state applies to the durable state");
            self.durable_batches += 1;
        }
        self.current = self.durable.clone();
        CrashDamage {
            lost_batches,
            torn: lost_batches > 0 && rng.chance(torn_write),
        }
    }

    /// Reads the disk back at restart. With probability `bit_flip` (the
    /// caller passes 0 for nodes outside the corruptible minority) a bit
    /// inside acknowledged data has flipped; the checksum catches it and the
    /// storage reports corruption from then on.
    pub fn recover(
        &mut self,
        rng: &mut SeededRng,
        bit_flip: f64,
    ) -> Result<Recovered, StorageError> {
        assert!(
            self.unsynced.is_empty(),
            "recover runs after a crash, which settles unsynced writes"
        );
        if self.corrupted.is_none() && self.durable_batches > 0 && rng.chance(bit_flip) {
            let record = rng.below(self.durable_batches);
            self.corrupted = Some(format!("write batch {record} of {}", self.durable_batches));
        }
        if let Some(location) = &self.corrupted {
            return Err(StorageError::Corruption {
                location: location.clone(),
                detail: "checksum mismatch inside acknowledged data".to_string(),
            });
        }
        Ok(self.durable.to_recovered())
    }

    /// Whether recovery found corruption.
    pub fn is_corrupted(&self) -> bool {
        self.corrupted.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quorate_core::EntryKind;

    fn entry(index: LogIndex, term: Term) -> Entry {
        Entry {
            index,
            term,
            kind: EntryKind::Command,
            data: Bytes::from(format!("{index}/{term}")),
        }
    }

    fn append(entries: Vec<Entry>, sync: bool) -> WriteBatch {
        WriteBatch {
            entries,
            sync,
            ..WriteBatch::default()
        }
    }

    #[test]
    fn synced_writes_survive_a_crash_and_unsynced_ones_may_not() {
        for seed in 0..20 {
            let mut rng = SeededRng::new(seed);
            let mut disk = SimStorage::new();
            disk.write(append(vec![entry(1, 1), entry(2, 1)], true))
                .unwrap();
            disk.sync();
            disk.write(append(vec![entry(3, 1)], false)).unwrap();
            disk.write(append(vec![entry(4, 1)], false)).unwrap();
            assert_eq!(disk.current().last_index(), 4);
            let damage = disk.crash(&mut rng, 1.0);
            let recovered = disk.recover(&mut rng, 0.0).unwrap();
            let last = recovered.entries.last().unwrap().index;
            assert!(last >= 2, "synced entries survive");
            assert_eq!(4 - last, damage.lost_batches as u64);
            assert_eq!(damage.torn, damage.lost_batches > 0);
        }
    }

    #[test]
    fn truncation_and_hard_state_apply_in_order() {
        let mut log = LogState::default();
        log.apply(&append(vec![entry(1, 1), entry(2, 1), entry(3, 1)], true))
            .unwrap();
        let batch = WriteBatch {
            hard_state: Some(Bytes::from_static(b"hs")),
            truncate_from: Some(2),
            entries: vec![entry(2, 2)],
            sync: true,
            ..WriteBatch::default()
        };
        log.apply(&batch).unwrap();
        assert_eq!(log.last_index(), 2);
        assert_eq!(log.term(2), Some(2));
        assert_eq!(log.hard_state.as_deref(), Some(&b"hs"[..]));
        // A gap is refused.
        assert!(log.apply(&append(vec![entry(4, 2)], true)).is_err());
    }

    #[test]
    fn corruption_in_acknowledged_data_is_reported_not_served() {
        let mut rng = SeededRng::new(1);
        let mut disk = SimStorage::new();
        disk.write(append(vec![entry(1, 1)], true)).unwrap();
        disk.sync();
        disk.crash(&mut rng, 0.0);
        assert!(matches!(
            disk.recover(&mut rng, 1.0),
            Err(StorageError::Corruption { .. })
        ));
        assert!(disk.is_corrupted());
        assert!(disk.recover(&mut rng, 0.0).is_err(), "corruption persists");
    }
}
