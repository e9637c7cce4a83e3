//! What a run produces: failures, counters, the history.

use crate::faults::Faults;
use crate::history::History;
use crate::linearizability;
use std::fmt;

/// One broken property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Which checker (`election_safety`, `linearizability`, `contract`, ...).
    pub check: &'static str,
    /// What it saw.
    pub detail: String,
    /// When, in simulated nanoseconds.
    pub time_ns: u64,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {}.{:06} ms: {}",
            self.check,
            self.time_ns / 1_000_000,
            self.time_ns % 1_000_000,
            self.detail
        )
    }
}

/// Counters of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Voters in the cluster.
    pub cluster_size: usize,
    /// Events processed.
    pub events: u64,
    /// Protocol ticks, summed over nodes.
    pub ticks: u64,
    /// Simulated time at the end, nanoseconds.
    pub sim_time_ns: u64,
    /// Messages handed to the network.
    pub messages_sent: u64,
    /// Messages delivered to a running node.
    pub messages_delivered: u64,
    /// Messages lost (loss, cut links, down receivers, full inboxes).
    pub messages_dropped: u64,
    /// Extra copies delivered.
    pub messages_duplicated: u64,
    /// Operations invoked.
    pub ops_invoked: u64,
    /// Operations completed `ok`.
    pub ops_ok: u64,
    /// Operations completed `fail`.
    pub ops_fail: u64,
    /// Operations completed `info`.
    pub ops_info: u64,
    /// Operations that entered the linearizability search.
    pub ops_checked: u64,
    /// Node crashes.
    pub crashes: u64,
    /// Node restarts.
    pub restarts: u64,
    /// Process pauses.
    pub pauses: u64,
    /// Partitions created.
    pub partitions: u64,
    /// Unsynced batches lost in crashes.
    pub lost_batches: u64,
    /// Torn writes discarded at recovery.
    pub torn_writes: u64,
    /// Restarts that found corruption (the node then stays down).
    pub corruptions: u64,
    /// Terms that had a leader.
    pub terms_with_leader: u64,
    /// Highest index applied anywhere.
    pub applied_index_max: u64,
    /// Snapshots nodes took of their state machine and handed to their
    /// protocol (log compaction).
    pub snapshots_taken: u64,
    /// Snapshots received from a leader and installed in place of the
    /// state machine.
    pub snapshots_installed: u64,
    /// Command batches nodes submitted to their protocol.
    pub batches_submitted: u64,
    /// Batches that held more than one command.
    pub batches_shared: u64,
    /// The most commands one batch held.
    pub batch_commands_max: u64,
}

impl RunStats {
    /// Total injected faults of every kind (crashes, pauses, partitions,
    /// corruptions, lost messages and duplicates).
    pub fn faults(&self) -> u64 {
        self.crashes
            + self.pauses
            + self.partitions
            + self.corruptions
            + self.torn_writes
            + self.messages_dropped
            + self.messages_duplicated
    }

    /// Adds `other` into `self` (for campaign totals); `cluster_size` keeps
    /// the larger value.
    pub fn accumulate(&mut self, other: &RunStats) {
        self.cluster_size = self.cluster_size.max(other.cluster_size);
        self.events += other.events;
        self.ticks += other.ticks;
        self.sim_time_ns += other.sim_time_ns;
        self.messages_sent += other.messages_sent;
        self.messages_delivered += other.messages_delivered;
        self.messages_dropped += other.messages_dropped;
        self.messages_duplicated += other.messages_duplicated;
        self.ops_invoked += other.ops_invoked;
        self.ops_ok += other.ops_ok;
        self.ops_fail += other.ops_fail;
        self.ops_info += other.ops_info;
        self.ops_checked += other.ops_checked;
        self.crashes += other.crashes;
        self.restarts += other.restarts;
        self.pauses += other.pauses;
        self.partitions += other.partitions;
        self.lost_batches += other.lost_batches;
        self.torn_writes += other.torn_writes;
        self.corruptions += other.corruptions;
        self.terms_with_leader += other.terms_with_leader;
        self.applied_index_max = self.applied_index_max.max(other.applied_index_max);
        self.snapshots_taken += other.snapshots_taken;
        self.snapshots_installed += other.snapshots_installed;
        self.batches_submitted += other.batches_submitted;
        self.batches_shared += other.batches_shared;
        self.batch_commands_max = self.batch_commands_max.max(other.batch_commands_max);
    }
}

/// Everything one run of one seed produced.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The protocol's name.
    pub protocol: String,
    /// The seed.
    pub seed: u64,
    /// The scripted scenario the seed ran, or `None` for a random schedule.
    pub scenario: Option<&'static str>,
    /// Hash of every event in order; equal for two runs of one seed.
    pub trace_hash: u64,
    /// Broken properties (empty when the run passed).
    pub failures: Vec<Failure>,
    /// Counters.
    pub stats: RunStats,
    /// The fault intensities the seed drew.
    pub faults: Faults,
    /// The client history.
    pub history: History,
    /// The linearizability check of the history.
    pub linearizability: Option<linearizability::Report>,
}

impl RunReport {
    /// True when no property broke.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The command that replays this seed with a readable trace.
    pub fn replay_command(&self) -> String {
        format!(
            "cargo run --release --bin quorate -- sim --protocol {} --seed {}",
            self.protocol, self.seed
        )
    }
}
