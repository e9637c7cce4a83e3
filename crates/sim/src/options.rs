//! Everything that shapes a run besides the seed.

use crate::faults::{FaultOptions, Span};
use crate::linearizability::CheckLimits;

/// The knobs of a simulated run. Each seed draws its concrete values from
/// the ranges here (cluster size, clients, keys, fault intensities).
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// The fault model.
    pub faults: FaultOptions,
    /// Cluster sizes a seed picks from.
    pub cluster_sizes: Vec<usize>,
    /// Nominal length of one protocol tick in simulated nanoseconds.
    pub tick_ns: u64,
    /// Ticks (of simulated time) during which faults are injected.
    pub fault_phase_ticks: u64,
    /// Ticks after the fault phase: partitions heal, paused nodes resume,
    /// crashed ones restart, and the cluster must converge.
    pub heal_phase_ticks: u64,
    /// Number of concurrent clients.
    pub clients: Span<u64>,
    /// Number of distinct keys (few keys: more contention, stronger checks).
    pub keys: Span<u64>,
    /// Pause between a client's operations, nanoseconds.
    pub think_ns: Span<u64>,
    /// How long a node gathers client commands before it submits them to
    /// its protocol as one command batch (one log entry), nanoseconds; each
    /// seed draws one value. The node driver batches the commands of a
    /// turn; wide windows here pack several clients' commands into one
    /// entry often.
    pub batch_window_ns: Span<u64>,
    /// Ticks a client waits for an answer before recording `info`.
    pub client_timeout_ticks: u64,
    /// Submissions per operation (first try plus retries elsewhere after
    /// definite rejections such as `NotLeader`) before recording `fail`.
    pub submit_attempts_max: u32,
    /// Operations per run, at most (bounds the history and the checker).
    pub ops_max: usize,
    /// Events queued for a paused node, at most; later ones are dropped as
    /// a full socket buffer would drop them.
    pub paused_inbox_max: usize,
    /// Ready batches carried out per input before yielding to other events;
    /// a protocol that never runs dry cannot starve the simulation.
    pub readies_per_input_max: usize,
    /// Events per run, at most; exceeding it is reported as a failure.
    pub events_max: u64,
    /// Bounds for the linearizability check.
    pub check: CheckLimits,
    /// Applied entries between two snapshots a node hands its protocol
    /// (the node driver's `snapshot_entries`); each seed draws one value
    /// for all its nodes. Small values make compaction and InstallSnapshot
    /// happen constantly under partitions and crashes.
    pub snapshot_entries: Span<u64>,
    /// One seed in this many runs one of the protocol's scripted scenarios
    /// instead of a random schedule: seed `s` does when
    /// `s % scripted_seed_every == scripted_seed_every - 1`, and the
    /// scenario is number `s / scripted_seed_every` modulo their count.
    /// 0: never.
    pub scripted_seed_every: u64,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            faults: FaultOptions::default(),
            cluster_sizes: vec![3, 5],
            tick_ns: 10_000_000,
            fault_phase_ticks: 500,
            heal_phase_ticks: 300,
            clients: Span::new(2, 6),
            keys: Span::new(1, 4),
            think_ns: Span::new(0, 20_000_000),
            batch_window_ns: Span::new(0, 5_000_000),
            client_timeout_ticks: 60,
            submit_attempts_max: 8,
            ops_max: 3_000,
            paused_inbox_max: 4_096,
            readies_per_input_max: 64,
            events_max: 5_000_000,
            check: CheckLimits::default(),
            snapshot_entries: Span::new(8, 256),
            scripted_seed_every: 10,
        }
    }
}

impl SimOptions {
    /// The defaults without any fault (and without scripted scenarios,
    /// which inject their own): for measuring the fault-free path and for
    /// tests that must see progress.
    pub fn without_faults() -> Self {
        SimOptions {
            faults: FaultOptions::none(),
            scripted_seed_every: 0,
            ..SimOptions::default()
        }
    }
}
