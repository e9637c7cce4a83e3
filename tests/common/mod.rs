//! An in-process Raft cluster over `MemTransport` + `FaultLayer` and
//! `MemStorage`, for end-to-end tests.
//!
//! Real tokio time with a small tick; every wait polls a condition with a
//! generous deadline, so a loaded machine makes tests slower, not flaky.
#![allow(dead_code)]

use bytes::Bytes;
use quorate_core::{LogIndex, NodeId, Role, StateMachine, StorageError, SubmitError};
use quorate_node::{Node, NodeOptions, NodeStatus};
use quorate_raft::{Config, Raft};
use quorate_storage::MemStorage;
use quorate_transport::{FaultControl, FaultLayer, FaultOptions, MemNetwork};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long any single condition may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The sequence a replica applied: `(log index, command)`.
pub type Applied = Arc<Mutex<Vec<(LogIndex, u64)>>>;

/// A state machine that records every command it applies, in order. Its
/// state is that whole sequence, so a snapshot carries it and a restore
/// (at restart, or from a leader's InstallSnapshot) replaces it: two
/// replicas with the same state hold the same sequence.
pub struct Recorder {
    applied: Applied,
}

impl StateMachine for Recorder {
    type Command = u64;
    type Response = LogIndex;

    fn apply(&mut self, index: LogIndex, command: u64) -> LogIndex {
        self.applied.lock().unwrap().push((index, command));
        index
    }

    fn snapshot(&self) -> Bytes {
        // `(index, command)` pairs as little-endian u64s.
        let applied = self.applied.lock().unwrap();
        let mut out = Vec::with_capacity(applied.len() * 16);
        for (index, command) in applied.iter() {
            out.extend_from_slice(&index.to_le_bytes());
            out.extend_from_slice(&command.to_le_bytes());
        }
        Bytes::from(out)
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), StorageError> {
        if !snapshot.len().is_multiple_of(16) {
            return Err(StorageError::Corruption {
                location: "recorder snapshot".to_string(),
                detail: format!("{} bytes is not a whole number of pairs", snapshot.len()),
            });
        }
        let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        let restored = snapshot
            .chunks_exact(16)
            .map(|pair| (word(&pair[..8]), word(&pair[8..])))
            .collect();
        *self.applied.lock().unwrap() = restored;
        Ok(())
    }
}

pub type TestNode = Node<Raft, Recorder>;

pub struct Cluster {
    pub network: MemNetwork,
    pub layer: FaultLayer,
    pub control: FaultControl,
    pub config: Config,
    pub members: Vec<NodeId>,
    pub nodes: BTreeMap<NodeId, TestNode>,
    pub storages: BTreeMap<NodeId, MemStorage>,
    /// The applied sequence of each node's current incarnation.
    pub applied: BTreeMap<NodeId, Applied>,
    /// The driver options every node starts with.
    pub options: NodeOptions,
}

impl Cluster {
    /// Starts `size` nodes (ids 1..=size).
    pub async fn start(size: u64, forward_proposals: bool) -> Cluster {
        let options = NodeOptions {
            tick_interval: Duration::from_millis(5),
            ..NodeOptions::default()
        };
        Cluster::start_with_options(size, forward_proposals, options).await
    }

    /// Starts `size` nodes (ids 1..=size) with the given driver options.
    pub async fn start_with_options(
        size: u64,
        forward_proposals: bool,
        options: NodeOptions,
    ) -> Cluster {
        let members: Vec<NodeId> = (1..=size).map(NodeId).collect();
        let config = Config {
            members: members.clone(),
            seed: 7,
            election_ticks_min: 20,
            election_ticks_max: 40,
            heartbeat_ticks: 3,
            pre_vote: true,
            check_quorum: true,
            forward_proposals,
            ..Config::default()
        };
        let layer = FaultLayer::new(FaultOptions::default());
        let mut cluster = Cluster {
            network: MemNetwork::new(),
            control: layer.control(),
            layer,
            config,
            members: members.clone(),
            nodes: BTreeMap::new(),
            storages: BTreeMap::new(),
            applied: BTreeMap::new(),
            options,
        };
        for id in members {
            cluster.storages.insert(id, MemStorage::new());
            cluster.boot(id).await;
        }
        cluster
    }

    /// Starts node `id` from its storage (a restart when it held state).
    pub async fn boot(&mut self, id: NodeId) {
        let applied = Applied::default();
        let node = Node::builder(id, self.config.clone())
            .transport(self.layer.layer(id, self.network.join(id)))
            .storage(self.storages[&id].reopen())
            .state_machine(Recorder {
                applied: Arc::clone(&applied),
            })
            .options(self.options.clone())
            .start()
            .await
            .expect("node starts");
        self.nodes.insert(id, node);
        self.applied.insert(id, applied);
    }

    /// Shuts node `id` down ("crashes" it; its storage survives).
    pub async fn crash(&mut self, id: NodeId) {
        let node = self.nodes.remove(&id).expect("node running");
        node.shutdown().await;
    }

    pub fn node(&self, id: NodeId) -> &TestNode {
        &self.nodes[&id]
    }

    pub fn applied(&self, id: NodeId) -> Vec<(LogIndex, u64)> {
        self.applied[&id].lock().unwrap().clone()
    }

    pub async fn statuses(&self) -> Vec<NodeStatus> {
        let mut statuses = Vec::new();
        for node in self.nodes.values() {
            statuses.push(node.status().await);
        }
        statuses
    }

    /// Waits until a running node leads, among `candidates` when given,
    /// and returns it. Picks the leader of the highest term seen.
    pub async fn leader_among(&self, candidates: &[NodeId]) -> NodeId {
        eventually("a leader is elected", || async {
            let mut best: Option<(u64, NodeId)> = None;
            for status in self.statuses().await {
                let p = &status.protocol;
                if p.role == Role::Leader
                    && candidates.contains(&p.id)
                    && best.is_none_or(|(term, _)| p.term > term)
                {
                    best = Some((p.term, p.id));
                }
            }
            best.map(|(_, id)| id)
        })
        .await
    }

    pub async fn leader(&self) -> NodeId {
        let running: Vec<NodeId> = self.nodes.keys().copied().collect();
        self.leader_among(&running).await
    }

    /// Submits `command` to whichever node leads, following hints and
    /// retrying until it is applied. A retry after `Indeterminate` may apply
    /// the command twice; callers check for that with distinct commands.
    pub async fn submit(&self, command: u64) -> LogIndex {
        submit_with_retry(&self.nodes, command).await
    }

    /// Submits every command of `commands` as [`submit`](Self::submit)
    /// does, `concurrency` at a time, and returns how many were applied
    /// (each is, or the call panics).
    pub async fn submit_all(&self, commands: std::ops::Range<u64>, concurrency: usize) -> usize {
        use futures::stream::{self, StreamExt};
        stream::iter(commands)
            .map(|command| self.submit(command))
            .buffer_unordered(concurrency)
            .count()
            .await
    }

    /// Waits until every running node applied at least `index`.
    pub async fn wait_applied(&self, index: LogIndex) {
        eventually("every node applies the log", || async {
            for status in self.statuses().await {
                if status.applied_index < index {
                    return None;
                }
            }
            Some(())
        })
        .await;
    }
}

/// Submits `command` through `nodes`, retrying on leadership changes.
pub async fn submit_with_retry(nodes: &BTreeMap<NodeId, TestNode>, command: u64) -> LogIndex {
    let ids: Vec<NodeId> = nodes.keys().copied().collect();
    let mut target = ids[command as usize % ids.len()];
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "command {command} not applied within {DEADLINE:?}"
        );
        match nodes[&target].submit(command).await {
            Ok(index) => return index,
            Err(SubmitError::NotLeader {
                leader_hint: Some(hint),
            }) if nodes.contains_key(&hint) => target = hint,
            Err(SubmitError::NotLeader { .. })
            | Err(SubmitError::Busy { .. })
            | Err(SubmitError::Indeterminate { .. }) => {
                let next = (ids.iter().position(|id| *id == target).unwrap() + 1) % ids.len();
                target = ids[next];
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(other) => panic!("command {command} failed: {other}"),
        }
    }
}

/// Polls `probe` until it returns `Some`, or panics naming `what` after
/// [`DEADLINE`].
pub async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
