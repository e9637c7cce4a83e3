//! Quorate's deterministic simulator.
#![deny(missing_docs)]

pub mod history;
pub mod linearizability;
