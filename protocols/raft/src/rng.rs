//! The seeded PRNG behind randomized election timeouts.
//!
//! SplitMix64, written out here rather than taken from a crate: it is a
//! dozen lines, and owning it pins the exact sequence (and so every
//! simulated trace) across dependency upgrades.

/// A SplitMix64 generator.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator for one node: the shared seed mixed with the node id.
    pub(crate) fn new(seed: u64, node: u64) -> Self {
        let mut mixer = SplitMix64 {
            state: seed ^ node.wrapping_mul(0xD6E8_FEB8_6659_FD93),
        };
        SplitMix64 {
            state: mixer.next_u64(),
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `[low, high)`; `high > low`.
    pub(crate) fn range(&mut self, low: u32, high: u32) -> u32 {
        assert!(high > low, "empty range [{low}, {high})");
        let span = u64::from(high - low);
        // The modulo bias over a 64-bit draw is below 2^-32: irrelevant here.
        low + (self.next_u64() % span) as u32
    }
}
