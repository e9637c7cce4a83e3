//! The result table of the replication benchmarks. One file serves both
//! Quorate's `bench_replication` example and the openraft peer benchmark in
//! `examples/peers/openraft` (which includes it by path), so the two print
//! the same format and `compare.sh` can merge them.

use hdrhistogram::Histogram;

/// The outcome of one run at one client count.
pub struct Row {
    /// Which implementation ran.
    pub implementation: &'static str,
    /// Concurrent closed-loop clients.
    pub clients: usize,
    /// Operations committed (and answered) inside the measured window.
    pub ops: u64,
    /// Length of the measured window, in seconds.
    pub window_seconds: f64,
    /// Latency of every counted operation, in nanoseconds.
    pub latency_ns: Histogram<u64>,
    /// The process's peak resident set so far, in KiB (0 when unknown).
    pub rss_peak_kib: u64,
}

impl Row {
    fn ops_per_second(&self) -> f64 {
        self.ops as f64 / self.window_seconds
    }

    fn quantile_us(&self, q: f64) -> f64 {
        self.latency_ns.value_at_quantile(q) as f64 / 1_000.0
    }
}

/// The header of the human-readable table.
pub fn print_header() {
    println!(
        "{:<10} {:>7} {:>12} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "impl", "clients", "ops/s", "p50 us", "p99 us", "p999 us", "max us", "rss MiB"
    );
}

/// One line of the human-readable table.
pub fn print_row(row: &Row) {
    println!(
        "{:<10} {:>7} {:>12.0} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>9.1}",
        row.implementation,
        row.clients,
        row.ops_per_second(),
        row.quantile_us(0.50),
        row.quantile_us(0.99),
        row.quantile_us(0.999),
        row.latency_ns.max() as f64 / 1_000.0,
        row.rss_peak_kib as f64 / 1024.0,
    );
}

/// The header of the machine-readable rows.
pub fn print_csv_header() {
    println!("impl,clients,ops,window_s,ops_per_s,p50_us,p99_us,p999_us,max_us,rss_peak_kib");
}

/// One machine-readable row.
pub fn print_csv_row(row: &Row) {
    println!(
        "{},{},{},{:.3},{:.0},{:.1},{:.1},{:.1},{:.1},{}",
        row.implementation,
        row.clients,
        row.ops,
        row.window_seconds,
        row.ops_per_second(),
        row.quantile_us(0.50),
        row.quantile_us(0.99),
        row.quantile_us(0.999),
        row.latency_ns.max() as f64 / 1_000.0,
        row.rss_peak_kib,
    );
}

/// The peak resident set size of this process (VmHWM), in KiB; 0 where
/// /proc is not available.
pub fn rss_peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
