//! Fault injection as a transport layer: [`FaultLayer`] wraps any
//! [`Transport`] in a [`FaultTransport`].
//!
//! Random faults (drop, duplicate, delay, and the reordering delays cause)
//! are drawn on the receiving side from a seeded generator, so a seed replays
//! the same decisions for the same sequence of frames. Partitions come from a
//! shared [`FaultControl`] that a test flips at run time; they are checked on
//! both sides, so frames already in flight when a partition starts are lost
//! too, as on a real network.

use async_trait::async_trait;
use bytes::Bytes;
use quorate_core::{NodeId, SeededRng, Transport, TransportStats};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// The random faults a [`FaultTransport`] injects. A plain struct: every
/// field public, [`Default`] injects nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultOptions {
    /// Seeds every random decision (mixed with the node id, so nodes differ).
    pub seed: u64,
    /// Probability in `[0, 1]` that a received frame is dropped.
    pub drop_probability: f64,
    /// Probability in `[0, 1]` that a received frame is delivered twice.
    pub duplicate_probability: f64,
    /// Shortest delay added to a frame.
    pub delay_min: Duration,
    /// Longest delay added to a frame; delays are uniform in
    /// `[delay_min, delay_max]`, which reorders frames.
    pub delay_max: Duration,
    /// Most frames held back for delay at once; beyond it frames are dropped
    /// and counted.
    pub delayed_frames_max: usize,
}

impl Default for FaultOptions {
    fn default() -> Self {
        FaultOptions {
            seed: 0,
            drop_probability: 0.0,
            duplicate_probability: 0.0,
            delay_min: Duration::ZERO,
            delay_max: Duration::ZERO,
            delayed_frames_max: 4096,
        }
    }
}

impl FaultOptions {
    fn assert_valid(&self) {
        assert!(
            (0.0..=1.0).contains(&self.drop_probability),
            "drop_probability {} is outside [0, 1]",
            self.drop_probability
        );
        assert!(
            (0.0..=1.0).contains(&self.duplicate_probability),
            "duplicate_probability {} is outside [0, 1]",
            self.duplicate_probability
        );
        assert!(
            self.delay_min <= self.delay_max,
            "delay_min {:?} exceeds delay_max {:?}",
            self.delay_min,
            self.delay_max
        );
        assert!(
            self.delayed_frames_max > 0,
            "delayed_frames_max must be positive"
        );
    }
}

#[derive(Debug, Default)]
struct Cuts {
    /// Directed links that carry nothing: `(from, to)`.
    links: BTreeSet<(NodeId, NodeId)>,
    /// Nodes cut off from everyone.
    isolated: BTreeSet<NodeId>,
}

/// Partitions the network at run time. Cheap to clone: clones share state,
/// so one handle given to every node's [`FaultTransport`] controls them all.
#[derive(Clone, Debug, Default)]
pub struct FaultControl {
    cuts: Arc<Mutex<Cuts>>,
}

impl FaultControl {
    /// A control with no partitions.
    pub fn new() -> Self {
        FaultControl::default()
    }

    /// Cuts the link between `a` and `b`, both ways.
    pub fn partition(&self, a: NodeId, b: NodeId) {
        let mut cuts = self.lock();
        cuts.links.insert((a, b));
        cuts.links.insert((b, a));
    }

    /// Cuts the link from `from` to `to` only.
    pub fn partition_one_way(&self, from: NodeId, to: NodeId) {
        self.lock().links.insert((from, to));
    }

    /// Cuts `node` off from every other node, both ways.
    pub fn isolate(&self, node: NodeId) {
        self.lock().isolated.insert(node);
    }

    /// Removes every partition and isolation.
    pub fn heal(&self) {
        let mut cuts = self.lock();
        cuts.links.clear();
        cuts.isolated.clear();
    }

    /// True when frames from `from` to `to` are currently cut.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        let cuts = self.lock();
        cuts.isolated.contains(&from)
            || cuts.isolated.contains(&to)
            || cuts.links.contains(&(from, to))
    }

    fn lock(&self) -> MutexGuard<'_, Cuts> {
        // Every update is a single set operation; a panic elsewhere cannot
        // leave the sets inconsistent.
        self.cuts
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Builds [`FaultTransport`]s sharing one set of options and one
/// [`FaultControl`], in the style of a tower `Layer`.
#[derive(Clone, Debug, Default)]
pub struct FaultLayer {
    options: FaultOptions,
    control: FaultControl,
}

impl FaultLayer {
    /// A layer injecting `options`' faults, with a fresh control.
    ///
    /// # Panics
    ///
    /// When a probability is outside `[0, 1]`, `delay_min > delay_max`, or
    /// `delayed_frames_max` is zero.
    pub fn new(options: FaultOptions) -> Self {
        options.assert_valid();
        FaultLayer {
            options,
            control: FaultControl::new(),
        }
    }

    /// Uses `control` (shared with other layers) for partitions.
    pub fn with_control(mut self, control: FaultControl) -> Self {
        self.control = control;
        self
    }

    /// The control partitioning every transport this layer wraps.
    pub fn control(&self) -> FaultControl {
        self.control.clone()
    }

    /// Wraps `inner`, the transport of node `id`.
    pub fn layer<T: Transport>(&self, id: NodeId, inner: T) -> FaultTransport<T> {
        // Mix the node id into the seed so nodes draw different streams.
        let seed = self.options.seed ^ id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        FaultTransport {
            id,
            inner,
            options: self.options.clone(),
            control: self.control.clone(),
            rng: SeededRng::new(seed),
            delayed: BinaryHeap::new(),
            sequence: 0,
            inner_closed: false,
            dropped: AtomicU64::new(0),
            received: 0,
        }
    }
}

/// A frame held back until `at`; `sequence` keeps equal deadlines in arrival
/// order.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Delayed {
    at: Instant,
    sequence: u64,
    from: NodeId,
    frame: Bytes,
}

/// A transport that injects faults into another one. Built by
/// [`FaultLayer::layer`].
#[derive(Debug)]
pub struct FaultTransport<T> {
    id: NodeId,
    inner: T,
    options: FaultOptions,
    control: FaultControl,
    rng: SeededRng,
    /// Frames waiting out their delay, earliest first.
    delayed: BinaryHeap<Reverse<Delayed>>,
    sequence: u64,
    inner_closed: bool,
    /// Frames this layer dropped (partitions, random drops, full delay queue).
    dropped: AtomicU64,
    received: u64,
}

impl<T> FaultTransport<T> {
    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The control partitioning this transport.
    pub fn control(&self) -> &FaultControl {
        &self.control
    }

    fn count_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Decides the fate of a frame just taken from the inner transport.
    fn admit(&mut self, from: NodeId, frame: Bytes) {
        if self.control.is_cut(from, self.id) || self.rng.chance(self.options.drop_probability) {
            self.count_drop();
            return;
        }
        let copies = if self.rng.chance(self.options.duplicate_probability) {
            2
        } else {
            1
        };
        let now = Instant::now();
        for _ in 0..copies {
            if self.delayed.len() >= self.options.delayed_frames_max {
                self.count_drop();
                continue;
            }
            let delay_min = duration_nanos(self.options.delay_min);
            let delay_nanos = self.rng.between(
                delay_min,
                duration_nanos(self.options.delay_max).max(delay_min),
            );
            self.sequence += 1;
            self.delayed.push(Reverse(Delayed {
                at: now + Duration::from_nanos(delay_nanos),
                sequence: self.sequence,
                from,
                frame: frame.clone(),
            }));
        }
    }

    /// Takes the earliest frame whose delay has passed.
    fn take_due(&mut self) -> Option<Delayed> {
        let due = self
            .delayed
            .peek()
            .is_some_and(|Reverse(d)| d.at <= Instant::now());
        if due {
            self.delayed.pop().map(|Reverse(d)| d)
        } else {
            None
        }
    }
}

fn duration_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

enum Event {
    Frame(Option<(NodeId, Bytes)>),
    Timer,
}

#[async_trait]
impl<T: Transport> Transport for FaultTransport<T> {
    fn send(&self, to: NodeId, frame: Bytes) {
        if self.control.is_cut(self.id, to) {
            self.count_drop();
            return;
        }
        self.inner.send(to, frame);
    }

    async fn recv(&mut self) -> Option<(NodeId, Bytes)> {
        // Cancel safety: every frame taken from `inner` is stored in
        // `self.delayed` before the next await point, and `inner.recv` is
        // itself cancel-safe.
        loop {
            while let Some(delayed) = self.take_due() {
                // A partition that started while the frame was delayed also
                // cuts it.
                if self.control.is_cut(delayed.from, self.id) {
                    self.count_drop();
                    continue;
                }
                self.received += 1;
                return Some((delayed.from, delayed.frame));
            }
            let deadline = self.delayed.peek().map(|Reverse(d)| d.at);
            if self.inner_closed && deadline.is_none() {
                return None;
            }
            let event = tokio::select! {
                frame = self.inner.recv(), if !self.inner_closed => Event::Frame(frame),
                () = sleep_until(deadline), if deadline.is_some() => Event::Timer,
            };
            match event {
                Event::Frame(Some((from, frame))) => self.admit(from, frame),
                Event::Frame(None) => self.inner_closed = true,
                Event::Timer => {}
            }
        }
    }

    fn stats(&self) -> TransportStats {
        let inner = self.inner.stats();
        TransportStats {
            frames_sent: inner.frames_sent,
            frames_received: self.received,
            frames_dropped: inner.frames_dropped + self.dropped.load(Ordering::Relaxed),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
