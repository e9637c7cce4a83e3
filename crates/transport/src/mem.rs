//! [`MemNetwork`] and [`MemTransport`]: an in-process network.

use async_trait::async_trait;
use bytes::Bytes;
use quorate_core::{NodeId, Transport, TransportStats, TryRecv};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::sync::mpsc;

/// Default capacity of each node's inbox, in frames.
///
/// Large enough that a 3–5 node cluster under a burst of proposals does not
/// drop, small enough that a node that stopped reading costs at most a few
/// MiB of queued frames.
pub const INBOX_FRAMES_MAX_DEFAULT: usize = 4096;

type Frame = (NodeId, Bytes);

/// One joined endpoint, as the hub sees it.
#[derive(Debug)]
struct Slot {
    /// Distinguishes this endpoint from an earlier or later one with the
    /// same id, so that dropping a stale endpoint does not detach a new one.
    generation: u64,
    inbox: mpsc::Sender<Frame>,
}

#[derive(Debug, Default)]
struct Hub {
    slots: BTreeMap<NodeId, Slot>,
    generation: u64,
}

/// An in-process network hub. Cheap to clone: clones share the hub.
///
/// Each node calls [`join`](MemNetwork::join) to get its [`MemTransport`].
/// A frame sent to a node is placed in that node's bounded inbox; when the
/// inbox is full, or the node has not joined (or has left by dropping its
/// endpoint), the frame is dropped and counted by the sender.
#[derive(Clone, Debug)]
pub struct MemNetwork {
    hub: Arc<Mutex<Hub>>,
    inbox_frames_max: usize,
}

impl Default for MemNetwork {
    fn default() -> Self {
        MemNetwork::new()
    }
}

impl MemNetwork {
    /// A hub whose inboxes hold [`INBOX_FRAMES_MAX_DEFAULT`] frames.
    pub fn new() -> Self {
        MemNetwork::with_inbox_capacity(INBOX_FRAMES_MAX_DEFAULT)
    }

    /// A hub whose inboxes hold `inbox_frames_max` frames each.
    ///
    /// # Panics
    ///
    /// When `inbox_frames_max` is zero.
    pub fn with_inbox_capacity(inbox_frames_max: usize) -> Self {
        assert!(
            inbox_frames_max > 0,
            "an inbox must hold at least one frame"
        );
        MemNetwork {
            hub: Arc::new(Mutex::new(Hub::default())),
            inbox_frames_max,
        }
    }

    /// Joins the network as `id`, replacing any earlier endpoint of `id`
    /// (which then receives nothing more).
    pub fn join(&self, id: NodeId) -> MemTransport {
        let (inbox, receiver) = mpsc::channel(self.inbox_frames_max);
        let mut hub = self.lock();
        hub.generation += 1;
        let generation = hub.generation;
        hub.slots.insert(id, Slot { generation, inbox });
        MemTransport {
            id,
            generation,
            network: self.clone(),
            receiver,
            counters: Counters::default(),
        }
    }

    /// The nodes currently joined.
    pub fn members(&self) -> Vec<NodeId> {
        self.lock().slots.keys().copied().collect()
    }

    fn lock(&self) -> MutexGuard<'_, Hub> {
        // The hub's map is updated by single insert/remove calls: a panic
        // elsewhere cannot leave it inconsistent.
        self.hub.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    fn inbox_of(&self, to: NodeId) -> Option<mpsc::Sender<Frame>> {
        self.lock().slots.get(&to).map(|slot| slot.inbox.clone())
    }

    fn leave(&self, id: NodeId, generation: u64) {
        let mut hub = self.lock();
        if hub
            .slots
            .get(&id)
            .is_some_and(|s| s.generation == generation)
        {
            hub.slots.remove(&id);
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
}

/// One node's endpoint on a [`MemNetwork`].
///
/// Dropping it detaches the node: frames sent to it from then on are dropped.
#[derive(Debug)]
pub struct MemTransport {
    id: NodeId,
    generation: u64,
    network: MemNetwork,
    receiver: mpsc::Receiver<Frame>,
    counters: Counters,
}

impl MemTransport {
    /// The node this endpoint belongs to.
    pub fn id(&self) -> NodeId {
        self.id
    }
}

impl Drop for MemTransport {
    fn drop(&mut self) {
        self.network.leave(self.id, self.generation);
    }
}

#[async_trait]
impl Transport for MemTransport {
    fn send(&self, to: NodeId, frame: Bytes) {
        let delivered = self
            .network
            .inbox_of(to)
            .is_some_and(|inbox| inbox.try_send((self.id, frame)).is_ok());
        let counter = if delivered {
            &self.counters.sent
        } else {
            &self.counters.dropped
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    async fn recv(&mut self) -> Option<(NodeId, Bytes)> {
        // `mpsc::Receiver::recv` is cancel-safe: a frame is only removed from
        // the queue when this future completes.
        let frame = self.receiver.recv().await;
        if frame.is_some() {
            self.counters.received.fetch_add(1, Ordering::Relaxed);
        }
        frame
    }

    fn try_recv(&mut self) -> TryRecv {
        // One poll with a no-op waker rather than `mpsc::Receiver::try_recv`,
        // which parks the thread while a sender on another core has claimed
        // a slot and not yet written it: `try_recv` must never wait. A frame
        // still being written is reported as `Empty` and handed out by the
        // next call or by `recv`, which registers the caller's waker again
        // (the no-op one replaces it here; the node always polls `recv`
        // before it waits).
        let mut cx = Context::from_waker(Waker::noop());
        match self.receiver.poll_recv(&mut cx) {
            Poll::Ready(Some((from, frame))) => {
                self.counters.received.fetch_add(1, Ordering::Relaxed);
                TryRecv::Frame(from, frame)
            }
            Poll::Ready(None) => TryRecv::Closed,
            Poll::Pending => TryRecv::Empty,
        }
    }

    fn stats(&self) -> TransportStats {
        TransportStats {
            frames_sent: self.counters.sent.load(Ordering::Relaxed),
            frames_received: self.counters.received.load(Ordering::Relaxed),
            frames_dropped: self.counters.dropped.load(Ordering::Relaxed),
        }
    }
}
