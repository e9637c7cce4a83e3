//! Quorate's key-value state machine.
//!
//! [`Kv`] is a deterministic [`StateMachine`](quorate_core::StateMachine)
//! over byte keys and values. Replicated by any
//! [`Consensus`](quorate_core::Consensus) protocol, it is a linearizable
//! key-value store: every replica applies the same [`Command`]s in the same
//! order and answers with the same [`Response`]s.
//!
//! The crate has no runtime dependencies (no tokio), so the deterministic
//! simulator uses the very same state machine the service runs.
#![deny(missing_docs)]

mod command;
mod state;
mod stored;

pub use command::{Command, Response};
pub use state::Kv;
