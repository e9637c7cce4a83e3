//! `MemNetwork` / `MemTransport`: delivery, bounded inboxes, detaching.

use bytes::Bytes;
use futures::FutureExt;
use quorate_core::{NodeId, Transport, TryRecv};
use quorate_transport::MemNetwork;
use std::time::Duration;

const A: NodeId = NodeId(1);
const B: NodeId = NodeId(2);

fn frame(n: u32) -> Bytes {
    Bytes::from(n.to_be_bytes().to_vec())
}

#[tokio::test]
async fn frames_arrive_in_order_with_the_sender_id() {
    let network = MemNetwork::new();
    let a = network.join(A);
    let mut b = network.join(B);
    for n in 0..10 {
        a.send(B, frame(n));
    }
    for n in 0..10 {
        assert_eq!(b.recv().await, Some((A, frame(n))));
    }
    assert_eq!(a.stats().frames_sent, 10);
    assert_eq!(b.stats().frames_received, 10);
    assert_eq!(a.stats().frames_dropped, 0);
}

#[tokio::test]
async fn try_recv_takes_what_has_arrived_in_order_without_waiting() {
    let network = MemNetwork::new();
    let a = network.join(A);
    let mut b = network.join(B);
    assert_eq!(b.try_recv(), TryRecv::Empty);
    for n in 0..3 {
        a.send(B, frame(n));
    }
    for n in 0..3 {
        assert_eq!(b.try_recv(), TryRecv::Frame(A, frame(n)));
    }
    assert_eq!(b.try_recv(), TryRecv::Empty);
    assert_eq!(b.stats().frames_received, 3);
    // Mixed with `recv`, still one queue in one order.
    a.send(B, frame(3));
    a.send(B, frame(4));
    assert_eq!(b.recv().await, Some((A, frame(3))));
    assert_eq!(b.try_recv(), TryRecv::Frame(A, frame(4)));
}

#[tokio::test]
async fn a_full_inbox_drops_and_counts_without_blocking() {
    let network = MemNetwork::with_inbox_capacity(4);
    let a = network.join(A);
    let mut b = network.join(B);
    for n in 0..10 {
        a.send(B, frame(n));
    }
    let stats = a.stats();
    assert_eq!(stats.frames_sent, 4);
    assert_eq!(stats.frames_dropped, 6);
    for n in 0..4 {
        assert_eq!(b.recv().await, Some((A, frame(n))));
    }
    assert!(b.recv().now_or_never().is_none(), "only 4 frames fit");
}

#[tokio::test]
async fn frames_to_unknown_or_detached_nodes_are_dropped() {
    let network = MemNetwork::new();
    let a = network.join(A);
    a.send(NodeId(9), frame(0));
    let b = network.join(B);
    drop(b);
    assert_eq!(network.members(), vec![A]);
    a.send(B, frame(1));
    assert_eq!(a.stats().frames_dropped, 2);

    // Rejoining works, and dropping a stale endpoint does not detach the
    // new one.
    let stale = network.join(B);
    let mut fresh = network.join(B);
    drop(stale);
    a.send(B, frame(2));
    assert_eq!(fresh.recv().await, Some((A, frame(2))));
}

#[tokio::test]
async fn recv_is_cancel_safe() {
    let network = MemNetwork::new();
    let a = network.join(A);
    let mut b = network.join(B);
    // Cancel a pending recv, then send: the frame must reach the next recv.
    for n in 0..20 {
        let timed_out = tokio::time::timeout(Duration::from_millis(1), b.recv()).await;
        assert!(timed_out.is_err(), "nothing was sent yet");
        a.send(B, frame(n));
        assert_eq!(b.recv().await, Some((A, frame(n))));
    }
    assert_eq!(b.stats().frames_received, 20);
}
