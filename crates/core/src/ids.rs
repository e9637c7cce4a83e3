//! Identifiers shared by every component.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Identifies one node (one process, or one in-process replica in tests).
///
/// Node ids are chosen by the operator and must be unique within a cluster.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct NodeId(pub u64);

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// Identifies one protocol instance (one replication group / shard) on a node.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default, Debug,
)]
pub struct GroupId(pub u32);

/// Identifies one request submitted to a protocol instance on this node.
///
/// Assigned by the protocol in [`Protocol::submit`](crate::Protocol::submit).
/// Request ids are only meaningful on the node that issued them and only
/// during the lifetime of the protocol instance that issued them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub struct RequestId(pub u64);

/// Identifies one [`Ready`](crate::Ready) batch, handed back in
/// [`Protocol::advance`](crate::Protocol::advance).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ReadyId(pub u64);

/// A log position. The first entry of a log has index 1; index 0 means "none".
pub type LogIndex = u64;

/// A Raft term, or the round of a Paxos ballot: a logical epoch that only grows.
pub type Term = u64;
