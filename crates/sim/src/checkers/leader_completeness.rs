//! Leader completeness (Raft §5.4): an entry committed in some term is in
//! the log of every leader of every later term.
//!
//! The checker does not know which term committed an entry, so it uses a
//! safe bound: the highest term any node had reached when the entry was
//! first applied anywhere. A leader of a term above that bound was elected
//! after the commit and must hold the entry.

use quorate_core::{LogIndex, NodeId, Term};
use quorate_storage::DurableLog;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy)]
struct CommittedEntry {
    term: Term,
    /// No node had a term above this when the entry was committed.
    term_bound: Term,
}

/// Committed entries, and how far each leader has been checked.
#[derive(Debug, Default)]
pub struct LeaderCompleteness {
    /// `committed[i]` is the entry at index `i + 1`. Entries are first
    /// applied in index order (each replica applies in order), so the first
    /// application of `i + 1` always follows that of `i`.
    committed: Vec<CommittedEntry>,
    checked_through: BTreeMap<(NodeId, Term), LogIndex>,
}

impl LeaderCompleteness {
    /// Records the first application anywhere of the entry at `index`;
    /// `term_bound` is the highest term any node has reached now.
    pub fn observe_commit(&mut self, index: LogIndex, term: Term, term_bound: Term) {
        if index as usize == self.committed.len() + 1 {
            self.committed.push(CommittedEntry { term, term_bound });
        }
    }

    /// Checks that `node`, leading `term` with `log` written to storage,
    /// holds every entry committed before its election.
    pub fn check_leader(
        &mut self,
        node: NodeId,
        term: Term,
        log: &DurableLog,
    ) -> Result<(), String> {
        let checked = self.checked_through.entry((node, term)).or_insert(0);
        while let Some(entry) = self.committed.get(*checked as usize) {
            if entry.term_bound >= term {
                // Bounds only grow with the index: nothing later applies.
                break;
            }
            let index = *checked + 1;
            let covered = index <= log.snapshot_index();
            if !covered && log.term(index) != Some(entry.term) {
                return Err(format!(
                    "leader {node} of term {term} lacks the entry at index {index} (term {}) \
                     committed while no node was past term {}; it holds {:?}",
                    entry.term,
                    entry.term_bound,
                    log.term(index)
                ));
            }
            *checked = index;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use quorate_core::{Entry, EntryKind, WriteBatch};

    #[test]
    fn a_later_leader_missing_a_committed_entry_is_reported() {
        let mut check = LeaderCompleteness::default();
        check.observe_commit(1, 1, 1);
        let mut log = DurableLog::default();
        // A leader of term 1 (the committing term) is not held to it yet...
        check.check_leader(NodeId(2), 1, &log).unwrap();
        // ...but a leader of term 2 is.
        assert!(check.check_leader(NodeId(2), 2, &log).is_err());
        log.apply(WriteBatch {
            entries: vec![Entry {
                index: 1,
                term: 1,
                kind: EntryKind::Noop,
                data: Bytes::new(),
            }],
            ..WriteBatch::default()
        })
        .unwrap();
        check.check_leader(NodeId(3), 2, &log).unwrap();
    }
}
