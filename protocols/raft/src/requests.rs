//! Requests submitted on this node whose fate is not yet known.
//!
//! A request is *placed* once we know the `(index, term)` of the entry that
//! carries it: because only one leader exists per term and it appends at
//! each index once, that pair names exactly one entry for the life of the
//! cluster. When the entry committed at `index` is handed out, the request
//! is reported with it if the terms agree and failed otherwise. A forwarded
//! request is *unplaced* until the leader says where it put it.
//!
//! Every request leaves this table exactly once: as an output, or in
//! `failed`. The table holds at most `pending_requests_max` requests, so
//! `failed` is bounded by the same number.

use quorate_core::{LogIndex, RequestId, SubmitError, Term};
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Default)]
pub(crate) struct Requests {
    next_id: u64,
    placed: Placed,
    /// Forwarded requests awaiting the leader's answer: id → deadline tick.
    unplaced: BTreeMap<u64, u64>,
    failed: Vec<(RequestId, SubmitError)>,
}

impl Requests {
    /// Requests whose fate is unknown.
    pub(crate) fn len(&self) -> usize {
        self.placed.len() + self.unplaced.len()
    }

    /// A fresh id, unique for the life of this instance.
    pub(crate) fn allocate(&mut self) -> RequestId {
        self.next_id += 1;
        RequestId(self.next_id)
    }

    /// Records that request `id` is carried by the entry at `(index, term)`.
    /// `applied` is the highest index already handed out: a placement at or
    /// below it comes too late to be matched.
    pub(crate) fn place(&mut self, id: RequestId, index: LogIndex, term: Term, applied: LogIndex) {
        if index <= applied {
            self.fail(id, "entry was applied before its placement was known");
            return;
        }
        if let Some(old) = self.placed.insert(Placement { index, term, id }) {
            // A newer leader reused the index, so the older entry there was
            // (or will be) overwritten on this path.
            self.fail(old, "entry overwritten by a newer leader");
        }
    }

    /// Tracks a forwarded request until `deadline_tick`.
    pub(crate) fn forwarded(&mut self, id: RequestId, deadline_tick: u64) {
        self.unplaced.insert(id.0, deadline_tick);
    }

    /// Removes a forwarded request on the leader's answer; false when it is
    /// no longer tracked (answered twice, timed out, or failed).
    pub(crate) fn take_unplaced(&mut self, id: u64) -> bool {
        self.unplaced.remove(&id).is_some()
    }

    /// Entries from `index` on were removed from the log.
    pub(crate) fn on_truncate(&mut self, index: LogIndex) {
        for gone in self.placed.split_off(index) {
            self.fail(gone.id, "entry overwritten by a newer leader");
        }
    }

    /// A snapshot from the leader replaced the log up to `index`: entries
    /// there will never be handed out here, so their requests' outcomes
    /// are unknown (they committed, but their responses are lost).
    pub(crate) fn on_snapshot(&mut self, index: LogIndex) {
        let kept = self.placed.split_off(index + 1);
        for covered in std::mem::replace(&mut self.placed.slots, kept) {
            self.fail(covered.id, "entry covered by a snapshot from the leader");
        }
    }

    /// Fails every request (this node stopped leading).
    pub(crate) fn fail_all(&mut self, reason: &'static str) {
        for placed in std::mem::take(&mut self.placed.slots) {
            self.fail(placed.id, reason);
        }
        self.fail_unplaced(reason);
    }

    /// Fails every forwarded request not yet placed (the leader changed, so
    /// its answer may never come).
    pub(crate) fn fail_unplaced(&mut self, reason: &'static str) {
        for (id, _) in std::mem::take(&mut self.unplaced) {
            self.fail(RequestId(id), reason);
        }
    }

    /// Fails forwarded requests whose answer did not come by their deadline.
    pub(crate) fn expire(&mut self, now_tick: u64) {
        let expired: Vec<u64> = self
            .unplaced
            .iter()
            .filter(|(_, &deadline)| deadline <= now_tick)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            self.unplaced.remove(&id);
            self.fail(RequestId(id), "forwarded proposal was not answered in time");
        }
    }

    /// The entry at `(index, term)` committed: returns the request it
    /// carries, if one of ours; fails the request placed there if the
    /// terms disagree.
    pub(crate) fn on_committed(&mut self, index: LogIndex, term: Term) -> Option<RequestId> {
        let placed = self.placed.remove(index)?;
        if placed.term == term {
            Some(placed.id)
        } else {
            self.fail(placed.id, "entry overwritten by a newer leader");
            None
        }
    }

    /// Fails a request with a definite error (it was not appended anywhere).
    pub(crate) fn reject(&mut self, id: RequestId, error: SubmitError) {
        self.failed.push((id, error));
    }

    fn fail(&mut self, id: RequestId, reason: &'static str) {
        self.failed
            .push((id, SubmitError::Indeterminate { reason }));
    }

    pub(crate) fn take_failed(&mut self) -> Vec<(RequestId, SubmitError)> {
        std::mem::take(&mut self.failed)
    }
}

/// Where a request's entry is: `(index, term)` names it for the life of
/// the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Placement {
    index: LogIndex,
    term: Term,
    id: RequestId,
}

/// Placed requests in index order, at most one per index.
///
/// A sorted `VecDeque` rather than a tree: a leader places each request at
/// the end of its log, and entries commit from the front, so the two
/// operations every request goes through are a push at the back and a pop
/// at the front. A placement out of order (a forwarded request answered
/// late) shifts part of the queue instead.
#[derive(Debug, Default)]
struct Placed {
    slots: VecDeque<Placement>,
}

impl Placed {
    fn len(&self) -> usize {
        self.slots.len()
    }

    /// Adds `placement`; returns the request it displaced at the same
    /// index, if any.
    fn insert(&mut self, placement: Placement) -> Option<RequestId> {
        if self
            .slots
            .back()
            .is_none_or(|last| last.index < placement.index)
        {
            self.slots.push_back(placement);
            return None;
        }
        match self.position(placement.index) {
            Ok(at) => Some(std::mem::replace(&mut self.slots[at], placement).id),
            Err(at) => {
                self.slots.insert(at, placement);
                None
            }
        }
    }

    /// Removes and returns the placement at `index`.
    fn remove(&mut self, index: LogIndex) -> Option<Placement> {
        if self.slots.front()?.index == index {
            return self.slots.pop_front();
        }
        let at = self.position(index).ok()?;
        self.slots.remove(at)
    }

    /// Removes and returns every placement at `index` or above.
    fn split_off(&mut self, index: LogIndex) -> VecDeque<Placement> {
        let at = self.slots.partition_point(|placed| placed.index < index);
        self.slots.split_off(at)
    }

    fn position(&self, index: LogIndex) -> Result<usize, usize> {
        self.slots
            .binary_search_by_key(&index, |placed| placed.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(LogIndex, Term),
        Remove(LogIndex),
        SplitOff(LogIndex),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1..40u64, 1..4u64).prop_map(|(index, term)| Op::Insert(index, term)),
            3 => (1..40u64).prop_map(Op::Remove),
            1 => (1..40u64).prop_map(Op::SplitOff),
        ]
    }

    proptest! {
        /// `Placed` behaves exactly like the ordered map it replaces.
        #[test]
        fn placed_matches_an_ordered_map(ops in proptest::collection::vec(op(), 0..200)) {
            let mut placed = Placed::default();
            let mut model: BTreeMap<LogIndex, (Term, RequestId)> = BTreeMap::new();
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Insert(index, term) => {
                        let id = RequestId(n as u64);
                        let displaced = placed.insert(Placement { index, term, id });
                        prop_assert_eq!(displaced, model.insert(index, (term, id)).map(|(_, id)| id));
                    }
                    Op::Remove(index) => {
                        let removed = placed.remove(index).map(|p| (p.term, p.id));
                        prop_assert_eq!(removed, model.remove(&index));
                    }
                    Op::SplitOff(index) => {
                        let gone: Vec<_> = placed.split_off(index).into_iter().map(|p| (p.index, p.term, p.id)).collect();
                        let expected: Vec<_> = model.split_off(&index).into_iter().map(|(i, (t, id))| (i, t, id)).collect();
                        prop_assert_eq!(gone, expected);
                    }
                }
                let listed: Vec<_> = placed.slots.iter().map(|p| (p.index, p.term, p.id)).collect();
                let expected: Vec<_> = model.iter().map(|(&i, &(t, id))| (i, t, id)).collect();
                prop_assert_eq!(listed, expected);
            }
        }
    }
}
