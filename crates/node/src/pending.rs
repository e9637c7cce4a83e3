//! [`PendingTable`]: requests submitted to the protocol and not yet answered.

use quorate_core::{RequestId, SubmitError};
use rustc_hash::FxBuildHasher;
use std::collections::HashMap;
use tokio::sync::oneshot;

/// Where a submitter waits for its answer.
pub(crate) type Reply<R> = oneshot::Sender<Result<R, SubmitError>>;

/// RequestId → the submitter's reply channel.
///
/// A hash map (with a fixed, cheap hasher: the ids are the protocol's own
/// counters, not attacker-chosen keys) because every request is inserted
/// and removed once, and nothing needs the ids in order: a tree cost a
/// descent and a rebalance on both.
///
/// Owned by the driver task alone. Every entry leaves the table exactly once:
/// answered when its output is applied, failed when the protocol reports it
/// in `Ready::failed`, or failed when the node stops; none is leaked.
#[derive(Debug)]
pub(crate) struct PendingTable<R> {
    replies: HashMap<RequestId, Reply<R>, FxBuildHasher>,
    capacity: usize,
}

impl<R> PendingTable<R> {
    pub(crate) fn new(capacity: usize) -> Self {
        PendingTable {
            replies: HashMap::with_capacity_and_hasher(capacity.min(4096), FxBuildHasher),
            capacity,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.replies.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn is_full(&self) -> bool {
        self.replies.len() >= self.capacity
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Registers the reply channel for `id`, which the protocol just issued.
    pub(crate) fn insert(&mut self, id: RequestId, reply: Reply<R>) {
        let previous = self.replies.insert(id, reply);
        assert!(
            previous.is_none(),
            "protocol issued request id {id:?} twice while the first was pending"
        );
    }

    /// Answers `id`, if it is pending here. A submitter that stopped waiting
    /// is not an error.
    pub(crate) fn answer(&mut self, id: RequestId, result: Result<R, SubmitError>) {
        if let Some(reply) = self.replies.remove(&id) {
            let _ = reply.send(result);
        }
    }

    /// Fails every pending request with `error`.
    pub(crate) fn fail_all(&mut self, error: &SubmitError) {
        for (_, reply) in std::mem::take(&mut self.replies) {
            let _ = reply.send(Err(error.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_is_answered_once() {
        let mut table = PendingTable::new(2);
        let (a_tx, mut a_rx) = oneshot::channel();
        let (b_tx, mut b_rx) = oneshot::channel();
        table.insert(RequestId(1), a_tx);
        table.insert(RequestId(2), b_tx);
        assert!(table.is_full());
        table.answer(RequestId(1), Ok(10));
        table.answer(RequestId(1), Ok(11));
        assert_eq!(a_rx.try_recv().unwrap(), Ok(10));
        table.fail_all(&SubmitError::Stopped);
        assert_eq!(b_rx.try_recv().unwrap(), Err(SubmitError::Stopped));
        assert_eq!(table.len(), 0);
    }

    #[test]
    #[should_panic(expected = "twice")]
    fn a_reused_request_id_is_a_bug() {
        let mut table = PendingTable::<u32>::new(4);
        table.insert(RequestId(1), oneshot::channel().0);
        table.insert(RequestId(1), oneshot::channel().0);
    }
}
