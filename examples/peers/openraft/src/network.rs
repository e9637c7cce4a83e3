//! The in-process "network": an RPC is a direct call on the target node's
//! `Raft` handle, so no serialization and no sockets are measured.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::future::Future;
use std::io::Cursor;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use openraft::alias::SnapshotOf;
use openraft::alias::VoteOf;
use openraft::error::RPCError;
use openraft::error::ReplicationClosed;
use openraft::error::StreamingError;
use openraft::error::Unreachable;
use openraft::network::RPCOption;
use openraft::network::RaftNetworkFactory;
use openraft::raft::AppendEntriesRequest;
use openraft::raft::AppendEntriesResponse;
use openraft::raft::SnapshotResponse;
use openraft::raft::VoteRequest;
use openraft::raft::VoteResponse;
use openraft::Config;
use openraft::OptionalSend;
use openraft::Raft;
use openraft::RaftNetworkV2;

use crate::store::LogStore;
use crate::store::StateMachineStore;
use crate::store::TypeConfig;

/// One node of the benchmark cluster.
pub type BenchRaft = Raft<TypeConfig, Arc<StateMachineStore>>;

/// Every node of the cluster by id: the network's routing table.
#[derive(Clone, Default)]
pub struct Router {
    nodes: Arc<Mutex<BTreeMap<u64, BenchRaft>>>,
}

impl Router {
    /// The node `id`. Panics when there is none: the cluster is fixed.
    pub fn node(&self, id: u64) -> BenchRaft {
        self.nodes
            .lock()
            .unwrap()
            .get(&id)
            .cloned()
            .expect("node exists")
    }

    /// Starts one node per id, initializes the cluster from the smallest id
    /// (which so becomes the leader) and waits until every node has applied
    /// the initial membership entry.
    pub async fn start_cluster(
        &self,
        config: Arc<Config>,
        ids: BTreeSet<u64>,
    ) -> Result<u64, String> {
        for &id in &ids {
            let raft = Raft::new(
                id,
                config.clone(),
                self.clone(),
                Arc::new(LogStore::default()),
                Arc::new(StateMachineStore::default()),
            )
            .await
            .map_err(|e| format!("start node {id}: {e}"))?;
            self.nodes.lock().unwrap().insert(id, raft);
        }
        let first = *ids.first().ok_or("a cluster needs at least one member")?;
        self.node(first)
            .initialize(ids.clone())
            .await
            .map_err(|e| format!("initialize: {e}"))?;
        for &id in &ids {
            // Index 0 holds the initial membership, index 1 the leader's
            // first (blank) entry; every node applies both.
            self.node(id)
                .wait(Some(Duration::from_secs(10)))
                .applied_index_at_least(Some(1), "leader's first entry applied")
                .await
                .map_err(|e| format!("node {id} did not apply the membership: {e}"))?;
        }
        Ok(first)
    }
}

impl RaftNetworkFactory<TypeConfig> for Router {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, _node: &()) -> Self::Network {
        Connection {
            target: self.node(target),
        }
    }
}

/// A "connection" to one peer: its handle.
pub struct Connection {
    target: BenchRaft,
}

fn unreachable(e: &(impl std::error::Error + 'static)) -> Unreachable<TypeConfig> {
    Unreachable::new(e)
}

impl RaftNetworkV2<TypeConfig> for Connection {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.target
            .append_entries(rpc)
            .await
            .map_err(|e| RPCError::Unreachable(unreachable(&e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.target
            .vote(rpc)
            .await
            .map_err(|e| RPCError::Unreachable(unreachable(&e)))
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, Self::SnapshotData>,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        self.target
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| StreamingError::Unreachable(unreachable(&e)))
    }
}
