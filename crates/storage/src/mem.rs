//! [`MemStorage`]: a [`Storage`] whose durable state lives in memory.

use crate::log::DurableLog;
use async_trait::async_trait;
use quorate_core::{Recovered, Storage, StorageError, WriteBatch};
use std::sync::{Arc, Mutex, MutexGuard};

/// The state every handle of one [`MemStorage`] shares: what "the disk" holds.
#[derive(Debug, Default)]
struct Disk {
    log: DurableLog,
    /// Fail the next this-many writes with an IO error (fault injection).
    failing_writes: u64,
    /// Batches applied since creation, for tests and statistics.
    writes: u64,
}

/// A [`Storage`] that keeps its durable state in memory.
///
/// Every write is "durable" as soon as it is applied: the state survives as
/// long as any handle to it does. Cloning a `MemStorage` (or calling
/// [`reopen`](MemStorage::reopen)) gives another handle to the same durable
/// state, so a test can drop a node ("crash" it) and start a new one from the
/// same storage, which recovers everything written.
///
/// A handle that saw a failed write is poisoned: it refuses all further work,
/// as the [`Storage`] contract requires. The poison belongs to the handle (the
/// "process"), not to the shared state (the "disk"): a reopened handle
/// recovers the state as it was before the failed batch.
#[derive(Debug, Default)]
pub struct MemStorage {
    disk: Arc<Mutex<Disk>>,
    poisoned: bool,
}

impl Clone for MemStorage {
    /// Another handle to the same durable state, not poisoned.
    fn clone(&self) -> Self {
        self.reopen()
    }
}

impl MemStorage {
    /// An empty storage.
    pub fn new() -> Self {
        MemStorage::default()
    }

    /// A fresh handle to the same durable state, as after a restart: not
    /// poisoned.
    pub fn reopen(&self) -> Self {
        MemStorage {
            disk: Arc::clone(&self.disk),
            poisoned: false,
        }
    }

    /// Makes the next `count` writes (through any handle) fail with an IO
    /// error, changing nothing, as a failing disk would.
    pub fn fail_next_writes(&self, count: u64) {
        self.lock().failing_writes = count;
    }

    /// Batches successfully applied since the storage was created.
    pub fn writes(&self) -> u64 {
        self.lock().writes
    }

    /// What a recovery would return now, without consuming the handle.
    pub fn durable_state(&self) -> Recovered {
        self.lock().log.to_recovered()
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        // A panic while holding the lock cannot leave `Disk` half-updated:
        // `DurableLog::apply` replaces the log in one assignment.
        self.disk
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[async_trait]
impl Storage for MemStorage {
    async fn recover(&mut self) -> Result<Recovered, StorageError> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        Ok(self.durable_state())
    }

    async fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        let mut disk = self.lock();
        if disk.failing_writes > 0 {
            disk.failing_writes -= 1;
            drop(disk);
            self.poisoned = true;
            return Err(StorageError::Io(std::io::Error::other(
                "injected write failure",
            )));
        }
        match disk.log.apply(batch) {
            Ok(()) => {
                disk.writes += 1;
                Ok(())
            }
            Err(error) => {
                drop(disk);
                self.poisoned = true;
                Err(error)
            }
        }
    }
}
