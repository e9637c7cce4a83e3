//! The [`Ready`] batch: everything a protocol needs done, in one value.

use crate::error::SubmitError;
use crate::ids::{NodeId, ReadyId, RequestId};
use crate::storage::WriteBatch;

/// One batch of work a protocol hands to its driver.
///
/// # The Ready contract
///
/// A driver (the tokio node, the simulator, a unit test) calls
/// [`Protocol::ready`](crate::Protocol::ready) after feeding inputs and, for
/// each batch it gets, performs these steps **in this order**:
///
/// 1. Send [`send_now`](Ready::send_now). These messages do not depend on
///    `persist` (for example a leader's AppendEntries, which may leave before
///    the leader's own write of the same entries completes).
/// 2. Write [`persist`](Ready::persist) to storage and wait until it is
///    durable (when `persist.sync` is set).
/// 3. Send [`send_after_persist`](Ready::send_after_persist). These messages
///    promise something about durable state (a granted vote, an append
///    acknowledgement) and must not leave before step 2 completes.
/// 4. If `persist` carries a snapshot beyond the index the state machine
///    has applied (one a peer sent), restore the state machine from it.
///    Then apply [`outputs`](Ready::outputs) in order, and report
///    [`failed`](Ready::failed) requests to their callers.
/// 5. Call [`Protocol::advance`](crate::Protocol::advance) with
///    [`id`](Ready::id). Only now does the protocol count the persisted state
///    as durable (a leader counts itself towards a commit quorum).
///
/// A driver may call `ready()` again only after `advance`: at most one
/// batch is outstanding at a time. If step 2 fails, the driver stops the
/// node and performs none of the later steps.
#[derive(Debug)]
#[must_use = "a Ready batch must be carried out and advanced"]
pub struct Ready<M, O> {
    /// Names this batch in [`Protocol::advance`](crate::Protocol::advance).
    pub id: ReadyId,
    /// Messages that may leave at once.
    pub send_now: Vec<(NodeId, M)>,
    /// State to make durable before anything below happens.
    pub persist: Option<WriteBatch>,
    /// Messages that may leave only once `persist` is durable.
    pub send_after_persist: Vec<(NodeId, M)>,
    /// Decided outputs, to apply in order after `persist` is durable.
    pub outputs: Vec<O>,
    /// Requests submitted on this node that will not produce an output here,
    /// with why. An [`SubmitError::Indeterminate`] request may still take
    /// effect.
    pub failed: Vec<(RequestId, SubmitError)>,
}

impl<M, O> Ready<M, O> {
    /// An empty batch with the given id.
    pub fn new(id: ReadyId) -> Self {
        Ready {
            id,
            send_now: Vec::new(),
            persist: None,
            send_after_persist: Vec::new(),
            outputs: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// True when carrying out the batch would do nothing.
    pub fn is_empty(&self) -> bool {
        self.send_now.is_empty()
            && self.persist.is_none()
            && self.send_after_persist.is_empty()
            && self.outputs.is_empty()
            && self.failed.is_empty()
    }
}
