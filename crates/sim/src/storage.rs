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

use quorate_core::{Recovered, SeededRng, StorageError, WriteBatch};
use quorate_storage::DurableLog;

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
    durable: DurableLog,
    current: DurableLog,
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
    pub fn durable(&self) -> &DurableLog {
        &self.durable
    }

    /// Everything written, synced or not: what the running node has handed
    /// to storage.
    pub fn current(&self) -> &DurableLog {
        &self.current
    }

    /// Starts a write: the batch is visible in [`current`](Self::current) at
    /// once, durable after [`sync`](Self::sync).
    pub fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        self.current.apply(batch.clone())?;
        self.unsynced.push(batch);
        Ok(())
    }

    /// Makes every batch written so far durable.
    pub fn sync(&mut self) {
        for batch in self.unsynced.drain(..) {
            self.durable
                .apply(batch)
                .expect("a batch that applied to the current state applies to the durable state");
            self.durable_batches += 1;
        }
        // Cheap agreement check (a full comparison would make every sync
        // linear in the log length).
        debug_assert_eq!(self.durable.last_index(), self.current.last_index());
        debug_assert_eq!(self.durable.hard_state(), self.current.hard_state());
    }

    /// Loses unsynced writes as a power cut would: a random prefix of them
    /// survives, the first one lost may be torn.
    pub fn crash(&mut self, rng: &mut SeededRng, torn_write: f64) -> CrashDamage {
        let pending = std::mem::take(&mut self.unsynced);
        let survive = rng.index(pending.len() + 1);
        let lost_batches = pending.len() - survive;
        for batch in pending.into_iter().take(survive) {
            self.durable
                .apply(batch)
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
    use bytes::Bytes;
    use quorate_core::{Entry, EntryKind, LogIndex, Term};

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
