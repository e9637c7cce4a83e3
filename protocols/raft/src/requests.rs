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
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Requests {
    next_id: u64,
    placed: BTreeMap<LogIndex, (Term, RequestId)>,
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
        if let Some((_, old)) = self.placed.insert(index, (term, id)) {
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
        let gone = self.placed.split_off(&index);
        for (_, (_, id)) in gone {
            self.fail(id, "entry overwritten by a newer leader");
        }
    }

    /// A snapshot from the leader replaced the log up to `index`: entries
    /// there will never be handed out here, so their requests' outcomes
    /// are unknown (they committed, but their responses are lost).
    pub(crate) fn on_snapshot(&mut self, index: LogIndex) {
        let kept = self.placed.split_off(&(index + 1));
        for (_, (_, id)) in std::mem::replace(&mut self.placed, kept) {
            self.fail(id, "entry covered by a snapshot from the leader");
        }
    }

    /// Fails every request (this node stopped leading).
    pub(crate) fn fail_all(&mut self, reason: &'static str) {
        for (_, (_, id)) in std::mem::take(&mut self.placed) {
            self.fail(id, reason);
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
        let (placed_term, id) = self.placed.remove(&index)?;
        if placed_term == term {
            Some(id)
        } else {
            self.fail(id, "entry overwritten by a newer leader");
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
