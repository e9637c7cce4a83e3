//! Latency recording for the benchmarks' closed-loop clients. One file
//! serves both Quorate's `bench_replication` example and the openraft peer
//! benchmark in `examples/peers/openraft` (which includes it by path), so
//! both harnesses pay the same for measuring.
//!
//! Every worker thread records into a histogram of its own, and a run's
//! histograms are merged once its clients are done. Why not one histogram
//! per client: a 3-significant-digit histogram up to 60 s is about 220 KiB
//! of counters, so 256 clients' histograms are 56 MiB that each record
//! touches at a random place: a cache and TLB miss per operation that was
//! 5–6% of the benchmark's CPU. A thread's histogram stays in its cache,
//! and its lock is only ever contended by the merge at the end.

use hdrhistogram::Histogram;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Every thread's histogram, for the merge.
static THREADS: Mutex<Vec<Arc<Mutex<Histogram<u64>>>>> = Mutex::new(Vec::new());

thread_local! {
    /// This thread's histogram, registered in [`THREADS`] on first use.
    static THIS_THREAD: Arc<Mutex<Histogram<u64>>> = {
        let histogram = Arc::new(Mutex::new(new_histogram()));
        lock(&THREADS).push(histogram.clone());
        histogram
    };
}

/// Records one operation's latency in this thread's histogram.
pub fn record(latency_ns: u64) {
    THIS_THREAD.with(|histogram| lock(histogram).saturating_record(latency_ns));
}

/// Merges what every thread recorded since the last call, and empties
/// their histograms for the next run. Call it after the run's clients have
/// finished. Histograms of threads that have exited are dropped.
pub fn take_all() -> Histogram<u64> {
    let mut merged = new_histogram();
    let mut threads = lock(&THREADS);
    for histogram in threads.iter() {
        let mut histogram = lock(histogram);
        merged
            .add(&*histogram)
            .expect("histograms with equal bounds merge");
        histogram.reset();
    }
    // Only the registry holds the histogram of a thread that has exited.
    threads.retain(|histogram| Arc::strong_count(histogram) > 1);
    merged
}

/// Nanoseconds from 1 ns to 60 s at 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// A recorder that panicked mid-record leaves a histogram worth keeping.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
