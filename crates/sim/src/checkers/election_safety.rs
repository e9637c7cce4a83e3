//! Election safety (Raft §5.2, Figure 3): at most one leader per term.

use quorate_core::{NodeId, Term};
use std::collections::BTreeMap;

/// Remembers who led each term.
#[derive(Debug, Default)]
pub struct ElectionSafety {
    leaders: BTreeMap<Term, NodeId>,
}

impl ElectionSafety {
    /// Records that `node` reports leading `term`; errs when another node
    /// led the same term.
    pub fn observe_leader(&mut self, node: NodeId, term: Term) -> Result<(), String> {
        match self.leaders.insert(term, node) {
            Some(other) if other != node => {
                Err(format!("two leaders in term {term}: {other} and {node}"))
            }
            _ => Ok(()),
        }
    }

    /// Terms that had a leader.
    pub fn terms_with_leader(&self) -> usize {
        self.leaders.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_leader_in_a_term_is_reported() {
        let mut check = ElectionSafety::default();
        check.observe_leader(NodeId(1), 3).unwrap();
        check.observe_leader(NodeId(1), 3).unwrap();
        check.observe_leader(NodeId(2), 4).unwrap();
        assert!(check.observe_leader(NodeId(2), 3).is_err());
    }
}
