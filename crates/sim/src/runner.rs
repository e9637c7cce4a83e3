//! The public entry point: run seeds, each twice, and report.

use crate::options::SimOptions;
use crate::plugin::SimProtocol;
use crate::report::{Failure, RunReport};
use crate::scenario::Scenario;
use crate::simulation;
use std::io::Write;

/// Runs a protocol through simulated clusters, one seed at a time.
///
/// ```
/// use quorate_sim::{raft::RaftSim, SimOptions, Simulator};
///
/// let sim = Simulator::new(RaftSim::new(), SimOptions::default());
/// let report = sim.check_seed(42);
/// assert!(report.passed(), "replay with: {}", report.replay_command());
/// ```
#[derive(Debug)]
pub struct Simulator<S: SimProtocol> {
    plugin: S,
    options: SimOptions,
    scenarios: Vec<Scenario<S>>,
}

impl<S: SimProtocol> Simulator<S> {
    /// A simulator for `plugin`'s protocol under `options`.
    pub fn new(plugin: S, options: SimOptions) -> Self {
        assert!(
            !options.cluster_sizes.is_empty(),
            "options.cluster_sizes names at least one size"
        );
        let scenarios = plugin.scenarios();
        Simulator {
            plugin,
            options,
            scenarios,
        }
    }

    /// The options.
    pub fn options(&self) -> &SimOptions {
        &self.options
    }

    /// The protocol plug-in.
    pub fn plugin(&self) -> &S {
        &self.plugin
    }

    /// The scripted scenarios of the protocol.
    pub fn scenarios(&self) -> &[Scenario<S>] {
        &self.scenarios
    }

    /// The scenario `seed` runs instead of a random schedule, if any (see
    /// [`SimOptions::scripted_seed_every`]).
    pub fn scenario_for(&self, seed: u64) -> Option<&Scenario<S>> {
        let every = self.options.scripted_seed_every;
        if every == 0 || self.scenarios.is_empty() || seed % every != every - 1 {
            return None;
        }
        let which = (seed / every) % self.scenarios.len() as u64;
        Some(&self.scenarios[which as usize])
    }

    /// Runs `seed` once: a random schedule, or the scripted scenario the
    /// seed picks. With `trace`, writes a readable line per notable event
    /// (messages, writes, applies, client events, faults, script steps).
    pub fn run(&self, seed: u64, trace: Option<&mut dyn Write>) -> RunReport {
        let scenario = self.scenario_for(seed);
        simulation::run(&self.plugin, &self.options, seed, scenario, trace)
    }

    /// Runs the scenario named `name` with `seed` choosing the timings;
    /// `None` when the protocol has no such scenario.
    pub fn run_scenario(
        &self,
        name: &str,
        seed: u64,
        trace: Option<&mut dyn Write>,
    ) -> Option<RunReport> {
        let scenario = self.scenarios.iter().find(|s| s.name == name)?;
        Some(simulation::run(
            &self.plugin,
            &self.options,
            seed,
            Some(scenario),
            trace,
        ))
    }

    /// Runs `seed` twice and adds a `determinism` failure when the two
    /// traces differ: a run must be a pure function of its seed.
    pub fn check_seed(&self, seed: u64) -> RunReport {
        let mut first = self.run(seed, None);
        let second = self.run(seed, None);
        if first.trace_hash != second.trace_hash || first.history != second.history {
            first.failures.push(Failure {
                check: "determinism",
                detail: format!(
                    "two runs of seed {seed} differ: trace hashes {:#018x} and {:#018x}",
                    first.trace_hash, second.trace_hash
                ),
                time_ns: first.stats.sim_time_ns.min(second.stats.sim_time_ns),
            });
        }
        first
    }
}

/// A simulator with its protocol erased, so the caller can pick a protocol
/// at run time (the CLI's `--protocol`).
///
/// Also what makes test builds fast: the runner is built inside this crate
/// (see [`RaftSim::runner`](crate::raft::RaftSim::runner)), so the whole
/// simulation is compiled with this crate's optimisation level even when the
/// caller is an unoptimised test binary.
pub trait SeedRunner: Send + Sync {
    /// The protocol's name.
    fn protocol(&self) -> String;

    /// The options.
    fn options(&self) -> &SimOptions;

    /// Runs `seed` once; see [`Simulator::run`].
    fn run(&self, seed: u64, trace: Option<&mut dyn Write>) -> RunReport;

    /// Runs `seed` twice and checks determinism; see
    /// [`Simulator::check_seed`].
    fn check_seed(&self, seed: u64) -> RunReport;

    /// The names of the protocol's scripted scenarios.
    fn scenario_names(&self) -> Vec<&'static str>;

    /// Runs one scripted scenario; see [`Simulator::run_scenario`].
    fn run_scenario(
        &self,
        name: &str,
        seed: u64,
        trace: Option<&mut dyn Write>,
    ) -> Option<RunReport>;
}

impl<S: SimProtocol> SeedRunner for Simulator<S> {
    fn protocol(&self) -> String {
        self.plugin.name()
    }

    fn options(&self) -> &SimOptions {
        &self.options
    }

    fn run(&self, seed: u64, trace: Option<&mut dyn Write>) -> RunReport {
        Simulator::run(self, seed, trace)
    }

    fn check_seed(&self, seed: u64) -> RunReport {
        Simulator::check_seed(self, seed)
    }

    fn scenario_names(&self) -> Vec<&'static str> {
        self.scenarios
            .iter()
            .map(|scenario| scenario.name)
            .collect()
    }

    fn run_scenario(
        &self,
        name: &str,
        seed: u64,
        trace: Option<&mut dyn Write>,
    ) -> Option<RunReport> {
        Simulator::run_scenario(self, name, seed, trace)
    }
}
