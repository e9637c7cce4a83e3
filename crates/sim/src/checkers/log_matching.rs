//! Log matching (Raft §5.3): if two logs hold an entry with the same index
//! and term, they hold the same entry there and agree on every entry before.
//!
//! Checked incrementally on every write: each `(index, term)` pair seen in
//! any node's log is bound to one content digest and one previous term. If
//! no pair is ever bound twice differently, any two logs agreeing on a pair
//! agree on its content and, by induction on the previous term, on the
//! whole prefix.

use super::entry_digest;
use quorate_core::{LogIndex, NodeId, Term};
use quorate_storage::DurableLog;
use std::collections::BTreeMap;

/// Every `(index, term)` seen, with its content digest and previous term.
#[derive(Debug, Default)]
pub struct LogMatching {
    seen: BTreeMap<(LogIndex, Term), (u64, Term, NodeId)>,
}

impl LogMatching {
    /// Checks the entries `from..=log.last_index()` of `node`'s log after a
    /// write appended them.
    pub fn observe_append(
        &mut self,
        node: NodeId,
        log: &DurableLog,
        from: LogIndex,
    ) -> Result<(), String> {
        for index in from.max(1)..=log.last_index() {
            let Some(entry) = log.entry(index) else {
                continue;
            };
            let Some(previous_term) = log.term(index - 1) else {
                // The previous entry is inside a snapshot whose end is later;
                // nothing to compare.
                continue;
            };
            let binding = (entry_digest(entry), previous_term, node);
            match self.seen.get(&(index, entry.term)) {
                None => {
                    self.seen.insert((index, entry.term), binding);
                }
                Some(&(digest, prev, first)) => {
                    if digest != binding.0 {
                        return Err(format!(
                            "entry ({index}, term {}) differs between {first} and {node}",
                            entry.term
                        ));
                    }
                    if prev != previous_term {
                        return Err(format!(
                            "entry ({index}, term {}) follows term {prev} on {first} but term \
                             {previous_term} on {node}",
                            entry.term
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use quorate_core::{Entry, EntryKind, WriteBatch};

    fn log(entries: &[(LogIndex, Term, &'static str)]) -> DurableLog {
        let mut log = DurableLog::default();
        let batch = WriteBatch {
            entries: entries
                .iter()
                .map(|&(index, term, data)| Entry {
                    index,
                    term,
                    kind: EntryKind::Command,
                    data: Bytes::from_static(data.as_bytes()),
                })
                .collect(),
            ..WriteBatch::default()
        };
        log.apply(batch).unwrap();
        log
    }

    #[test]
    fn same_index_and_term_with_different_content_is_reported() {
        let mut check = LogMatching::default();
        check
            .observe_append(NodeId(1), &log(&[(1, 1, "a"), (2, 1, "b")]), 1)
            .unwrap();
        check
            .observe_append(NodeId(2), &log(&[(1, 1, "a"), (2, 2, "c")]), 1)
            .unwrap();
        assert!(check
            .observe_append(NodeId(3), &log(&[(1, 1, "a"), (2, 1, "x")]), 1)
            .is_err());
        assert!(check
            .observe_append(NodeId(3), &log(&[(1, 2, "z"), (2, 2, "c")]), 1)
            .is_err());
    }
}
