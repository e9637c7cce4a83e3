//! Seeds that once exposed a bug, pinned so the bug stays fixed. Each runs
//! twice (determinism) and must pass every check.
//!
//! A pinned seed replays the same schedule only while the simulator, the
//! protocol and the workload draw the same random numbers; the unit test
//! named beside each seed is what keeps the fix covered after they change.

use quorate_sim::raft::RaftSim;
use quorate_sim::SimOptions;

/// (seed, what it found, the unit test that covers the fix)
const RAFT_SEEDS: &[(u64, &str, &str)] = &[(
    19363,
    "a leader restarted after appending a forwarded proposal answered a network \
     duplicate of it with NotLeader, a definite failure, yet the copy committed",
    "quorate-raft tests/requests.rs: \
     duplicate_proposal_after_leader_restart_is_not_a_definite_failure",
)];

#[test]
fn pinned_raft_seeds_pass() {
    let runner = RaftSim::new().runner(SimOptions::default());
    for &(seed, found, covered_by) in RAFT_SEEDS {
        let report = runner.check_seed(seed);
        assert!(
            report.passed(),
            "pinned seed {seed} ({found}; covered by {covered_by}) fails again: {:?}\n  replay: {}",
            report.failures,
            report.replay_command()
        );
    }
}
