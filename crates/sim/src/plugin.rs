//! How a protocol plugs into the simulator.
//!
//! The simulator drives any [`Consensus`] protocol. What it needs beyond the
//! trait is small: a config for each node, and (optionally) enough insight
//! into messages and hard state to check the durability half of the Ready
//! contract. Paxos or a two-phase-commit log plug in by implementing
//! [`SimProtocol`]; the simulator itself does not change.

use crate::scenario::Scenario;
use quorate_core::{Consensus, LogIndex, NodeId, Protocol, Term};

/// What the simulator knows about the node it is configuring.
#[derive(Clone, Debug)]
pub struct NodeContext<'a> {
    /// The node being started.
    pub id: NodeId,
    /// Every voter, this node included, in a fixed order.
    pub members: &'a [NodeId],
    /// Shared by all nodes of the run: draw cluster-wide settings (for
    /// example whether PreVote is on) from it so every node agrees.
    pub cluster_seed: u64,
    /// Private to this node and this incarnation: seed the protocol's PRNG
    /// from it.
    pub node_seed: u64,
    /// 0 on first start, then incremented on every restart.
    pub incarnation: u64,
}

/// Durable state a message vouches for. A message that makes a promise may
/// leave a node only once the promised state is durable; the simulator
/// checks every outgoing message against the simulated disk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Promise {
    /// "I voted for `candidate` in `term`": the durable hard state must
    /// record that vote (or a later term).
    Vote {
        /// The term of the vote.
        term: Term,
        /// Who got it.
        candidate: NodeId,
    },
    /// "My log holds entries up to `index`": the durable log must reach
    /// `index`, agreeing there with what the node has written.
    LogThrough {
        /// The last index vouched for.
        index: LogIndex,
    },
}

/// The protocol's message type.
pub type MessageOf<S> = <<S as SimProtocol>::Protocol as Protocol>::Message;

/// The protocol's config type.
pub type ConfigOf<S> = <<S as SimProtocol>::Protocol as Protocol>::Config;

/// A protocol the simulator can run.
pub trait SimProtocol: Send + Sync {
    /// The protocol.
    type Protocol: Consensus;

    /// A short name for reports (`raft`).
    fn name(&self) -> String;

    /// The config for one node. Called at first start and at every restart.
    fn config(&self, node: &NodeContext<'_>) -> ConfigOf<Self>;

    /// The durable state `message` (sent to `to`) vouches for, if any.
    /// Without this the durability checks of the Ready contract only cover
    /// outputs, not messages.
    fn promise(&self, _to: NodeId, _message: &MessageOf<Self>) -> Option<Promise> {
        None
    }

    /// Decodes `(term, vote)` from the protocol's hard-state bytes, for
    /// checking [`Promise::Vote`]. `None` when undecodable or unsupported.
    fn durable_vote(&self, _hard_state: &[u8]) -> Option<(Term, Option<NodeId>)> {
        None
    }

    /// Scripted scenarios for this protocol; some seeds run one of them
    /// instead of a random schedule (see
    /// [`SimOptions::scripted_seed_every`](crate::SimOptions)).
    fn scenarios(&self) -> Vec<Scenario<Self>>
    where
        Self: Sized,
    {
        Vec::new()
    }
}
