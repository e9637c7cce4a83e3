//! The [`Storage`] component: what makes protocol state survive a crash.

use crate::entry::{Entry, Snapshot};
use crate::error::StorageError;
use crate::ids::LogIndex;
use async_trait::async_trait;
use bytes::Bytes;

/// One atomic write: a protocol's changes to its durable state.
///
/// Storage applies the parts in this order, all or nothing:
///
/// 1. `snapshot`: install it; discard every entry with
///    `index <= snapshot.meta.last_index`, and, when the log does not contain
///    an entry at `last_index` with `last_term`, discard the whole log.
/// 2. `truncate_from`: discard every entry with `index >= truncate_from`.
/// 3. `entries`: append; they are contiguous and the first follows the last
///    entry kept (or the snapshot) directly.
/// 4. `compact_to`: discard every entry with `index <= compact_to`; the
///    caller only compacts up to an index covered by a durable snapshot.
/// 5. `hard_state`: replace the stored hard state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// The protocol's hard state (term, vote, ...), encoded by the protocol.
    pub hard_state: Option<Bytes>,
    /// A snapshot to install.
    pub snapshot: Option<Snapshot>,
    /// Discard the log suffix starting at this index.
    pub truncate_from: Option<LogIndex>,
    /// Entries to append.
    pub entries: Vec<Entry>,
    /// Discard the log prefix up to and including this index.
    pub compact_to: Option<LogIndex>,
    /// The batch must be durable (fsynced) when `write` returns.
    pub sync: bool,
}

impl WriteBatch {
    /// True when the batch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none()
            && self.snapshot.is_none()
            && self.truncate_from.is_none()
            && self.entries.is_empty()
            && self.compact_to.is_none()
    }
}

/// Everything a storage recovered at start-up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The last hard state written, if any.
    pub hard_state: Option<Bytes>,
    /// The last snapshot installed, if any.
    pub snapshot: Option<Snapshot>,
    /// The log after the snapshot, contiguous, in index order.
    pub entries: Vec<Entry>,
}

/// Durable storage for one protocol instance.
///
/// Storage sees entries, snapshots and opaque hard-state bytes, never
/// protocol types.
///
/// # To ensure correctness
///
/// - [`write`](Storage::write) applies a batch atomically and in the order
///   [`WriteBatch`] documents: after a crash, recovery returns the state
///   before the batch or after it, never a mix.
/// - Batches are applied in the order `write` is called.
/// - When `batch.sync` is set, the batch is durable when `write` returns
///   `Ok`. A batch without `sync` may be lost by a crash, but only together
///   with every later batch.
/// - After `write` returns `Err`, every later call returns
///   [`StorageError::Poisoned`] (or the original error): storage never
///   pretends a failed write can be retried.
/// - [`recover`](Storage::recover) returns precisely what was durably
///   written. A torn final write is discarded; damage inside data that
///   was acknowledged is reported as [`StorageError::Corruption`], never
///   skipped.
///
/// `quorate_storage::conformance` checks these rules; every implementation
/// should run it.
#[async_trait]
pub trait Storage: Send + 'static {
    /// Reads back the durable state. Called once, before any write.
    async fn recover(&mut self) -> Result<Recovered, StorageError>;

    /// Applies `batch` atomically; see the trait documentation.
    async fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError>;
}

#[async_trait]
impl<S: Storage + ?Sized> Storage for Box<S> {
    async fn recover(&mut self) -> Result<Recovered, StorageError> {
        (**self).recover().await
    }

    async fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        (**self).write(batch).await
    }
}
