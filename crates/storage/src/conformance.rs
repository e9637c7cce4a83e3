//! The storage conformance suite: checks that a [`Storage`] keeps the
//! [`WriteBatch`] contract.
//!
//! Every storage implementation runs it from its tests:
//!
//! ```
//! use async_trait::async_trait;
//! use quorate_core::StorageError;
//! use quorate_storage::{conformance, MemStorage};
//!
//! struct Mem;
//!
//! #[async_trait]
//! impl conformance::StorageFactory for Mem {
//!     type Storage = MemStorage;
//!     async fn create(&self) -> Result<MemStorage, StorageError> {
//!         Ok(MemStorage::new())
//!     }
//!     async fn reopen(&self, storage: MemStorage) -> Result<MemStorage, StorageError> {
//!         Ok(storage.reopen())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! conformance::run(&Mem).await.unwrap();
//! # });
//! ```
//!
//! The suite only uses the [`Storage`] trait plus the factory, so a
//! file-backed storage runs it unchanged: its `create` makes a fresh
//! directory, its `reopen` drops the handle (closing files, as a crash would
//! leave them) and opens the same directory again.

use async_trait::async_trait;
use bytes::Bytes;
use quorate_core::{
    Entry, EntryKind, LogIndex, Recovered, Snapshot, SnapshotMeta, Storage, StorageError, Term,
    WriteBatch,
};
use std::fmt;

/// Makes storages for the suite.
#[async_trait]
pub trait StorageFactory: Send + Sync {
    /// The storage under test.
    type Storage: Storage;

    /// A new, empty storage, independent of every other one created.
    async fn create(&self) -> Result<Self::Storage, StorageError>;

    /// Simulates a restart: drops `storage` and returns a new handle over the
    /// same durable state, on which `recover` is called next.
    async fn reopen(&self, storage: Self::Storage) -> Result<Self::Storage, StorageError>;
}

/// A failed conformance check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The check that failed (one of [`CHECKS`]).
    pub check: &'static str,
    /// What was expected and what happened.
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "storage conformance check `{}` failed: {}",
            self.check, self.detail
        )
    }
}

impl std::error::Error for Failure {}

/// The names of every check [`run`] performs, in order.
pub const CHECKS: &[&str] = &[
    "empty_recovery",
    "append_in_order",
    "batch_parts_applied_together",
    "truncate_suffix",
    "snapshot_matching_log_keeps_suffix",
    "snapshot_mismatching_log_discards_log",
    "compaction_up_to_snapshot",
    "snapshot_with_rewritten_suffix",
    "hard_state_replaced",
    "non_contiguous_append_rejected",
    "gap_after_truncate_rejected",
    "compaction_beyond_snapshot_rejected",
    "truncation_into_snapshot_rejected",
    "failed_batch_has_no_effect_after_restart",
    "recovery_after_many_batches",
];

/// Runs every check against fresh storages from `factory`; returns the first
/// failure.
pub async fn run<F: StorageFactory>(factory: &F) -> Result<(), Failure> {
    empty_recovery(factory).await?;
    append_in_order(factory).await?;
    batch_parts_applied_together(factory).await?;
    truncate_suffix(factory).await?;
    snapshot_matching_log_keeps_suffix(factory).await?;
    snapshot_mismatching_log_discards_log(factory).await?;
    compaction_up_to_snapshot(factory).await?;
    snapshot_with_rewritten_suffix(factory).await?;
    hard_state_replaced(factory).await?;
    non_contiguous_append_rejected(factory).await?;
    gap_after_truncate_rejected(factory).await?;
    compaction_beyond_snapshot_rejected(factory).await?;
    truncation_into_snapshot_rejected(factory).await?;
    failed_batch_has_no_effect_after_restart(factory).await?;
    recovery_after_many_batches(factory).await?;
    Ok(())
}

/// A command entry at `index` in `term`, with data naming both.
pub fn entry(index: LogIndex, term: Term) -> Entry {
    Entry {
        index,
        term,
        kind: EntryKind::Command,
        data: Bytes::from(format!("entry {index} of term {term}")),
    }
}

fn entries(indexes: std::ops::RangeInclusive<LogIndex>, term: Term) -> Vec<Entry> {
    indexes.map(|i| entry(i, term)).collect()
}

fn append(entries: Vec<Entry>) -> WriteBatch {
    WriteBatch {
        entries,
        sync: true,
        ..WriteBatch::default()
    }
}

fn snapshot(last_index: LogIndex, last_term: Term) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta {
            last_index,
            last_term,
            membership: Bytes::from_static(b"members"),
        },
        data: Bytes::from(format!("state up to {last_index}")),
    }
}

/// Context for one check: names failures after the check.
struct Check<'f, F> {
    name: &'static str,
    factory: &'f F,
}

impl<'f, F: StorageFactory> Check<'f, F> {
    fn new(name: &'static str, factory: &'f F) -> Self {
        Check { name, factory }
    }

    fn fail(&self, detail: impl Into<String>) -> Failure {
        Failure {
            check: self.name,
            detail: detail.into(),
        }
    }

    async fn create(&self) -> Result<F::Storage, Failure> {
        let mut storage = self
            .factory
            .create()
            .await
            .map_err(|e| self.fail(format!("create failed: {e}")))?;
        let recovered = storage
            .recover()
            .await
            .map_err(|e| self.fail(format!("recover of a new storage failed: {e}")))?;
        self.expect_eq(
            "recovery of a new storage",
            &recovered,
            &Recovered::default(),
        )?;
        Ok(storage)
    }

    async fn write(&self, storage: &mut F::Storage, batch: WriteBatch) -> Result<(), Failure> {
        let description = format!("{batch:?}");
        storage
            .write(batch)
            .await
            .map_err(|e| self.fail(format!("valid batch {description} rejected: {e}")))
    }

    async fn write_rejected(
        &self,
        storage: &mut F::Storage,
        batch: WriteBatch,
    ) -> Result<(), Failure> {
        let description = format!("{batch:?}");
        match storage.write(batch).await {
            Err(StorageError::InvalidBatch(_)) => {}
            Err(other) => {
                return Err(self.fail(format!(
                    "invalid batch {description} failed with {other}, expected InvalidBatch"
                )))
            }
            Ok(()) => return Err(self.fail(format!("invalid batch {description} accepted"))),
        }
        // Poisoned: every later call fails, however valid.
        match storage.write(WriteBatch::default()).await {
            Err(_) => Ok(()),
            Ok(()) => Err(self.fail("storage accepted a write after a failed one (not poisoned)")),
        }
    }

    /// Restarts the storage and returns what it recovers.
    async fn reopen(&self, storage: F::Storage) -> Result<(F::Storage, Recovered), Failure> {
        let mut storage = self
            .factory
            .reopen(storage)
            .await
            .map_err(|e| self.fail(format!("reopen failed: {e}")))?;
        let recovered = storage
            .recover()
            .await
            .map_err(|e| self.fail(format!("recover after reopen failed: {e}")))?;
        Ok((storage, recovered))
    }

    fn expect_eq<T: PartialEq + fmt::Debug>(
        &self,
        what: &str,
        actual: &T,
        expected: &T,
    ) -> Result<(), Failure> {
        if actual == expected {
            Ok(())
        } else {
            Err(self.fail(format!("{what}: expected {expected:?}, got {actual:?}")))
        }
    }
}

/// A new storage recovers nothing.
pub async fn empty_recovery<F: StorageFactory>(factory: &F) -> Result<(), Failure> {
    let check = Check::new("empty_recovery", factory);
    let storage = check.create().await?;
    let (_, recovered) = check.reopen(storage).await?;
    check.expect_eq("recovery after reopen", &recovered, &Recovered::default())
}

/// Entries appended over several batches come back in index order.
pub async fn append_in_order<F: StorageFactory>(factory: &F) -> Result<(), Failure> {
    let check = Check::new("append_in_order", factory);
    let mut storage = check.create().await?;
    check.write(&mut storage, append(entries(1..=3, 1))).await?;
    check.write(&mut storage, append(entries(4..=4, 1))).await?;
    check.write(&mut storage, append(entries(5..=7, 2))).await?;
    let (_, recovered) = check.reopen(storage).await?;
    let mut expected = entries(1..=4, 1);
    expected.extend(entries(5..=7, 2));
    check.expect_eq("recovered entries", &recovered.entries, &expected)
}

/// Every part of one batch takes effect, in the documented order.
pub async fn batch_parts_applied_together<F: StorageFactory>(factory: &F) -> Result<(), Failure> {
    let check = Check::new("batch_parts_applied_together", factory);
    let mut storage = check.create().await?;
    check.write(&mut storage, append(entries(1..=6, 1))).await?;
    // Snapshot at 2 (matching), truncate from 5, append 5..=6 of term 2,
    // compact to 2 and set the hard state, all in one batch.
    let batch = WriteBatch {
        hard_state: Some(Bytes::from_static(b"term 2, voted n1")),
        snapshot: Some(snapshot(2, 1)),
        truncate_from: Some(5),
        entries: entries(5..=6, 2),
        compact_to: Some(2),
        sync: true,
    };
    check.write(&mut storage, batch).await?;
    let (_, recovered) = check.reopen(storage).await?;
    let mut expected = entries(3..=4, 1);
    expected.extend(entries(5..=6, 2));
    let expected = Recovered {
        hard_state: Some(Bytes::from_static(b"term 2, voted n1")),
        snapshot: Some(snapshot(2, 1)),
        entries: expected,
    };
    check.expect_eq("recovered state", &recovered, &expected)
}

/// Truncation discards the suffix; appends then continue from the cut.
pub async fn truncate_suffix<F: StorageFactory>(factory: &F) -> Result<(), Failure> {
    let check = Check::new("truncate_suffix", factory);
    let mut storage = check.create().await?;
    check.write(&mut storage, append(entries(1..=5, 1))).await?;
    let truncate_only = WriteBatch {
        truncate_from: Some(4),
        sync: true,
        ..WriteBatch::default()
    };
    check.write(&mut storage, truncate_only).await?;
    let (mut storage, recovered) = check.reopen(storage).await?;
    check.expect_eq(
        "entries after truncate",
        &recovered.entries,
        &entries(1..=3, 1),
    )?;
    let replace = WriteBatch {
        truncate_from: Some(2),
        entries: entries(2..=3, 3),
        sync: true,
        ..WriteBatch::default()
    };
    check.write(&mut storage, replace).await?;
    // Truncating past the end discards nothing.
    let past_end = WriteBatch {
        truncate_from: Some(10),
        sync: true,
        ..WriteBatch::default()
    };
    check.write(&mut storage, past_end).await?;
    let (_, recovered) = check.reopen(storage).await?;
    let mut expected = entries(1..=1, 1);
    expected.extend(entries(2..=3, 3));
    check.expect_eq(
        "entries after replacing the suffix",
        &recovered.entries,
        &expected,
    )
}

/// A snapshot whose last entry is in the log keeps the entries after it.
pub async fn snapshot_matching_log_keeps_suffix<F: StorageFactory>(
    factory: &F,
) -> Result<(), Failure> {
    let check = Check::new("snapshot_matching_log_keeps_suffix", factory);
    let mut storage = check.create().await?;
    check.write(&mut storage, append(entries(1..=5, 1))).await?;
    let install = WriteBatch {
        snapshot: Some(snapshot(3, 1)),
        sync: true,
        ..WriteBatch::default()
    };
    check.write(&mut storage, install).await?;
    let (mut storage, recovered) = check.reopen(storage).await?;
    check.expect_eq("snapshot", &recovered.snapshot, &Some(snapshot(3, 1)))?;
    check.expect_eq("entries", &recovered.entries, &entries(4..=5, 1))?;
    // The log continues after the kept suffix.
    check.write(&mut storage, append(entries(6..=6, 1))).await?;
    let (_, recovered) = check.reopen(storage).await?;
    check.expect_eq(
        "entries after append",
        &recovered.entries,
        &entries(4..=6, 1),
    )
}

/// A snapshot the log does not match (other term, or beyond its end)
/// discards the whole log; appends then follow the snapshot.
pub async fn snapshot_mismatching_log_discards_log<F: StorageFactory>(
    factory: &F,
) -> Result<(), Failure> {
    let check = Check::new("snapshot_mismatching_log_discards_log", factory);
    let mut storage = check.create().await?;
    check.write(&mut storage, append(entries(1..=5, 1))).await?;
    let other_term = WriteBatch {
        snapshot: Some(snapshot(3, 2)),
        sync: true,
        ..WriteBatch::default()
    };
    check.write(&mut storage, other_term).await?;
    let (mut storage, recovered) = check.reopen(storage).await?;
    check.expect_eq(
        "entries after a mismatching snapshot",
        &recovered.entries,
        &vec![],
    )?;
    let beyond_end = WriteBatch {
        snapshot: Some(snapshot(9, 2)),
        entries: entries(10..=11, 2),
        sync: true,
        ..WriteBatch::default()
    };
    check.write(&mut storage, beyond_end).await?;
    let (_, recovered) = check.reopen(storage).await?;
    check.expect_eq("snapshot", &recovered.snapshot, &Some(snapshot(9, 2)))?;
    check.expect_eq("entries", &recovered.entries, &entries(10..=11, 2))
}

/// Compaction up to the snapshot is accepted and keeps later entries.
pub async fn compaction_up_to_snapshot<F: StorageFactory>(factory: &F) -> Result<(), Failure> {
    let check = Check::new("compaction_up_to_snapshot", factory);
    let mut storage = check.create().await?;
    check.write(&mut storage, append(entries(1..=6, 1))).await?;
    let install = WriteBatch {
        snapshot: Some(snapshot(4, 1)),
        compact_to: Some(4),
        sync: true,
        ..WriteBatch::default()
    };
    check.write(&mut storage, install).await?;
    let compact_again = WriteBatch {
        compact_to: Some(3),
        sync: true,
        ..WriteBatch::default()
    };
    check.write(&mut storage, compact_again).await?;
    let (_, recovered) = check.reopen(storage).await?;
    check.expect_eq("entries", &recovered.entries, &entries(5..=6, 1))?;
    check.expect_eq("snapshot", &recovered.snapshot, &Some(snapshot(4, 1)))
}

/// A snapshot installed from a leader, with the log after it rewritten in
/// the same batch (`truncate_from` just past the snapshot, then the
/// entries): recovery returns the snapshot and exactly the new entries,
/// whether or not the old log matched the snapshot. This is the batch a
/// Raft follower writes for InstallSnapshot.
pub async fn snapshot_with_rewritten_suffix<F: StorageFactory>(factory: &F) -> Result<(), Failure> {
    let check = Check::new("snapshot_with_rewritten_suffix", factory);
    for snapshot_term in [1, 2] {
        let mut storage = check.create().await?;
        check.write(&mut storage, append(entries(1..=6, 1))).await?;
        let install = WriteBatch {
            snapshot: Some(snapshot(3, snapshot_term)),
            truncate_from: Some(4),
            entries: entries(4..=5, 2),
            compact_to: Some(3),
            sync: true,
            ..WriteBatch::default()
        };
        check.write(&mut storage, install).await?;
        let (_, recovered) = check.reopen(storage).await?;
        check.expect_eq(
            "snapshot",
            &recovered.snapshot,
            &Some(snapshot(3, snapshot_term)),
        )?;
        check.expect_eq("entries", &recovered.entries, &entries(4..=5, 2))?;
    }
    Ok(())
}

/// The hard state is replaced whole by each batch that carries one, and kept
/// by batches that do not.
pub async fn hard_state_replaced<F: StorageFactory>(factory: &F) -> Result<(), Failure> {
    let check = Check::new("hard_state_replaced", factory);
    let mut storage = check.create().await?;
    let first = WriteBatch {
        hard_state: Some(Bytes::from_static(b"a much longer first hard state")),
        sync: true,
        ..WriteBatch::default()
    };
    check.write(&mut storage, first).await?;
    let second = WriteBatch {
        hard_state: Some(Bytes::from_static(b"short")),
        sync: true,
        ..WriteBatch::default()
    };
    check.write(&mut storage, second).await?;
    check.write(&mut storage, append(entries(1..=1, 1))).await?;
    let (_, recovered) = check.reopen(storage).await?;
    check.expect_eq(
        "hard state",
        &recovered.hard_state,
        &Some(Bytes::from_static(b"short")),
    )
}

/// Appends that skip or repeat an index are rejected, and poison the storage.
pub async fn non_contiguous_append_rejected<F: StorageFactory>(factory: &F) -> Result<(), Failure> {
    let check = Check::new("non_contiguous_append_rejected", factory);
    let mut storage = check.create().await?;
    check.write(&mut storage, append(entries(1..=3, 1))).await?;
    check
        .write_rejected(&mut storage, append(entries(5..=6, 1)))
        .await?;
    let (mut storage, recovered) = check.reopen(storage).await?;
    check.expect_eq("entries", &recovered.entries, &entries(1..=3, 1))?;
    check
        .write_rejected(&mut storage, append(vec![entry(4, 1), entry(6, 1)]))
        .await?;
    let (mut storage, _) = check.reopen(storage).await?;
    check
        .write_rejected(&mut storage, append(entries(3..=4, 1)))
        .await?;
    let (_, recovered) = check.reopen(storage).await?;
    check.expect_eq(
        "entries after rejections",
        &recovered.entries,
        &entries(1..=3, 1),
    )
}

/// After a truncation, appends must start exactly at the cut.
pub async fn gap_after_truncate_rejected<F: StorageFactory>(factory: &F) -> Result<(), Failure> {
    let check = Check::new("gap_after_truncate_rejected", factory);
    let mut storage = check.create().await?;
    check
        .write(&mut storage, append(entries(1..=10, 1)))
        .await?;
    let gap = WriteBatch {
        truncate_from: Some(5),
        entries: entries(7..=8, 2),
        sync: true,
        ..WriteBatch::default()
    };
    check.write_rejected(&mut storage, gap).await?;
    let (_, recovered) = check.reopen(storage).await?;
    check.expect_eq("entries", &recovered.entries, &entries(1..=10, 1))
}

/// Compaction beyond the snapshot would lose entries no snapshot covers.
pub async fn compaction_beyond_snapshot_rejected<F: StorageFactory>(
    factory: &F,
) -> Result<(), Failure> {
    let check = Check::new("compaction_beyond_snapshot_rejected", factory);
    let mut storage = check.create().await?;
    check.write(&mut storage, append(entries(1..=6, 1))).await?;
    let compact = WriteBatch {
        compact_to: Some(2),
        sync: true,
        ..WriteBatch::default()
    };
    check.write_rejected(&mut storage, compact).await?;
    let (mut storage, recovered) = check.reopen(storage).await?;
    check.expect_eq("entries", &recovered.entries, &entries(1..=6, 1))?;
    let install_and_overcompact = WriteBatch {
        snapshot: Some(snapshot(3, 1)),
        compact_to: Some(5),
        sync: true,
        ..WriteBatch::default()
    };
    check
        .write_rejected(&mut storage, install_and_overcompact)
        .await?;
    let (_, recovered) = check.reopen(storage).await?;
    check.expect_eq("snapshot", &recovered.snapshot, &None)?;
    check.expect_eq("entries", &recovered.entries, &entries(1..=6, 1))
}

/// Truncation may not reach into the snapshot.
pub async fn truncation_into_snapshot_rejected<F: StorageFactory>(
    factory: &F,
) -> Result<(), Failure> {
    let check = Check::new("truncation_into_snapshot_rejected", factory);
    let mut storage = check.create().await?;
    check.write(&mut storage, append(entries(1..=6, 1))).await?;
    let install = WriteBatch {
        snapshot: Some(snapshot(4, 1)),
        sync: true,
        ..WriteBatch::default()
    };
    check.write(&mut storage, install).await?;
    let truncate = WriteBatch {
        truncate_from: Some(4),
        sync: true,
        ..WriteBatch::default()
    };
    check.write_rejected(&mut storage, truncate).await?;
    let (_, recovered) = check.reopen(storage).await?;
    check.expect_eq("entries", &recovered.entries, &entries(5..=6, 1))
}

/// A rejected batch leaves no trace, not even its valid parts: after a
/// restart the state is the one before the batch.
pub async fn failed_batch_has_no_effect_after_restart<F: StorageFactory>(
    factory: &F,
) -> Result<(), Failure> {
    let check = Check::new("failed_batch_has_no_effect_after_restart", factory);
    let mut storage = check.create().await?;
    let first = WriteBatch {
        hard_state: Some(Bytes::from_static(b"term 1")),
        entries: entries(1..=3, 1),
        sync: true,
        ..WriteBatch::default()
    };
    check.write(&mut storage, first).await?;
    let bad = WriteBatch {
        hard_state: Some(Bytes::from_static(b"term 2")),
        snapshot: Some(snapshot(2, 1)),
        truncate_from: Some(3),
        // Valid parts above, then an append with a gap.
        entries: entries(4..=4, 2),
        sync: true,
        ..WriteBatch::default()
    };
    check.write_rejected(&mut storage, bad).await?;
    let (mut storage, recovered) = check.reopen(storage).await?;
    let expected = Recovered {
        hard_state: Some(Bytes::from_static(b"term 1")),
        snapshot: None,
        entries: entries(1..=3, 1),
    };
    check.expect_eq("state after the rejected batch", &recovered, &expected)?;
    // A reopened storage is usable again.
    check.write(&mut storage, append(entries(4..=4, 1))).await?;
    Ok(())
}

/// Recovery returns exactly what a long sequence of batches left, and
/// recovering twice returns the same.
pub async fn recovery_after_many_batches<F: StorageFactory>(factory: &F) -> Result<(), Failure> {
    let check = Check::new("recovery_after_many_batches", factory);
    let mut storage = check.create().await?;
    // A deterministic workload mixing every part, mirrored in a model.
    let mut model: Vec<Entry> = Vec::new();
    let mut term = 1;
    let mut hard_state = None;
    for round in 1..=50u64 {
        let mut batch = WriteBatch {
            sync: round % 3 != 0,
            ..WriteBatch::default()
        };
        if round % 7 == 0 && model.len() > 3 {
            // Replace the last two entries with ones from a new term.
            term += 1;
            let from = model[model.len() - 2].index;
            model.truncate(model.len() - 2);
            batch.truncate_from = Some(from);
        }
        let next = model.last().map_or(1, |e| e.index + 1);
        let fresh = entries(next..=next + round % 4, term);
        model.extend(fresh.iter().cloned());
        batch.entries = fresh;
        if round % 5 == 0 {
            let value = Bytes::from(format!("hard state {round}"));
            hard_state = Some(value.clone());
            batch.hard_state = Some(value);
        }
        check.write(&mut storage, batch).await?;
    }
    let expected = Recovered {
        hard_state,
        snapshot: None,
        entries: model,
    };
    let (storage, recovered) = check.reopen(storage).await?;
    check.expect_eq("first recovery", &recovered, &expected)?;
    let (_, recovered) = check.reopen(storage).await?;
    check.expect_eq("second recovery", &recovered, &expected)
}
