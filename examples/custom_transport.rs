//! A user-written transport: frames over tokio channels, plugged into a
//! Raft cluster with one builder call.
//!
//! A transport moves opaque frames; the node does all encoding. The contract
//! (see `docs/components.md`): `send` never blocks (bounded queue, drop and
//! count when full), `recv` is cancel-safe.
//!
//! Run with `cargo run --example custom_transport`.

use async_trait::async_trait;
use bytes::Bytes;
use quorate::prelude::*;
use quorate_core::{Role, TransportStats};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Frames one node's inbox holds before senders start dropping.
const INBOX_FRAMES_MAX: usize = 1024;

/// Who can be reached: one bounded inbox per node.
type Directory = Arc<Mutex<BTreeMap<NodeId, mpsc::Sender<(NodeId, Bytes)>>>>;

/// One node's endpoint.
struct ChannelTransport {
    id: NodeId,
    directory: Directory,
    inbox: mpsc::Receiver<(NodeId, Bytes)>,
    sent: AtomicU64,
    dropped: AtomicU64,
    received: u64,
}

impl ChannelTransport {
    fn join(directory: &Directory, id: NodeId) -> Self {
        let (sender, inbox) = mpsc::channel(INBOX_FRAMES_MAX);
        directory.lock().unwrap().insert(id, sender);
        ChannelTransport {
            id,
            directory: Arc::clone(directory),
            inbox,
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            received: 0,
        }
    }
}

#[async_trait]
impl Transport for ChannelTransport {
    fn send(&self, to: NodeId, frame: Bytes) {
        let peer = self.directory.lock().unwrap().get(&to).cloned();
        // `try_send`: a full or vanished peer never stalls the node.
        match peer.map(|inbox| inbox.try_send((self.id, frame))) {
            Some(Ok(())) => self.sent.fetch_add(1, Ordering::Relaxed),
            _ => self.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }

    async fn recv(&mut self) -> Option<(NodeId, Bytes)> {
        // mpsc::Receiver::recv is cancel-safe, as the contract requires.
        let frame = self.inbox.recv().await;
        self.received += u64::from(frame.is_some());
        frame
    }

    fn stats(&self) -> TransportStats {
        TransportStats {
            frames_sent: self.sent.load(Ordering::Relaxed),
            frames_received: self.received,
            frames_dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let members = vec![NodeId(1), NodeId(2), NodeId(3)];
    let directory = Directory::default();
    let mut nodes = Vec::new();
    for &id in &members {
        let node = Node::builder(
            id,
            RaftConfig {
                members: members.clone(),
                ..RaftConfig::default()
            },
        )
        .transport(ChannelTransport::join(&directory, id)) // the one line that plugs it in
        .storage(MemStorage::new())
        .state_machine(Kv::new())
        .start()
        .await?;
        nodes.push(node);
    }

    let leader = loop {
        let mut found = None;
        for node in &nodes {
            if node.status().await.protocol.role == Role::Leader {
                found = Some(node.clone());
            }
        }
        match found {
            Some(node) => break node,
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    println!("{} leads", leader.id());
    for n in 0..5 {
        let put = Command::Put {
            key: format!("key-{n}").into(),
            value: format!("value-{n}").into(),
        };
        println!("put key-{n} -> {:?}", leader.submit(put).await?);
    }
    let last = leader.status().await.applied_index;
    // Every replica applies the same commands, carried by our transport.
    for node in &nodes {
        while node.status().await.applied_index < last {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let status = node.status().await;
        println!(
            "{}: applied up to {}, transport sent {} / received {} frames",
            node.id(),
            status.applied_index,
            status.transport.frames_sent,
            status.transport.frames_received
        );
    }
    for node in &nodes {
        node.shutdown().await;
    }
    Ok(())
}
