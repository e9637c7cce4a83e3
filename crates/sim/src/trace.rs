//! The run's trace: a running hash of every event, for the determinism
//! self-check, and optionally a readable line per event for replays.

use std::io::Write;

/// A fast, fixed 64-bit hash (the FxHash mixing step). Not for
/// adversarial input; only for comparing two runs of one seed.
#[derive(Clone, Debug)]
pub struct TraceHasher {
    state: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Default for TraceHasher {
    fn default() -> Self {
        TraceHasher::new()
    }
}

impl TraceHasher {
    /// A hasher in its initial state.
    pub fn new() -> Self {
        TraceHasher { state: 0 }
    }

    /// Mixes in one word.
    pub fn write_u64(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(SEED);
    }

    /// Mixes in bytes (and their length, so concatenations differ).
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.write_u64(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.write_u64(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.write_u64(u64::from_le_bytes(tail));
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.state
    }
}

/// Where a run's readable trace goes, if anywhere.
pub(crate) struct Trace<'a> {
    pub(crate) hasher: TraceHasher,
    pub(crate) out: Option<&'a mut dyn Write>,
}

impl Trace<'_> {
    /// True when readable lines are wanted (so callers skip formatting
    /// otherwise).
    pub(crate) fn readable(&self) -> bool {
        self.out.is_some()
    }

    /// Writes one readable line stamped with the simulated time.
    pub(crate) fn line(&mut self, now_ns: u64, text: std::fmt::Arguments<'_>) {
        if let Some(out) = self.out.as_mut() {
            // A broken pipe (e.g. `| head`) must not change the run.
            let _ = writeln!(
                out,
                "{:>8}.{:06} ms  {text}",
                now_ns / 1_000_000,
                now_ns % 1_000_000
            );
        }
    }
}
