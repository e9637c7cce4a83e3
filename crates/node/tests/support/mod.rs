//! A minimal protocol and state machine for driving the node in tests.
//!
//! `Solo` is a one-node log: a submitted command is appended, persisted in
//! one `Ready`, and emitted as committed in a later one, only after the
//! driver advanced the batch that persisted it. That is enough to observe
//! every step of the Ready contract without a real consensus protocol.
#![allow(dead_code)]

use async_trait::async_trait;
use bytes::Bytes;
use quorate_core::{
    Committed, ConfigError, Entry, EntryKind, LogIndex, NodeId, Protocol, ProtocolConfig, Ready,
    ReadyId, Recovered, RequestId, Role, StateMachine, Status, Storage, StorageError, SubmitError,
    WriteBatch,
};
use quorate_storage::MemStorage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, Semaphore};

#[derive(Clone, Debug)]
pub struct SoloConfig {
    /// Accept submissions (else answer NotLeader with `leader_hint`).
    pub leader: bool,
    pub leader_hint: Option<NodeId>,
    /// Emit persisted entries as committed.
    pub commit: bool,
    /// A value `validate` rejects when zero.
    pub batch_max: usize,
    /// Ticks the protocol received, for the test to read.
    pub ticks: Arc<AtomicU64>,
}

impl Default for SoloConfig {
    fn default() -> Self {
        SoloConfig {
            leader: true,
            leader_hint: None,
            commit: true,
            batch_max: 10_000,
            ticks: Arc::default(),
        }
    }
}

impl ProtocolConfig for SoloConfig {
    type Protocol = Solo;

    fn validate(&self) -> Result<(), ConfigError> {
        if self.batch_max == 0 {
            return Err(ConfigError::new("batch_max", "must be positive"));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SoloMessage {
    /// Append this command as if replicated from a leader.
    Propose(Bytes),
    /// Answer with `Echo(n + 1)` once the current batch is durable.
    Echo(u64),
}

pub struct Solo {
    id: NodeId,
    config: SoloConfig,
    /// Every entry, durable or not.
    log: Vec<Entry>,
    /// Entries known durable (advanced).
    durable: LogIndex,
    /// Entries handed out for persisting, not yet advanced.
    handed_out: LogIndex,
    applied: LogIndex,
    requests: BTreeMap<LogIndex, RequestId>,
    next_request: u64,
    next_ready: u64,
    outstanding: Option<(ReadyId, LogIndex)>,
    replies: Vec<(NodeId, SoloMessage)>,
    /// Where the latest snapshot the driver handed over ends. A test
    /// double: it records the compaction (for `status`) but keeps its log.
    snapshot_index: LogIndex,
}

impl Protocol for Solo {
    type Message = SoloMessage;
    type Config = SoloConfig;
    type Request = Bytes;
    type Output = Committed;

    fn restore(id: NodeId, config: SoloConfig, recovered: Recovered) -> Result<Self, ConfigError> {
        let durable = recovered.entries.last().map_or(0, |e| e.index);
        Ok(Solo {
            id,
            config,
            log: recovered.entries,
            durable,
            handed_out: durable,
            applied: 0,
            requests: BTreeMap::new(),
            next_request: 1,
            next_ready: 1,
            outstanding: None,
            replies: Vec::new(),
            snapshot_index: 0,
        })
    }

    fn tick(&mut self) {
        self.config.ticks.fetch_add(1, Ordering::Relaxed);
    }

    fn step(&mut self, from: NodeId, message: SoloMessage) {
        match message {
            SoloMessage::Propose(data) => {
                self.append(data);
            }
            SoloMessage::Echo(n) => self.replies.push((from, SoloMessage::Echo(n + 1))),
        }
    }

    fn submit(&mut self, request: Bytes) -> Result<RequestId, SubmitError> {
        if !self.config.leader {
            return Err(SubmitError::NotLeader {
                leader_hint: self.config.leader_hint,
            });
        }
        let index = self.append(request);
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.requests.insert(index, id);
        Ok(id)
    }

    fn ready(&mut self) -> Option<Ready<SoloMessage, Committed>> {
        if self.outstanding.is_some() {
            return None;
        }
        let mut ready = Ready::new(ReadyId(self.next_ready));
        let last = self.log.last().map_or(0, |e| e.index);
        if last > self.handed_out {
            let entries = self.log[usize::try_from(self.handed_out).unwrap()..].to_vec();
            ready.persist = Some(WriteBatch {
                entries,
                sync: true,
                ..WriteBatch::default()
            });
        }
        ready.send_after_persist = std::mem::take(&mut self.replies);
        if self.config.commit {
            while self.applied < self.durable {
                self.applied += 1;
                let entry = self.log[usize::try_from(self.applied - 1).unwrap()].clone();
                let request = self.requests.remove(&entry.index);
                ready.outputs.push(Committed { entry, request });
            }
        }
        if ready.is_empty() {
            return None;
        }
        self.next_ready += 1;
        self.handed_out = last;
        self.outstanding = Some((ready.id, last));
        Some(ready)
    }

    fn advance(&mut self, ready: ReadyId) {
        let (id, last) = self.outstanding.take().expect("advance without a ready");
        assert_eq!(id, ready);
        self.durable = last;
    }

    fn compact(&mut self, applied: LogIndex, _data: Bytes) {
        assert!(
            applied <= self.applied,
            "compact({applied}) beyond the applied index {}",
            self.applied
        );
        self.snapshot_index = self.snapshot_index.max(applied);
    }

    fn status(&self) -> Status {
        Status {
            id: self.id,
            role: if self.config.leader {
                Role::Leader
            } else {
                Role::Follower
            },
            term: 1,
            leader: if self.config.leader {
                Some(self.id)
            } else {
                self.config.leader_hint
            },
            commit_index: self.durable,
            applied_index: self.applied,
            last_index: self.log.last().map_or(0, |e| e.index),
            snapshot_index: self.snapshot_index,
            dropped_messages: 0,
        }
    }
}

impl Solo {
    fn append(&mut self, data: Bytes) -> LogIndex {
        let index = self.log.len() as LogIndex + 1;
        self.log.push(Entry {
            index,
            term: 1,
            kind: EntryKind::Command,
            data,
        });
        index
    }
}

/// What a [`Recorder`] saw.
#[derive(Debug, Default)]
pub struct Record {
    pub applied: Vec<(LogIndex, u64)>,
    /// Applications of an entry that storage did not yet hold.
    pub applied_before_durable: Vec<LogIndex>,
}

/// Records what it applies; checks each entry is durable when applied.
pub struct Recorder {
    pub record: Arc<Mutex<Record>>,
    pub storage: MemStorage,
}

impl Recorder {
    pub fn new(storage: &MemStorage) -> (Self, Arc<Mutex<Record>>) {
        let record = Arc::new(Mutex::new(Record::default()));
        (
            Recorder {
                record: Arc::clone(&record),
                storage: storage.reopen(),
            },
            record,
        )
    }
}

impl StateMachine for Recorder {
    type Command = u64;
    type Response = LogIndex;

    fn apply(&mut self, index: LogIndex, command: u64) -> LogIndex {
        let durable = self
            .storage
            .durable_state()
            .entries
            .iter()
            .any(|e| e.index == index);
        let mut record = self.record.lock().unwrap();
        if !durable {
            record.applied_before_durable.push(index);
        }
        record.applied.push((index, command));
        index
    }

    fn snapshot(&self) -> Bytes {
        Bytes::new()
    }

    fn restore(&mut self, _snapshot: &[u8]) -> Result<(), StorageError> {
        Ok(())
    }
}

/// A storage whose writes wait for a permit, to hold the driver inside
/// step 2 of the Ready contract.
pub struct Gated {
    pub inner: MemStorage,
    pub permits: Arc<Semaphore>,
    pub entered: Arc<Notify>,
}

impl Gated {
    /// A fresh `MemStorage` whose writes wait, with the semaphore that lets
    /// them through (no permits yet) and the notice each write gives as it
    /// starts waiting.
    pub fn closed() -> (Gated, Arc<Semaphore>, Arc<Notify>) {
        let permits = Arc::new(Semaphore::new(0));
        let entered = Arc::new(Notify::new());
        let gated = Gated {
            inner: MemStorage::new(),
            permits: Arc::clone(&permits),
            entered: Arc::clone(&entered),
        };
        (gated, permits, entered)
    }
}

#[async_trait]
impl Storage for Gated {
    async fn recover(&mut self) -> Result<Recovered, StorageError> {
        self.inner.recover().await
    }

    async fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        self.entered.notify_one();
        self.permits
            .acquire()
            .await
            .expect("semaphore never closed")
            .forget();
        self.inner.write(batch).await
    }
}
