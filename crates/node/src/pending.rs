//! [`PendingTable`]: requests submitted to the protocol and not yet answered.

use quorate_core::{RequestId, SubmitError};
use rustc_hash::FxBuildHasher;
use std::collections::HashMap;
use tokio::sync::oneshot;

/// Where a submitter waits for its answer.
pub(crate) type Reply<R> = oneshot::Sender<Result<R, SubmitError>>;

/// The submitters of one protocol request (one command batch), in the
/// order of their commands in it.
pub(crate) type Replies<R> = Vec<Reply<R>>;

/// Emptied reply lists kept for reuse; beyond this many they are freed.
const SPARE_REPLIES_MAX: usize = 64;

/// RequestId → the reply channels of the batch's submitters.
///
/// A hash map (with a fixed, cheap hasher: the ids are the protocol's own
/// counters, not attacker-chosen keys) because every request is inserted
/// and removed once, and nothing needs the ids in order: a tree cost a
/// descent and a rebalance on both. Reply lists are recycled, so a batch
/// costs no allocation once the node has warmed up.
///
/// Owned by the driver task alone. Every submitter leaves the table exactly
/// once: answered when its command is applied, failed when the protocol
/// reports its batch in `Ready::failed`, or failed when the node stops;
/// none is leaked.
#[derive(Debug)]
pub(crate) struct PendingTable<R> {
    requests: HashMap<RequestId, Replies<R>, FxBuildHasher>,
    /// Submitters in all of `requests`: what the capacity bounds.
    submitters: usize,
    capacity: usize,
    spare: Vec<Replies<R>>,
}

impl<R> PendingTable<R> {
    pub(crate) fn new(capacity: usize) -> Self {
        PendingTable {
            requests: HashMap::with_capacity_and_hasher(capacity.min(4096), FxBuildHasher),
            submitters: 0,
            capacity,
            spare: Vec::new(),
        }
    }

    /// Submitters waiting.
    pub(crate) fn len(&self) -> usize {
        self.submitters
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.submitters == 0
    }

    /// Whether `more` submitters, on top of those waiting, reach the
    /// capacity.
    pub(crate) fn is_full_with(&self, more: usize) -> bool {
        self.submitters + more >= self.capacity
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// An empty reply list, reused when one is spare.
    pub(crate) fn replies(&mut self) -> Replies<R> {
        self.spare.pop().unwrap_or_default()
    }

    /// Registers the submitters of `id`, which the protocol just issued.
    pub(crate) fn insert(&mut self, id: RequestId, replies: Replies<R>) {
        self.submitters += replies.len();
        let previous = self.requests.insert(id, replies);
        assert!(
            previous.is_none(),
            "protocol issued request id {id:?} twice while the first was pending"
        );
    }

    /// Takes the submitters of `id` out of the table, if it is pending
    /// here, to answer them one by one; hand the list back with
    /// [`recycle`](Self::recycle).
    pub(crate) fn take(&mut self, id: RequestId) -> Option<Replies<R>> {
        let replies = self.requests.remove(&id)?;
        self.submitters -= replies.len();
        Some(replies)
    }

    /// Keeps an answered (emptied) reply list for a later batch.
    pub(crate) fn recycle(&mut self, mut replies: Replies<R>) {
        if self.spare.len() < SPARE_REPLIES_MAX {
            replies.clear();
            self.spare.push(replies);
        }
    }

    /// Fails every submitter of `id`, if it is pending here. A submitter
    /// that stopped waiting is not an error.
    pub(crate) fn fail(&mut self, id: RequestId, error: &SubmitError) {
        if let Some(mut replies) = self.take(id) {
            fail_each(&mut replies, error);
            self.recycle(replies);
        }
    }

    /// Fails every pending submitter with `error`.
    pub(crate) fn fail_all(&mut self, error: &SubmitError) {
        for (_, mut replies) in std::mem::take(&mut self.requests) {
            fail_each(&mut replies, error);
        }
        self.submitters = 0;
    }
}

/// Sends `error` to every reply in `replies`, leaving it empty.
pub(crate) fn fail_each<R>(replies: &mut Replies<R>, error: &SubmitError) {
    for reply in replies.drain(..) {
        let _ = reply.send(Err(error.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_submitter_is_answered_once() {
        let mut table = PendingTable::new(3);
        let (a_tx, mut a_rx) = oneshot::channel();
        let (b_tx, mut b_rx) = oneshot::channel();
        let (c_tx, mut c_rx) = oneshot::channel();
        let mut first = table.replies();
        first.extend([a_tx, b_tx]);
        table.insert(RequestId(1), first);
        assert!(!table.is_full_with(0) && table.is_full_with(1));
        table.insert(RequestId(2), vec![c_tx]);
        assert_eq!(table.len(), 3);
        let mut replies = table.take(RequestId(1)).expect("pending");
        assert!(table.take(RequestId(1)).is_none());
        for (reply, answer) in replies.drain(..).zip([10, 11]) {
            let _ = reply.send(Ok(answer));
        }
        table.recycle(replies);
        assert_eq!(
            (a_rx.try_recv().unwrap(), b_rx.try_recv().unwrap()),
            (Ok(10), Ok(11))
        );
        assert_eq!(table.len(), 1);
        table.fail_all(&SubmitError::Stopped);
        assert_eq!(c_rx.try_recv().unwrap(), Err(SubmitError::Stopped));
        assert!(table.is_empty());
        // The answered list comes back for the next batch.
        assert!(table.replies().capacity() >= 2);
    }

    #[test]
    fn a_failed_request_fails_all_its_submitters() {
        let mut table = PendingTable::new(8);
        let (a_tx, mut a_rx) = oneshot::channel::<Result<u8, _>>();
        let (b_tx, mut b_rx) = oneshot::channel();
        table.insert(RequestId(4), vec![a_tx, b_tx]);
        let lost = SubmitError::NotLeader { leader_hint: None };
        table.fail(RequestId(4), &lost);
        assert_eq!(a_rx.try_recv().unwrap(), Err(lost.clone()));
        assert_eq!(b_rx.try_recv().unwrap(), Err(lost));
        assert!(table.is_empty());
    }

    #[test]
    #[should_panic(expected = "twice")]
    fn a_reused_request_id_is_a_bug() {
        let mut table = PendingTable::<u32>::new(4);
        table.insert(RequestId(1), vec![oneshot::channel().0]);
        table.insert(RequestId(1), vec![oneshot::channel().0]);
    }
}
