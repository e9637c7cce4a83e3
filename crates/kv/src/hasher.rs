//! The fixed hasher behind the key index.
//!
//! Why not std's `RandomState`: it is seeded per process, and Quorate keeps
//! every state reachable from outputs a pure function of its inputs (the
//! simulator replays a seed byte for byte). Why not SipHash with a fixed key:
//! it costs several times more than this for the short keys a key-value
//! store sees, and the index is hashed on every command on every replica.
//! The price of a fixed, unkeyed hash is that a client who knows it can
//! choose keys that collide; that slows its own group down (lookups degrade
//! towards linear scans within colliding buckets) but never changes a
//! result, since iteration order is never observed (snapshots sort by key).

use std::hash::{BuildHasherDefault, Hasher};

/// The index's `BuildHasher`: every map built with it hashes alike, in
/// every process.
pub(crate) type FixedState = BuildHasherDefault<FoldHasher>;

/// FxHash-style word folding (rotate, xor, multiply per 8 bytes) with a
/// MurmurHash3 finalizer, so that the low bits the table indexes by depend
/// on every input byte.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct FoldHasher {
    state: u64,
}

/// An odd constant with well spread bits (rustc's FxHash multiplier).
const MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;

impl FoldHasher {
    fn add_word(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add_word(u64::from_le_bytes(
                chunk.try_into().expect("chunks_exact yields 8 bytes"),
            ));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add_word(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.add_word(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add_word(value as u64);
    }

    fn finish(&self) -> u64 {
        // MurmurHash3's fmix64.
        let mut h = self.state;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn hash(key: &[u8]) -> u64 {
        FixedState::default().hash_one(key)
    }

    #[test]
    fn every_map_hashes_alike() {
        // What `RandomState` would fail: two independently built hashers
        // agree, so a replica's index behaves the same in every process.
        let key: &[u8] = b"key-1";
        let (one, other) = (FixedState::default(), FixedState::default());
        assert_eq!(one.hash_one(key), other.hash_one(key));
        assert_ne!(hash(b"key-1"), hash(b"key-2"));
    }

    #[test]
    fn keys_differing_in_one_byte_spread_over_low_bits() {
        // The table indexes by the low bits; 256 keys that differ only in
        // their last byte (past the first word) must not pile into a few
        // buckets.
        let mut buckets = std::collections::BTreeSet::new();
        for last in 0..=255u8 {
            let mut key = *b"user:00000000000";
            key[15] = last;
            buckets.insert(hash(&key) & 0xff);
        }
        assert!(buckets.len() > 128, "only {} of 256 buckets", buckets.len());
    }
}
