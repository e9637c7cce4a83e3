//! Helpers shared by the integration tests: building instances, carrying
//! out Ready batches, and a small deterministic in-memory cluster.
#![allow(dead_code)]

use bytes::Bytes;
use quorate_core::{
    Committed, Entry, EntryKind, NodeId, Protocol, Ready, Recovered, RequestId, Role, SeededRng,
    Snapshot, SubmitError, WriteBatch,
};
use quorate_raft::{Config, HardState, Message, Raft};
use std::collections::{BTreeMap, VecDeque};

pub type RaftReady = Ready<Message, Committed>;

/// A config for node ids `1..=size`, PreVote and CheckQuorum off unless a
/// test turns them on, so elections in unit tests are one round trip.
pub fn config(size: u64) -> Config {
    Config {
        members: (1..=size).map(NodeId).collect(),
        seed: 7,
        pre_vote: false,
        check_quorum: false,
        ..Config::default()
    }
}

pub fn new_node(id: u64, config: Config) -> Raft {
    Raft::restore(NodeId(id), config, Recovered::default()).expect("valid config")
}

/// Takes one Ready, hands it back, and returns it.
pub fn drain(raft: &mut Raft) -> Option<RaftReady> {
    let ready = raft.ready()?;
    raft.advance(ready.id);
    Some(ready)
}

/// Carries out Ready batches until there are none, merging them.
pub fn drain_all(raft: &mut Raft) -> Vec<RaftReady> {
    let mut out = Vec::new();
    while let Some(ready) = drain(raft) {
        out.push(ready);
    }
    out
}

pub fn ticks(raft: &mut Raft, count: u32) {
    for _ in 0..count {
        raft.tick();
    }
}

/// Ticks until the node starts an election (without PreVote).
pub fn tick_until_candidate(raft: &mut Raft) {
    for _ in 0..1000 {
        if raft.status().role != Role::Follower {
            return;
        }
        raft.tick();
    }
    panic!("node never campaigned");
}

/// Makes node `raft` leader of term 1 in a fresh cluster by feeding it the
/// votes it asks for, then drains its Ready batches.
pub fn make_leader(raft: &mut Raft) -> Vec<RaftReady> {
    tick_until_candidate(raft);
    let term = raft.status().term;
    let mut readies = drain_all(raft);
    let members = peers(raft);
    for peer in members {
        if raft.status().role == Role::Leader {
            break;
        }
        raft.step(
            peer,
            Message::VoteResponse {
                term,
                granted: true,
            },
        );
    }
    assert_eq!(raft.status().role, Role::Leader);
    readies.extend(drain_all(raft));
    readies
}

fn peers(raft: &Raft) -> Vec<NodeId> {
    // Members are 1..=n in every test config.
    let id = raft.status().id;
    (1..=9).map(NodeId).filter(|&n| n != id).collect::<Vec<_>>()
}

/// Messages to `to` in a list.
pub fn to(messages: &[(NodeId, Message)], to: u64) -> Vec<Message> {
    messages
        .iter()
        .filter(|(n, _)| *n == NodeId(to))
        .map(|(_, m)| m.clone())
        .collect()
}

pub fn hard_state(ready: &RaftReady) -> Option<HardState> {
    let bytes = ready.persist.as_ref()?.hard_state.as_ref()?;
    Some(HardState::decode(bytes).expect("hard state decodes"))
}

pub fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        kind: EntryKind::Command,
        data: Bytes::from(format!("e{index}t{term}")),
    }
}

pub fn append(term: u64, prev: (u64, u64), entries: Vec<Entry>, commit: u64) -> Message {
    Message::Append {
        term,
        prev_log_index: prev.0,
        prev_log_term: prev.1,
        entries,
        commit_index: commit,
    }
}

/// A follower whose log holds `terms[i]` at index `i + 1`, in term
/// `current_term`, with no leader known yet.
pub fn follower_with_log(id: u64, size: u64, terms: &[u64], current_term: u64) -> Raft {
    let entries = terms
        .iter()
        .enumerate()
        .map(|(i, &t)| entry(i as u64 + 1, t))
        .collect();
    let hard_state = HardState {
        term: current_term,
        vote: None,
        commit: 0,
        incarnation: 0,
    };
    let recovered = Recovered {
        hard_state: Some(hard_state.encode()),
        snapshot: None,
        entries,
    };
    let mut raft = Raft::restore(NodeId(id), config(size), recovered).expect("valid");
    drain_all(&mut raft);
    raft
}

/// Durable state of one node, as a storage would keep it (the `WriteBatch`
/// rules, in their documented order).
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    pub hard_state: Option<Bytes>,
    pub snapshot: Option<Snapshot>,
    /// Entries after the snapshot, contiguous.
    pub entries: Vec<Entry>,
}

impl MemStore {
    fn snapshot_index(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.meta.last_index)
    }

    pub fn write(&mut self, batch: &WriteBatch) {
        if let Some(snapshot) = &batch.snapshot {
            let index = snapshot.meta.last_index;
            assert!(
                index >= self.snapshot_index(),
                "snapshots only move forward"
            );
            let matches = self
                .entries
                .iter()
                .any(|e| e.index == index && e.term == snapshot.meta.last_term);
            if matches {
                self.entries.retain(|e| e.index > index);
            } else {
                self.entries.clear();
            }
            self.snapshot = Some(snapshot.clone());
        }
        if let Some(from) = batch.truncate_from {
            assert!(from > self.snapshot_index(), "truncation into the snapshot");
            self.entries.retain(|e| e.index < from);
        }
        for entry in &batch.entries {
            let last = self
                .entries
                .last()
                .map_or(self.snapshot_index(), |e| e.index);
            assert_eq!(
                entry.index,
                last + 1,
                "appended entries must follow the log"
            );
            self.entries.push(entry.clone());
        }
        if let Some(to) = batch.compact_to {
            assert!(
                to <= self.snapshot_index(),
                "compaction beyond the snapshot"
            );
            self.entries.retain(|e| e.index > to);
        }
        if let Some(hs) = &batch.hard_state {
            self.hard_state = Some(hs.clone());
        }
    }

    pub fn recovered(&self) -> Recovered {
        Recovered {
            hard_state: self.hard_state.clone(),
            snapshot: self.snapshot.clone(),
            entries: self.entries.clone(),
        }
    }
}

/// The test state machine's snapshot: every entry it applied, in order.
pub fn encode_applied(applied: &[Committed]) -> Bytes {
    let entries: Vec<&Entry> = applied.iter().map(|c| &c.entry).collect();
    Bytes::from(postcard::to_allocvec(&entries).expect("entries encode"))
}

/// The state a snapshot of [`encode_applied`] restores.
pub fn decode_applied(data: &[u8]) -> Vec<Committed> {
    let entries: Vec<Entry> = postcard::from_bytes(data).expect("snapshot decodes");
    entries
        .into_iter()
        .map(|entry| Committed {
            entry,
            request: None,
        })
        .collect()
}

/// A tiny deterministic cluster: FIFO delivery, optional isolation, crash
/// and restart from the durable state. It carries out the Ready contract
/// exactly as a driver must.
pub struct Cluster {
    pub config: Config,
    pub nodes: BTreeMap<u64, Raft>,
    pub stores: BTreeMap<u64, MemStore>,
    /// Outputs applied per node since its last restart.
    pub applied: BTreeMap<u64, Vec<Committed>>,
    pub failed: BTreeMap<u64, Vec<(RequestId, SubmitError)>>,
    pub isolated: Vec<u64>,
    /// Percent of messages dropped, duplicated, and delivered out of order.
    pub faults_percent: u64,
    rng: SeededRng,
    queue: VecDeque<(NodeId, NodeId, Message)>,
    /// (term, leader) pairs ever observed, for election safety.
    pub leaders: BTreeMap<u64, u64>,
    /// Hand each node a snapshot of its applied state every this many
    /// applied entries; `None`: never compact.
    pub snapshot_entries: Option<u64>,
    /// Snapshots received from a leader and installed, summed over nodes.
    pub snapshots_installed: u64,
}

impl Cluster {
    pub fn new(size: u64, config: Config) -> Self {
        let mut cluster = Cluster {
            config: Config {
                members: (1..=size).map(NodeId).collect(),
                ..config
            },
            nodes: BTreeMap::new(),
            stores: BTreeMap::new(),
            applied: BTreeMap::new(),
            failed: BTreeMap::new(),
            isolated: Vec::new(),
            faults_percent: 0,
            rng: SeededRng::new(0x5EED),
            queue: VecDeque::new(),
            leaders: BTreeMap::new(),
            snapshot_entries: None,
            snapshots_installed: 0,
        };
        for id in 1..=size {
            cluster.stores.insert(id, MemStore::default());
            cluster.start(id);
        }
        cluster
    }

    pub fn start(&mut self, id: u64) {
        let recovered = self.stores[&id].recovered();
        let applied = recovered
            .snapshot
            .as_ref()
            .map_or_else(Vec::new, |s| decode_applied(&s.data));
        let raft = Raft::restore(NodeId(id), self.config.clone(), recovered).expect("restore");
        self.nodes.insert(id, raft);
        self.applied.insert(id, applied);
    }

    pub fn crash(&mut self, id: u64) {
        self.nodes.remove(&id);
        self.queue
            .retain(|(from, to, _)| from.0 != id && to.0 != id);
    }

    fn handle_ready(&mut self, id: u64) -> bool {
        let Some(raft) = self.nodes.get_mut(&id) else {
            return false;
        };
        let Some(ready) = raft.ready() else {
            return false;
        };
        for (to, m) in ready.send_now {
            self.queue.push_back((NodeId(id), to, m));
        }
        if let Some(batch) = &ready.persist {
            self.stores.get_mut(&id).unwrap().write(batch);
        }
        for (to, m) in ready.send_after_persist {
            self.queue.push_back((NodeId(id), to, m));
        }
        let applied = self.applied.get_mut(&id).unwrap();
        if let Some(snapshot) = ready.persist.as_ref().and_then(|b| b.snapshot.as_ref()) {
            if snapshot.meta.last_index > applied.len() as u64 {
                // From the leader: it replaces the state machine.
                *applied = decode_applied(&snapshot.data);
                assert_eq!(applied.len() as u64, snapshot.meta.last_index);
                self.snapshots_installed += 1;
            }
        }
        for out in ready.outputs {
            assert_eq!(
                out.entry.index,
                applied.len() as u64 + 1,
                "n{id} outputs must be contiguous and in order"
            );
            applied.push(out);
        }
        self.failed.entry(id).or_default().extend(ready.failed);
        raft.advance(ready.id);
        if let Some(every) = self.snapshot_entries {
            let applied_index = applied.len() as u64;
            if applied_index >= raft.status().snapshot_index + every {
                raft.compact(applied_index, encode_applied(applied));
            }
        }
        true
    }

    /// Processes Ready batches and delivers messages until quiet.
    pub fn settle(&mut self) {
        for _ in 0..100_000 {
            let mut busy = false;
            let ids: Vec<u64> = self.nodes.keys().copied().collect();
            for id in ids {
                while self.handle_ready(id) {
                    busy = true;
                }
            }
            if self.faults_percent > 0 && self.queue.len() > 1 && self.chance() {
                // Reorder: deliver a later message first.
                let at = self.rng.index(self.queue.len());
                self.queue.swap(0, at);
            }
            if let Some((from, to, message)) = self.queue.pop_front() {
                busy = true;
                if self.faults_percent > 0 && self.chance() {
                    continue;
                }
                if self.faults_percent > 0 && self.chance() {
                    self.queue.push_back((from, to, message.clone()));
                }
                let cut = self.isolated.contains(&from.0) || self.isolated.contains(&to.0);
                if !cut {
                    if let Some(raft) = self.nodes.get_mut(&to.0) {
                        raft.step(from, message);
                    }
                }
            }
            self.check_election_safety();
            if !busy {
                return;
            }
        }
        panic!("cluster did not settle");
    }

    fn chance(&mut self) -> bool {
        self.rng.below(100) < self.faults_percent
    }

    pub fn tick_all(&mut self, count: u32) {
        for _ in 0..count {
            for raft in self.nodes.values_mut() {
                raft.tick();
            }
            self.settle();
        }
    }

    fn check_election_safety(&mut self) {
        for (&id, raft) in &self.nodes {
            let status = raft.status();
            if status.role == Role::Leader {
                let previous = *self.leaders.entry(status.term).or_insert(id);
                assert_eq!(
                    previous, id,
                    "two leaders in term {}: n{previous} and n{id}",
                    status.term
                );
            }
        }
    }

    /// The one leader among live, connected nodes with the highest term.
    pub fn leader(&self) -> Option<u64> {
        self.nodes
            .iter()
            .filter(|(id, r)| r.status().role == Role::Leader && !self.isolated.contains(id))
            .max_by_key(|(_, r)| r.status().term)
            .map(|(&id, _)| id)
    }

    /// Ticks until a connected leader exists.
    pub fn elect(&mut self) -> u64 {
        for _ in 0..500 {
            if let Some(leader) = self.leader() {
                return leader;
            }
            self.tick_all(1);
        }
        panic!("no leader elected");
    }

    /// Every node's applied log is a prefix of the longest one.
    pub fn check_applied_agree(&self) {
        let longest = self
            .applied
            .values()
            .max_by_key(|a| a.len())
            .cloned()
            .unwrap_or_default();
        for (id, applied) in &self.applied {
            for (mine, theirs) in applied.iter().zip(&longest) {
                assert_eq!(mine.entry, theirs.entry, "n{id} applied a different entry");
            }
        }
    }
}
