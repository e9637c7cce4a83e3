//! Quorate transports.
//!
//! - [`MemNetwork`] / [`MemTransport`]: an in-process network for tests and
//!   examples; each node joins the hub and gets its endpoint.
//! - [`FaultLayer`] / [`FaultTransport`]: wraps any
//!   [`Transport`](quorate_core::Transport) to drop, duplicate, delay and
//!   partition frames, driven by a seed and a shared [`FaultControl`].
#![deny(missing_docs)]

mod fault;
mod mem;

pub use fault::{FaultControl, FaultLayer, FaultOptions, FaultTransport};
pub use mem::{MemNetwork, MemTransport, INBOX_FRAMES_MAX_DEFAULT};
