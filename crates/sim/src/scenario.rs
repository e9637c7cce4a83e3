//! Scripted scenarios: a fixed schedule of faults and client submissions,
//! run step by step on the simulator's own nodes, network, disks and
//! checkers.
//!
//! Random schedules find most bugs, but some need a precise sequence of
//! events that random faults almost never produce (Raft's Figure 8 needs
//! five elections, three crashes and exact message delivery). A scenario
//! writes that sequence down. The seed still chooses everything the script
//! leaves open: latencies, disk write times, clock drift, election
//! timeouts, which unsynced writes a crash keeps. Every invariant checker
//! runs throughout, exactly as in a random run, and the run ends like one:
//! the network heals, crashed nodes restart, and convergence, acknowledged
//! writes and linearizability are checked.

use crate::plugin::{ConfigOf, NodeContext, SimProtocol};
use quorate_core::{LogIndex, NodeId};

/// A condition on the cluster that a [`Step::RunUntil`] waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// The node is up and reports itself leader.
    Leader(NodeId),
    /// The node's durable log (what survives a crash) reaches `index`.
    Durable {
        /// The node.
        node: NodeId,
        /// The index.
        index: LogIndex,
    },
    /// The node has applied (handed to its state machine) every entry up
    /// to `index`.
    Applied {
        /// The node.
        node: NodeId,
        /// The index.
        index: LogIndex,
    },
    /// Every one of the conditions holds.
    All(Vec<Condition>),
}

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Cuts every link, then opens exactly these, both ways. Messages in
    /// flight on a link that ends up cut are lost.
    Connect(Vec<(NodeId, NodeId)>),
    /// Cuts every link to and from the node (messages in flight on them
    /// are lost).
    Isolate(NodeId),
    /// Reconnects every link.
    Heal,
    /// Loses every message in flight.
    DropInFlight,
    /// Crashes the node: it keeps its durable state and a prefix of its
    /// unsynced writes that the seed chooses.
    Crash(NodeId),
    /// Restarts a crashed node from its disk.
    Restart(NodeId),
    /// A client submits a write to the node, once (no retry elsewhere).
    Submit(NodeId),
    /// Runs the simulation until the condition holds (checked after every
    /// event) or `ticks_max` ticks of simulated time have passed. Timing
    /// out is not a failure: a correct protocol may legitimately refuse to
    /// reach the state a script hopes for (the trace records it).
    RunUntil(Condition, u64),
    /// Runs the simulation for this many ticks.
    Run(u64),
}

/// A named script for a cluster of a fixed size.
#[derive(Debug)]
pub struct Scenario<S: SimProtocol> {
    /// Short name for reports (`figure8`).
    pub name: &'static str,
    /// Voters, `NodeId(1)..=NodeId(nodes)`.
    pub nodes: usize,
    /// The steps, in order. After the last one the run ends as a random
    /// run does: every link heals, crashed nodes restart, and the end-of-run
    /// checks follow `heal_phase_ticks` later.
    pub steps: Vec<Step>,
    /// The protocol config of one node. Scenarios often need settings the
    /// random runs only sometimes draw (tiny messages, PreVote on); start
    /// from `plugin.config(node)` and override what the script relies on.
    pub configure: fn(&S, &NodeContext<'_>) -> ConfigOf<S>,
}
