//! Properties of the simulator itself: determinism, that faults are really
//! injected, that a fault-free cluster makes progress, and that exported
//! histories check the same outside the simulator.

use quorate_sim::history::History;
use quorate_sim::linearizability::{check, CheckLimits, Verdict};
use quorate_sim::raft::RaftSim;
use quorate_sim::{RunStats, SimOptions};

#[test]
fn a_seed_replays_identically_and_seeds_differ() {
    let runner = RaftSim::new().runner(SimOptions::default());
    let a = runner.run(7, None);
    let b = runner.run(7, None);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.history, b.history);
    assert_eq!(a.stats, b.stats);
    let c = runner.run(8, None);
    assert_ne!(a.trace_hash, c.trace_hash);
}

#[test]
fn the_readable_trace_does_not_change_the_run() {
    let runner = RaftSim::new().runner(SimOptions::default());
    let mut trace = Vec::new();
    let traced = runner.run(11, Some(&mut trace));
    let plain = runner.run(11, None);
    assert_eq!(traced.trace_hash, plain.trace_hash);
    let text = String::from_utf8(trace).unwrap();
    assert!(text.contains("seed 11 protocol raft"));
    assert!(text.contains("applies"));
}

#[test]
fn faults_of_every_kind_are_injected_across_seeds() {
    let runner = RaftSim::new().runner(SimOptions::default());
    let mut total = RunStats::default();
    for seed in 0..60 {
        total.accumulate(&runner.run(seed, None).stats);
    }
    assert!(total.crashes > 0 && total.restarts > 0, "{total:?}");
    assert!(total.pauses > 0 && total.partitions > 0, "{total:?}");
    assert!(
        total.messages_dropped > 0 && total.messages_duplicated > 0,
        "{total:?}"
    );
    assert!(total.lost_batches > 0 && total.torn_writes > 0, "{total:?}");
    assert!(total.corruptions > 0, "{total:?}");
    assert!(total.ops_info > 0 && total.ops_fail > 0, "{total:?}");
    // Compaction runs, and followers that fell behind it catch up by
    // snapshot, under those faults.
    assert!(
        total.snapshots_taken > 0 && total.snapshots_installed > 0,
        "{total:?}"
    );
}

#[test]
fn a_fault_free_cluster_acknowledges_almost_everything() {
    let runner = RaftSim::new().runner(SimOptions::without_faults());
    for seed in 0..20 {
        let report = runner.run(seed, None);
        assert!(report.passed(), "seed {seed}: {:?}", report.failures);
        let stats = &report.stats;
        assert_eq!(stats.crashes + stats.partitions + stats.messages_dropped, 0);
        assert!(stats.ops_ok > 100, "seed {seed}: {stats:?}");
        assert!(
            stats.ops_ok * 10 >= stats.ops_invoked * 9,
            "seed {seed}: {stats:?}"
        );
    }
}

#[test]
fn exported_history_reads_back_and_checks_the_same() {
    let runner = RaftSim::new().runner(SimOptions::default());
    let report = runner.run(3, None);
    let mut jsonl = Vec::new();
    report.history.write_jsonl(&mut jsonl).unwrap();
    let read = History::read_jsonl(&mut jsonl.as_slice()).unwrap();
    assert_eq!(read, report.history);
    let outside = check(&read, CheckLimits::default()).unwrap();
    assert_eq!(outside.verdict, Verdict::Linearizable);
    assert_eq!(Some(outside), report.linearizability);
    for line in String::from_utf8(jsonl).unwrap().lines().take(50) {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        for field in ["process", "type", "f", "key", "value", "time"] {
            assert!(event.get(field).is_some(), "{field} missing in {line}");
        }
    }
}
