//! FAULTS A2 as a scripted scenario: a follower is cut off until the
//! leader has compacted its log past everything the follower holds, so the
//! only way back is InstallSnapshot (etcd's `BlackholeUntilSnapshot`).
//!
//! Three nodes. S1 leads (the others wait far longer before campaigning).
//! S3 is isolated while S1 commits more entries than the largest snapshot
//! threshold a seed can draw, so S1 compacts past S3's log. The network
//! heals: S1 finds that the entry before S3's next one is gone, sends its
//! snapshot, and S3 installs it and catches up. The end-of-run checks then
//! require identical state everywhere (convergence), and the state-machine
//! checker compares S3's installed state with the state S1 snapshotted.

use super::RaftSim;
use crate::plugin::{ConfigOf, NodeContext, SimProtocol};
use crate::scenario::{Condition, Scenario, Step};
use quorate_core::NodeId;

const S1: NodeId = NodeId(1);
const S2: NodeId = NodeId(2);
const S3: NodeId = NodeId(3);

/// Writes S1 commits while S3 is away: more than the largest snapshot
/// threshold (`SimOptions::snapshot_entries`, 256 by default) plus S3's
/// log, so S1 has compacted past S3 whatever the seed draws.
const WRITES: u64 = 280;

/// Ticks to wait for an election.
const ELECTION_TICKS_MAX: u64 = 400;

/// Ticks to wait for replication to finish.
const REPLICATION_TICKS_MAX: u64 = 400;

/// The scenario.
pub(crate) fn scenario() -> Scenario<RaftSim> {
    let durable = |node, index| Condition::Durable { node, index };
    let mut steps = vec![
        Step::RunUntil(
            Condition::All(vec![
                Condition::Leader(S1),
                durable(S1, 1),
                durable(S2, 1),
                durable(S3, 1),
            ]),
            ELECTION_TICKS_MAX,
        ),
        Step::Isolate(S3),
    ];
    for _ in 0..WRITES {
        steps.push(Step::Submit(S1));
        steps.push(Step::Run(2));
    }
    // The no-op at index 1, then one entry per write.
    let last = WRITES + 1;
    steps.extend([
        Step::RunUntil(
            Condition::Applied {
                node: S1,
                index: last,
            },
            REPLICATION_TICKS_MAX,
        ),
        Step::Heal,
        Step::RunUntil(
            Condition::Applied {
                node: S3,
                index: last,
            },
            ELECTION_TICKS_MAX,
        ),
    ]);
    Scenario {
        name: "blackhole_snapshot",
        nodes: 3,
        steps,
        configure,
    }
}

/// The random-run settings with what the script relies on fixed: S1 times
/// out first (S2 and S3 wait twenty times longer, so S1 wins the first
/// election), PreVote and CheckQuorum on (the isolated S3 neither inflates
/// its term nor disrupts S1 when it returns), no forwarding, and room for
/// the writes (no `Busy` refusals).
fn configure(sim: &RaftSim, node: &NodeContext<'_>) -> ConfigOf<RaftSim> {
    let mut config = sim.config(node);
    if node.id != S1 {
        config.election_ticks_min *= 20;
        config.election_ticks_max *= 20;
    }
    config.pre_vote = true;
    config.check_quorum = true;
    config.forward_proposals = false;
    config.pending_requests_max = 256;
    config.uncommitted_entries_max = 512;
    config
}
