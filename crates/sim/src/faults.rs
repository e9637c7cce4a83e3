//! The fault model: a plain options struct of ranges, and the intensities
//! one seed draws from them.
//!
//! Every seed draws its own intensities inside the ranges and switches
//! whole fault classes off at random (swarm testing): a run with only
//! partitions and one with only crashes find different bugs than a run
//! where everything is on at medium strength. The default ranges follow
//! `FAULTS.md`: loss 0–30 %, duplication 0–50 %, delays, partitions and
//! flaps, crashes and restarts, pauses, clock drift, and torn writes and bit
//! flips on a minority of nodes.

use quorate_core::SeededRng;

/// An inclusive range a seed draws one value from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Span<T> {
    /// Smallest value.
    pub min: T,
    /// Largest value.
    pub max: T,
}

impl<T> Span<T> {
    /// The range `min..=max`.
    pub const fn new(min: T, max: T) -> Self {
        Span { min, max }
    }
}

impl Span<u64> {
    /// A single value: the range holds only `value`.
    pub const fn exactly(value: u64) -> Self {
        Span::new(value, value)
    }

    /// Draws a value.
    pub fn draw(&self, rng: &mut SeededRng) -> u64 {
        rng.between(self.min, self.max)
    }
}

impl Span<f64> {
    /// Draws a value.
    pub fn draw(&self, rng: &mut SeededRng) -> f64 {
        rng.between_f64(self.min, self.max)
    }
}

/// The fault model: ranges for every intensity. Times are in ticks of the
/// simulated clock (see [`SimOptions::tick_ns`](crate::SimOptions)) unless
/// the name says nanoseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultOptions {
    /// Probability each fault class is switched on for a seed (swarm
    /// testing); 1.0 turns every class on in every seed.
    pub class_enabled: f64,
    /// Probability a message is lost.
    pub loss: Span<f64>,
    /// Probability a message is delivered twice (the copy takes its own
    /// delay, so it may arrive much later: a replay).
    pub duplication: Span<f64>,
    /// Normal one-way latency in nanoseconds.
    pub latency_ns: Span<u64>,
    /// Probability a message is held back by a long delay, which reorders it
    /// behind later ones.
    pub slow: Span<f64>,
    /// Largest long delay, in ticks.
    pub slow_ticks_max: Span<u64>,
    /// Mean ticks between two partitions.
    pub partition_interval_ticks: Span<u64>,
    /// How long a partition lasts before it heals (short values flap).
    pub partition_ticks: Span<u64>,
    /// Mean ticks between two node crashes.
    pub crash_interval_ticks: Span<u64>,
    /// How long a crashed node stays down.
    pub down_ticks: Span<u64>,
    /// Probability that a node which just became leader is crashed within a
    /// few ticks, while it is still bringing followers up to date. Leaders
    /// dying mid-catch-up are what produce the divergent logs of Raft's
    /// Figure 8; purely random crashes hit that window too rarely.
    pub new_leader_crash: Span<f64>,
    /// Mean ticks between two process pauses.
    pub pause_interval_ticks: Span<u64>,
    /// How long a pause lasts.
    pub pause_ticks: Span<u64>,
    /// Largest relative deviation of a node's tick rate from nominal
    /// (0.2: a node ticks between 20 % slower and 20 % faster).
    pub clock_drift: Span<f64>,
    /// Time one write takes to become durable, in nanoseconds.
    pub disk_latency_ns: Span<u64>,
    /// Probability a write stalls for a long time (a disk latency spike).
    pub disk_stall: Span<f64>,
    /// Longest stall, in ticks.
    pub disk_stall_ticks_max: u64,
    /// Probability that, at a crash, the first unsynced write that did not
    /// survive was torn half-way (recovery must discard it).
    pub torn_write: Span<f64>,
    /// Probability that a restart finds a bit flipped inside acknowledged
    /// data. Only ever applied to a minority of the nodes.
    pub bit_flip: Span<f64>,
}

impl Default for FaultOptions {
    fn default() -> Self {
        FaultOptions {
            class_enabled: 0.75,
            loss: Span::new(0.0, 0.30),
            duplication: Span::new(0.0, 0.50),
            latency_ns: Span::new(100_000, 3_000_000),
            slow: Span::new(0.0, 0.10),
            slow_ticks_max: Span::new(5, 60),
            partition_interval_ticks: Span::new(30, 400),
            partition_ticks: Span::new(5, 200),
            crash_interval_ticks: Span::new(10, 500),
            down_ticks: Span::new(2, 200),
            new_leader_crash: Span::new(0.0, 0.5),
            pause_interval_ticks: Span::new(50, 600),
            pause_ticks: Span::new(5, 100),
            clock_drift: Span::new(0.0, 0.25),
            disk_latency_ns: Span::new(50_000, 5_000_000),
            disk_stall: Span::new(0.0, 0.01),
            disk_stall_ticks_max: 30,
            torn_write: Span::new(0.0, 0.5),
            bit_flip: Span::new(0.0, 0.3),
        }
    }
}

impl FaultOptions {
    /// No faults at all: a perfect network, disks and processes.
    pub fn none() -> Self {
        FaultOptions {
            class_enabled: 0.0,
            ..FaultOptions::default()
        }
    }

    /// Draws one seed's intensities.
    pub fn draw(&self, rng: &mut SeededRng) -> Faults {
        let mut on = || rng.chance(self.class_enabled);
        let network = on();
        let partitions = on();
        let crashes = on();
        let pauses = on();
        let drift = on();
        let disk = on();
        let corruption = on();
        let mut zero_unless = |enabled: bool, span: &Span<f64>| {
            let value = span.draw(rng);
            if enabled {
                value
            } else {
                0.0
            }
        };
        Faults {
            loss: zero_unless(network, &self.loss),
            duplication: zero_unless(network, &self.duplication),
            slow: zero_unless(network, &self.slow),
            clock_drift: zero_unless(drift, &self.clock_drift),
            disk_stall: zero_unless(disk, &self.disk_stall),
            torn_write: zero_unless(corruption, &self.torn_write),
            bit_flip: zero_unless(corruption, &self.bit_flip),
            new_leader_crash: zero_unless(crashes, &self.new_leader_crash),
            latency_ns: Span::new(self.latency_ns.min, self.latency_ns.draw(rng)),
            slow_ticks_max: self.slow_ticks_max.draw(rng),
            partition_interval_ticks: partitions.then(|| self.partition_interval_ticks.draw(rng)),
            partition_ticks: Span::new(self.partition_ticks.min, self.partition_ticks.draw(rng)),
            crash_interval_ticks: crashes.then(|| self.crash_interval_ticks.draw(rng)),
            down_ticks: Span::new(self.down_ticks.min, self.down_ticks.draw(rng)),
            pause_interval_ticks: pauses.then(|| self.pause_interval_ticks.draw(rng)),
            pause_ticks: Span::new(self.pause_ticks.min, self.pause_ticks.draw(rng)),
            disk_latency_ns: Span::new(self.disk_latency_ns.min, self.disk_latency_ns.draw(rng)),
            disk_stall_ticks_max: self.disk_stall_ticks_max,
        }
    }
}

/// One seed's fault intensities, drawn from [`FaultOptions`].
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// Probability a message is lost.
    pub loss: f64,
    /// Probability a message is duplicated.
    pub duplication: f64,
    /// Probability a message takes a long delay.
    pub slow: f64,
    /// Largest relative tick-rate deviation.
    pub clock_drift: f64,
    /// Probability a write stalls.
    pub disk_stall: f64,
    /// Probability a lost unsynced write was torn.
    pub torn_write: f64,
    /// Probability a restart of a corruptible node finds a flipped bit.
    pub bit_flip: f64,
    /// Normal latency range, nanoseconds.
    pub latency_ns: Span<u64>,
    /// Largest long delay, ticks.
    pub slow_ticks_max: u64,
    /// Mean ticks between partitions; `None` when partitions are off.
    pub partition_interval_ticks: Option<u64>,
    /// Partition duration range.
    pub partition_ticks: Span<u64>,
    /// Mean ticks between crashes; `None` when crashes are off.
    pub crash_interval_ticks: Option<u64>,
    /// Down time range.
    pub down_ticks: Span<u64>,
    /// Probability a new leader is crashed within a few ticks.
    pub new_leader_crash: f64,
    /// Mean ticks between pauses; `None` when pauses are off.
    pub pause_interval_ticks: Option<u64>,
    /// Pause duration range.
    pub pause_ticks: Span<u64>,
    /// Write latency range, nanoseconds.
    pub disk_latency_ns: Span<u64>,
    /// Longest disk stall, ticks.
    pub disk_stall_ticks_max: u64,
}

impl Faults {
    /// The fault-free intensities used while the cluster heals at the end of
    /// a run: messages arrive, disks are quick, nothing crashes.
    pub fn calm(&self) -> Faults {
        Faults {
            loss: 0.0,
            duplication: 0.0,
            slow: 0.0,
            disk_stall: 0.0,
            torn_write: 0.0,
            bit_flip: 0.0,
            partition_interval_ticks: None,
            crash_interval_ticks: None,
            new_leader_crash: 0.0,
            pause_interval_ticks: None,
            ..self.clone()
        }
    }
}
