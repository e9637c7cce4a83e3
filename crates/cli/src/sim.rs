//! `quorate sim`: run the deterministic simulator over many seeds, or
//! replay one seed with a readable trace.

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use quorate_sim::raft::RaftSim;
use quorate_sim::{RunReport, RunStats, SeedRunner, SimOptions};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The protocols the simulator can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    /// quorate-raft.
    Raft,
}

/// Deliberately broken protocol variants (test builds only).
#[cfg(feature = "mutants")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MutantArg {
    /// A leader commits a previous-term entry by counting replicas.
    Figure8,
    /// A vote is granted before it is persisted.
    UnpersistedVote,
}

/// Arguments of `quorate sim`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// The protocol to simulate.
    #[arg(long, value_enum, default_value_t = ProtocolArg::Raft)]
    pub protocol: ProtocolArg,
    /// How many seeds to run (each twice, for the determinism check).
    #[arg(long, default_value_t = 100, conflicts_with = "seed")]
    pub seeds: u64,
    /// The first seed of a `--seeds` campaign.
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// Replay one seed, printing a readable trace.
    #[arg(long)]
    pub seed: Option<u64>,
    /// With `--seed`: write the client history as JSON Lines to this file
    /// (format: docs/history-format.md).
    #[arg(long, requires = "seed")]
    pub history: Option<PathBuf>,
    /// With `--seed`: do not print the trace, only the summary.
    #[arg(long, requires = "seed")]
    pub quiet: bool,
    /// Worker threads for a campaign (default: one per core). Each seed
    /// runs single-threaded.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run a deliberately broken variant of the protocol.
    #[cfg(feature = "mutants")]
    #[arg(long, value_enum)]
    pub mutant: Option<MutantArg>,
}

fn runner(args: &SimArgs) -> Box<dyn SeedRunner> {
    let options = SimOptions::default();
    match args.protocol {
        ProtocolArg::Raft => {
            #[cfg(feature = "mutants")]
            let plugin = RaftSim {
                mutant: args.mutant.map(|mutant| match mutant {
                    MutantArg::Figure8 => quorate_raft::Mutant::Figure8,
                    MutantArg::UnpersistedVote => quorate_raft::Mutant::UnpersistedVote,
                }),
            };
            #[cfg(not(feature = "mutants"))]
            let plugin = RaftSim::new();
            plugin.runner(options)
        }
    }
}

/// The command line that replays `seed` as run now.
fn replay_command(args: &SimArgs, seed: u64) -> String {
    let protocol = args
        .protocol
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    #[cfg(feature = "mutants")]
    if let Some(mutant) = args.mutant.and_then(|m| m.to_possible_value()) {
        return format!(
            "cargo run --release --bin quorate --features mutants -- sim --protocol {protocol} \
             --mutant {} --seed {seed}",
            mutant.get_name()
        );
    }
    format!("cargo run --release --bin quorate -- sim --protocol {protocol} --seed {seed}")
}

/// Runs `quorate sim`.
pub fn run(args: SimArgs) -> ExitCode {
    match args.seed {
        Some(seed) => replay(&args, seed),
        None => campaign(&args),
    }
}

fn summary(seeds: u64, failures: u64, stats: &RunStats, wall_s: f64) -> String {
    format!(
        "seeds={seeds} failures={failures} ops_checked={} faults={} (crashes={} pauses={} \
         partitions={} corruptions={} torn_writes={} dropped={} duplicated={}) \
         snapshots_taken={} snapshots_installed={} batches={} (shared={} commands_max={}) \
         sim_time={:.1}s \
         events={} ticks={} wall={wall_s:.1}s events_per_sec={:.0} ticks_per_sec={:.0}",
        stats.ops_checked,
        stats.faults(),
        stats.crashes,
        stats.pauses,
        stats.partitions,
        stats.corruptions,
        stats.torn_writes,
        stats.messages_dropped,
        stats.messages_duplicated,
        stats.snapshots_taken,
        stats.snapshots_installed,
        stats.batches_submitted,
        stats.batches_shared,
        stats.batch_commands_max,
        stats.sim_time_ns as f64 / 1e9,
        stats.events,
        stats.ticks,
        stats.events as f64 / wall_s.max(1e-9),
        stats.ticks as f64 / wall_s.max(1e-9),
    )
}

fn print_failures(args: &SimArgs, report: &RunReport) {
    for failure in &report.failures {
        println!("FAILED seed {}: {failure}", report.seed);
    }
    println!("  replay: {}", replay_command(args, report.seed));
}

fn replay(args: &SimArgs, seed: u64) -> ExitCode {
    let runner = runner(args);
    let started = Instant::now();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut report = if args.quiet {
        runner.run(seed, None)
    } else {
        runner.run(seed, Some(&mut out))
    };
    drop(out);
    // The determinism self-check: a second run must leave the same trace.
    let again = runner.run(seed, None);
    if again.trace_hash != report.trace_hash {
        report.failures.push(quorate_sim::Failure {
            check: "determinism",
            detail: format!(
                "trace hashes differ: {:#018x} and {:#018x}",
                report.trace_hash, again.trace_hash
            ),
            time_ns: 0,
        });
    }
    let wall_s = started.elapsed().as_secs_f64() / 2.0;
    if let Some(path) = &args.history {
        let written = std::fs::File::create(path).and_then(|file| {
            let mut file = std::io::BufWriter::new(file);
            report.history.write_jsonl(&mut file)?;
            file.flush()
        });
        if let Err(error) = written {
            eprintln!("cannot write history to {}: {error}", path.display());
            return ExitCode::from(2);
        }
        println!(
            "history: {} events written to {}",
            report.history.len(),
            path.display()
        );
    }
    let failed = !report.passed();
    if failed {
        print_failures(args, &report);
    }
    println!("{}", summary(1, u64::from(failed), &report.stats, wall_s));
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn campaign(args: &SimArgs) -> ExitCode {
    let runner = runner(args);
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let bar = ProgressBar::new(args.seeds);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} seeds, {msg} (eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let next = AtomicU64::new(0);
    let totals = Mutex::new((RunStats::default(), Vec::<RunReport>::new()));
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let offset = next.fetch_add(1, Ordering::Relaxed);
                if offset >= args.seeds {
                    return;
                }
                let mut report = runner.check_seed(args.first_seed + offset);
                // Histories are only needed for replays; free them early.
                report.history = Default::default();
                let mut totals = totals.lock().expect("no worker panics holding the lock");
                totals.0.accumulate(&report.stats);
                if !report.passed() {
                    bar.println(format!(
                        "FAILED seed {}: {}",
                        report.seed, report.failures[0]
                    ));
                    totals.1.push(report);
                }
                bar.set_message(format!("{} failed", totals.1.len()));
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    let wall_s = started.elapsed().as_secs_f64();
    let (stats, mut failed) = totals.into_inner().expect("workers finished");
    failed.sort_by_key(|report| report.seed);
    for report in &failed {
        print_failures(args, report);
    }
    println!(
        "{}",
        summary(args.seeds, failed.len() as u64, &stats, wall_s)
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
