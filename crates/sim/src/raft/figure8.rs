//! Raft's Figure 8 (extended paper, §5.4.2) as a scripted scenario.
//!
//! Five nodes. In term A, S1 leads and appends E at index 2, which reaches
//! only S2. In term B, S5 is elected by S3 and S4 and appends its own entry
//! at index 2, which stays local. In term C, S1 returns, is elected by S2
//! and S3, and copies E to S3: E is now on a majority (S1, S2, S3), but it
//! is of term A, so S1 must not count it committed; only its own term-C
//! entry reaching a majority commits E. S1 then crashes before anything
//! more leaves it. In term D, S5 returns and is elected by S3 and S4 (its
//! last term B beats E's term A) and overwrites E everywhere it reaches.
//!
//! Real Raft survives: E is committed only once the term-C entry is on S3,
//! and then S3 refuses S5 in term D. A leader that counts replicas of an
//! old-term entry (the `figure8` mutant) reports E committed in term C and
//! loses it in term D, which the leader-completeness and state-machine
//! checkers report.

use super::RaftSim;
use crate::plugin::{ConfigOf, NodeContext, SimProtocol};
use crate::scenario::{Condition, Scenario, Step};
use quorate_core::NodeId;

const S1: NodeId = NodeId(1);
const S2: NodeId = NodeId(2);
const S3: NodeId = NodeId(3);
const S4: NodeId = NodeId(4);
const S5: NodeId = NodeId(5);

/// Entry bytes per AppendEntries, and the largest request. Small enough
/// that a message carries one entry (an entry is 24 bytes plus its data),
/// so S3 can acknowledge E before it receives S1's term-C entry: the window
/// in which counting replicas commits E wrongly.
const MESSAGE_BYTES_MAX: usize = 32;

/// Ticks to wait for an election; generous, since leases (leader
/// stickiness) and PreVote rounds catching up on terms take a few election
/// timeouts.
const ELECTION_TICKS_MAX: u64 = 400;

/// Ticks to wait for entries to reach a disk.
const REPLICATION_TICKS_MAX: u64 = 100;

/// The scenario.
pub(crate) fn scenario() -> Scenario<RaftSim> {
    let durable = |node, index| Condition::Durable { node, index };
    Scenario {
        name: "figure8",
        nodes: 5,
        steps: vec![
            // Term A: only S1 reaches everyone, so only S1 can win; wait
            // until its no-op (index 1) is on every disk.
            Step::Connect(vec![(S1, S2), (S1, S3), (S1, S4), (S1, S5)]),
            Step::RunUntil(
                Condition::All(vec![
                    Condition::Leader(S1),
                    durable(S1, 1),
                    durable(S2, 1),
                    durable(S3, 1),
                    durable(S4, 1),
                    durable(S5, 1),
                ]),
                ELECTION_TICKS_MAX,
            ),
            // S1 appends E at index 2; it reaches S2 only.
            Step::Connect(vec![(S1, S2)]),
            Step::Submit(S1),
            Step::RunUntil(
                Condition::All(vec![durable(S1, 2), durable(S2, 2)]),
                REPLICATION_TICKS_MAX,
            ),
            Step::Crash(S1),
            // Term B: only S5 reaches both S3 and S4, so only S5 can win.
            Step::Connect(vec![(S5, S3), (S5, S4)]),
            Step::RunUntil(Condition::Leader(S5), ELECTION_TICKS_MAX),
            // Its no-op at index 2 stays local (the appends in flight are
            // lost with the links), then S5 crashes.
            Step::Isolate(S5),
            Step::RunUntil(durable(S5, 2), REPLICATION_TICKS_MAX),
            Step::Crash(S5),
            // Term C: S1 returns; S2 and S3 vote for it (S2 cannot reach S3,
            // so S2 cannot win; S3's log is behind S1's).
            Step::Restart(S1),
            Step::Connect(vec![(S1, S2), (S1, S3)]),
            Step::RunUntil(Condition::Leader(S1), ELECTION_TICKS_MAX),
            // S2 takes S1's term-C entry (index 3) while S3 is cut off, and
            // its acknowledgement has a tick to arrive; so when S3 then
            // acknowledges E, that is what puts E on a majority.
            Step::Connect(vec![(S1, S2)]),
            Step::RunUntil(durable(S2, 3), REPLICATION_TICKS_MAX),
            Step::Run(1),
            Step::Connect(vec![(S1, S2), (S1, S3)]),
            Step::RunUntil(
                Condition::Applied { node: S1, index: 2 },
                REPLICATION_TICKS_MAX,
            ),
            // S1 has applied E. Whatever it sent since is lost with it.
            Step::Isolate(S1),
            Step::Crash(S1),
            // Term D: S5 returns; only it reaches both S3 and S4. It wins
            // unless S3 holds a term-C entry, which real Raft ensures.
            Step::Restart(S5),
            Step::Connect(vec![(S5, S3), (S5, S4)]),
            Step::RunUntil(Condition::Leader(S5), ELECTION_TICKS_MAX),
            Step::Run(REPLICATION_TICKS_MAX),
        ],
        configure,
    }
}

/// The random-run settings with what the script relies on fixed: one entry
/// per message, PreVote and CheckQuorum on (a cut-off node neither inflates
/// its term nor keeps leading), and no forwarding (submissions stay where
/// the script puts them).
fn configure(sim: &RaftSim, node: &NodeContext<'_>) -> ConfigOf<RaftSim> {
    let mut config = sim.config(node);
    config.pre_vote = true;
    config.check_quorum = true;
    config.forward_proposals = false;
    config.append_bytes_max = MESSAGE_BYTES_MAX;
    config.request_bytes_max = MESSAGE_BYTES_MAX;
    config
}
