//! Raft plugged into the simulator.

mod blackhole_snapshot;
mod figure8;

use crate::plugin::{ConfigOf, NodeContext, Promise, SimProtocol};
use crate::scenario::Scenario;
use crate::{SeedRunner, SimOptions, Simulator};
use quorate_core::SeededRng;
use quorate_core::{NodeId, Term};
use quorate_raft::{AppendOutcome, Config, HardState, Message, Raft};

/// Runs [`quorate_raft::Raft`] in the simulator.
///
/// Each seed draws its own Raft settings (swarm testing over the config):
/// PreVote and CheckQuorum on or off, proposal forwarding, election and
/// heartbeat timing, small batching and pipelining limits so that
/// multi-message replication and backpressure paths run too, and how long
/// a leader waits before sending an unanswered snapshot again.
#[derive(Clone, Debug, Default)]
pub struct RaftSim {
    /// A deliberately broken variant to run instead of real Raft.
    #[cfg(feature = "mutants")]
    pub mutant: Option<quorate_raft::Mutant>,
}

impl RaftSim {
    /// Real Raft.
    pub fn new() -> Self {
        RaftSim::default()
    }

    /// A simulator for this plug-in, compiled (and optimised) in this
    /// crate; see [`SeedRunner`].
    pub fn runner(self, options: SimOptions) -> Box<dyn SeedRunner> {
        Box::new(Simulator::new(self, options))
    }
}

impl SimProtocol for RaftSim {
    type Protocol = Raft;

    fn name(&self) -> String {
        "raft".to_string()
    }

    fn config(&self, node: &NodeContext<'_>) -> ConfigOf<Self> {
        // Cluster-wide settings come from the cluster seed, so every node
        // (and every incarnation of it) agrees on them.
        let mut rng = SeededRng::new(node.cluster_seed);
        let election_ticks_min = rng.between(8, 15) as u32;
        let election_ticks_max = election_ticks_min + rng.between(4, 15) as u32;
        Config {
            members: node.members.to_vec(),
            seed: node.node_seed,
            election_ticks_min,
            election_ticks_max,
            heartbeat_ticks: rng.between(1, 3) as u32,
            pre_vote: rng.chance(0.7),
            check_quorum: rng.chance(0.7),
            forward_proposals: rng.chance(0.5),
            append_bytes_max: rng.between(64, 4096) as usize,
            inflight_appends_max: rng.between(1, 16) as usize,
            pending_requests_max: rng.between(4, 256) as usize,
            request_bytes_max: 64,
            uncommitted_entries_max: rng.between(8, 512) as usize,
            ready_outputs_max: rng.between(1, 64) as usize,
            forward_ticks_max: election_ticks_max * 2,
            snapshot_retry_ticks: rng.between(2, 40) as u32,
            #[cfg(feature = "mutants")]
            mutant: self.mutant,
        }
    }

    fn promise(&self, to: NodeId, message: &Message) -> Option<Promise> {
        match *message {
            Message::VoteResponse {
                term,
                granted: true,
            } => Some(Promise::Vote {
                term,
                candidate: to,
            }),
            Message::AppendResponse {
                outcome: AppendOutcome::Accepted { match_index },
                ..
            } => Some(Promise::LogThrough { index: match_index }),
            _ => None,
        }
    }

    fn durable_vote(&self, hard_state: &[u8]) -> Option<(Term, Option<NodeId>)> {
        HardState::decode(hard_state)
            .ok()
            .map(|state| (state.term, state.vote))
    }

    /// `figure8`: the schedule of the extended paper's Figure 8, where a
    /// leader must not commit an entry of an earlier term by counting
    /// replicas. `blackhole_snapshot`: FAULTS A2, a follower cut off until
    /// the leader compacted past its log catches up by InstallSnapshot.
    fn scenarios(&self) -> Vec<Scenario<Self>> {
        vec![figure8::scenario(), blackhole_snapshot::scenario()]
    }
}
