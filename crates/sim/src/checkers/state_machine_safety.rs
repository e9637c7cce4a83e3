//! State-machine safety (Raft §5.4.3): no two replicas apply different
//! entries at one index. A replica that restarts and re-applies its log
//! must apply the same entries again.

use crate::checkers::entry_digest;
use quorate_core::{Entry, LogIndex, NodeId, Term};
use std::collections::BTreeMap;

/// The first entry applied at each index, anywhere, and the first state
/// snapshotted at each index.
#[derive(Debug, Default)]
pub struct StateMachineSafety {
    applied: BTreeMap<LogIndex, (Term, u64, NodeId)>,
    /// Digest of the state machine's snapshot bytes after applying through
    /// an index, as first seen.
    states: BTreeMap<LogIndex, (u64, NodeId)>,
}

impl StateMachineSafety {
    /// Records that `node` applied `entry`; errs when another entry was
    /// applied at its index before.
    pub fn observe_apply(&mut self, node: NodeId, entry: &Entry) -> Result<(), String> {
        let digest = entry_digest(entry);
        match self.applied.get(&entry.index) {
            None => {
                self.applied.insert(entry.index, (entry.term, digest, node));
                Ok(())
            }
            Some(&(term, first_digest, first)) => {
                if term == entry.term && first_digest == digest {
                    Ok(())
                } else {
                    Err(format!(
                        "index {} applied as term {term} on {first} but as term {} on {node}{}",
                        entry.index,
                        entry.term,
                        if term == entry.term {
                            " with different content"
                        } else {
                            ""
                        }
                    ))
                }
            }
        }
    }

    /// Records that `node`'s state machine, having applied everything up
    /// to `index`, serializes to `snapshot` (a snapshot it took, installed
    /// from a leader, or recovered). Snapshots are deterministic, so every
    /// replica's state at one index must serialize to the same bytes: this
    /// carries state-machine safety through snapshots, where no entries
    /// are applied one by one.
    pub fn observe_state(
        &mut self,
        node: NodeId,
        index: LogIndex,
        snapshot: &[u8],
    ) -> Result<(), String> {
        let mut hasher = crate::trace::TraceHasher::new();
        hasher.write_bytes(snapshot);
        let digest = hasher.finish();
        match self.states.get(&index) {
            None => {
                self.states.insert(index, (digest, node));
                Ok(())
            }
            Some(&(first_digest, _)) if first_digest == digest => Ok(()),
            Some(&(_, first)) => Err(format!(
                "the state after index {index} differs between {first} and {node}"
            )),
        }
    }

    /// The entry committed at `index` as `(term, digest)`, if any replica
    /// applied one.
    pub fn committed(&self, index: LogIndex) -> Option<(Term, u64)> {
        self.applied
            .get(&index)
            .map(|&(term, digest, _)| (term, digest))
    }

    /// The highest index any replica applied.
    pub fn highest(&self) -> LogIndex {
        self.applied.keys().next_back().copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use quorate_core::EntryKind;

    fn entry(index: LogIndex, term: Term, data: &'static str) -> Entry {
        Entry {
            index,
            term,
            kind: EntryKind::Command,
            data: Bytes::from_static(data.as_bytes()),
        }
    }

    #[test]
    fn different_entries_at_one_index_are_reported() {
        let mut check = StateMachineSafety::default();
        check.observe_apply(NodeId(1), &entry(1, 1, "a")).unwrap();
        // A restart re-applying the same entry is fine.
        check.observe_apply(NodeId(1), &entry(1, 1, "a")).unwrap();
        check.observe_apply(NodeId(2), &entry(1, 1, "a")).unwrap();
        assert!(check.observe_apply(NodeId(3), &entry(1, 2, "b")).is_err());
        assert!(check.observe_apply(NodeId(3), &entry(1, 1, "b")).is_err());
    }

    #[test]
    fn different_states_at_one_index_are_reported() {
        let mut check = StateMachineSafety::default();
        check.observe_state(NodeId(1), 5, b"state at 5").unwrap();
        check.observe_state(NodeId(2), 5, b"state at 5").unwrap();
        check.observe_state(NodeId(2), 6, b"state at 6").unwrap();
        assert!(check.observe_state(NodeId(3), 5, b"another state").is_err());
    }
}
