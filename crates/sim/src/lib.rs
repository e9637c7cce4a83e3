//! Quorate's deterministic simulator.
#![deny(missing_docs)]

pub mod checkers;
mod client;
pub mod faults;
pub mod history;
pub mod linearizability;
pub mod network;
mod options;
pub mod plugin;
pub mod raft;
mod report;
mod runner;
pub mod scenario;
mod simulation;
pub mod storage;
pub mod trace;

pub use options::SimOptions;
pub use plugin::{NodeContext, Promise, SimProtocol};
pub use report::{Failure, RunReport, RunStats};
pub use runner::{SeedRunner, Simulator};
