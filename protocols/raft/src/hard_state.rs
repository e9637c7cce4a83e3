//! The durable part of a Raft instance's state, and its encoding.

use bytes::Bytes;
use quorate_core::{LogIndex, NodeId, Term};
use serde::{Deserialize, Serialize};

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
        // Encoding a struct of integers into a Vec cannot fail.
        Bytes::from(postcard::to_allocvec(self).expect("hard state encodes"))
    }

    /// Decodes what [`encode`](HardState::encode) produced.
    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}
