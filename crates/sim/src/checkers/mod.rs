//! Safety invariants, one property per file.
//!
//! The checkers see only what any consensus protocol exposes: its
//! [`Status`](quorate_core::Status), the log it wrote to simulated storage,
//! the outputs it applied, and the client history. None of them knows
//! which protocol runs.

pub mod acked_writes;
pub mod election_safety;
pub mod leader_completeness;
pub mod log_matching;
pub mod state_machine_safety;

use quorate_core::Entry;

/// A fingerprint of an entry's content (kind and data), for comparing
/// entries without keeping them.
pub fn entry_digest(entry: &Entry) -> u64 {
    let mut hasher = crate::trace::TraceHasher::new();
    hasher.write_u64(entry.kind as u64);
    hasher.write_bytes(&entry.data);
    hasher.finish()
}
