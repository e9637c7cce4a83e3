//! Scripted scenarios with real Raft: the protocol must survive every
//! script, whatever timings the seed picks.

use quorate_sim::raft::RaftSim;
use quorate_sim::{RunReport, SeedRunner, SimOptions};

/// Seeds (timings) each scenario runs with.
const SEEDS: u64 = 20;

fn runner() -> Box<dyn SeedRunner> {
    RaftSim::new().runner(SimOptions::default())
}

/// Runs scenario `name` on every seed with a trace, hands each run's report,
/// trace and the script's waits that were not reached to `check`, and fails
/// with every seed's checker failures.
fn run_each_seed(name: &str, check: impl Fn(u64, &RunReport, &str, &[&str])) {
    let runner = runner();
    let mut failures = Vec::new();
    for seed in 0..SEEDS {
        let mut trace = Vec::new();
        let report = runner
            .run_scenario(name, seed, Some(&mut trace))
            .unwrap_or_else(|| panic!("raft has the {name} scenario"));
        let trace = String::from_utf8(trace).expect("the trace is text");
        let missed: Vec<&str> = trace
            .lines()
            .filter(|line| line.contains("not reached"))
            .collect();
        assert_eq!(report.scenario, Some(name));
        check(seed, &report, &trace, &missed);
        for failure in &report.failures {
            failures.push(format!("seed {seed}: {failure}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn raft_survives_the_figure8_schedule() {
    run_each_seed("figure8", |seed, report, _trace, missed| {
        // Every wait of the script is reached but the last: S5 cannot win
        // term D, because S1 committed E only once its term-C entry was on
        // S3, whose vote S5 needs.
        assert!(
            missed.len() == 1 && missed[0].ends_with("Leader(n5)"),
            "seed {seed}: unexpected course of the script: {missed:?}"
        );
        assert!(
            report.stats.crashes >= 3 && report.stats.restarts >= 2,
            "seed {seed}: the script crashes S1 twice and S5 once: {:?}",
            report.stats
        );
    });
}

#[test]
fn a_follower_cut_off_past_compaction_catches_up_by_snapshot() {
    run_each_seed("blackhole_snapshot", |seed, report, trace, missed| {
        assert!(
            missed.is_empty(),
            "seed {seed}: unexpected course of the script: {missed:?}"
        );
        assert!(
            trace.contains("n3 installs a snapshot"),
            "seed {seed}: n3 caught up without a snapshot"
        );
        assert!(report.stats.snapshots_installed >= 1, "{:?}", report.stats);
    });
}

#[test]
fn every_tenth_seed_runs_a_script_and_replays_identically() {
    let runner = runner();
    assert_eq!(
        runner.scenario_names(),
        vec!["figure8", "blackhole_snapshot"]
    );
    assert_eq!(runner.run(8, None).scenario, None);
    let scripted = runner.check_seed(9);
    assert_eq!(scripted.scenario, Some("figure8"));
    assert!(scripted.passed(), "{:?}", scripted.failures);
}
