//! Quorate storages.
//!
//! - [`MemStorage`]: durable state kept in memory, shared between handles so
//!   a "crashed" node can be restarted from it in tests.
//! - [`conformance`]: the suite every [`Storage`](quorate_core::Storage)
//!   implementation runs to show it keeps the [`WriteBatch`] contract.
//!
//! [`WriteBatch`]: quorate_core::WriteBatch
#![deny(missing_docs)]

pub mod conformance;
mod log;
mod mem;

pub use log::DurableLog;
pub use mem::MemStorage;
