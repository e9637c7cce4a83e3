//! Simulated clients and the operations they issue.
//!
//! Each client is a Jepsen "process": one operation at a time, invoke then
//! one completion. After an `info` (outcome unknown) the process retires and
//! the client continues under a fresh process number, since the old
//! operation may still take effect at any time.

use crate::faults::Span;
use crate::history::{Function, Value};
use crate::options::SimOptions;
use bytes::Bytes;
use quorate_core::RequestId;
use quorate_core::SeededRng;
use quorate_kv::Command;

/// The shape of a run's workload, drawn per seed.
#[derive(Debug)]
pub(crate) struct Workload {
    pub(crate) clients: usize,
    keys: Vec<KeySlot>,
    next_value: u64,
}

/// One of the keys clients contend on. After `OPS_PER_KEY_MAX` operations,
/// or `UNKNOWN_WRITES_PER_KEY_MAX` writes whose outcome stayed unknown, the
/// slot moves on to a fresh key (as Jepsen's independent-key workloads do):
/// every key's history stays small enough for the linearizability search
/// to finish, while contention per key stays high. (Each unknown write may
/// have taken effect at any later moment or never, so the search's work
/// grows exponentially with their number: in a 100,000-seed campaign, two
/// keys of 32 operations with 17 unknown writes each exhausted it.)
#[derive(Debug)]
struct KeySlot {
    slot: usize,
    generation: u64,
    name: Bytes,
    ops: u32,
    /// Writes on this key that ended with an unknown outcome.
    unknown_writes: u32,
    /// Values recently written, so compare-and-swap sometimes expects the
    /// right one. At most `RECENT_MAX`.
    recent: Vec<Bytes>,
}

impl KeySlot {
    fn new(slot: usize, generation: u64) -> Self {
        let name = if generation == 0 {
            format!("k{slot}")
        } else {
            format!("k{slot}.{generation}")
        };
        KeySlot {
            slot,
            generation,
            name: Bytes::from(name),
            ops: 0,
            unknown_writes: 0,
            recent: Vec::new(),
        }
    }
}

const RECENT_MAX: usize = 4;

/// Operations on one key before its slot moves to a fresh key.
const OPS_PER_KEY_MAX: u32 = 32;

/// Writes with an unknown outcome on one key before its slot moves to a
/// fresh key. Operations already in flight on the old key still finish
/// there, so a key can end with a few more.
const UNKNOWN_WRITES_PER_KEY_MAX: u32 = 8;

/// One operation in flight.
#[derive(Debug)]
pub(crate) struct Op {
    pub(crate) f: Function,
    pub(crate) key: Bytes,
    pub(crate) invoke_value: Value,
    /// The postcard-encoded [`Command`]; a node packs it into a command
    /// batch with the others staged with it.
    pub(crate) command: Bytes,
    pub(crate) attempts: u32,
    /// Submissions allowed before recording `fail`.
    pub(crate) attempts_max: u32,
    pub(crate) deadline_ns: u64,
    /// Where the current attempt went: node, incarnation, request id.
    pub(crate) submitted: Option<(usize, u64, RequestId)>,
}

impl Workload {
    pub(crate) fn new(options: &SimOptions, rng: &mut SeededRng) -> Self {
        let clients = options.clients.draw(rng).max(1) as usize;
        let key_count = Span::new(options.keys.min.max(1), options.keys.max.max(1)).draw(rng);
        Workload {
            clients,
            keys: (0..key_count as usize)
                .map(|slot| KeySlot::new(slot, 0))
                .collect(),
            next_value: 0,
        }
    }

    /// The workload of a scripted scenario: no clients of its own (the
    /// script submits) and one key.
    pub(crate) fn scripted() -> Self {
        Workload {
            clients: 0,
            keys: vec![KeySlot::new(0, 0)],
            next_value: 0,
        }
    }

    fn fresh_value(&mut self, key: usize) -> Bytes {
        self.next_value += 1;
        let value = Bytes::from(format!("v{}", self.next_value));
        let recent = &mut self.keys[key].recent;
        if recent.len() == RECENT_MAX {
            recent.remove(0);
        }
        recent.push(value.clone());
        value
    }

    /// Draws the next operation: reads 35 %, writes 30 %, compare-and-swap
    /// 25 %, deletes 10 %. Written values are unique, so a read names the
    /// write it saw.
    pub(crate) fn next_op(&mut self, rng: &mut SeededRng) -> Op {
        let (k, key) = self.next_key(rng);
        let roll = rng.below(100);
        let (f, invoke_value, command) = if roll < 35 {
            (
                Function::Get,
                Value::Null,
                Command::Get { key: key.clone() },
            )
        } else if roll < 65 {
            self.put(k, &key)
        } else if roll < 90 {
            let recent = &self.keys[k].recent;
            let expected = if recent.is_empty() || rng.chance(0.15) {
                None
            } else {
                Some(recent[rng.index(recent.len())].clone())
            };
            let new = self.fresh_value(k);
            let command = Command::CompareAndSwap {
                key: key.clone(),
                expected: expected.clone(),
                new: new.clone(),
            };
            (Function::Cas, Value::Cas { expected, new }, command)
        } else {
            (
                Function::Delete,
                Value::Null,
                Command::Delete { key: key.clone() },
            )
        };
        Op::new(f, key, invoke_value, command)
    }

    /// Draws a write (a put of a fresh value), for scripted submissions.
    pub(crate) fn next_write(&mut self, rng: &mut SeededRng) -> Op {
        let (k, key) = self.next_key(rng);
        let (f, invoke_value, command) = self.put(k, &key);
        Op::new(f, key, invoke_value, command)
    }

    /// Records that a write on `key` ended with an unknown outcome.
    pub(crate) fn note_unknown_write(&mut self, key: &Bytes) {
        if let Some(slot) = self.keys.iter_mut().find(|slot| slot.name == *key) {
            slot.unknown_writes += 1;
        }
    }

    /// Picks a key slot, moving it to a fresh key when it is used up.
    fn next_key(&mut self, rng: &mut SeededRng) -> (usize, Bytes) {
        let k = rng.index(self.keys.len());
        if self.keys[k].ops == OPS_PER_KEY_MAX
            || self.keys[k].unknown_writes >= UNKNOWN_WRITES_PER_KEY_MAX
        {
            let slot = &self.keys[k];
            self.keys[k] = KeySlot::new(slot.slot, slot.generation + 1);
        }
        self.keys[k].ops += 1;
        (k, self.keys[k].name.clone())
    }

    fn put(&mut self, k: usize, key: &Bytes) -> (Function, Value, Command) {
        let value = self.fresh_value(k);
        let command = Command::Put {
            key: key.clone(),
            value: value.clone(),
        };
        (Function::Put, Value::Bytes(value), command)
    }
}

impl Op {
    fn new(f: Function, key: Bytes, invoke_value: Value, command: Command) -> Self {
        let command = Bytes::from(postcard::to_allocvec(&command).expect("commands encode"));
        Op {
            f,
            key,
            invoke_value,
            command,
            attempts: 0,
            attempts_max: 1,
            deadline_ns: 0,
            submitted: None,
        }
    }
}

/// One simulated client.
#[derive(Debug)]
pub(crate) struct Client {
    /// The current Jepsen process number.
    pub(crate) process: u64,
    pub(crate) op: Option<Op>,
    /// The node the client believes leads (an index into the members).
    pub(crate) target: Option<usize>,
    /// Bumped whenever the client's plans change, so stale wake-ups are
    /// ignored.
    pub(crate) generation: u64,
}

impl Client {
    pub(crate) fn new(index: usize) -> Self {
        Client {
            process: index as u64,
            op: None,
            target: None,
            generation: 0,
        }
    }

    pub(crate) fn start(&mut self, mut op: Op, deadline_ns: u64) {
        op.deadline_ns = deadline_ns;
        self.op = Some(op);
    }

    pub(crate) fn bump(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// Continues under a fresh process number; numbers stay unique because
    /// client `i` only ever uses numbers congruent to `i` modulo `clients`.
    pub(crate) fn retire(&mut self, clients: usize) {
        self.process += clients as u64;
    }
}
