//! Log entries and snapshots: the unit of replication and of durability.

use crate::ids::{LogIndex, Term};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// What a log entry carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum EntryKind {
    /// An entry a new leader appends to commit entries of earlier terms;
    /// it carries no data and is not given to the state machine.
    Noop,
    /// A client command, opaque to the protocol, given to the state machine.
    Command,
    /// A membership change, encoded by the protocol that appended it.
    Membership,
}

/// One entry of a replicated log.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log (1-based).
    pub index: LogIndex,
    /// Term (or ballot round) in which a leader first appended the entry.
    pub term: Term,
    /// What `data` means.
    pub kind: EntryKind,
    /// The payload; empty for [`EntryKind::Noop`]. Decoded within
    /// [`decode_sharing`](crate::decode_sharing), a slice of the frame.
    #[serde(deserialize_with = "crate::shared_bytes::deserialize")]
    pub data: Bytes,
}

impl Entry {
    /// Bytes this entry costs on the wire and in memory, for batching limits.
    pub fn size_bytes(&self) -> usize {
        // index + term + kind + length prefix, rounded up; exactness does not
        // matter, monotonicity in `data.len()` does.
        24 + self.data.len()
    }
}

/// Where a snapshot ends in the log, and the membership at that point.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Index of the last entry the snapshot covers.
    pub last_index: LogIndex,
    /// Term of the last entry the snapshot covers.
    pub last_term: Term,
    /// The membership in force at `last_index`, encoded by the protocol.
    pub membership: Bytes,
}

/// A state machine snapshot with the log position it covers.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Where the snapshot ends.
    pub meta: SnapshotMeta,
    /// The state machine's serialized state. Decoded within
    /// [`decode_sharing`](crate::decode_sharing), a slice of the frame.
    #[serde(deserialize_with = "crate::shared_bytes::deserialize")]
    pub data: Bytes,
}
