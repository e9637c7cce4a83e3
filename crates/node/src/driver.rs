//! The driver: the one task that owns a protocol instance and carries out its
//! [`Ready`] batches. This is the single implementation of the Ready contract
//! (see `docs/ready-contract.md`).

use crate::handle::{Control, NodeStatus, Shared, Submission};
use crate::options::NodeOptions;
use crate::pending::{fail_each, PendingTable, Replies, Reply};
use crate::sync::{lock, Arc, Ordering};
use crate::wire;
use bytes::Bytes;
use quorate_core::{
    command_batch, Committed, Consensus, EntryKind, LogIndex, NodeId, Ready, StateMachine, Storage,
    StorageError, SubmitError, Transport, TryRecv,
};
use std::task::{Context, Waker};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Most yields in one turn while commands keep arriving (see `serve`).
const LINGER_YIELDS_MAX: usize = 4;

/// Most submitters answered by one batch for which a driver that has no
/// request left in flight yields before finishing its turn (see
/// `carry_out`). Under heavier load many answered clients would queue
/// ahead of it, and the driver, the busiest task, would wait for them all.
const ANSWERED_YIELD_MAX: usize = 32;

/// Why the driver loop ended.
enum Exit {
    /// `shutdown()` was called, or every handle was dropped.
    Shutdown,
    /// Storage failed; nothing more may be acknowledged.
    Fatal(StorageError),
}

/// The driver's inputs from the handles.
pub(crate) struct Inbox<C, R> {
    pub(crate) mailbox: mpsc::Receiver<Submission<C, R>>,
    pub(crate) control: mpsc::Receiver<Control>,
}

/// A command taken from the mailbox and not yet submitted to the protocol.
pub(crate) struct Staged<C, R> {
    submission: Submission<C, R>,
    /// Its encoded length, or why it does not encode.
    encoded_len: Result<usize, wire::CommandEncodeError>,
}

/// One protocol instance with its components.
pub(crate) struct Driver<P: Consensus, S: StateMachine, T, St> {
    pub(crate) id: NodeId,
    pub(crate) options: NodeOptions,
    pub(crate) protocol: P,
    pub(crate) state_machine: S,
    pub(crate) transport: T,
    pub(crate) storage: St,
    pub(crate) inbox: Inbox<S::Command, S::Response>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) pending: PendingTable<S::Response>,
    /// Commands taken from the mailbox in this turn, with their encoded
    /// length (or why it could not be measured), not yet submitted to the
    /// protocol: the turn encodes them into one buffer.
    pub(crate) staged: Vec<Staged<S::Command, S::Response>>,
    /// The batch (one log entry's data) the staged commands are packed into.
    pub(crate) command_batch: wire::CommandBatch,
    /// Scratch space for the submissions one drain takes from the mailbox.
    pub(crate) received: Vec<Submission<S::Command, S::Response>>,
    pub(crate) applied_index: LogIndex,
    /// No snapshot is due before this applied index: the protocol's
    /// snapshot index, as last read, plus `snapshot_entries`. The snapshot
    /// index only grows, so until then there is no need to ask the protocol.
    pub(crate) snapshot_due_index: LogIndex,
    /// Bytes of command entries applied since the latest snapshot this
    /// driver took or installed.
    pub(crate) unsnapshotted_bytes: u64,
    pub(crate) garbage_frames: u64,
    pub(crate) undecodable_commands: u64,
    /// The previous turn stopped at `readies_per_turn_max` with work left.
    pub(crate) more_ready: bool,
    pub(crate) transport_closed: bool,
}

impl<P, S, T, St> Driver<P, S, T, St>
where
    P: Consensus,
    S: StateMachine,
    T: Transport,
    St: Storage,
{
    /// Runs until shutdown or a fatal error, then fails everything pending,
    /// publishes the final status, drops the components and signals
    /// `exited`.
    pub(crate) async fn run(mut self, exited: watch::Sender<bool>) {
        let exit = self.serve().await;
        let fatal_error = match exit {
            Exit::Shutdown => {
                tracing::info!("node shutting down");
                None
            }
            Exit::Fatal(error) => {
                tracing::error!(node = %self.id, %error, "storage failed; node halted");
                Some(error.to_string())
            }
        };
        self.stop(fatal_error);
        // Drop the transport and storage before reporting the exit, so that a
        // caller of `shutdown()` may reuse them at once.
        drop(self);
        let _ = exited.send(true);
    }

    async fn serve(&mut self) -> Exit {
        // The next protocol tick: one timer entry, registered once per
        // tick. A driver turn checks it with one atomic load (`is_elapsed`)
        // instead of polling a timer future, which registered the task's
        // waker with the timer on every turn (5% of the CPU at one client).
        let next_tick = tokio::time::sleep(self.options.tick_interval);
        tokio::pin!(next_tick);
        // Register it now: an entry that was never polled or reset is not
        // in the timer wheel and would never elapse.
        next_tick
            .as_mut()
            .reset(Instant::now() + self.options.tick_interval);
        loop {
            if self.shared.shutdown_requested.load(Ordering::Acquire) {
                return Exit::Shutdown;
            }
            // A tick that fell due while other inputs kept the driver busy:
            // ticks are ready at most once per interval, so they cannot
            // starve the rest, and a node under load must still heartbeat.
            if next_tick.is_elapsed() {
                self.tick(next_tick.as_mut());
            }
            // Commands taken from the mailbox in this turn.
            let mut turn_commands = 0usize;
            tokio::select! {
                biased;
                // Peer traffic before client traffic: acknowledgements free
                // room, new commands take it.
                frame = self.transport.recv(), if !self.transport_closed => match frame {
                    Some((from, frame)) => self.on_frame(from, &frame),
                    None => {
                        tracing::warn!("transport closed; node continues without peers");
                        self.transport_closed = true;
                    }
                },
                control = self.inbox.control.recv() => match control {
                    Some(Control::Status(reply)) => {
                        let _ = reply.send(self.status());
                    }
                    // Shut down, or every handle is gone.
                    Some(Control::Shutdown) | None => return Exit::Shutdown,
                },
                submission = self.inbox.mailbox.recv() => match submission {
                    Some(submission) => {
                        self.stage(submission);
                        turn_commands = 1;
                    }
                    // Every handle is gone: nobody can submit or shut down.
                    None => return Exit::Shutdown,
                },
                () = std::future::ready(()), if self.more_ready => {}
                // Last: polled only when nothing else is ready, right before
                // the driver waits; the check above covers a busy driver.
                () = &mut next_tick => self.tick(next_tick.as_mut()),
            }
            turn_commands += self.drain_inputs(self.options.commands_per_turn_max);
            // Other requests were already in flight when this turn's
            // commands came in: there is concurrency.
            let concurrent = turn_commands >= 1 && self.pending.len() > turn_commands;
            if turn_commands >= 2 || concurrent {
                // Under load, other clients are typically being woken in
                // this same scheduler pass (by answers this node just sent);
                // yielding once lets them submit, so their commands join
                // this batch instead of each costing a Ready of its own. A
                // lone command with nothing else in flight (low load) skips
                // this: the yield would only add latency. Yield again while
                // yielding keeps bringing commands in: the clients woken
                // together do not all run in one pass.
                for _ in 0..LINGER_YIELDS_MAX {
                    tokio::task::yield_now().await;
                    let budget = self
                        .options
                        .commands_per_turn_max
                        .saturating_sub(turn_commands);
                    let taken = self.drain_inputs(budget);
                    turn_commands += taken;
                    if taken == 0 || budget == taken {
                        break;
                    }
                }
            }
            self.submit_staged();
            if let Err(error) = self.carry_out_readies().await {
                return Exit::Fatal(error);
            }
        }
    }

    /// One protocol tick, and the next one set an interval from now. After
    /// a stall this yields a single late tick, not a burst that would look
    /// like a long silence to the protocol and start needless elections.
    fn tick(&mut self, next_tick: std::pin::Pin<&mut tokio::time::Sleep>) {
        self.protocol.tick();
        next_tick.reset(Instant::now() + self.options.tick_interval);
    }

    /// Takes whatever else is already waiting, up to the per-turn frame
    /// limit and `commands_max` commands, so that one `Ready` carries many
    /// commands and acknowledgements. Returns the number of commands taken.
    fn drain_inputs(&mut self, commands_max: usize) -> usize {
        for _ in 0..self.options.frames_per_turn_max {
            if self.transport_closed {
                break;
            }
            match self.transport.try_recv() {
                TryRecv::Frame(from, frame) => self.on_frame(from, &frame),
                TryRecv::Closed => self.transport_closed = true,
                TryRecv::Empty => break,
            }
        }
        // Most turns of a follower, and many of a lightly loaded leader,
        // find the mailbox empty: a read says so without touching its
        // waker.
        if self.inbox.mailbox.is_empty() {
            return 0;
        }
        // All at once rather than one `try_recv` each: the bounded mailbox
        // returns the permits of a batch under one lock instead of one per
        // command, and where `try_recv` blocks the worker thread until a
        // sender that has claimed a slot on the other core finishes writing
        // it, this returns what is complete. The no-op waker is harmless:
        // the driver never waits without polling the mailbox in `serve`'s
        // `select!`, which registers its own.
        let mut received = std::mem::take(&mut self.received);
        let mut cx = Context::from_waker(Waker::noop());
        // `Pending` (nothing complete yet) and `Ready(0)` (closed, seen by
        // `serve`) both leave `received` empty.
        let _ = self
            .inbox
            .mailbox
            .poll_recv_many(&mut cx, &mut received, commands_max);
        let taken = received.len();
        for submission in received.drain(..) {
            self.stage(submission);
        }
        self.received = received;
        taken
    }

    fn on_frame(&mut self, from: NodeId, frame: &Bytes) {
        match wire::decode_frame::<P::Message>(self.options.group, frame) {
            Ok(message) => self.protocol.step(from, message),
            Err(error) => {
                self.garbage_frames += 1;
                tracing::debug!(%from, %error, "dropped an undecodable frame");
            }
        }
    }

    /// Holds a command taken from the mailbox until the end of the turn's
    /// intake, measuring its encoding on the way.
    fn stage(&mut self, submission: Submission<S::Command, S::Response>) {
        let encoded_len = wire::CommandBatch::measure(&submission.command);
        self.staged.push(Staged {
            submission,
            encoded_len,
        });
    }

    /// Packs the turn's staged commands, in the order they were taken, into
    /// command batches of at most `batch_bytes_max` bytes, and submits each
    /// batch to the protocol as one request (one log entry). Commands that
    /// cannot be encoded, are too large, or find the pending table full are
    /// answered at once and have no effect.
    fn submit_staged(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        let bytes_max = self.options.command_bytes_max;
        let framed_bytes: usize = self
            .staged
            .iter()
            .filter_map(|staged| staged.encoded_len.as_ref().ok())
            .filter(|&&len| len <= bytes_max)
            .map(|&len| command_batch::framed_len(len))
            .sum();
        self.command_batch
            .reserve(framed_bytes.min(self.options.batch_bytes_max));
        let mut replies = self.pending.replies();
        let mut staged = std::mem::take(&mut self.staged);
        for Staged {
            submission: Submission { command, reply },
            encoded_len,
        } in staged.drain(..)
        {
            let refusal = match encoded_len {
                Ok(len) if len > bytes_max => SubmitError::TooLarge {
                    size_bytes: len,
                    limit_bytes: bytes_max,
                },
                Ok(_) if self.pending.is_full_with(replies.len()) => SubmitError::Busy {
                    in_flight: self.pending.len() + replies.len(),
                    limit: self.pending.capacity(),
                },
                Ok(len) => {
                    self.pack(&command, len, reply, &mut replies);
                    continue;
                }
                Err(error) => SubmitError::InvalidCommand {
                    reason: error.to_string(),
                },
            };
            let _ = reply.send(Err(refusal));
        }
        let replies = self.propose_batch(replies);
        self.pending.recycle(replies);
        // Keep the allocation for the next turn.
        self.staged = staged;
    }

    /// Adds `command`, `len` bytes encoded, to the batch being built,
    /// submitting that batch first when the command would take it past
    /// `batch_bytes_max`.
    fn pack(
        &mut self,
        command: &S::Command,
        len: usize,
        reply: Reply<S::Response>,
        replies: &mut Replies<S::Response>,
    ) {
        let framed = command_batch::framed_len(len);
        if !self.command_batch.is_empty()
            && self.command_batch.len_bytes() + framed > self.options.batch_bytes_max
        {
            let proposed = std::mem::take(replies);
            *replies = self.propose_batch(proposed);
        }
        match self.command_batch.push(command, len) {
            Ok(()) => replies.push(reply),
            Err(error) => {
                let _ = reply.send(Err(SubmitError::InvalidCommand {
                    reason: error.to_string(),
                }));
            }
        }
    }

    /// Submits the command batch built so far, whose submitters are
    /// `replies`, as one protocol request; returns an empty list for the
    /// next batch.
    fn propose_batch(&mut self, mut replies: Replies<S::Response>) -> Replies<S::Response> {
        if replies.is_empty() {
            return replies;
        }
        let data = self.command_batch.take();
        match self.protocol.submit(data) {
            Ok(request) => {
                self.pending.insert(request, replies);
                self.pending.replies()
            }
            Err(error) => {
                fail_each(&mut replies, &error);
                replies
            }
        }
    }

    /// Carries out `Ready` batches until the protocol has none, or the
    /// per-turn limit is reached.
    async fn carry_out_readies(&mut self) -> Result<(), StorageError> {
        for _ in 0..self.options.readies_per_turn_max {
            let Some(ready) = self.protocol.ready() else {
                self.more_ready = false;
                return Ok(());
            };
            self.carry_out(ready).await?;
            self.maybe_snapshot();
        }
        self.more_ready = true;
        Ok(())
    }

    /// The Ready contract, steps 1–5 (see [`Ready`]).
    async fn carry_out(&mut self, ready: Ready<P::Message, Committed>) -> Result<(), StorageError> {
        let Ready {
            id,
            send_now,
            persist,
            send_after_persist,
            outputs,
            failed,
        } = ready;

        // 1. Messages that do not depend on this batch's durable state.
        self.send_all(send_now);

        // 2. Make the batch durable. On failure, stop here: nothing below may
        // happen, since it would promise state that may not exist.
        let mut installed_snapshot = None;
        if let Some(batch) = persist {
            installed_snapshot = batch.snapshot.clone();
            self.storage.write(batch).await?;
        }

        // 3. Messages that promise durable state (votes, acknowledgements).
        let acknowledged = !send_after_persist.is_empty();
        self.send_all(send_after_persist);
        if acknowledged && !outputs.is_empty() && self.pending.is_empty() {
            // A follower that has just acknowledged entries woke the leader,
            // usually into this worker's next-task slot, which other
            // workers cannot steal from: the leader would wait for the rest
            // of this turn. Nobody here waits for the outputs (no local
            // submitter is pending), so let the leader run first and apply
            // after. At one client this is a third more operations per
            // second (see docs/benchmarks.md).
            tokio::task::yield_now().await;
        }

        // 4. A snapshot received from a peer replaces the state machine, then
        // decided outputs are applied in order and their submitters answered.
        if let Some(snapshot) = installed_snapshot {
            if snapshot.meta.last_index > self.applied_index {
                self.state_machine.restore(&snapshot.data)?;
                self.applied_index = snapshot.meta.last_index;
                self.unsnapshotted_bytes = 0;
            }
        }
        let pending_before = self.pending.len();
        for committed in outputs {
            self.apply(committed);
        }
        for (request, error) in failed {
            self.pending.fail(request, &error);
        }

        // 5. Only now may the protocol count the batch as durable.
        self.protocol.advance(id);

        // Every request in flight was just answered, so the driver is about
        // to go idle. The last submitter it woke waits in this worker's
        // next-task slot, which other workers cannot steal from: let the
        // few woken submitters run (and submit again) before the rest of
        // this turn instead of after it.
        let answered = pending_before - self.pending.len();
        if self.pending.is_empty() && (1..=ANSWERED_YIELD_MAX).contains(&answered) {
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    /// Log compaction: once `snapshot_entries` entries, or `snapshot_bytes`
    /// bytes of command entries, were applied since the protocol's latest
    /// snapshot, snapshot the state machine at the applied index and hand
    /// it over. Runs between batches (after `advance`), as
    /// `Protocol::compact` requires; the protocol writes the snapshot with
    /// its next batch.
    fn maybe_snapshot(&mut self) {
        let bytes_due = self.unsnapshotted_bytes >= self.options.snapshot_bytes;
        if self.applied_index < self.snapshot_due_index && !bytes_due {
            return;
        }
        // A snapshot installed from a peer may have moved the snapshot index.
        let snapshot_index = self.protocol.status().snapshot_index;
        self.snapshot_due_index = snapshot_index.saturating_add(self.options.snapshot_entries);
        let entries_due = self.applied_index >= self.snapshot_due_index;
        if self.applied_index <= snapshot_index || !(entries_due || bytes_due) {
            return;
        }
        let data = self.state_machine.snapshot();
        tracing::debug!(
            applied = self.applied_index,
            bytes = data.len(),
            "snapshot taken"
        );
        // The next check reads the snapshot index again: the protocol may
        // have skipped this snapshot (see `Protocol::compact`).
        self.protocol.compact(self.applied_index, data);
        self.unsnapshotted_bytes = 0;
    }

    fn send_all(&mut self, messages: Vec<(NodeId, P::Message)>) {
        // A leader sends followers that are in step the same AppendEntries,
        // one after the other: encode it once and send each the same frame.
        let mut last: Option<(P::Message, Bytes)> = None;
        for (to, message) in messages {
            let frame = match &last {
                Some((sent, frame)) if *sent == message => frame.clone(),
                _ => {
                    let frame = wire::encode_frame(self.options.group, &message);
                    last = Some((message, frame.clone()));
                    frame
                }
            };
            self.transport.send(to, frame);
        }
    }

    fn apply(&mut self, committed: Committed) {
        let Committed { entry, request } = committed;
        if entry.index <= self.applied_index {
            // Covered by a snapshot the state machine already holds.
            tracing::debug!(
                index = entry.index,
                "skipped an output at or below the applied index"
            );
            return;
        }
        self.applied_index = entry.index;
        if entry.kind != EntryKind::Command {
            // Noop and membership entries are the protocol's own.
            return;
        }
        self.unsnapshotted_bytes += entry.data.len() as u64;
        // Entries proposed elsewhere have no submitters here (an empty list
        // allocates nothing).
        let mut replies = request
            .and_then(|request| self.pending.take(request))
            .unwrap_or_default();
        let mut submitters = replies.drain(..);
        let undecodable = &mut self.undecodable_commands;
        command_batch::apply(
            &mut self.state_machine,
            entry.index,
            &entry.data,
            |result| {
                let result = result.map_err(|error| {
                    // Every replica fails to decode the same bytes the same
                    // way, so skipping keeps replicas identical.
                    *undecodable += 1;
                    tracing::warn!(index = entry.index, %error, "skipped an undecodable command");
                    SubmitError::InvalidCommand {
                        reason: error.to_string(),
                    }
                });
                if let Some(reply) = submitters.next() {
                    let _ = reply.send(result);
                }
            },
        );
        // Only a batch that broke off holds fewer commands than it had
        // submitters; its decode error went to the first one left out.
        for reply in submitters {
            let _ = reply.send(Err(SubmitError::InvalidCommand {
                reason: "the entry's command batch broke off before this command".into(),
            }));
        }
        if replies.capacity() > 0 {
            self.pending.recycle(replies);
        }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus {
            protocol: self.protocol.status(),
            applied_index: self.applied_index,
            garbage_frames: self.garbage_frames,
            undecodable_commands: self.undecodable_commands,
            transport: self.transport.stats(),
            pending_requests: self.pending.len(),
            stopped: false,
            fatal_error: None,
        }
    }

    /// Fails everything in flight and publishes the final status.
    fn stop(&mut self, fatal_error: Option<String>) {
        self.shared.stopped.store(true, Ordering::Release);
        // The protocol had these: they may commit elsewhere.
        self.pending.fail_all(&SubmitError::Indeterminate {
            reason: "node stopped",
        });
        let mut status = self.status();
        status.stopped = true;
        status.fatal_error = fatal_error;
        // Publish before closing the channels: a `status()` call that finds
        // them closed reads this.
        *lock(&self.shared.final_status) = Some(status.clone());
        // These never reached the protocol: they certainly had no effect.
        for staged in self.staged.drain(..) {
            let _ = staged.submission.reply.send(Err(SubmitError::Stopped));
        }
        self.inbox.mailbox.close();
        while let Ok(submission) = self.inbox.mailbox.try_recv() {
            let _ = submission.reply.send(Err(SubmitError::Stopped));
        }
        self.inbox.control.close();
        while let Ok(control) = self.inbox.control.try_recv() {
            if let Control::Status(reply) = control {
                let _ = reply.send(status.clone());
            }
        }
    }
}
