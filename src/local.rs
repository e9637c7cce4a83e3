//! [`LocalCluster`]: several nodes in one process, for demos, examples,
//! benchmarks and tests.

use quorate_core::{Consensus, NodeId, ProtocolConfig, Role, StateMachine, SubmitError};
use quorate_node::{Node, NodeOptions, StartError};
use quorate_storage::MemStorage;
use quorate_transport::MemNetwork;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::{sleep, Instant};

/// How often [`LocalCluster`] polls while waiting for a condition.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Attempts [`LocalCluster::submit`] makes before giving up on finding a leader.
const SUBMIT_ATTEMPTS_MAX: usize = 200;

/// Builds a node's protocol config from its id and the cluster's members.
type ConfigFor<C> = Box<dyn Fn(NodeId, &[NodeId]) -> C + Send + Sync>;

/// Builds a node's state machine.
type StateMachineFor<S> = Box<dyn Fn(NodeId) -> S + Send + Sync>;

/// A cluster of nodes in one process over a [`MemNetwork`], each with a
/// [`MemStorage`] that outlives it, so nodes can be crashed and restarted.
///
/// `config_for(id, members)` builds each node's protocol config: the
/// protocol follows from it, so one closure swaps the protocol for the whole
/// cluster.
pub struct LocalCluster<C: ProtocolConfig, S: StateMachine>
where
    C::Protocol: Consensus,
{
    network: MemNetwork,
    members: Vec<NodeId>,
    options: NodeOptions,
    config_for: ConfigFor<C>,
    state_machine_for: StateMachineFor<S>,
    storages: BTreeMap<NodeId, MemStorage>,
    running: BTreeMap<NodeId, Node<C::Protocol, S>>,
    /// The node the last successful [`submit`](Self::submit) went to, or
    /// [`NO_LEADER`]: submits try it first instead of asking every node
    /// for its status each time.
    last_leader: AtomicU64,
}

/// `last_leader` when no leader is known (members are numbered from 1).
const NO_LEADER: u64 = 0;

impl<C: ProtocolConfig, S: StateMachine> fmt::Debug for LocalCluster<C, S>
where
    C::Protocol: Consensus,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCluster")
            .field("members", &self.members)
            .field("running", &self.running.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<C: ProtocolConfig, S: StateMachine> LocalCluster<C, S>
where
    C::Protocol: Consensus,
{
    /// Starts nodes `1..=size`, each with a fresh storage and the state
    /// machine `state_machine_for(id)` builds.
    pub async fn start(
        size: u64,
        options: NodeOptions,
        config_for: impl Fn(NodeId, &[NodeId]) -> C + Send + Sync + 'static,
        state_machine_for: impl Fn(NodeId) -> S + Send + Sync + 'static,
    ) -> Result<Self, StartError> {
        let members: Vec<NodeId> = (1..=size).map(NodeId).collect();
        let mut cluster = LocalCluster {
            network: MemNetwork::new(),
            storages: members.iter().map(|&id| (id, MemStorage::new())).collect(),
            members: members.clone(),
            options,
            config_for: Box::new(config_for),
            state_machine_for: Box::new(state_machine_for),
            running: BTreeMap::new(),
            last_leader: AtomicU64::new(NO_LEADER),
        };
        for id in members {
            cluster.restart(id).await?;
        }
        Ok(cluster)
    }

    /// Every member, running or not.
    pub fn members(&self) -> &[NodeId] {
        &self.members
    }

    /// The running node `id`, if it is running.
    pub fn node(&self, id: NodeId) -> Option<&Node<C::Protocol, S>> {
        self.running.get(&id)
    }

    /// The running nodes.
    pub fn running(&self) -> impl Iterator<Item = &Node<C::Protocol, S>> {
        self.running.values()
    }

    /// Stops node `id` as a crash would: its pending requests fail, its
    /// storage keeps what it had written.
    pub async fn crash(&mut self, id: NodeId) {
        if let Some(node) = self.running.remove(&id) {
            node.shutdown().await;
        }
    }

    /// Starts node `id` (again) from what its storage holds, with a fresh
    /// state machine rebuilt from the log.
    pub async fn restart(&mut self, id: NodeId) -> Result<(), StartError> {
        self.crash(id).await;
        let storage = self.storages[&id].reopen();
        let node = Node::builder(id, (self.config_for)(id, &self.members))
            .transport(self.network.join(id))
            .storage(storage)
            .state_machine((self.state_machine_for)(id))
            .options(self.options.clone())
            .start()
            .await?;
        self.running.insert(id, node);
        Ok(())
    }

    /// The node that leads in the highest term any running node knows,
    /// as that leader itself reports.
    pub async fn leader(&self) -> Option<NodeId> {
        let mut best = None;
        for node in self.running.values() {
            let status = node.status().await.protocol;
            if status.role == Role::Leader && best.is_none_or(|(term, _)| status.term > term) {
                best = Some((status.term, status.id));
            }
        }
        best.map(|(_, id)| id)
    }

    /// Waits until a running node leads, up to `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<NodeId> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(leader) = self.leader().await {
                return Some(leader);
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(POLL_INTERVAL).await;
        }
    }

    /// Waits until every running node has applied at least `index`, up to
    /// `timeout`. Returns whether they did.
    pub async fn wait_for_applied(&self, index: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let mut all = true;
            for node in self.running.values() {
                all &= node.status().await.applied_index >= index;
            }
            if all {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            sleep(POLL_INTERVAL).await;
        }
    }

    /// Submits `command` to the leader, following `NotLeader` hints and
    /// waiting out elections. Indeterminate outcomes are returned, not
    /// retried: retrying could apply the command twice.
    ///
    /// The node that took the previous command is tried first, so that in
    /// steady state a submit is one request to one node; the nodes are
    /// asked who leads only when that one is gone or refuses.
    pub async fn submit(&self, command: S::Command) -> Result<S::Response, SubmitError>
    where
        S::Command: Clone,
    {
        let remembered = NodeId(self.last_leader.load(Ordering::Relaxed));
        let mut target = if self.running.contains_key(&remembered) {
            Some(remembered)
        } else {
            self.leader().await
        };
        let mut last_error = SubmitError::NotLeader { leader_hint: None };
        for _ in 0..SUBMIT_ATTEMPTS_MAX {
            let Some(node) = target.and_then(|id| self.running.get(&id)) else {
                sleep(POLL_INTERVAL).await;
                target = self.leader().await;
                continue;
            };
            match node.submit(command.clone()).await {
                Err(SubmitError::NotLeader { leader_hint }) => {
                    last_error = SubmitError::NotLeader { leader_hint };
                    target = match leader_hint {
                        Some(hint) if Some(hint) != target => Some(hint),
                        _ => {
                            sleep(POLL_INTERVAL).await;
                            self.leader().await
                        }
                    };
                }
                Err(error @ (SubmitError::Busy { .. } | SubmitError::Stopped)) => {
                    last_error = error;
                    sleep(POLL_INTERVAL).await;
                    target = self.leader().await;
                }
                answer => {
                    if let Some(NodeId(id)) = target {
                        self.last_leader.store(id, Ordering::Relaxed);
                    }
                    return answer;
                }
            }
        }
        Err(last_error)
    }

    /// Stops every node.
    pub async fn shutdown(&mut self) {
        for (_, node) in std::mem::take(&mut self.running) {
            node.shutdown().await;
        }
    }
}
