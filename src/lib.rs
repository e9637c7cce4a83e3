//! Quorate: a multi-protocol, pluggable consensus framework.
#![deny(missing_docs)]

pub use quorate_core as core;
