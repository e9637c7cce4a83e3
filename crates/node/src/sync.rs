//! The shared-memory primitives the node's tasks and handles use, behind one
//! module so that loom models can swap them (tokio's `src/loom/` shim
//! pattern).
//!
//! Under `cfg(loom)` these are loom's instrumented types; otherwise std's.
//! Only hand-written shared state goes through here: loom cannot see inside
//! tokio's channels, so those are used directly.

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex, MutexGuard,
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex, MutexGuard,
};

/// Locks `mutex`, ignoring poisoning: every critical section in this crate
/// leaves the protected value consistent at every point a panic could occur.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}
