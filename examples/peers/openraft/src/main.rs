//! Openraft's in-process replication benchmark, re-created to run side by
//! side with Quorate's `examples/bench_replication/` (see README.md).
//!
//! For each client count: start 3 members on a server runtime, let N client
//! tasks on a separate client runtime each write to the leader in a closed
//! loop, and report committed ops/s and latency percentiles.

mod network;
// Shared with Quorate's benchmark so both print the same table.
#[path = "../../../bench_replication/latency.rs"]
mod latency;
#[path = "../../../bench_replication/report.rs"]
mod report;
mod store;

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use clap::Parser;
use hdrhistogram::Histogram;
use openraft::Config;

use crate::network::BenchRaft;
use crate::network::Router;
use crate::report::Row;
use crate::store::Request;

/// Openraft, 3 members in one process, closed-loop clients.
#[derive(Parser, Debug)]
// A later flag overrides an earlier one, so compare.sh can append overrides.
#[command(args_override_self = true)]
struct Args {
    /// Client counts to run, comma separated; one fresh cluster each.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256,1024")]
    clients: Vec<usize>,
    /// Length of the measured window per client count.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Unmeasured load before the window, to reach a steady state.
    #[arg(long, default_value_t = 1.0)]
    warmup_seconds: f64,
    /// Worker threads of the runtime that runs the members (openraft's
    /// benchmark defaults to 16).
    #[arg(long, default_value_t = 16)]
    server_workers: usize,
    /// Worker threads of the runtime that runs the clients (openraft's
    /// benchmark defaults to 2).
    /// 0 runs the clients on the server runtime instead (one shared
    /// runtime: fewer cross-thread wake-ups per operation).
    #[arg(long, default_value_t = 2)]
    client_workers: usize,
    /// Cluster members.
    #[arg(long, default_value_t = 3)]
    members: u64,
    /// Print comma-separated rows instead of the table.
    #[arg(long)]
    csv: bool,
    /// Leave out the header line.
    #[arg(long)]
    no_header: bool,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    if args.seconds <= 0.0 || args.warmup_seconds < 0.0 {
        return Err("--seconds must be positive and --warmup-seconds not negative".into());
    }
    if !args.no_header {
        if args.csv {
            report::print_csv_header();
        } else {
            report::print_header();
        }
    }
    let client_rt = if args.client_workers == 0 {
        None
    } else {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.client_workers)
            .thread_name("bench-client")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        Some(runtime)
    };
    for &clients in &args.clients {
        let row = run_one(&args, client_rt.as_ref(), clients)?;
        if args.csv {
            report::print_csv_row(&row);
        } else {
            report::print_row(&row);
        }
    }
    Ok(())
}

/// One client count against a fresh cluster on a fresh server runtime.
fn run_one(
    args: &Args,
    client_rt: Option<&tokio::runtime::Runtime>,
    clients: usize,
) -> Result<Row, String> {
    if clients == 0 {
        return Err("client counts must be positive".into());
    }
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_workers)
        .thread_name("bench-server")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let router = Router::default();
    let ids: BTreeSet<u64> = (0..args.members).collect();
    let leader = server_rt.block_on(async {
        // The configuration of openraft's own benchmark.
        let config = Config {
            election_timeout_min: 200,
            election_timeout_max: 2000,
            purge_batch_size: 1024,
            max_payload_entries: 1024,
            ..Default::default()
        }
        .validate()
        .map_err(|e| e.to_string())?;
        let leader_id = router.start_cluster(Arc::new(config), ids.clone()).await?;
        Ok::<_, String>(router.node(leader_id))
    })?;

    let (ops, window_seconds, latency_ns) =
        client_rt.unwrap_or(&server_rt).block_on(drive_clients(
            leader,
            clients,
            Duration::from_secs_f64(args.warmup_seconds),
            Duration::from_secs_f64(args.seconds),
        ))?;

    server_rt.block_on(async {
        for &id in &ids {
            let _ = router.node(id).shutdown().await;
        }
    });
    drop(router);
    server_rt.shutdown_timeout(Duration::from_secs(5));

    Ok(Row {
        implementation: "openraft",
        clients,
        ops,
        window_seconds,
        latency_ns,
        rss_peak_kib: report::rss_peak_kib(),
    })
}

/// Runs `clients` closed-loop writers for the warm-up and then the measured
/// window. Counts the operations that both start and finish inside the
/// window, and records their latencies.
async fn drive_clients(
    leader: BenchRaft,
    clients: usize,
    warmup: Duration,
    window: Duration,
) -> Result<(u64, f64, Histogram<u64>), String> {
    let start = Instant::now();
    let window_start = start + warmup;
    let window_end = window_start + window;
    let stop = Arc::new(AtomicBool::new(false));

    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let leader = leader.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            // One clock read per operation, as in Quorate's harness.
            let mut sent = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                leader
                    .client_write(Request {})
                    .await
                    .map_err(|e| format!("client_write: {e}"))?;
                let done = Instant::now();
                if sent >= window_start && done <= window_end {
                    latency::record((done - sent).as_nanos() as u64);
                }
                sent = done;
            }
            Ok::<_, String>(())
        }));
    }

    tokio::time::sleep_until((window_end).into()).await;
    stop.store(true, Ordering::Relaxed);

    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    let latency_ns = latency::take_all();
    Ok((latency_ns.len(), window.as_secs_f64(), latency_ns))
}
