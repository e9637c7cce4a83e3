//! The event loop: one seeded, single-threaded run of a cluster.
//!
//! A priority queue of events in virtual time (nanoseconds) drives
//! everything: node ticks (each node at its own drifting rate), message
//! deliveries, disk-write completions, client steps and the nemesis's
//! faults. One PRNG, seeded once, makes every choice, so a run is a pure
//! function of (seed, options, code).

use crate::checkers::acked_writes::{AckedWrites, ReplicaDisk};
use crate::checkers::election_safety::ElectionSafety;
use crate::checkers::entry_digest;
use crate::checkers::leader_completeness::LeaderCompleteness;
use crate::checkers::log_matching::LogMatching;
use crate::checkers::state_machine_safety::StateMachineSafety;
use crate::client::{Client, Workload};
use crate::faults::Faults;
use crate::history::{Event as HistoryEvent, EventType, Function, History, Value};
use crate::linearizability;
use crate::network::{fate, Fate, Network, PartitionKind};
use crate::options::SimOptions;
use crate::plugin::{MessageOf, NodeContext, Promise, SimProtocol};
use crate::report::{Failure, RunReport, RunStats};
use crate::scenario::{Condition, Scenario, Step};
use crate::storage::SimStorage;
use crate::trace::{Trace, TraceHasher};
use bytes::Bytes;
use quorate_core::SeededRng;
use quorate_core::{
    command_batch, Committed, EntryKind, LogIndex, NodeId, Protocol, ReadyId, RequestId, Role,
    Snapshot, StateMachine, SubmitError, Term, WriteBatch,
};
use quorate_kv::{Kv, Response};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::Write;

/// What happens at a point of virtual time.
#[derive(Debug)]
enum Event {
    Tick {
        node: usize,
        incarnation: u64,
    },
    Deliver {
        from: usize,
        to: usize,
        frame: Bytes,
    },
    PersistDone {
        node: usize,
        incarnation: u64,
    },
    Client {
        client: usize,
        generation: u64,
    },
    /// A node takes the commands staged since its last flush into one
    /// command batch, as the driver does with a turn's commands.
    Flush {
        node: usize,
        incarnation: u64,
    },
    Crash,
    CrashNode {
        node: usize,
        incarnation: u64,
    },
    Pause,
    Partition,
    Restart {
        node: usize,
    },
    Resume {
        node: usize,
    },
    Heal {
        generation: u64,
    },
    Calm,
    StopClients,
    End,
}

struct Scheduled {
    at_ns: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ns, self.seq) == (other.at_ns, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap is a max-heap and the earliest event runs first;
    // `seq` breaks ties in scheduling order, deterministically.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_ns, other.seq).cmp(&(self.at_ns, self.seq))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Life {
    Up,
    Paused,
    Down,
    /// Recovery found corruption; the node stays down for good (a wiped
    /// voter rejoining empty could vote twice or forget acknowledged
    /// entries, so it is never brought back).
    Corrupted,
}

/// The rest of a Ready batch, waiting for its persist to complete.
struct Outstanding<M> {
    id: ReadyId,
    sync: bool,
    /// The snapshot the batch wrote, if any: one from a leader replaces the
    /// state machine before the outputs are applied.
    snapshot: Option<Snapshot>,
    send_after_persist: Vec<(NodeId, M)>,
    outputs: Vec<Committed>,
    failed: Vec<(RequestId, SubmitError)>,
}

struct Node<P: Protocol> {
    id: NodeId,
    life: Life,
    protocol: Option<P>,
    incarnation: u64,
    storage: SimStorage,
    kv: Kv,
    outstanding: Option<Outstanding<P::Message>>,
    last_ready_id: Option<ReadyId>,
    applied: LogIndex,
    commit_seen: LogIndex,
    tick_ns: u64,
    /// Events that arrived while paused, replayed on resume.
    stash: Vec<Event>,
    /// Requests submitted here: request id to the clients whose commands
    /// the batch holds, in order (`None` once a client stopped waiting).
    pending: BTreeMap<RequestId, Vec<Option<usize>>>,
    /// Clients whose commands wait for the next flush, with the client
    /// generation that was current when they were staged.
    staged: Vec<(usize, u64)>,
    /// A flush of `staged` is scheduled.
    flush_scheduled: bool,
    corruptible: bool,
    last_role: Option<(Role, Term)>,
}

/// One run in progress.
pub(crate) struct Simulation<'a, 't, S: SimProtocol> {
    plugin: &'a S,
    options: &'a SimOptions,
    seed: u64,
    rng: SeededRng,
    now_ns: u64,
    seq: u64,
    queue: BinaryHeap<Scheduled>,
    members: Vec<NodeId>,
    nodes: Vec<Node<S::Protocol>>,
    network: Network,
    partition_generation: u64,
    faults: Faults,
    drawn_faults: Faults,
    calm: bool,
    clients_stopped: bool,
    cluster_seed: u64,
    workload: Workload,
    clients: Vec<Client>,
    history: History,
    trace: Trace<'t>,
    stats: RunStats,
    failures: Vec<Failure>,
    max_term_ever: Term,
    election_safety: ElectionSafety,
    log_matching: LogMatching,
    leader_completeness: LeaderCompleteness,
    state_machine_safety: StateMachineSafety,
    acked_writes: AckedWrites,
    /// The script this run follows, or `None` for a random schedule.
    scenario: Option<&'a Scenario<S>>,
    /// The `End` event was handled.
    ended: bool,
    /// Applied entries between two snapshots a node takes (drawn per seed).
    snapshot_entries: u64,
    /// How long a node gathers client commands before submitting them as
    /// one batch (the node driver's turn).
    batch_window_ns: u64,
}

/// Runs `seed` once and reports: a random schedule, or `scenario`'s
/// script with the seed choosing only timings and details.
pub(crate) fn run<S: SimProtocol>(
    plugin: &S,
    options: &SimOptions,
    seed: u64,
    scenario: Option<&Scenario<S>>,
    trace: Option<&mut dyn Write>,
) -> RunReport {
    let mut sim = Simulation::new(plugin, options, seed, scenario, trace);
    match scenario {
        Some(scenario) => sim.run_scripted(scenario),
        None => sim.run(),
    }
    sim.finish()
}

impl<'a, 't, S: SimProtocol> Simulation<'a, 't, S> {
    fn new(
        plugin: &'a S,
        options: &'a SimOptions,
        seed: u64,
        scenario: Option<&'a Scenario<S>>,
        out: Option<&'t mut dyn Write>,
    ) -> Self {
        let mut rng = SeededRng::new(seed);
        let size = match scenario {
            Some(scenario) => scenario.nodes,
            None => options.cluster_sizes[rng.index(options.cluster_sizes.len())],
        };
        assert!(size >= 1, "a cluster has at least one node");
        let mut drawn_faults = options.faults.draw(&mut rng);
        if scenario.is_some() {
            // A script injects its own faults; the seed only picks timings
            // (latencies, disk write times, clock drift).
            drawn_faults = drawn_faults.calm();
        }
        let cluster_seed = rng.next_u64();
        // From a stream of its own, so drawing it shifts no other choice.
        let snapshot_entries = options
            .snapshot_entries
            .draw(&mut SeededRng::new(seed ^ 0x5A4A_9E17_0C0D_E5A1))
            .max(1);
        let batch_window_ns = options
            .batch_window_ns
            .draw(&mut SeededRng::new(seed ^ 0x0BA7_C4ED_C0DE_5EED));
        let members: Vec<NodeId> = (1..=size as u64).map(NodeId).collect();
        // A fixed minority may see bit flips: 1 of 3, 2 of 5.
        let mut order: Vec<usize> = (0..size).collect();
        for i in (1..size).rev() {
            order.swap(i, rng.index(i + 1));
        }
        let corruptible: Vec<usize> = order[..(size - 1) / 2].to_vec();
        let nodes = (0..size)
            .map(|i| {
                let drift = rng.between_f64(-drawn_faults.clock_drift, drawn_faults.clock_drift);
                Node {
                    id: members[i],
                    life: Life::Down,
                    protocol: None,
                    incarnation: 0,
                    storage: SimStorage::new(),
                    kv: Kv::new(),
                    outstanding: None,
                    last_ready_id: None,
                    applied: 0,
                    commit_seen: 0,
                    tick_ns: ((options.tick_ns as f64) * (1.0 + drift)).max(1.0) as u64,
                    stash: Vec::new(),
                    pending: BTreeMap::new(),
                    staged: Vec::new(),
                    flush_scheduled: false,
                    corruptible: corruptible.contains(&i),
                    last_role: None,
                }
            })
            .collect();
        let workload = match scenario {
            Some(_) => Workload::scripted(),
            None => Workload::new(options, &mut rng),
        };
        let clients = (0..workload.clients).map(Client::new).collect();
        Simulation {
            plugin,
            options,
            seed,
            rng,
            now_ns: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            network: Network::new(size),
            members,
            nodes,
            partition_generation: 0,
            faults: drawn_faults.clone(),
            drawn_faults,
            calm: false,
            clients_stopped: false,
            cluster_seed,
            workload,
            clients,
            history: History::new(),
            trace: Trace {
                hasher: TraceHasher::new(),
                out,
            },
            stats: RunStats {
                cluster_size: size,
                ..RunStats::default()
            },
            failures: Vec::new(),
            max_term_ever: 0,
            election_safety: ElectionSafety::default(),
            log_matching: LogMatching::default(),
            leader_completeness: LeaderCompleteness::default(),
            state_machine_safety: StateMachineSafety::default(),
            acked_writes: AckedWrites::default(),
            scenario,
            ended: false,
            snapshot_entries,
            batch_window_ns,
        }
    }

    fn schedule(&mut self, delay_ns: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at_ns: self.now_ns + delay_ns,
            seq: self.seq,
            event,
        });
    }

    fn ticks(&self, ticks: u64) -> u64 {
        ticks * self.options.tick_ns
    }

    fn fail(&mut self, check: &'static str, detail: String) {
        if self.trace.readable() {
            self.trace
                .line(self.now_ns, format_args!("FAILURE {check}: {detail}"));
        }
        self.failures.push(Failure {
            check,
            detail,
            time_ns: self.now_ns,
        });
    }

    fn run(&mut self) {
        if self.trace.readable() {
            let line = format!(
                "seed {} protocol {} nodes {} snapshot_entries {} batch_window {}us faults {:?} \
                 workload {:?}",
                self.seed,
                self.plugin.name(),
                self.members.len(),
                self.snapshot_entries,
                self.batch_window_ns / 1000,
                self.drawn_faults,
                self.workload
            );
            self.trace.line(0, format_args!("{line}"));
        }
        for node in 0..self.nodes.len() {
            self.start_node(node);
        }
        for client in 0..self.clients.len() {
            let think = self.options.think_ns.draw(&mut self.rng);
            self.schedule(
                think,
                Event::Client {
                    client,
                    generation: 0,
                },
            );
        }
        let faults = self.faults.clone();
        for (interval, event) in [
            (faults.crash_interval_ticks, Event::Crash),
            (faults.pause_interval_ticks, Event::Pause),
            (faults.partition_interval_ticks, Event::Partition),
        ] {
            if let Some(interval) = interval {
                let first = self.rng.between(0, 2 * interval);
                self.schedule(self.ticks(first), event);
            }
        }
        let fault_end = self.ticks(self.options.fault_phase_ticks);
        let end = fault_end + self.ticks(self.options.heal_phase_ticks);
        self.schedule(fault_end, Event::Calm);
        // Clients stop halfway through the heal phase so the cluster can
        // settle before the convergence check.
        self.schedule(fault_end + (end - fault_end) / 2, Event::StopClients);
        self.schedule(end, Event::End);
        self.process(u64::MAX, &|_| false);
    }

    /// Handles events in time order until `stop` holds after one, the next
    /// event lies beyond `until_ns`, a check fails or the run ends. Returns
    /// true when `stop` held.
    fn process(&mut self, until_ns: u64, stop: &dyn Fn(&Self) -> bool) -> bool {
        // The first broken invariant is the interesting one; what follows
        // would only be its consequences.
        while self.failures.is_empty() && !self.ended {
            match self.queue.peek() {
                Some(next) if next.at_ns <= until_ns => {}
                _ => {
                    // Nothing more happens before `until_ns`: time passes.
                    if until_ns != u64::MAX {
                        self.now_ns = self.now_ns.max(until_ns);
                    }
                    return false;
                }
            }
            let Scheduled { at_ns, event, .. } = self.queue.pop().expect("peeked");
            debug_assert!(at_ns >= self.now_ns, "time never goes back");
            self.now_ns = at_ns;
            self.stats.events += 1;
            self.trace.hasher.write_u64(at_ns);
            if self.stats.events > self.options.events_max {
                let limit = self.options.events_max;
                self.fail("event_budget", format!("more than {limit} events"));
                return false;
            }
            if matches!(event, Event::End) {
                self.ended = true;
                self.finish_run();
                return false;
            }
            self.handle(event);
            if stop(self) {
                return true;
            }
        }
        false
    }

    // ---- scripted scenarios ----------------------------------------------

    /// Follows `scenario`'s steps, then ends the run as a random one ends:
    /// calm (every link heals, crashed nodes restart), then the end-of-run
    /// checks `heal_phase_ticks` later.
    fn run_scripted(&mut self, scenario: &Scenario<S>) {
        if self.trace.readable() {
            let line = format!(
                "seed {} protocol {} scenario {} nodes {} faults {:?}",
                self.seed,
                self.plugin.name(),
                scenario.name,
                self.members.len(),
                self.drawn_faults,
            );
            self.trace.line(0, format_args!("{line}"));
        }
        // Only the script submits.
        self.clients_stopped = true;
        for node in 0..self.nodes.len() {
            self.start_node(node);
        }
        for (number, step) in scenario.steps.iter().enumerate() {
            if !self.failures.is_empty() || self.ended {
                return;
            }
            self.trace.hasher.write_u64(0x5C00 + number as u64);
            if self.trace.readable() {
                self.trace
                    .line(self.now_ns, format_args!("step {number}: {step:?}"));
            }
            self.run_step(step);
        }
        if !self.failures.is_empty() || self.ended {
            return;
        }
        self.on_calm();
        self.schedule(self.ticks(self.options.heal_phase_ticks), Event::End);
        self.process(u64::MAX, &|_| false);
    }

    fn run_step(&mut self, step: &Step) {
        match step {
            Step::Connect(links) => {
                self.network.cut_all();
                for &(a, b) in links {
                    let (a, b) = (self.index_of(a), self.index_of(b));
                    self.network.connect(a, b);
                }
            }
            Step::Isolate(node) => {
                let node = self.index_of(*node);
                self.network.isolate(node);
            }
            Step::Heal => self.heal(),
            Step::DropInFlight => {
                let before = self.queue.len();
                self.queue
                    .retain(|scheduled| !matches!(scheduled.event, Event::Deliver { .. }));
                self.stats.messages_dropped += (before - self.queue.len()) as u64;
            }
            Step::Crash(node) => {
                let node = self.index_of(*node);
                self.crash_node(node);
            }
            Step::Restart(node) => {
                let node = self.index_of(*node);
                self.restart_node(node);
            }
            Step::Submit(node) => {
                let node = self.index_of(*node);
                self.submit_scripted(node);
            }
            Step::RunUntil(condition, ticks_max) => {
                let until = self.now_ns + self.ticks(*ticks_max);
                let reached =
                    self.holds(condition) || self.process(until, &|sim| sim.holds(condition));
                self.trace.hasher.write_u64(u64::from(reached));
                if !reached && self.trace.readable() {
                    self.trace.line(
                        self.now_ns,
                        format_args!("not reached within {ticks_max} ticks: {condition:?}"),
                    );
                }
            }
            Step::Run(ticks) => {
                let until = self.now_ns + self.ticks(*ticks);
                self.process(until, &|_| false);
            }
        }
    }

    /// The position of `node` among the members. Scripts name nodes of
    /// their own cluster, so anything else is a bug in the script.
    fn index_of(&self, node: NodeId) -> usize {
        self.members
            .iter()
            .position(|&member| member == node)
            .unwrap_or_else(|| panic!("the scenario names {node}, not a member"))
    }

    fn holds(&self, condition: &Condition) -> bool {
        match condition {
            Condition::Leader(node) => {
                let n = &self.nodes[self.index_of(*node)];
                n.life == Life::Up
                    && n.protocol
                        .as_ref()
                        .is_some_and(|p| p.status().role == Role::Leader)
            }
            Condition::Durable { node, index } => {
                self.nodes[self.index_of(*node)]
                    .storage
                    .durable()
                    .last_index()
                    >= *index
            }
            Condition::Applied { node, index } => {
                self.nodes[self.index_of(*node)].applied >= *index
            }
            Condition::All(conditions) => conditions.iter().all(|c| self.holds(c)),
        }
    }

    /// A client of its own submits one write to `node`, once: a refusal
    /// fails the operation rather than retrying elsewhere, so the script
    /// alone decides where entries are appended.
    fn submit_scripted(&mut self, node: usize) {
        let client = self.clients.len();
        self.clients.push(Client::new(client));
        let mut op = self.workload.next_write(&mut self.rng);
        op.attempts_max = 1;
        self.record(client, EventType::Invoke, op.invoke_value.clone(), &op);
        self.stats.ops_invoked += 1;
        let deadline = self.now_ns + self.ticks(self.options.client_timeout_ticks);
        self.clients[client].start(op, deadline);
        self.clients[client].target = Some(node);
        self.attempt(client);
        // Submitted before the script's next step, alone in its batch.
        if self.nodes[node].life == Life::Up {
            self.flush(node);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Tick { node, incarnation } => self.on_tick(node, incarnation),
            Event::Deliver { from, to, frame } => self.on_deliver(from, to, frame),
            Event::PersistDone { node, incarnation } => self.on_persist_done(node, incarnation),
            Event::Client { client, generation } => self.on_client(client, generation),
            Event::Flush { node, incarnation } => self.on_flush(node, incarnation),
            Event::Crash => self.on_crash(),
            Event::CrashNode { node, incarnation } => {
                if !self.calm && self.nodes[node].incarnation == incarnation {
                    self.crash_node(node);
                    let down = self.faults.down_ticks.draw(&mut self.rng);
                    self.schedule(self.ticks(down), Event::Restart { node });
                }
            }
            Event::Pause => self.on_pause(),
            Event::Partition => self.on_partition(),
            Event::Restart { node } => self.restart_node(node),
            Event::Resume { node } => self.resume_node(node),
            Event::Heal { generation } => {
                self.trace.hasher.write_u64(0xA1);
                if generation == self.partition_generation {
                    self.heal();
                }
            }
            Event::Calm => self.on_calm(),
            Event::StopClients => self.clients_stopped = true,
            Event::End => unreachable!("handled by the loop"),
        }
    }

    // ---- nodes -------------------------------------------------------

    fn config_for(&mut self, node: usize) -> <S::Protocol as Protocol>::Config {
        let node_seed = self.rng.next_u64();
        let context = NodeContext {
            id: self.members[node],
            members: &self.members,
            cluster_seed: self.cluster_seed,
            node_seed,
            incarnation: self.nodes[node].incarnation,
        };
        match self.scenario {
            Some(scenario) => (scenario.configure)(self.plugin, &context),
            None => self.plugin.config(&context),
        }
    }

    /// Starts (or restarts) a node from what its disk recovered.
    fn start_node(&mut self, node: usize) {
        let bit_flip = if self.nodes[node].corruptible {
            self.faults.bit_flip
        } else {
            0.0
        };
        let recovered = match self.nodes[node].storage.recover(&mut self.rng, bit_flip) {
            Ok(recovered) => recovered,
            Err(error) => {
                self.stats.corruptions += 1;
                self.nodes[node].life = Life::Corrupted;
                let id = self.members[node];
                if self.trace.readable() {
                    self.trace.line(
                        self.now_ns,
                        format_args!("{id} stays down: recovery failed: {error}"),
                    );
                }
                self.trace.hasher.write_u64(0xC0 + node as u64);
                return;
            }
        };
        let config = self.config_for(node);
        let id = self.members[node];
        // The state machine restarts from the recovered snapshot, as the
        // node builder restores it.
        let mut kv = Kv::new();
        let mut applied = 0;
        if let Some(snapshot) = &recovered.snapshot {
            if let Err(error) = kv.restore(&snapshot.data) {
                self.fail(
                    "restore",
                    format!("{id} recovered a snapshot that does not restore: {error}"),
                );
                return;
            }
            applied = snapshot.meta.last_index;
            if let Err(detail) =
                self.state_machine_safety
                    .observe_state(id, applied, &snapshot.data)
            {
                self.fail("state_machine_safety", detail);
                return;
            }
        }
        match S::Protocol::restore(id, config, recovered) {
            Ok(protocol) => {
                let n = &mut self.nodes[node];
                n.protocol = Some(protocol);
                n.life = Life::Up;
                n.kv = kv;
                n.applied = applied;
                n.commit_seen = 0;
                n.outstanding = None;
                n.last_ready_id = None;
                n.last_role = None;
                let incarnation = n.incarnation;
                let tick_ns = n.tick_ns;
                if self.trace.readable() {
                    self.trace.line(
                        self.now_ns,
                        format_args!("{id} starts (incarnation {incarnation})"),
                    );
                }
                // Stagger the first tick so nodes do not tick in lockstep.
                let offset = self.rng.between(1, tick_ns);
                self.schedule(offset, Event::Tick { node, incarnation });
                self.drain(node);
            }
            Err(error) => self.fail(
                "restore",
                format!("{id} refused the state its own storage recovered: {error}"),
            ),
        }
    }

    fn crash_node(&mut self, node: usize) {
        let torn_write = self.faults.torn_write;
        let n = &mut self.nodes[node];
        if !matches!(n.life, Life::Up | Life::Paused) {
            return;
        }
        n.life = Life::Down;
        n.protocol = None;
        n.outstanding = None;
        n.stash.clear();
        // Clients waiting on this node never hear back; they time out.
        n.pending.clear();
        n.staged.clear();
        n.flush_scheduled = false;
        n.incarnation += 1;
        let damage = n.storage.crash(&mut self.rng, torn_write);
        self.stats.crashes += 1;
        self.stats.lost_batches += damage.lost_batches as u64;
        self.stats.torn_writes += u64::from(damage.torn);
        self.trace.hasher.write_u64(0xC1 + node as u64);
        if self.trace.readable() {
            let id = self.members[node];
            self.trace.line(
                self.now_ns,
                format_args!(
                    "{id} crashes: {} unsynced batches lost{}",
                    damage.lost_batches,
                    if damage.torn { ", the first torn" } else { "" }
                ),
            );
        }
    }

    fn restart_node(&mut self, node: usize) {
        if self.nodes[node].life != Life::Down {
            return;
        }
        self.stats.restarts += 1;
        self.start_node(node);
    }

    fn resume_node(&mut self, node: usize) {
        if self.nodes[node].life != Life::Paused {
            return;
        }
        self.nodes[node].life = Life::Up;
        if self.trace.readable() {
            let id = self.members[node];
            self.trace.line(self.now_ns, format_args!("{id} resumes"));
        }
        let stash = std::mem::take(&mut self.nodes[node].stash);
        for event in stash {
            self.schedule(0, event);
        }
    }

    fn on_tick(&mut self, node: usize, incarnation: u64) {
        let n = &mut self.nodes[node];
        if n.incarnation != incarnation || !matches!(n.life, Life::Up | Life::Paused) {
            return;
        }
        let tick_ns = n.tick_ns;
        if n.life == Life::Up {
            n.protocol
                .as_mut()
                .expect("an up node has a protocol")
                .tick();
            self.stats.ticks += 1;
            self.drain(node);
        }
        self.schedule(tick_ns, Event::Tick { node, incarnation });
    }

    fn on_deliver(&mut self, from: usize, to: usize, frame: Bytes) {
        self.trace
            .hasher
            .write_u64(((from as u64) << 8) | to as u64);
        self.trace.hasher.write_bytes(&frame);
        if self.network.is_cut(from, to) {
            self.stats.messages_dropped += 1;
            return;
        }
        match self.nodes[to].life {
            Life::Down | Life::Corrupted => {
                self.stats.messages_dropped += 1;
            }
            Life::Paused => {
                if self.nodes[to].stash.len() < self.options.paused_inbox_max {
                    self.nodes[to]
                        .stash
                        .push(Event::Deliver { from, to, frame });
                } else {
                    self.stats.messages_dropped += 1;
                }
            }
            Life::Up => {
                let message: MessageOf<S> = match postcard::from_bytes(&frame) {
                    Ok(message) => message,
                    Err(error) => {
                        self.fail(
                            "contract",
                            format!("a frame the protocol's message type encoded does not decode: {error}"),
                        );
                        return;
                    }
                };
                self.stats.messages_delivered += 1;
                let sender = self.members[from];
                if self.trace.readable() {
                    let id = self.members[to];
                    self.trace
                        .line(self.now_ns, format_args!("{sender} -> {id} {message:?}"));
                }
                self.nodes[to]
                    .protocol
                    .as_mut()
                    .expect("an up node has a protocol")
                    .step(sender, message);
                self.drain(to);
            }
        }
    }

    fn on_persist_done(&mut self, node: usize, incarnation: u64) {
        let n = &mut self.nodes[node];
        if n.incarnation != incarnation {
            return;
        }
        match n.life {
            Life::Paused => n.stash.push(Event::PersistDone { node, incarnation }),
            Life::Up => {
                self.complete_ready(node);
                self.drain(node);
            }
            Life::Down | Life::Corrupted => {}
        }
    }

    // ---- the Ready contract --------------------------------------------

    /// Takes and carries out Ready batches until the protocol has nothing
    /// to do or a persist is in flight, then checks the node's status.
    fn drain(&mut self, node: usize) {
        for _ in 0..self.options.readies_per_input_max {
            if self.nodes[node].outstanding.is_some() || !self.failures.is_empty() {
                break;
            }
            let ready = self.nodes[node]
                .protocol
                .as_mut()
                .expect("drain runs on up nodes")
                .ready();
            let Some(ready) = ready else {
                self.observe_status(node, true);
                return;
            };
            self.carry_out(node, ready);
        }
        self.observe_status(node, false);
    }

    fn carry_out(
        &mut self,
        node: usize,
        ready: quorate_core::Ready<MessageOf<S>, quorate_core::Committed>,
    ) {
        let id = self.members[node];
        let n = &mut self.nodes[node];
        if n.last_ready_id.is_some_and(|last| ready.id <= last) {
            let last = n.last_ready_id;
            self.fail(
                "contract",
                format!(
                    "{id} issued ready {:?} after {last:?}: ids must grow",
                    ready.id
                ),
            );
            return;
        }
        n.last_ready_id = Some(ready.id);
        self.trace.hasher.write_u64(ready.id.0);

        // Step 1: messages that do not depend on this batch's persist.
        for (to, message) in ready.send_now {
            self.send(node, to, message);
        }

        // Step 2: start the write.
        let mut sync = false;
        let mut snapshot = None;
        if let Some(batch) = ready.persist {
            sync = batch.sync;
            snapshot = batch.snapshot.clone();
            if !self.write(node, batch) {
                return;
            }
        }
        let outstanding = Outstanding {
            id: ready.id,
            sync,
            snapshot,
            send_after_persist: ready.send_after_persist,
            outputs: ready.outputs,
            failed: ready.failed,
        };
        self.nodes[node].outstanding = Some(outstanding);
        if sync {
            // The write takes disk time; the node keeps receiving meanwhile,
            // but gets no new batch until this one is advanced.
            let mut latency = self.faults.disk_latency_ns.draw(&mut self.rng);
            if self.rng.chance(self.faults.disk_stall) {
                latency += self
                    .rng
                    .between(0, self.ticks(self.faults.disk_stall_ticks_max));
            }
            let incarnation = self.nodes[node].incarnation;
            self.schedule(latency, Event::PersistDone { node, incarnation });
        } else {
            // Nothing to wait for: an unsynced write returns at once.
            self.complete_ready(node);
        }
    }

    /// Writes a batch to the node's disk and checks log matching on what it
    /// appended. Returns false when the batch broke the storage contract.
    fn write(&mut self, node: usize, batch: WriteBatch) -> bool {
        let id = self.members[node];
        let from = batch
            .truncate_from
            .into_iter()
            .chain(batch.entries.first().map(|e| e.index))
            .min();
        if self.trace.readable() {
            let line = format!(
                "{id} persist: hard_state {} snapshot {:?} truncate_from {:?} entries {:?} \
                 compact_to {:?} sync {}",
                batch.hard_state.is_some(),
                batch
                    .snapshot
                    .as_ref()
                    .map(|s| (s.meta.last_index, s.meta.last_term)),
                batch.truncate_from,
                batch
                    .entries
                    .first()
                    .map(|f| (f.index, batch.entries.last().map(|l| (l.index, l.term)))),
                batch.compact_to,
                batch.sync
            );
            self.trace.line(self.now_ns, format_args!("{line}"));
        }
        self.trace.hasher.write_u64(batch.entries.len() as u64);
        if let Err(error) = self.nodes[node].storage.write(batch) {
            self.fail("contract", format!("{id} wrote an invalid batch: {error}"));
            return false;
        }
        if let Some(from) = from {
            if let Err(detail) =
                self.log_matching
                    .observe_append(id, self.nodes[node].storage.current(), from)
            {
                self.fail("log_matching", detail);
                return false;
            }
        }
        true
    }

    /// Steps 3 to 5 of the contract, once the persist is durable.
    fn complete_ready(&mut self, node: usize) {
        let Some(outstanding) = self.nodes[node].outstanding.take() else {
            return;
        };
        if outstanding.sync {
            self.nodes[node].storage.sync();
        }
        for (to, message) in outstanding.send_after_persist {
            self.send(node, to, message);
        }
        if let Some(snapshot) = outstanding.snapshot {
            if snapshot.meta.last_index > self.nodes[node].applied && !self.install(node, &snapshot)
            {
                return;
            }
        }
        for output in outstanding.outputs {
            if !self.apply(node, output) {
                return;
            }
        }
        for (request, error) in outstanding.failed {
            self.request_failed(node, request, error);
        }
        self.nodes[node]
            .protocol
            .as_mut()
            .expect("completing a batch on an up node")
            .advance(outstanding.id);
        self.maybe_snapshot(node);
    }

    /// Step 4 for a snapshot from a leader: it replaces the state machine.
    /// Returns false when a check failed.
    fn install(&mut self, node: usize, snapshot: &Snapshot) -> bool {
        let id = self.members[node];
        let index = snapshot.meta.last_index;
        if let Err(error) = self.nodes[node].kv.restore(&snapshot.data) {
            self.fail(
                "contract",
                format!("{id} installed a snapshot at {index} that does not restore: {error}"),
            );
            return false;
        }
        if let Err(detail) = self
            .state_machine_safety
            .observe_state(id, index, &snapshot.data)
        {
            self.fail("state_machine_safety", detail);
            return false;
        }
        self.nodes[node].applied = index;
        self.stats.snapshots_installed += 1;
        self.trace.hasher.write_u64(0x5A00 + index);
        if self.trace.readable() {
            self.trace.line(
                self.now_ns,
                format_args!(
                    "{id} installs a snapshot through {index} (term {})",
                    snapshot.meta.last_term
                ),
            );
        }
        true
    }

    /// Log compaction, as the node driver does it: every `snapshot_entries`
    /// applied entries, snapshot the state machine and hand it over.
    fn maybe_snapshot(&mut self, node: usize) {
        let n = &self.nodes[node];
        let Some(protocol) = &n.protocol else {
            return;
        };
        let applied = n.applied;
        if applied < protocol.status().snapshot_index + self.snapshot_entries {
            return;
        }
        let data = n.kv.snapshot();
        let id = self.members[node];
        if let Err(detail) = self.state_machine_safety.observe_state(id, applied, &data) {
            self.fail("state_machine_safety", detail);
            return;
        }
        self.stats.snapshots_taken += 1;
        self.trace.hasher.write_u64(0x5B00 + applied);
        if self.trace.readable() {
            self.trace.line(
                self.now_ns,
                format_args!("{id} snapshots through {applied}"),
            );
        }
        self.nodes[node]
            .protocol
            .as_mut()
            .expect("checked above")
            .compact(applied, data);
    }

    /// Checks a message's promise against the disk, then hands it to the
    /// network.
    fn send(&mut self, node: usize, to: NodeId, message: MessageOf<S>) {
        let id = self.members[node];
        let Some(to_index) = self.members.iter().position(|&m| m == to) else {
            self.fail("contract", format!("{id} sent to {to}, not a member"));
            return;
        };
        if to == id {
            self.fail("contract", format!("{id} sent a message to itself"));
            return;
        }
        if let Some(promise) = self.plugin.promise(to, &message) {
            if let Err(detail) = self.check_promise(node, promise) {
                self.fail(
                    "contract",
                    format!("{id} sent {message:?} to {to} before it was durable: {detail}"),
                );
                return;
            }
        }
        self.stats.messages_sent += 1;
        let frame = Bytes::from(postcard::to_allocvec(&message).expect("messages encode"));
        let copies = match fate(&self.faults, self.options.tick_ns, &mut self.rng) {
            Fate::Dropped => {
                self.stats.messages_dropped += 1;
                return;
            }
            Fate::Delivered(delay) => [Some(delay), None],
            Fate::Duplicated(first, second) => {
                self.stats.messages_duplicated += 1;
                [Some(first), Some(second)]
            }
        };
        for delay in copies.into_iter().flatten() {
            self.schedule(
                delay,
                Event::Deliver {
                    from: node,
                    to: to_index,
                    frame: frame.clone(),
                },
            );
        }
    }

    fn check_promise(&self, node: usize, promise: Promise) -> Result<(), String> {
        let storage = &self.nodes[node].storage;
        let durable = storage.durable();
        match promise {
            Promise::Vote { term, candidate } => {
                let recorded = durable
                    .hard_state()
                    .and_then(|bytes| self.plugin.durable_vote(bytes));
                match recorded {
                    Some((durable_term, _)) if durable_term > term => Ok(()),
                    Some((durable_term, Some(vote)))
                        if durable_term == term && vote == candidate =>
                    {
                        Ok(())
                    }
                    other => Err(format!(
                        "vote for {candidate} in term {term}, durable (term, vote) is {other:?}"
                    )),
                }
            }
            Promise::LogThrough { index } => {
                if index <= durable.snapshot_index()
                    || (durable.last_index() >= index
                        && durable.term(index) == storage.current().term(index))
                {
                    Ok(())
                } else {
                    Err(format!(
                        "log through {index}, durable log ends at {} (term there {:?})",
                        durable.last_index(),
                        durable.term(index)
                    ))
                }
            }
        }
    }

    /// Step 4 for one output: contract checks, the invariants, the state
    /// machine, the client. Returns false when a check failed.
    fn apply(&mut self, node: usize, output: Committed) -> bool {
        let id = self.members[node];
        let entry = output.entry;
        let index = entry.index;
        let n = &self.nodes[node];
        // Outputs come in log order; skipped indices may only be entries
        // the state machine never sees.
        if index <= n.applied {
            let applied = n.applied;
            self.fail(
                "contract",
                format!("{id} output index {index} after {applied}: outputs must be in order"),
            );
            return false;
        }
        for skipped in n.applied + 1..index {
            let kind = n.storage.current().entry(skipped).map(|e| e.kind);
            if kind.is_none_or(|kind| kind == EntryKind::Command) {
                let applied = n.applied;
                self.fail(
                    "contract",
                    format!(
                        "{id} output index {index} after {applied}, skipping command {skipped}"
                    ),
                );
                return false;
            }
        }
        // Applied entries must be durable locally, as written.
        let durable = n.storage.durable();
        let is_durable = index <= durable.snapshot_index()
            || durable
                .entry(index)
                .is_some_and(|d| d.term == entry.term && entry_digest(d) == entry_digest(&entry));
        if !is_durable {
            self.fail(
                "contract",
                format!(
                    "{id} applies index {index} (term {}) that is not durable locally \
                     (durable term there: {:?})",
                    entry.term,
                    durable.term(index)
                ),
            );
            return false;
        }
        if let Err(detail) = self.state_machine_safety.observe_apply(id, &entry) {
            self.fail("state_machine_safety", detail);
            return false;
        }
        if index > self.stats.applied_index_max {
            self.stats.applied_index_max = index;
            let bound = self.term_bound();
            self.leader_completeness
                .observe_commit(index, entry.term, bound);
        }
        self.trace.hasher.write_u64(index);
        self.trace.hasher.write_u64(entry.term);
        let responses = if entry.kind == EntryKind::Command {
            // The node driver's path: every command of the batch, in order.
            let mut results = Vec::new();
            command_batch::apply(&mut self.nodes[node].kv, index, &entry.data, |result| {
                results.push(result)
            });
            match results.into_iter().collect::<Result<Vec<Response>, _>>() {
                Ok(responses) if !responses.is_empty() => Some(responses),
                Ok(_) => {
                    self.fail(
                        "contract",
                        format!("{id} output at {index} is a command batch with no command"),
                    );
                    return false;
                }
                Err(error) => {
                    self.fail(
                        "contract",
                        format!("{id} output at {index} does not decode as commands: {error}"),
                    );
                    return false;
                }
            }
        } else {
            None
        };
        self.nodes[node].applied = index;
        if self.trace.readable() {
            self.trace.line(
                self.now_ns,
                format_args!(
                    "{id} applies {index} (term {}, {:?}) -> {responses:?}",
                    entry.term, entry.kind
                ),
            );
        }
        if let (Some(request), Some(responses)) = (output.request, responses) {
            if let Some(clients) = self.nodes[node].pending.remove(&request) {
                if clients.len() != responses.len() {
                    self.fail(
                        "contract",
                        format!(
                            "{id} output at {index} holds {} commands; its request had {}",
                            responses.len(),
                            clients.len()
                        ),
                    );
                    return false;
                }
                for (client, response) in clients.into_iter().zip(responses) {
                    if let Some(client) = client {
                        self.answer(client, node, request, &entry, response);
                    }
                }
            }
        }
        true
    }

    /// The highest term any node is known to have reached: a safe upper
    /// bound on the term that committed an entry first applied now.
    fn term_bound(&mut self) -> Term {
        for n in &self.nodes {
            if let Some(protocol) = &n.protocol {
                self.max_term_ever = self.max_term_ever.max(protocol.status().term);
            }
        }
        self.max_term_ever
    }

    fn observe_status(&mut self, node: usize, quiescent: bool) {
        let Some(protocol) = &self.nodes[node].protocol else {
            return;
        };
        let status = protocol.status();
        let id = self.members[node];
        self.max_term_ever = self.max_term_ever.max(status.term);
        let n = &mut self.nodes[node];
        if status.commit_index < n.commit_seen {
            let seen = n.commit_seen;
            self.fail(
                "contract",
                format!(
                    "{id} commit index went back from {seen} to {}",
                    status.commit_index
                ),
            );
            return;
        }
        n.commit_seen = status.commit_index;
        if status.applied_index > status.commit_index {
            self.fail(
                "contract",
                format!(
                    "{id} applied {} beyond its commit index {}",
                    status.applied_index, status.commit_index
                ),
            );
            return;
        }
        if n.last_role != Some((status.role, status.term)) {
            n.last_role = Some((status.role, status.term));
            let incarnation = n.incarnation;
            if status.role == Role::Leader
                && !self.calm
                && self.rng.chance(self.faults.new_leader_crash)
            {
                let delay = self.rng.between(0, self.ticks(3));
                self.schedule(delay, Event::CrashNode { node, incarnation });
            }
            self.trace.hasher.write_u64(status.term);
            if self.trace.readable() {
                self.trace.line(
                    self.now_ns,
                    format_args!("{id} is {:?} in term {}", status.role, status.term),
                );
            }
        }
        if status.role == Role::Leader {
            if let Err(detail) = self.election_safety.observe_leader(id, status.term) {
                self.fail("election_safety", detail);
                return;
            }
            if quiescent {
                let log = self.nodes[node].storage.current();
                if let Err(detail) = self.leader_completeness.check_leader(id, status.term, log) {
                    self.fail("leader_completeness", detail);
                }
            }
        }
    }

    // ---- clients ---------------------------------------------------------

    fn on_client(&mut self, client: usize, generation: u64) {
        if self.clients[client].generation != generation {
            return;
        }
        self.trace.hasher.write_u64(0xC11E + client as u64);
        match &self.clients[client].op {
            None => {
                if self.clients_stopped || self.history.len() / 2 >= self.options.ops_max {
                    return;
                }
                let mut op = self.workload.next_op(&mut self.rng);
                op.attempts_max = self.options.submit_attempts_max;
                self.record(client, EventType::Invoke, op.invoke_value.clone(), &op);
                self.stats.ops_invoked += 1;
                let deadline = self.now_ns + self.ticks(self.options.client_timeout_ticks);
                self.clients[client].start(op, deadline);
                self.attempt(client);
            }
            Some(op) => {
                if self.now_ns >= op.deadline_ns {
                    self.give_up(client, "timed out");
                } else {
                    self.attempt(client);
                }
            }
        }
    }

    fn record(&mut self, client: usize, kind: EventType, value: Value, op: &crate::client::Op) {
        let process = self.clients[client].process;
        self.trace.hasher.write_u64(kind as u64);
        if self.trace.readable() {
            self.trace.line(
                self.now_ns,
                format_args!(
                    "client {client} (process {process}) {} {} {:?} {value:?}",
                    kind.as_str(),
                    op.f.as_str(),
                    String::from_utf8_lossy(&op.key)
                ),
            );
        }
        self.history.push(HistoryEvent {
            process,
            kind,
            f: op.f,
            key: op.key.clone(),
            value,
            time_ns: self.now_ns,
        });
    }

    fn next_op_later(&mut self, client: usize) {
        let think = self.options.think_ns.draw(&mut self.rng);
        let generation = self.clients[client].bump();
        self.schedule(think, Event::Client { client, generation });
    }

    fn retry_later(&mut self, client: usize, delay_ns: u64) {
        let generation = self.clients[client].bump();
        self.schedule(delay_ns, Event::Client { client, generation });
    }

    /// Sends the client's operation to a node it guesses leads.
    fn attempt(&mut self, client: usize) {
        let size = self.members.len();
        let c = &mut self.clients[client];
        let op = c.op.as_mut().expect("attempting an operation");
        op.attempts += 1;
        if op.attempts > op.attempts_max {
            // Every earlier attempt was refused definitely: nothing applied.
            self.finish_op(client, EventType::Fail, None);
            return;
        }
        let node = match c.target {
            Some(node) => node,
            None => self.rng.index(size),
        };
        let deadline = op.deadline_ns;
        match self.nodes[node].life {
            Life::Down | Life::Corrupted => {
                // Connection refused: certainly not submitted; try elsewhere.
                self.clients[client].target = None;
                let delay = self.rng.between(100_000, 2_000_000);
                self.retry_later(client, delay);
            }
            Life::Paused => {
                // The connection hangs; the client learns nothing until its
                // deadline.
                self.clients[client].op.as_mut().expect("op").submitted = None;
                let generation = self.clients[client].bump();
                self.schedule(deadline - self.now_ns, Event::Client { client, generation });
            }
            Life::Up => {
                // Staged for the node's next batch; the deadline runs from
                // now.
                let c = &mut self.clients[client];
                c.target = Some(node);
                c.op.as_mut().expect("op").submitted = None;
                let generation = c.bump();
                self.schedule(deadline - self.now_ns, Event::Client { client, generation });
                let n = &mut self.nodes[node];
                n.staged.push((client, generation));
                if !n.flush_scheduled {
                    n.flush_scheduled = true;
                    let incarnation = n.incarnation;
                    self.schedule(self.batch_window_ns, Event::Flush { node, incarnation });
                }
            }
        }
    }

    fn on_flush(&mut self, node: usize, incarnation: u64) {
        let n = &mut self.nodes[node];
        if n.incarnation != incarnation {
            // Crashed since: the staged commands went with it.
            return;
        }
        match n.life {
            Life::Up => self.flush(node),
            // A paused driver takes nothing from its mailbox.
            Life::Paused => n.stash.push(Event::Flush { node, incarnation }),
            Life::Down | Life::Corrupted => {}
        }
    }

    /// Submits the commands staged at `node` (an up node) as one command
    /// batch, in the order they were staged, as the node driver does.
    fn flush(&mut self, node: usize) {
        self.nodes[node].flush_scheduled = false;
        let staged = std::mem::take(&mut self.nodes[node].staged);
        // A client whose deadline passed meanwhile has moved on.
        let clients: Vec<usize> = staged
            .into_iter()
            .filter(|&(client, generation)| {
                let c = &self.clients[client];
                c.generation == generation && c.op.is_some()
            })
            .map(|(client, _)| client)
            .collect();
        if clients.is_empty() {
            return;
        }
        let mut batch = Vec::new();
        for &client in &clients {
            let op = self.clients[client]
                .op
                .as_ref()
                .expect("a staged operation");
            command_batch::put_command(&mut batch, &op.command);
        }
        self.trace.hasher.write_u64(0xF1 + clients.len() as u64);
        self.stats.batches_submitted += 1;
        self.stats.batches_shared += u64::from(clients.len() > 1);
        self.stats.batch_commands_max = self.stats.batch_commands_max.max(clients.len() as u64);
        let result = self.nodes[node]
            .protocol
            .as_mut()
            .expect("an up node has a protocol")
            .submit(Bytes::from(batch));
        match result {
            Ok(request) => {
                let incarnation = self.nodes[node].incarnation;
                for &client in &clients {
                    self.clients[client].op.as_mut().expect("op").submitted =
                        Some((node, incarnation, request));
                }
                self.nodes[node]
                    .pending
                    .insert(request, clients.into_iter().map(Some).collect());
                self.drain(node);
            }
            Err(error) => {
                for client in clients {
                    self.rejected(client, node, error.clone());
                }
            }
        }
    }

    /// A definite or indeterminate refusal of the client's current attempt.
    fn rejected(&mut self, client: usize, node: usize, error: SubmitError) {
        if !error.is_definite_failure() {
            self.give_up(client, "indeterminate");
            return;
        }
        let size = self.members.len();
        match error {
            SubmitError::NotLeader { leader_hint } => {
                let hinted = leader_hint
                    .and_then(|hint| self.members.iter().position(|&m| m == hint))
                    .filter(|&hint| hint != node);
                let next = hinted
                    .unwrap_or_else(|| (node + 1 + self.rng.index(size - 1).min(size - 1)) % size);
                self.clients[client].target = Some(next);
                let delay = self.rng.between(100_000, 2_000_000);
                self.retry_later(client, delay);
            }
            SubmitError::Busy { .. } => {
                let delay = self.ticks(1) + self.rng.between(0, self.ticks(2));
                self.retry_later(client, delay);
            }
            _ => self.finish_op(client, EventType::Fail, None),
        }
    }

    /// The protocol reported that a submitted request will not produce an
    /// output here.
    fn request_failed(&mut self, node: usize, request: RequestId, error: SubmitError) {
        let Some(clients) = self.nodes[node].pending.remove(&request) else {
            return;
        };
        let incarnation = self.nodes[node].incarnation;
        for client in clients.into_iter().flatten() {
            let matches = self.clients[client]
                .op
                .as_ref()
                .is_some_and(|op| op.submitted == Some((node, incarnation, request)));
            if matches {
                self.clients[client].op.as_mut().expect("op").submitted = None;
                self.rejected(client, node, error.clone());
            }
        }
    }

    fn answer(
        &mut self,
        client: usize,
        node: usize,
        request: RequestId,
        entry: &quorate_core::Entry,
        response: Response,
    ) {
        let incarnation = self.nodes[node].incarnation;
        let Some(op) = &self.clients[client].op else {
            return;
        };
        if op.submitted != Some((node, incarnation, request)) {
            return;
        }
        let value = match (&response, &op.invoke_value) {
            (Response::Value(read), _) => read.clone().map_or(Value::Null, Value::Bytes),
            (Response::Written, written) => written.clone(),
            (Response::Deleted { existed }, _) => Value::Bool(*existed),
            (Response::Swapped(swapped), _) => Value::Bool(*swapped),
        };
        if !matches!(response, Response::Value(_)) {
            let what = format!(
                "{} {:?} by process {}",
                op.f.as_str(),
                String::from_utf8_lossy(&op.key),
                self.clients[client].process
            );
            self.acked_writes.observe_ack(entry, what);
        }
        self.finish_op(client, EventType::Ok, Some(value));
    }

    /// Completes the client's operation with `kind`; `info` retires the
    /// process (its operation may still take effect later).
    fn finish_op(&mut self, client: usize, kind: EventType, value: Option<Value>) {
        let op = self.clients[client]
            .op
            .take()
            .expect("finishing an operation");
        let value = value.unwrap_or_else(|| op.invoke_value.clone());
        self.record(client, kind, value, &op);
        match kind {
            EventType::Ok => self.stats.ops_ok += 1,
            EventType::Fail => self.stats.ops_fail += 1,
            EventType::Info => {
                self.stats.ops_info += 1;
                if op.f != Function::Get {
                    self.workload.note_unknown_write(&op.key);
                }
                self.clients[client].retire(self.workload.clients);
            }
            EventType::Invoke => unreachable!("an invoke finishes nothing"),
        }
        if let Some((node, incarnation, request)) = op.submitted {
            let n = &mut self.nodes[node];
            if n.incarnation == incarnation {
                // The others in its batch still wait.
                if let Some(clients) = n.pending.get_mut(&request) {
                    for slot in clients.iter_mut() {
                        if *slot == Some(client) {
                            *slot = None;
                        }
                    }
                    if clients.iter().all(Option::is_none) {
                        n.pending.remove(&request);
                    }
                }
            }
        }
        self.next_op_later(client);
    }

    fn give_up(&mut self, client: usize, _why: &str) {
        // Try a different node next time: the one we used may be cut off.
        self.clients[client].target = None;
        self.finish_op(client, EventType::Info, None);
    }

    // ---- the nemesis ---------------------------------------------------

    fn next_fault(&mut self, interval: Option<u64>, event: Event) {
        if let Some(interval) = interval {
            let delay = self.rng.between(1, 2 * interval.max(1));
            self.schedule(self.ticks(delay), event);
        }
    }

    fn leader(&self) -> Option<usize> {
        self.nodes.iter().position(|n| {
            n.life == Life::Up
                && n.protocol
                    .as_ref()
                    .is_some_and(|p| p.status().role == Role::Leader)
        })
    }

    fn on_crash(&mut self) {
        if self.calm {
            return;
        }
        let running: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| matches!(self.nodes[i].life, Life::Up | Life::Paused))
            .collect();
        // Half the time go for the leader: that is where bugs hide.
        let target = match self.leader() {
            Some(leader) if self.rng.chance(0.7) => Some(leader),
            _ if running.is_empty() => None,
            _ => Some(running[self.rng.index(running.len())]),
        };
        if let Some(node) = target {
            self.crash_node(node);
            let down = self.faults.down_ticks.draw(&mut self.rng);
            self.schedule(self.ticks(down), Event::Restart { node });
        }
        self.next_fault(self.faults.crash_interval_ticks, Event::Crash);
    }

    fn on_pause(&mut self) {
        if self.calm {
            return;
        }
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].life == Life::Up)
            .collect();
        if !up.is_empty() {
            let node = match self.leader() {
                Some(leader) if self.rng.chance(0.5) => leader,
                _ => up[self.rng.index(up.len())],
            };
            self.nodes[node].life = Life::Paused;
            self.stats.pauses += 1;
            self.trace.hasher.write_u64(0xB0 + node as u64);
            if self.trace.readable() {
                let id = self.members[node];
                self.trace.line(self.now_ns, format_args!("{id} pauses"));
            }
            let pause = self.faults.pause_ticks.draw(&mut self.rng);
            self.schedule(self.ticks(pause), Event::Resume { node });
        }
        self.next_fault(self.faults.pause_interval_ticks, Event::Pause);
    }

    fn on_partition(&mut self) {
        if self.calm {
            return;
        }
        if self.members.len() > 1 {
            let kinds = [
                PartitionKind::Symmetric,
                PartitionKind::Asymmetric,
                PartitionKind::Isolate,
                PartitionKind::Bridge,
            ];
            let kind = kinds[self.rng.index(kinds.len())];
            if kind != PartitionKind::Bridge || self.members.len() >= 3 {
                // Most of the time start from a healed network; sometimes
                // stack cuts (swizzle-clog style).
                if self.rng.chance(0.7) {
                    self.network.heal();
                }
                let description = self.network.partition(kind, &mut self.rng);
                self.partition_generation += 1;
                self.stats.partitions += 1;
                self.trace.hasher.write_u64(0xD0 + kind as u64);
                if self.trace.readable() {
                    self.trace
                        .line(self.now_ns, format_args!("partition: {description}"));
                }
                let generation = self.partition_generation;
                let duration = self.faults.partition_ticks.draw(&mut self.rng);
                self.schedule(self.ticks(duration), Event::Heal { generation });
            }
        }
        self.next_fault(self.faults.partition_interval_ticks, Event::Partition);
    }

    fn heal(&mut self) {
        self.network.heal();
        if self.trace.readable() {
            self.trace.line(self.now_ns, format_args!("network heals"));
        }
    }

    fn on_calm(&mut self) {
        self.calm = true;
        self.faults = self.drawn_faults.calm();
        self.heal();
        for node in 0..self.nodes.len() {
            match self.nodes[node].life {
                Life::Paused => self.resume_node(node),
                Life::Down => self.schedule(0, Event::Restart { node }),
                Life::Up | Life::Corrupted => {}
            }
        }
    }

    // ---- the end ---------------------------------------------------------

    /// End-of-run checks that need the whole run: acknowledged writes on
    /// disk, and convergence of the live replicas.
    fn finish_run(&mut self) {
        let disks: Vec<ReplicaDisk<'_>> = self
            .nodes
            .iter()
            .map(|n| ReplicaDisk {
                node: n.id,
                durable: n.storage.durable(),
                corrupted: n.life == Life::Corrupted,
            })
            .collect();
        let acked = self.acked_writes.check(&disks);
        drop(disks);
        if let Err(detail) = acked {
            self.fail("acked_writes", detail);
            return;
        }
        // Convergence (FAULTS G3): after healing, every live replica has
        // applied the same log and holds the same state.
        let live: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].life == Life::Up)
            .collect();
        let Some(&first) = live.first() else {
            self.fail("convergence", "no replica is up at the end".to_string());
            return;
        };
        let highest_acked = self.acked_writes.highest_index();
        for &node in &live {
            let n = &self.nodes[node];
            let reference = &self.nodes[first];
            if n.applied < highest_acked || n.applied != reference.applied || n.kv != reference.kv {
                let detail =
                    format!(
                    "after healing, {} applied {} and {} applied {} (highest acknowledged {}); \
                     states {}",
                    reference.id,
                    reference.applied,
                    n.id,
                    n.applied,
                    highest_acked,
                    if n.kv == reference.kv { "equal" } else { "differ" }
                );
                self.fail("convergence", detail);
                return;
            }
        }
    }

    fn finish(mut self) -> RunReport {
        // Operations still waiting have an unknown outcome.
        for client in 0..self.clients.len() {
            if self.clients[client].op.is_some() {
                let op = self.clients[client].op.take().expect("checked");
                self.record(client, EventType::Info, op.invoke_value.clone(), &op);
                self.stats.ops_info += 1;
            }
        }
        let linearizability = match linearizability::check(&self.history, self.options.check) {
            Ok(report) => Some(report),
            Err(error) => {
                self.fail(
                    "history",
                    format!("the simulator wrote a malformed history: {error}"),
                );
                None
            }
        };
        if let Some(report) = &linearizability {
            self.stats.ops_checked = report.ops_checked as u64;
            match &report.verdict {
                linearizability::Verdict::Linearizable => {}
                verdict @ linearizability::Verdict::NotLinearizable { .. } => {
                    let detail = verdict.to_string();
                    self.fail("linearizability", detail);
                }
                verdict @ linearizability::Verdict::Unknown { .. } => {
                    let detail = verdict.to_string();
                    self.fail("linearizability_unknown", detail);
                }
            }
        }
        self.stats.sim_time_ns = self.now_ns;
        self.stats.terms_with_leader = self.election_safety.terms_with_leader() as u64;
        RunReport {
            protocol: self.plugin.name(),
            seed: self.seed,
            scenario: self.scenario.map(|scenario| scenario.name),
            trace_hash: self.trace.hasher.finish(),
            failures: self.failures,
            stats: self.stats,
            faults: self.drawn_faults,
            history: self.history,
            linearizability,
        }
    }
}
