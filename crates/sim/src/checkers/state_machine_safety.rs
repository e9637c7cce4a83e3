//! State-machine safety (Raft §5.4.3): no two replicas apply different
//! entries at one index. A replica that restarts and re-applies its log
//! must apply the same entries again.

use crate::checkers::entry_digest;
use quorate_core::{Entry, LogIndex, NodeId, Term};
use std::collections::BTreeMap;

/// The first entry applied at each index, anywhere.
#[derive(Debug, Default)]
pub struct StateMachineSafety {
    applied: BTreeMap<LogIndex, (Term, u64, NodeId)>,
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
}
