//! The durable part of a Raft instance's state, and its encoding.

use bytes::Bytes;
use quorate_core::{LogIndex, NodeId, Term};
use serde::{Deserialize, Serialize};

/// The longest encoding of a [`HardState`]: three `u64`s and an optional
/// `u64`, each a varint of at most 10 bytes, and the option's tag.
const HARD_STATE_BYTES_MAX: usize = 4 * 10 + 1;

/// What Raft writes to `WriteBatch::hard_state` (postcard-encoded).
///
/// Public so drivers and the simulator's checkers can decode it (for
/// example to check that no node votes twice in one term).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct HardState {
    /// The latest term this node has seen (§5.1).
    pub term: Term,
    /// The candidate this node voted for in `term`, if any (§5.2).
    pub vote: Option<NodeId>,
    /// A commit index this node knew of. Only a hint (never needed for
    /// safety): after a restart entries up to it are handed out again
    /// without waiting for a leader. Written lazily, with the next batch
    /// that carries entries or a new term, vote or incarnation, so it may
    /// lag behind the commit index the node knew.
    pub commit: LogIndex,
    /// Bumped on every restart; tags forwarded proposals so that answers
    /// meant for an earlier incarnation are never matched to new requests.
    pub incarnation: u64,
}

impl HardState {
    /// Encodes with postcard.
    pub fn encode(&self) -> Bytes {
        // Four integers as varints, at most 10 bytes each, plus the
        // option's tag: encoded on the stack and copied out once (growing
        // a `Vec` from empty took two or three allocations per write).
        let mut buffer = [0u8; HARD_STATE_BYTES_MAX];
        let encoded = postcard::to_slice(self, &mut buffer)
            .expect("a hard state fits in HARD_STATE_BYTES_MAX bytes");
        Bytes::copy_from_slice(encoded)
    }

    /// Decodes what [`encode`](HardState::encode) produced.
    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_hard_state_fits_and_round_trips() {
        for hard_state in [
            HardState::default(),
            HardState {
                term: u64::MAX,
                vote: Some(NodeId(u64::MAX)),
                commit: u64::MAX,
                incarnation: u64::MAX,
            },
            HardState {
                term: 7,
                vote: None,
                commit: 300,
                incarnation: 2,
            },
        ] {
            let encoded = hard_state.encode();
            assert_eq!(encoded, postcard::to_allocvec(&hard_state).unwrap());
            assert_eq!(HardState::decode(&encoded).unwrap(), hard_state);
        }
    }
}
