//! The `quorate` command: run a local cluster, run the simulator.

mod demo;
mod sim;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Quorate: a multi-protocol, pluggable consensus framework.
#[derive(Debug, Parser)]
#[command(name = "quorate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local three-node cluster in this process with a scripted
    /// workload, and print what happened (the default).
    Demo(demo::DemoArgs),
    /// Run the deterministic simulator over many seeds (`--seeds N`), or
    /// replay one seed with a readable trace (`--seed S`).
    Sim(sim::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match cli
        .command
        .unwrap_or(Command::Demo(demo::DemoArgs::default()))
    {
        Command::Demo(args) => demo::run(args),
        Command::Sim(args) => sim::run(args),
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings only).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
