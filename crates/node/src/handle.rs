//! [`Node`]: the handle applications hold, and what it shares with the
//! driver task.

use crate::pending::Reply;
use crate::sync::{lock, Arc, AtomicBool, Mutex, Ordering};
use quorate_core::{
    Consensus, LogIndex, NodeId, StateMachine, Status, SubmitError, TransportStats,
};
use std::fmt;
use std::marker::PhantomData;
use tokio::sync::{mpsc, oneshot, watch};

/// A request to the driver other than a command.
pub(crate) enum Control {
    /// Answer with the node's status.
    Status(oneshot::Sender<NodeStatus>),
    /// Stop (the flag in [`Shared`] is already set; this only wakes the
    /// driver).
    Shutdown,
}

/// A point-in-time view of a node: the protocol's status plus the driver's
/// counters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStatus {
    /// The protocol's own view (role, term, leader, commit index...).
    pub protocol: Status,
    /// Highest log index applied to the state machine.
    pub applied_index: LogIndex,
    /// Inbound frames dropped because they did not decode (garbage, another
    /// wire version, another group).
    pub garbage_frames: u64,
    /// Committed commands skipped because they did not decode.
    pub undecodable_commands: u64,
    /// The transport's counters.
    pub transport: TransportStats,
    /// Commands submitted to the protocol (in command batches) and not yet
    /// answered.
    pub pending_requests: usize,
    /// True once the node has stopped (shut down or halted).
    pub stopped: bool,
    /// Why the node halted, when a fatal error (a storage failure) stopped it.
    pub fatal_error: Option<String>,
}

/// Where a submitter waits for the driver's answer.
type Answer<R> = oneshot::Receiver<Result<R, SubmitError>>;

/// A submission ready to send, and where its answer will arrive.
type Prepared<C, R> = (Submission<C, R>, Answer<R>);

/// A client command on its way to the driver.
pub(crate) struct Submission<C, R> {
    /// The command as the caller gave it. The driver encodes all the
    /// commands it takes in one turn into one buffer: one allocation (and
    /// one shared reference count) per batch rather than per command.
    pub(crate) command: C,
    pub(crate) reply: Reply<R>,
}

/// State the driver publishes for handles.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Set once the driver has stopped accepting work.
    pub(crate) stopped: AtomicBool,
    /// Set by `shutdown()`. The driver reads it at the start of every turn,
    /// so a shutdown is seen even when the control queue is full (and a
    /// full queue means the driver is about to wake anyway). A flag rather
    /// than a `watch` channel: the driver polled one on every turn, which
    /// cost a lock and a waiter list update each time.
    pub(crate) shutdown_requested: AtomicBool,
    /// The status at the moment the driver stopped, for `status()` calls
    /// that arrive afterwards.
    pub(crate) final_status: Mutex<Option<NodeStatus>>,
}

/// The channels a handle uses to reach the driver.
pub(crate) struct Channels<C, R> {
    pub(crate) mailbox: mpsc::Sender<Submission<C, R>>,
    pub(crate) control: mpsc::Sender<Control>,
    pub(crate) exited: watch::Receiver<bool>,
}

struct Inner<S: StateMachine> {
    id: NodeId,
    channels: Channels<S::Command, S::Response>,
    shared: Arc<Shared>,
}

/// A handle to one running protocol instance (one replica of one group).
///
/// Cheap to clone; `Send + Sync`. When the last handle is dropped the node
/// shuts down as if [`shutdown`](Node::shutdown) had been called.
pub struct Node<P: Consensus, S: StateMachine> {
    inner: Arc<Inner<S>>,
    _protocol: PhantomData<fn() -> P>,
}

impl<P: Consensus, S: StateMachine> Clone for Node<P, S> {
    fn clone(&self) -> Self {
        Node {
            inner: Arc::clone(&self.inner),
            _protocol: PhantomData,
        }
    }
}

impl<P: Consensus, S: StateMachine> fmt::Debug for Node<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.inner.id)
            .field(
                "stopped",
                &self.inner.shared.stopped.load(Ordering::Acquire),
            )
            .finish_non_exhaustive()
    }
}

impl<P: Consensus, S: StateMachine> Node<P, S> {
    pub(crate) fn new(
        id: NodeId,
        channels: Channels<S::Command, S::Response>,
        shared: Arc<Shared>,
    ) -> Self {
        Node {
            inner: Arc::new(Inner {
                id,
                channels,
                shared,
            }),
            _protocol: PhantomData,
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// Submits `command` and waits until it has been applied to the state
    /// machine, returning the state machine's response.
    ///
    /// Waits for room when the mailbox is full (see
    /// [`try_submit`](Node::try_submit) to fail fast instead).
    ///
    /// # Errors
    ///
    /// - [`SubmitError::NotLeader`]: this node does not lead (and the protocol
    ///   does not forward); retry at the hint.
    /// - [`SubmitError::Busy`]: too many requests in flight; back off.
    /// - [`SubmitError::TooLarge`], [`SubmitError::InvalidCommand`]: the
    ///   command was refused, it had no effect.
    /// - [`SubmitError::Indeterminate`]: the command was appended but its
    ///   fate is unknown here (leadership changed, the node stopped).
    /// - [`SubmitError::Stopped`]: the node had stopped; no effect.
    pub async fn submit(&self, command: S::Command) -> Result<S::Response, SubmitError> {
        let (submission, answer) = self.prepare(command)?;
        self.inner
            .channels
            .mailbox
            .send(submission)
            .await
            .map_err(|_| SubmitError::Stopped)?;
        Self::await_answer(answer).await
    }

    /// Like [`submit`](Node::submit), but fails with
    /// [`SubmitError::Busy`] at once when the mailbox is full instead of
    /// waiting for room.
    pub async fn try_submit(&self, command: S::Command) -> Result<S::Response, SubmitError> {
        let (submission, answer) = self.prepare(command)?;
        let mailbox = &self.inner.channels.mailbox;
        mailbox.try_send(submission).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => SubmitError::Busy {
                in_flight: mailbox.max_capacity(),
                limit: mailbox.max_capacity(),
            },
            mpsc::error::TrySendError::Closed(_) => SubmitError::Stopped,
        })?;
        Self::await_answer(answer).await
    }

    fn prepare(
        &self,
        command: S::Command,
    ) -> Result<Prepared<S::Command, S::Response>, SubmitError> {
        if self.inner.shared.stopped.load(Ordering::Acquire) {
            return Err(SubmitError::Stopped);
        }
        let (reply, answer) = oneshot::channel();
        Ok((Submission { command, reply }, answer))
    }

    async fn await_answer(answer: Answer<S::Response>) -> Result<S::Response, SubmitError> {
        // The driver answers every submission it takes, even when stopping;
        // a dropped reply means the submission never reached the protocol.
        answer.await.unwrap_or(Err(SubmitError::Stopped))
    }

    /// The node's current status; after the node stopped, its status at that
    /// moment.
    pub async fn status(&self) -> NodeStatus {
        let (reply, answer) = oneshot::channel();
        let request = Control::Status(reply);
        if self.inner.channels.control.send(request).await.is_ok() {
            if let Ok(status) = answer.await {
                return status;
            }
        }
        // The driver has gone; it published its final status before closing
        // its channels.
        lock(&self.inner.shared.final_status)
            .clone()
            .expect("a stopped driver publishes its final status")
    }

    /// True once the node has stopped (shut down or halted by a fatal error).
    pub fn is_stopped(&self) -> bool {
        self.inner.shared.stopped.load(Ordering::Acquire)
    }

    /// Stops the node and waits until it has: every pending request is
    /// failed (`Indeterminate` if the protocol had it, `Stopped` if it was
    /// still in the mailbox), and the transport and storage are dropped, so
    /// a new node can be started from the same storage.
    ///
    /// Idempotent; other handles see the node as stopped.
    pub async fn shutdown(&self) {
        self.inner
            .shared
            .shutdown_requested
            .store(true, Ordering::Release);
        // Only wakes the driver. Fails when the driver is already gone, or
        // when the queue is full, in which case the driver is about to wake
        // and will see the flag.
        let _ = self.inner.channels.control.try_send(Control::Shutdown);
        let mut exited = self.inner.channels.exited.clone();
        // An error means the driver dropped its sender, which it only does
        // after exiting.
        let _ = exited.wait_for(|exited| *exited).await;
    }
}
