//! Raft under the full fault model: at least 1,000 randomly faulted seeds
//! per run of the suite (plus the scripted ones every tenth seed runs),
//! split into several tests so they run in parallel. Each seed runs
//! twice (determinism self-check); every failure names its seed and the
//! command that replays it.

use quorate_sim::raft::RaftSim;
use quorate_sim::SimOptions;
use std::ops::Range;

/// Four tests of 280 seeds: 1,120 seeds, of which 1,008 random schedules
/// (every tenth seed runs a scripted scenario instead).
const SEEDS_PER_TEST: u64 = 280;

fn check_seeds(seeds: Range<u64>) {
    let runner = RaftSim::new().runner(SimOptions::default());
    let mut failures = Vec::new();
    let mut ops_checked = 0;
    for seed in seeds.clone() {
        let report = runner.check_seed(seed);
        ops_checked += report.stats.ops_checked;
        for failure in &report.failures {
            failures.push(format!(
                "seed {seed}: {failure}\n  replay: {}",
                report.replay_command()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s) in seeds {seeds:?}:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        ops_checked > 100 * (seeds.end - seeds.start),
        "the histories must exercise the store: only {ops_checked} operations checked"
    );
}

#[test]
fn raft_seeds_part_0() {
    check_seeds(0..SEEDS_PER_TEST);
}

#[test]
fn raft_seeds_part_1() {
    check_seeds(SEEDS_PER_TEST..2 * SEEDS_PER_TEST);
}

#[test]
fn raft_seeds_part_2() {
    check_seeds(2 * SEEDS_PER_TEST..3 * SEEDS_PER_TEST);
}

#[test]
fn raft_seeds_part_3() {
    check_seeds(3 * SEEDS_PER_TEST..4 * SEEDS_PER_TEST);
}
