//! The in-memory log store and state machine: as cheap as openraft allows,
//! so the benchmark measures openraft itself rather than its storage.

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Debug;
use std::io;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::sync::Arc;

use futures::Stream;
use futures::TryStreamExt;
use openraft::alias::LogIdOf;
use openraft::alias::SnapshotMetaOf;
use openraft::alias::SnapshotOf;
use openraft::alias::StoredMembershipOf;
use openraft::alias::VoteOf;
use openraft::entry::RaftEntry;
use openraft::storage::EntryResponder;
use openraft::storage::IOFlushed;
use openraft::storage::LogState;
use openraft::storage::RaftLogReader;
use openraft::storage::RaftLogStorage;
use openraft::storage::RaftSnapshotBuilder;
use openraft::storage::RaftStateMachine;
use openraft::EntryPayload;
use openraft::OptionalSend;
use openraft::SnapshotMeta;
use openraft::StoredMembership;
use serde::Deserialize;
use serde::Serialize;
use tokio::sync::RwLock;

/// The request every client writes: empty, as in openraft's benchmark.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Request {}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Request{}")
    }
}

/// The response to every request: empty.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Response {}

/// The benchmark's openraft types: u64 node ids, no node address, the
/// advanced leader id, one-shot responders (as in openraft's benchmark).
#[derive(Debug, Clone, Copy, Default, Eq, PartialEq, Ord, PartialOrd)]
pub struct TypeConfig;

impl openraft::RaftTypeConfig for TypeConfig {
    type D = Request;
    type R = Response;
    type NodeId = u64;
    type Node = ();
    type Term = u64;
    type LeaderId = openraft::impls::leader_id_adv::LeaderId<u64, u64>;
    type Vote = openraft::impls::Vote<Self::LeaderId>;
    type Entry = openraft::Entry<
        <Self::LeaderId as openraft::vote::RaftLeaderId>::Committed,
        Request,
        u64,
        (),
    >;
    type AsyncRuntime = openraft::impls::TokioRuntime;
    type Responder<T>
        = openraft::impls::OneshotResponder<Self, T>
    where
        T: OptionalSend + 'static;
    type Batch<T>
        = openraft::impls::InlineBatch<T>
    where
        T: OptionalSend + 'static;
    type ErrorSource = openraft::impls::BoxedErrorSource;
}

/// A log entry of this benchmark.
pub type Entry = <TypeConfig as openraft::RaftTypeConfig>::Entry;

/// The log: entries by index, the vote and the purge point, each behind an
/// async lock as in the original.
#[derive(Default)]
pub struct LogStore {
    vote: RwLock<Option<VoteOf<TypeConfig>>>,
    log: RwLock<BTreeMap<u64, Entry>>,
    last_purged: RwLock<Option<LogIdOf<TypeConfig>>>,
}

impl RaftLogReader<TypeConfig> for Arc<LogStore> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let log = self.log.read().await;
        Ok(log.range(range).map(|(_, entry)| entry.clone()).collect())
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<TypeConfig>>, io::Error> {
        Ok(*self.vote.read().await)
    }
}

impl RaftLogStorage<TypeConfig> for Arc<LogStore> {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let log = self.log.read().await;
        let last_purged = *self.last_purged.read().await;
        let last_log_id = log
            .values()
            .next_back()
            .map(|entry| entry.log_id())
            .or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<TypeConfig>) -> Result<(), io::Error> {
        *self.vote.write().await = Some(*vote);
        Ok(())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        {
            let mut log = self.log.write().await;
            log.extend(entries.into_iter().map(|entry| (entry.index(), entry)));
        }
        // Memory is "durable" at once: report the flush immediately.
        callback.io_completed(Ok(()));
        Ok(())
    }

    async fn truncate_after(
        &mut self,
        last_log_id: Option<LogIdOf<TypeConfig>>,
    ) -> Result<(), io::Error> {
        let first_removed = last_log_id.map_or(0, |id| id.index() + 1);
        self.log.write().await.split_off(&first_removed);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogIdOf<TypeConfig>) -> Result<(), io::Error> {
        *self.last_purged.write().await = Some(log_id);
        let mut log = self.log.write().await;
        let kept = log.split_off(&(log_id.index() + 1));
        *log = kept;
        Ok(())
    }
}

/// The state machine holds no data, only what openraft requires it to
/// remember: the last applied log id and the membership.
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
struct AppliedState {
    last_applied: Option<LogIdOf<TypeConfig>>,
    membership: StoredMembershipOf<TypeConfig>,
}

/// A snapshot kept in memory: its metadata and its serialized state.
struct StoredSnapshot {
    meta: SnapshotMetaOf<TypeConfig>,
    data: Vec<u8>,
}

/// The state machine store.
#[derive(Default)]
pub struct StateMachineStore {
    state: RwLock<AppliedState>,
    snapshot: RwLock<Option<StoredSnapshot>>,
}

impl RaftSnapshotBuilder<TypeConfig> for Arc<StateMachineStore> {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn build_snapshot(
        &mut self,
    ) -> Result<SnapshotOf<TypeConfig, Self::SnapshotData>, io::Error> {
        let (data, meta) = {
            let state = self.state.read().await;
            let data = serde_json::to_vec(&*state).map_err(io::Error::other)?;
            let meta = SnapshotMeta {
                last_log_id: state.last_applied,
                last_membership: state.membership.clone(),
            };
            (data, meta)
        };
        *self.snapshot.write().await = Some(StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        });
        Ok(openraft::Snapshot {
            meta,
            snapshot: Cursor::new(data),
        })
    }
}

impl RaftStateMachine<TypeConfig> for Arc<StateMachineStore> {
    type SnapshotData = Cursor<Vec<u8>>;
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>), io::Error> {
        let state = self.state.read().await;
        Ok((state.last_applied, state.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        let mut state = self.state.write().await;
        while let Some((entry, responder)) = entries.try_next().await? {
            state.last_applied = Some(entry.log_id);
            if let EntryPayload::Membership(membership) = &entry.payload {
                state.membership = StoredMembership::new(Some(entry.log_id), membership.clone());
            }
            if let Some(responder) = responder {
                responder.send(Response {});
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TypeConfig>,
        snapshot: Self::SnapshotData,
    ) -> Result<(), io::Error> {
        let data = snapshot.into_inner();
        let state: AppliedState = serde_json::from_slice(&data).map_err(io::Error::other)?;
        *self.state.write().await = state;
        *self.snapshot.write().await = Some(StoredSnapshot {
            meta: meta.clone(),
            data,
        });
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, Self::SnapshotData>>, io::Error> {
        Ok(self
            .snapshot
            .read()
            .await
            .as_ref()
            .map(|stored| openraft::Snapshot {
                meta: stored.meta.clone(),
                snapshot: Cursor::new(stored.data.clone()),
            }))
    }
}
