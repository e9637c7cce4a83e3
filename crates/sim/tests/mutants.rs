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
