//! No acknowledged write is lost: every operation a client was told
//! succeeded stays in the log of enough replicas to survive any minority
//! failure, to the end of the run.

use super::entry_digest;
use quorate_core::{Entry, LogIndex, NodeId, Term};
use quorate_storage::DurableLog;

#[derive(Debug)]
struct Acked {
    index: LogIndex,
    term: Term,
    digest: u64,
    what: String,
}

/// The entries behind acknowledged operations.
#[derive(Debug, Default)]
pub struct AckedWrites {
    acked: Vec<Acked>,
}

/// One replica's durable state at the end of a run.
#[derive(Debug)]
pub struct ReplicaDisk<'a> {
    /// The replica.
    pub node: NodeId,
    /// What survives a crash.
    pub durable: &'a DurableLog,
    /// Recovery found corruption: the disk counts as lost.
    pub corrupted: bool,
}

impl AckedWrites {
    /// Records that the client was told `entry`'s operation (`what`)
    /// succeeded.
    pub fn observe_ack(&mut self, entry: &Entry, what: String) {
        self.acked.push(Acked {
            index: entry.index,
            term: entry.term,
            digest: entry_digest(entry),
            what,
        });
    }

    /// Number of acknowledged writes.
    pub fn len(&self) -> usize {
        self.acked.len()
    }

    /// True when none was acknowledged.
    pub fn is_empty(&self) -> bool {
        self.acked.is_empty()
    }

    /// The highest index of an acknowledged write.
    pub fn highest_index(&self) -> LogIndex {
        self.acked.iter().map(|a| a.index).max().unwrap_or(0)
    }

    /// Checks every acknowledged entry is durable on a majority of the
    /// replicas, counting corrupted disks (whose content is unknown) in its
    /// favour: a commit quorum may have lost a member to corruption, never
    /// more than that.
    pub fn check(&self, disks: &[ReplicaDisk<'_>]) -> Result<(), String> {
        let majority = disks.len() / 2 + 1;
        let corrupted = disks.iter().filter(|d| d.corrupted).count();
        for acked in &self.acked {
            let holders: Vec<NodeId> = disks
                .iter()
                .filter(|disk| !disk.corrupted)
                .filter(|disk| {
                    acked.index <= disk.durable.snapshot_index()
                        || disk.durable.entry(acked.index).is_some_and(|entry| {
                            entry.term == acked.term && entry_digest(entry) == acked.digest
                        })
                })
                .map(|disk| disk.node)
                .collect();
            if holders.len() + corrupted < majority {
                return Err(format!(
                    "acknowledged {} (index {}, term {}) is durable only on {holders:?}, \
                     short of a majority of {majority}",
                    acked.what, acked.index, acked.term
                ));
            }
        }
        Ok(())
    }
}
