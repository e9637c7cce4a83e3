//! Replication benchmark: committed ops/s and latency percentiles of a
//! 3-node Raft group in one process.
//!
//! ```sh
//! cargo run --release --example bench_replication -- --clients 1,16,64,256,1024 --seconds 5
//! ```
//!
//! For each client count a fresh cluster starts on a server runtime: three
//! nodes over `MemTransport` and `MemStorage`, replicating the `Kv` state
//! machine. N client tasks on a separate client runtime each submit a `Put`
//! of a 16-byte key (one of `--keys`, 1024 by default) and a 16-byte value
//! to the leader in a closed loop (the next one when the previous one is
//! committed and applied). Operations that start and finish inside the
//! measured window are counted; their latencies go into an HDR histogram.
//!
//! `--machine empty` replicates empty commands into a state machine that
//! only counts them: the workload of openraft's own benchmark.
//! `--client-workers 0` runs clients and nodes on one runtime. `--stats`
//! prints each node's storage writes and frames, i.e. how much each `Ready`
//! batched.
//!
//! The shape (server and client runtimes, warm-up, the table) is the one of
//! `examples/peers/openraft`, so `examples/peers/compare.sh` can print both
//! side by side. See docs/benchmarks.md.

use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use quorate_core::{LogIndex, NodeId, Role, StateMachine, StorageError, SubmitError};
use quorate_kv::{Command, Kv};
use quorate_node::{Node, NodeOptions};
use quorate_raft::Raft;
use quorate_storage::MemStorage;
use quorate_transport::MemNetwork;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The result table, shared with the openraft peer benchmark
/// (`examples/peers/openraft`) so `examples/peers/compare.sh` can merge both.
mod report;

/// Per-thread latency histograms, shared with the openraft peer benchmark.
mod latency;

/// Quorate Raft, 3 nodes in one process, closed-loop clients.
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
    /// Worker threads of the runtime that runs the nodes.
    #[arg(long, default_value_t = 2)]
    server_workers: usize,
    /// Worker threads of the runtime that runs the clients.
    /// 0 runs the clients on the server runtime instead (one shared
    /// runtime: fewer cross-thread wake-ups per operation).
    #[arg(long, default_value_t = 2)]
    client_workers: usize,
    /// Cluster members.
    #[arg(long, default_value_t = 3)]
    members: u64,
    /// Real time per protocol tick, in milliseconds (the node's default
    /// when not given).
    #[arg(long)]
    tick_ms: Option<u64>,
    /// Largest command batch a node packs into one log entry, in bytes
    /// (the node's default when not given); 1 gives every command an entry
    /// of its own.
    #[arg(long)]
    batch_bytes_max: Option<usize>,
    /// The replicated state machine.
    #[arg(long, value_enum, default_value_t = Machine::Kv)]
    machine: Machine,
    /// Distinct keys written, shared by all clients. The key-value map's
    /// size (and so its lookup cost, on every replica) grows with it.
    #[arg(long, default_value_t = 1024)]
    keys: u64,
    /// Bytes of each value written (keys are 16 bytes).
    #[arg(long, default_value_t = 16)]
    value_bytes: usize,
    /// What the clients write to: the 3-node cluster, or `echo`, one task
    /// that answers every submission at once (no replication, no state
    /// machine) through the same kind of channels a node's handle uses. The
    /// echo row is the ceiling this harness and runtime shape allow any
    /// in-process implementation on this machine.
    #[arg(long, value_enum, default_value_t = Target::Cluster)]
    target: Target,
    /// Print comma-separated rows instead of the table.
    #[arg(long)]
    csv: bool,
    /// After each run, print each node's counters (storage writes, frames
    /// sent, received and dropped) to stderr: how much each Ready batched.
    #[arg(long)]
    stats: bool,
    /// Leave out the header line.
    #[arg(long)]
    no_header: bool,
}

/// How long a fresh cluster may take to elect its first leader.
const ELECTION_WAIT_MAX: Duration = Duration::from_secs(10);

/// What the clients submit to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Target {
    /// A Raft group of `--members` nodes.
    Cluster,
    /// A single task that answers every submission at once.
    Echo,
}

/// Which state machine the nodes replicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Machine {
    /// `quorate_kv::Kv`, written with `Put`s.
    Kv,
    /// A state machine that only counts: empty commands, empty responses,
    /// no data. The shape of openraft's benchmark, which measures the
    /// replication path alone.
    Empty,
}

/// A state machine the benchmark can drive: how to make a fresh one, and
/// what a client submits.
trait BenchMachine: StateMachine + Sized {
    fn fresh() -> Self;
    fn command(workload: &Workload, client: u64, sequence: u64) -> Self::Command;
}

impl BenchMachine for Kv {
    fn fresh() -> Self {
        Kv::new()
    }

    fn command(workload: &Workload, client: u64, sequence: u64) -> Command {
        workload.put(client, sequence)
    }
}

/// See [`Machine::Empty`].
#[derive(Debug, Default)]
struct Empty {
    applied: u64,
}

impl StateMachine for Empty {
    type Command = ();
    type Response = ();

    fn apply(&mut self, _index: LogIndex, _command: ()) {
        self.applied += 1;
    }

    fn snapshot(&self) -> Bytes {
        Bytes::copy_from_slice(&self.applied.to_be_bytes())
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), StorageError> {
        let bytes: [u8; 8] = snapshot.try_into().map_err(|_| StorageError::Corruption {
            location: "empty state machine snapshot".into(),
            detail: format!("{} bytes, expected 8", snapshot.len()),
        })?;
        self.applied = u64::from_be_bytes(bytes);
        Ok(())
    }
}

impl BenchMachine for Empty {
    fn fresh() -> Self {
        Empty::default()
    }

    fn command(_workload: &Workload, _client: u64, _sequence: u64) {}
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    if args.seconds <= 0.0 || args.warmup_seconds < 0.0 {
        return Err("--seconds must be positive and --warmup-seconds not negative".into());
    }
    if args.members == 0 || args.keys == 0 {
        return Err("--members and --keys must be positive".into());
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
    let workload = Workload::new(args.keys, args.value_bytes);
    for &clients in &args.clients {
        let row = match (args.target, args.machine) {
            (Target::Echo, Machine::Kv) => {
                run_echo::<Kv>(&args, workload, client_rt.as_ref(), clients)?
            }
            (Target::Echo, Machine::Empty) => {
                run_echo::<Empty>(&args, workload, client_rt.as_ref(), clients)?
            }
            (Target::Cluster, Machine::Kv) => {
                run_one::<Kv>(&args, workload, client_rt.as_ref(), clients)?
            }
            (Target::Cluster, Machine::Empty) => {
                run_one::<Empty>(&args, workload, client_rt.as_ref(), clients)?
            }
        };
        if args.csv {
            report::print_csv_row(&row);
        } else {
            report::print_row(&row);
        }
    }
    Ok(())
}

/// The runtime the nodes (or the echo task) run on, fresh for each client
/// count.
fn server_runtime(args: &Args, clients: usize) -> Result<tokio::runtime::Runtime, String> {
    if clients == 0 {
        return Err("client counts must be positive".into());
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_workers)
        .thread_name("bench-server")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Runs the warm-up and the measured window of `clients` clients against
/// `target` on `runtime`.
fn run_clients<S: BenchMachine, T: SubmitTarget<S>>(
    args: &Args,
    workload: Workload,
    runtime: &tokio::runtime::Runtime,
    target: T,
    clients: usize,
) -> Result<(u64, f64, Histogram<u64>), String> {
    runtime.block_on(drive_clients::<S, T>(
        target,
        clients,
        workload,
        Duration::from_secs_f64(args.warmup_seconds),
        Duration::from_secs_f64(args.seconds),
    ))
}

/// The table row for what `run_clients` measured.
fn measured_row(
    implementation: &'static str,
    clients: usize,
    measured: Result<(u64, f64, Histogram<u64>), String>,
) -> Result<report::Row, String> {
    let (ops, window_seconds, latency_ns) = measured?;
    Ok(report::Row {
        implementation,
        clients,
        ops,
        window_seconds,
        latency_ns,
        rss_peak_kib: report::rss_peak_kib(),
    })
}

/// One client count against a fresh cluster on a fresh server runtime.
fn run_one<S: BenchMachine>(
    args: &Args,
    workload: Workload,
    client_rt: Option<&tokio::runtime::Runtime>,
    clients: usize,
) -> Result<report::Row, String> {
    let server_rt = server_runtime(args, clients)?;
    let members: Vec<NodeId> = (1..=args.members).map(NodeId).collect();
    let mut options = NodeOptions::default();
    if let Some(tick_ms) = args.tick_ms {
        options.tick_interval = Duration::from_millis(tick_ms);
    }
    if let Some(batch_bytes_max) = args.batch_bytes_max {
        options.batch_bytes_max = batch_bytes_max;
    }
    let cluster = server_rt.block_on(start_cluster::<S>(members, options))?;

    let router = Router::new(cluster.nodes.clone(), &cluster.leader);
    let result = run_clients::<S, _>(
        args,
        workload,
        client_rt.unwrap_or(&server_rt),
        router,
        clients,
    );

    server_rt.block_on(async {
        if args.stats {
            print_stats(&cluster, clients).await;
        }
        for node in &cluster.nodes {
            node.shutdown().await;
        }
    });
    drop(cluster);
    server_rt.shutdown_timeout(Duration::from_secs(5));
    measured_row("quorate", clients, result)
}

/// The nodes of one run, a second handle to each one's storage (to read its
/// write counter), and the node that leads.
struct Cluster<S: StateMachine> {
    nodes: Vec<Node<Raft, S>>,
    storages: Vec<MemStorage>,
    leader: Node<Raft, S>,
}

/// Starts one node per member and waits until one of them leads.
async fn start_cluster<S: BenchMachine>(
    members: Vec<NodeId>,
    options: NodeOptions,
) -> Result<Cluster<S>, String> {
    let network = MemNetwork::new();
    let mut nodes = Vec::with_capacity(members.len());
    let mut storages = Vec::with_capacity(members.len());
    for &id in &members {
        let config = quorate_raft::Config {
            members: members.clone(),
            seed: id.0,
            ..Default::default()
        };
        let storage = MemStorage::new();
        storages.push(storage.reopen());
        let node = Node::builder(id, config)
            .transport(network.join(id))
            .storage(storage)
            .state_machine(S::fresh())
            .options(options.clone())
            .start()
            .await
            .map_err(|e| format!("start {id}: {e}"))?;
        nodes.push(node);
    }
    let deadline = Instant::now() + ELECTION_WAIT_MAX;
    loop {
        for node in &nodes {
            if node.status().await.protocol.role == Role::Leader {
                let leader = node.clone();
                return Ok(Cluster {
                    nodes,
                    storages,
                    leader,
                });
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no leader elected within {ELECTION_WAIT_MAX:?}"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Prints each node's counters since it started (warm-up included).
async fn print_stats<S: StateMachine>(cluster: &Cluster<S>, clients: usize) {
    for (node, storage) in cluster.nodes.iter().zip(&cluster.storages) {
        let status = node.status().await;
        let writes = storage.writes();
        eprintln!(
            "  [{clients} clients] {} {:?}: commit {} applied {}, storage writes {} ({:.1} entries/write), \
             frames sent {} received {} dropped {}, garbage {}, pending {}",
            node.id(),
            status.protocol.role,
            status.protocol.commit_index,
            status.applied_index,
            writes,
            status.protocol.last_index as f64 / writes.max(1) as f64,
            status.transport.frames_sent,
            status.transport.frames_received,
            status.transport.frames_dropped,
            status.garbage_frames,
            status.pending_requests,
        );
    }
}

/// Runs `clients` closed-loop writers for the warm-up and then the measured
/// window. Counts the operations that both start and finish inside the
/// window, and records their latencies.
///
/// A client that hears `NotLeader` follows the hint (every client then
/// submits there) and resubmits; an operation whose outcome is unknown
/// (`Indeterminate`, e.g. leadership lost mid-flight) is not counted. Both
/// are reported on stderr: a run with leader changes is not a clean run.
async fn drive_clients<S: BenchMachine, T: SubmitTarget<S>>(
    target: T,
    clients: usize,
    workload: Workload,
    warmup: Duration,
    window: Duration,
) -> Result<(u64, f64, Histogram<u64>), String> {
    let start = Instant::now();
    let window_start = start + warmup;
    let window_end = window_start + window;
    let stop = Arc::new(AtomicBool::new(false));
    let router = Arc::new(target);

    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients as u64 {
        let router = router.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut sequence = 0u64;
            // One clock read per operation: in a closed loop an operation
            // is sent right when the previous one is done.
            let mut sent = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let this = sequence;
                sequence += 1;
                let make = || S::command(&workload, client, this);
                let answered = router.submit(make, &stop).await?;
                let done = Instant::now();
                if answered && sent >= window_start && done <= window_end {
                    latency::record((done - sent).as_nanos() as u64);
                }
                sent = done;
            }
            Ok::<_, String>(())
        }));
    }

    tokio::time::sleep_until(window_end.into()).await;
    stop.store(true, Ordering::Relaxed);

    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    let latency_ns = latency::take_all();
    let (redirects, indeterminate) = router.disruptions();
    if redirects + indeterminate > 0 {
        eprintln!(
            "warning: {clients} clients: leadership moved during the run \
             ({redirects} redirected submissions, {indeterminate} operations with unknown outcome)"
        );
    }
    Ok((latency_ns.len(), window.as_secs_f64(), latency_ns))
}

/// Where clients submit: the node they believe leads, moved on `NotLeader`.
struct Router<S: StateMachine> {
    nodes: Vec<Node<Raft, S>>,
    leader: AtomicUsize,
    redirects: AtomicU64,
    indeterminate: AtomicU64,
}

impl<S: StateMachine> Router<S> {
    fn new(nodes: Vec<Node<Raft, S>>, leader: &Node<Raft, S>) -> Self {
        let position = nodes
            .iter()
            .position(|node| node.id() == leader.id())
            .expect("the leader is one of the nodes");
        Router {
            nodes,
            leader: AtomicUsize::new(position),
            redirects: AtomicU64::new(0),
            indeterminate: AtomicU64::new(0),
        }
    }

    /// Submits the command `make` builds until it is answered (true), its
    /// outcome is unknown (false), or the run stops (false). Errors that
    /// retrying cannot fix end the run. (A resubmission builds the command
    /// again rather than cloning it, to keep the common path clone-free.)
    async fn submit_command(
        &self,
        make: impl Fn() -> S::Command,
        stop: &AtomicBool,
    ) -> Result<bool, String> {
        loop {
            let at = self.leader.load(Ordering::Relaxed);
            match self.nodes[at].submit(make()).await {
                Ok(_) => return Ok(true),
                Err(SubmitError::NotLeader { leader_hint }) => {
                    self.redirects.fetch_add(1, Ordering::Relaxed);
                    match leader_hint.and_then(|id| self.nodes.iter().position(|n| n.id() == id)) {
                        Some(position) => self.leader.store(position, Ordering::Relaxed),
                        // No leader known yet: an election is under way.
                        None => tokio::time::sleep(Duration::from_millis(1)).await,
                    }
                }
                Err(SubmitError::Busy { .. }) => tokio::task::yield_now().await,
                Err(SubmitError::Indeterminate { .. }) => {
                    self.indeterminate.fetch_add(1, Ordering::Relaxed);
                    return Ok(false);
                }
                Err(error) => return Err(format!("submit: {error}")),
            }
            if stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
        }
    }
}

/// What the client loop submits to: the cluster (through [`Router`]) or
/// the [`Echo`] ceiling.
trait SubmitTarget<S: StateMachine>: Send + Sync + 'static {
    /// Submits the command `make` builds until it is answered (true), its
    /// outcome is unknown (false), or the run stops (false).
    fn submit(
        &self,
        make: impl Fn() -> S::Command + Send,
        stop: &AtomicBool,
    ) -> impl std::future::Future<Output = Result<bool, String>> + Send;

    /// Redirected submissions and operations with an unknown outcome.
    fn disruptions(&self) -> (u64, u64);
}

impl<S: StateMachine> SubmitTarget<S> for Router<S> {
    async fn submit(
        &self,
        make: impl Fn() -> S::Command + Send,
        stop: &AtomicBool,
    ) -> Result<bool, String> {
        self.submit_command(make, stop).await
    }

    fn disruptions(&self) -> (u64, u64) {
        (
            self.redirects.load(Ordering::Relaxed),
            self.indeterminate.load(Ordering::Relaxed),
        )
    }
}

/// A submission to the echo task: the command and where to answer.
type EchoSubmission<C> = (C, oneshot::Sender<Result<(), SubmitError>>);

/// The harness's ceiling: a task that answers each submission as soon as
/// it takes it. A client pays what it pays against a node (building the
/// command, a bounded mailbox of the node's default capacity, a one-shot
/// answer, the wake-ups between tasks and runtimes); nothing is encoded,
/// replicated or applied.
struct Echo<S: StateMachine> {
    mailbox: mpsc::Sender<EchoSubmission<S::Command>>,
}

impl<S: StateMachine> Echo<S> {
    /// Spawns the answering task on the current runtime.
    fn spawn() -> Self {
        let (mailbox, mut inbox) =
            mpsc::channel::<EchoSubmission<S::Command>>(NodeOptions::default().mailbox_capacity);
        tokio::spawn(async move {
            while let Some((_command, reply)) = inbox.recv().await {
                let _ = reply.send(Ok(()));
            }
        });
        Echo { mailbox }
    }
}

impl<S: StateMachine> SubmitTarget<S> for Echo<S> {
    async fn submit(
        &self,
        make: impl Fn() -> S::Command + Send,
        _stop: &AtomicBool,
    ) -> Result<bool, String> {
        let (reply, answer) = oneshot::channel();
        self.mailbox
            .send((make(), reply))
            .await
            .map_err(|_| "the echo task stopped".to_string())?;
        match answer.await {
            Ok(Ok(())) => Ok(true),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("the echo task stopped".into()),
        }
    }

    fn disruptions(&self) -> (u64, u64) {
        (0, 0)
    }
}

/// Runs the clients against [`Echo`] on the server runtime.
fn run_echo<S: BenchMachine>(
    args: &Args,
    workload: Workload,
    client_rt: Option<&tokio::runtime::Runtime>,
    clients: usize,
) -> Result<report::Row, String> {
    let server_rt = server_runtime(args, clients)?;
    let echo = server_rt.block_on(async { Echo::<S>::spawn() });
    let result = run_clients::<S, _>(
        args,
        workload,
        client_rt.unwrap_or(&server_rt),
        echo,
        clients,
    );
    server_rt.shutdown_timeout(Duration::from_secs(5));
    measured_row("echo", clients, result)
}

/// What the clients write: `Put`s of keys and values from tables built
/// once, so a client's command refers to bytes that already exist (as a
/// network front end's command refers to its receive buffer) instead of
/// allocating two buffers per operation.
#[derive(Clone, Copy)]
struct Workload {
    /// `--keys` keys of 16 bytes each.
    keys: &'static [Bytes],
    /// Distinct values of `--value-bytes` bytes, used in turn.
    values: &'static [Bytes],
}

impl Workload {
    /// Distinct values per run: enough that consecutive writes of a key
    /// differ.
    const VALUES: u64 = 64;

    /// Builds the key and value tables. They live for the rest of the
    /// process (one set per process: `Bytes::from_static` handles need no
    /// reference count, so clients on both cores never write a shared one).
    fn new(keys: u64, value_bytes: usize) -> Self {
        let keys = (0..keys)
            .map(|slot| {
                let mut key = Vec::with_capacity(16);
                key.extend_from_slice(b"key:\0\0\0\0");
                key.extend_from_slice(&slot.to_be_bytes());
                Bytes::from_static(Vec::leak(key))
            })
            .collect::<Vec<_>>();
        let values = (0..Self::VALUES)
            .map(|n| {
                let value: Vec<u8> = n
                    .to_be_bytes()
                    .iter()
                    .copied()
                    .cycle()
                    .take(value_bytes)
                    .collect();
                Bytes::from_static(Vec::leak(value))
            })
            .collect::<Vec<_>>();
        Workload {
            keys: Vec::leak(keys),
            values: Vec::leak(values),
        }
    }

    /// The `sequence`-th `Put` of `client`: one of the keys (clients spread
    /// over them) and one of the values.
    fn put(&self, client: u64, sequence: u64) -> Command {
        // An odd multiplier spreads neighbouring clients over the key space.
        let slot = client
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(sequence)
            % self.keys.len() as u64;
        Command::Put {
            key: self.keys[slot as usize].clone(),
            value: self.values[(sequence % Self::VALUES) as usize].clone(),
        }
    }
}
