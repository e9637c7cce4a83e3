//! `MemStorage` passes the storage conformance suite.

use async_trait::async_trait;
use quorate_core::{Storage, StorageError, WriteBatch};
use quorate_storage::{conformance, MemStorage};

struct Mem;

#[async_trait]
impl conformance::StorageFactory for Mem {
    type Storage = MemStorage;

    async fn create(&self) -> Result<MemStorage, StorageError> {
        Ok(MemStorage::new())
    }

    async fn reopen(&self, storage: MemStorage) -> Result<MemStorage, StorageError> {
        Ok(storage.reopen())
    }
}

#[tokio::test]
async fn mem_storage_passes_the_conformance_suite() {
    if let Err(failure) = conformance::run(&Mem).await {
        panic!("{failure}");
    }
}

/// A storage that forgets every write: the suite must catch it, or it proves
/// nothing.
struct Forgetful;

#[async_trait]
impl conformance::StorageFactory for Forgetful {
    type Storage = MemStorage;

    async fn create(&self) -> Result<MemStorage, StorageError> {
        Ok(MemStorage::new())
    }

    async fn reopen(&self, _storage: MemStorage) -> Result<MemStorage, StorageError> {
        Ok(MemStorage::new())
    }
}

#[tokio::test]
async fn suite_detects_a_storage_that_loses_writes() {
    let failure = conformance::run(&Forgetful)
        .await
        .expect_err("a storage that loses everything must fail");
    assert_eq!(failure.check, "append_in_order");
}

#[tokio::test]
async fn injected_write_failure_poisons_only_the_failing_handle() {
    let mut storage = MemStorage::new();
    storage
        .write(WriteBatch {
            entries: vec![conformance::entry(1, 1)],
            sync: true,
            ..WriteBatch::default()
        })
        .await
        .unwrap();
    storage.fail_next_writes(1);
    let failed = storage
        .write(WriteBatch {
            entries: vec![conformance::entry(2, 1)],
            sync: true,
            ..WriteBatch::default()
        })
        .await;
    assert!(matches!(failed, Err(StorageError::Io(_))));
    assert!(matches!(
        storage.write(WriteBatch::default()).await,
        Err(StorageError::Poisoned)
    ));
    assert!(matches!(
        storage.recover().await,
        Err(StorageError::Poisoned)
    ));

    let mut restarted = storage.reopen();
    let recovered = restarted.recover().await.unwrap();
    assert_eq!(recovered.entries, vec![conformance::entry(1, 1)]);
    assert_eq!(restarted.writes(), 1);
}
