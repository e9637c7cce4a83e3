//! Proof that the checkers bite: deliberately broken Raft variants must be
//! caught within a bounded number of seeds. Run with
//! `cargo test -p quorate-sim --features mutants --release mutant`.
#![cfg(feature = "mutants")]

use quorate_raft::Mutant;
use quorate_sim::raft::RaftSim;
use quorate_sim::SimOptions;

/// Runs seeds from 0 until one fails; returns (seed, checker).
fn first_failure(mutant: Mutant, seeds_max: u64) -> Option<(u64, &'static str)> {
    let runner = RaftSim {
        mutant: Some(mutant),
    }
    .runner(SimOptions::default());
    (0..seeds_max).find_map(|seed| {
        let report = runner.run(seed, None);
        report.failures.first().map(|failure| (seed, failure.check))
    })
}

#[test]
fn mutant_unpersisted_vote_is_caught() {
    let (seed, check) = first_failure(Mutant::UnpersistedVote, 50)
        .expect("a vote granted before it is durable must be caught");
    println!("unpersisted-vote caught at seed {seed} by {check}");
    assert_eq!(check, "contract");
}

/// The Figure 8 script with the mutant, across seeds of timing: returns
/// how many seeds were caught, and the checkers that caught them.
fn figure8_catches(seeds: u64) -> (u64, Vec<&'static str>) {
    let runner = RaftSim {
        mutant: Some(Mutant::Figure8),
    }
    .runner(SimOptions::default());
    let mut checks = Vec::new();
    for seed in 0..seeds {
        let report = runner
            .run_scenario("figure8", seed, None)
            .expect("raft has the figure8 scenario");
        if let Some(failure) = report.failures.first() {
            checks.push(failure.check);
        }
    }
    (checks.len() as u64, checks)
}

#[test]
fn mutant_figure8_is_caught() {
    const SEEDS: u64 = 20;
    let (caught, checks) = figure8_catches(SEEDS);
    println!("figure8 caught in {caught} of {SEEDS} seeds of the script, by {checks:?}");
    // The script leaves only timings to the seed, so nearly every seed
    // must catch it (500 of 500 when it was written).
    assert!(
        caught * 2 >= SEEDS,
        "counting replicas of an old-term entry must be caught in most seeds, \
         was in {caught} of {SEEDS}"
    );
    assert!(
        checks
            .iter()
            .all(|check| matches!(*check, "leader_completeness" | "state_machine_safety")),
        "a lost committed entry is a safety failure, not {checks:?}"
    );
}

#[test]
fn mutant_figure8_is_caught_by_a_campaign() {
    // Every tenth seed runs a script, so a plain campaign catches it too.
    let (seed, check) =
        first_failure(Mutant::Figure8, 200).expect("a campaign must catch the figure8 mutant");
    println!("figure8 caught by the campaign at seed {seed} by {check}");
}
