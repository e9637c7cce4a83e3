//! `quorate demo`: a three-node Raft cluster in this process, a scripted
//! workload, and a summary of what happened.

use bytes::Bytes;
use clap::Args;
use hdrhistogram::Histogram;
use quorate::prelude::*;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `quorate demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keys written in the first phase (and read back after the leader crash).
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    pub clients: u64,
    /// Real time per protocol tick, in milliseconds.
    #[arg(long, default_value_t = 10)]
    pub tick_ms: u64,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            keys: 10_000,
            clients: 64,
            tick_ms: 10,
        }
    }
}

type Cluster = LocalCluster<RaftConfig, Kv>;

/// How long the demo waits for an election or a catch-up before reporting
/// failure.
const WAIT_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs the demo; the exit code says whether every check held.
pub fn run(args: DemoArgs) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    match runtime.block_on(script(args)) {
        Ok(()) => {
            println!("\nall checks passed");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("\ndemo failed: {failure}");
            ExitCode::FAILURE
        }
    }
}

fn key(i: u64) -> Bytes {
    Bytes::from(format!("key-{i:06}"))
}

fn value(i: u64, round: u64) -> Bytes {
    Bytes::from(format!("value-{i}-{round}"))
}

async fn script(args: DemoArgs) -> Result<(), String> {
    let options = NodeOptions {
        tick_interval: Duration::from_millis(args.tick_ms.max(1)),
        ..NodeOptions::default()
    };
    println!(
        "starting a three-node Raft cluster in this process (tick {} ms)",
        args.tick_ms
    );
    let cluster = Cluster::start(
        3,
        options,
        |id, members| RaftConfig {
            members: members.to_vec(),
            seed: id.0,
            ..RaftConfig::default()
        },
        |_| Kv::new(),
    )
    .await
    .map_err(|error| format!("start: {error}"))?;
    let cluster = Arc::new(tokio::sync::RwLock::new(cluster));

    let started = Instant::now();
    let leader = cluster
        .read()
        .await
        .wait_for_leader(WAIT_TIMEOUT)
        .await
        .ok_or("no leader elected")?;
    println!("  leader elected: {leader} after {:?}", started.elapsed());

    // Phase 1: concurrent writes.
    let (elapsed, latencies) = write_keys(&cluster, args.keys, args.clients, 1).await?;
    print_throughput("write", args.keys, elapsed, &latencies);

    // Phase 2: read back through the log, and a compare-and-swap.
    {
        let cluster = cluster.read().await;
        let read = cluster
            .submit(Command::Get { key: key(0) })
            .await
            .map_err(|error| format!("get: {error}"))?;
        println!("  get key-000000 -> {}", show(&read));
        let swap = |expected: Bytes, new: Bytes| Command::CompareAndSwap {
            key: key(0),
            expected: Some(expected),
            new,
        };
        let stale = cluster
            .submit(swap(value(0, 0), value(0, 2)))
            .await
            .map_err(|error| format!("cas: {error}"))?;
        let fresh = cluster
            .submit(swap(value(0, 1), value(0, 2)))
            .await
            .map_err(|error| format!("cas: {error}"))?;
        println!("  cas with a stale expectation -> {}", show(&stale));
        println!("  cas with the current value   -> {}", show(&fresh));
        if stale != Response::Swapped(false) || fresh != Response::Swapped(true) {
            return Err("compare-and-swap answered wrongly".to_string());
        }
    }

    // Phase 3: crash the leader; a new one takes over and nothing is lost.
    let old_leader = {
        let mut cluster = cluster.write().await;
        let leader = cluster.leader().await.ok_or("no leader before the crash")?;
        cluster.crash(leader).await;
        leader
    };
    let crashed_at = Instant::now();
    println!("\ncrashed the leader {old_leader}");
    let new_leader = cluster
        .read()
        .await
        .wait_for_leader(WAIT_TIMEOUT)
        .await
        .ok_or("no new leader after the crash")?;
    println!(
        "  new leader: {new_leader} after {:?}",
        crashed_at.elapsed()
    );
    let (elapsed, latencies) = write_keys(&cluster, args.keys / 10, args.clients, 3).await?;
    print_throughput("write (two nodes)", args.keys / 10, elapsed, &latencies);
    verify_keys(&cluster, args.keys).await?;
    println!(
        "  all {} keys written before the crash are present",
        args.keys
    );

    // Phase 4: restart the old leader; it catches up from its storage and the
    // new leader.
    let mut cluster = Arc::into_inner(cluster)
        .expect("no other references remain")
        .into_inner();
    cluster
        .restart(old_leader)
        .await
        .map_err(|error| format!("restart: {error}"))?;
    let target = cluster
        .node(new_leader)
        .ok_or("the new leader stopped")?
        .status()
        .await
        .protocol
        .commit_index;
    let restarted_at = Instant::now();
    if !cluster.wait_for_applied(target, WAIT_TIMEOUT).await {
        return Err(format!("{old_leader} did not catch up to index {target}"));
    }
    println!(
        "\nrestarted {old_leader}: caught up to index {target} in {:?}",
        restarted_at.elapsed()
    );

    println!("\nnode  role       term  commit  applied  garbage-frames");
    for node in cluster.running() {
        let status = node.status().await;
        println!(
            "{:<5} {:<10} {:<5} {:<7} {:<8} {}",
            status.protocol.id.to_string(),
            format!("{:?}", status.protocol.role),
            status.protocol.term,
            status.protocol.commit_index,
            status.applied_index,
            status.garbage_frames
        );
    }
    cluster.shutdown().await;
    Ok(())
}

type SharedCluster = Arc<tokio::sync::RwLock<Cluster>>;

/// Writes keys `0..keys` with `clients` concurrent writers; returns the
/// elapsed time and the latency histogram (microseconds).
async fn write_keys(
    cluster: &SharedCluster,
    keys: u64,
    clients: u64,
    round: u64,
) -> Result<(Duration, Histogram<u64>), String> {
    let started = Instant::now();
    let mut writers = Vec::new();
    for client in 0..clients.max(1) {
        let cluster = Arc::clone(cluster);
        let stride = clients.max(1);
        writers.push(tokio::spawn(async move {
            let mut latencies = Histogram::<u64>::new(3).expect("3 significant digits is valid");
            let cluster = cluster.read().await;
            for i in (client..keys).step_by(stride as usize) {
                let sent = Instant::now();
                let answer = cluster
                    .submit(Command::Put {
                        key: key(i),
                        value: value(i, round),
                    })
                    .await
                    .map_err(|error| format!("put {i}: {error}"))?;
                if answer != Response::Written {
                    return Err(format!("put {i} answered {answer:?}"));
                }
                latencies.saturating_record(sent.elapsed().as_micros() as u64);
            }
            Ok(latencies)
        }));
    }
    let mut all = Histogram::<u64>::new(3).expect("3 significant digits is valid");
    for writer in writers {
        let latencies = writer.await.map_err(|error| error.to_string())??;
        all.add(&latencies).map_err(|error| error.to_string())?;
    }
    Ok((started.elapsed(), all))
}

/// Reads every key back through the log and checks it holds a written value.
async fn verify_keys(cluster: &SharedCluster, keys: u64) -> Result<(), String> {
    let cluster = cluster.read().await;
    for i in 0..keys {
        match cluster.submit(Command::Get { key: key(i) }).await {
            Ok(Response::Value(Some(_))) => {}
            other => return Err(format!("key {i} lost: {other:?}")),
        }
    }
    Ok(())
}

fn print_throughput(what: &str, ops: u64, elapsed: Duration, latencies: &Histogram<u64>) {
    println!(
        "  {what}: {ops} ops in {:.2?} = {:.0} ops/s; latency p50 {} us, p99 {} us, p999 {} us",
        elapsed,
        ops as f64 / elapsed.as_secs_f64(),
        latencies.value_at_quantile(0.50),
        latencies.value_at_quantile(0.99),
        latencies.value_at_quantile(0.999),
    );
}

fn show(response: &Response) -> String {
    match response {
        Response::Value(Some(value)) => format!("{:?}", String::from_utf8_lossy(value)),
        Response::Value(None) => "(absent)".to_string(),
        other => format!("{other:?}"),
    }
}
