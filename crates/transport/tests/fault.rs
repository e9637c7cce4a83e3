//! `FaultTransport`: partitions, random drops, duplication and delay.

use bytes::Bytes;
use futures::FutureExt;
use quorate_core::{NodeId, Transport, TryRecv};
use quorate_transport::{FaultLayer, FaultOptions, MemNetwork};
use std::time::Duration;

const A: NodeId = NodeId(1);
const B: NodeId = NodeId(2);
const C: NodeId = NodeId(3);

fn frame(n: u32) -> Bytes {
    Bytes::from(n.to_be_bytes().to_vec())
}

/// Receives everything already deliverable.
async fn drain<T: Transport>(transport: &mut T) -> Vec<(NodeId, Bytes)> {
    let mut frames = Vec::new();
    loop {
        match transport.recv().now_or_never() {
            Some(Some(frame)) => frames.push(frame),
            _ => {
                // tokio's cooperative budget makes a busy task's channel
                // receive report "not ready"; yielding restores the budget.
                tokio::task::yield_now().await;
                match transport.recv().now_or_never() {
                    Some(Some(frame)) => frames.push(frame),
                    _ => return frames,
                }
            }
        }
    }
}

#[tokio::test]
async fn without_faults_frames_pass_through() {
    let network = MemNetwork::new();
    let layer = FaultLayer::new(FaultOptions::default());
    let a = layer.layer(A, network.join(A));
    let mut b = layer.layer(B, network.join(B));
    a.send(B, frame(7));
    assert_eq!(b.recv().await, Some((A, frame(7))));
    assert_eq!(b.stats().frames_received, 1);
}

#[tokio::test]
async fn the_default_try_recv_hands_out_what_recv_would() {
    // `FaultTransport` keeps `Transport`'s default `try_recv`, which polls
    // `recv` once.
    let network = MemNetwork::new();
    let layer = FaultLayer::new(FaultOptions::default());
    let a = layer.layer(A, network.join(A));
    let mut b = layer.layer(B, network.join(B));
    assert_eq!(b.try_recv(), TryRecv::Empty);
    a.send(B, frame(1));
    a.send(B, frame(2));
    assert_eq!(b.try_recv(), TryRecv::Frame(A, frame(1)));
    assert_eq!(b.try_recv(), TryRecv::Frame(A, frame(2)));
    assert_eq!(b.try_recv(), TryRecv::Empty);
    assert_eq!(b.stats().frames_received, 2);
}

#[tokio::test]
async fn partition_cuts_both_ways_until_heal() {
    let network = MemNetwork::new();
    let layer = FaultLayer::new(FaultOptions::default());
    let control = layer.control();
    let mut a = layer.layer(A, network.join(A));
    let mut b = layer.layer(B, network.join(B));
    let mut c = layer.layer(C, network.join(C));

    control.partition(A, B);
    a.send(B, frame(1));
    b.send(A, frame(2));
    a.send(C, frame(3));
    assert!(drain(&mut b).await.is_empty());
    assert!(drain(&mut a).await.is_empty());
    assert_eq!(drain(&mut c).await, vec![(A, frame(3))]);
    assert_eq!(a.stats().frames_dropped, 1);

    control.heal();
    a.send(B, frame(4));
    assert_eq!(drain(&mut b).await, vec![(A, frame(4))]);
}

#[tokio::test]
async fn frames_in_flight_when_a_partition_starts_are_lost() {
    let network = MemNetwork::new();
    let layer = FaultLayer::new(FaultOptions::default());
    let a = layer.layer(A, network.join(A));
    let mut b = layer.layer(B, network.join(B));
    a.send(B, frame(1));
    layer.control().isolate(B);
    assert!(drain(&mut b).await.is_empty());
    assert_eq!(b.stats().frames_dropped, 1);
}

#[tokio::test]
async fn isolate_cuts_a_node_from_everyone() {
    let network = MemNetwork::new();
    let layer = FaultLayer::new(FaultOptions::default());
    let control = layer.control();
    let a = layer.layer(A, network.join(A));
    let mut b = layer.layer(B, network.join(B));
    let mut c = layer.layer(C, network.join(C));
    control.isolate(A);
    a.send(B, frame(1));
    a.send(C, frame(2));
    b.send(C, frame(3));
    assert!(drain(&mut b).await.is_empty());
    assert_eq!(drain(&mut c).await, vec![(B, frame(3))]);
    assert!(control.is_cut(C, A));
    control.heal();
    assert!(!control.is_cut(C, A));
}

#[tokio::test]
async fn drop_probability_is_roughly_honoured() {
    const FRAMES: u32 = 10_000;
    let network = MemNetwork::with_inbox_capacity(FRAMES as usize);
    let layer = FaultLayer::new(FaultOptions {
        seed: 42,
        drop_probability: 0.3,
        ..FaultOptions::default()
    });
    let a = layer.layer(A, network.join(A));
    let mut b = layer.layer(B, network.join(B));
    for n in 0..FRAMES {
        a.send(B, frame(n));
    }
    let received = drain(&mut b).await.len();
    // Expected 7,000; the standard deviation is about 46, so +-500 is more
    // than ten of them.
    assert!(
        (6_500..=7_500).contains(&received),
        "received {received} of {FRAMES} with drop probability 0.3"
    );
    assert_eq!(
        b.stats().frames_dropped,
        u64::from(FRAMES) - received as u64
    );
}

#[tokio::test]
async fn the_same_seed_drops_the_same_frames() {
    async fn survivors(seed: u64) -> Vec<(NodeId, Bytes)> {
        let network = MemNetwork::new();
        let layer = FaultLayer::new(FaultOptions {
            seed,
            drop_probability: 0.5,
            ..FaultOptions::default()
        });
        let a = layer.layer(A, network.join(A));
        let mut b = layer.layer(B, network.join(B));
        for n in 0..200 {
            a.send(B, frame(n));
        }
        drain(&mut b).await
    }
    assert_eq!(survivors(5).await, survivors(5).await);
    assert_ne!(survivors(5).await, survivors(6).await);
}

#[tokio::test]
async fn duplication_delivers_frames_twice() {
    let network = MemNetwork::new();
    let always = FaultLayer::new(FaultOptions {
        duplicate_probability: 1.0,
        ..FaultOptions::default()
    });
    let a = always.layer(A, network.join(A));
    let mut b = always.layer(B, network.join(B));
    for n in 0..3 {
        a.send(B, frame(n));
    }
    let expected: Vec<_> = (0..3)
        .flat_map(|n| [(A, frame(n)), (A, frame(n))])
        .collect();
    assert_eq!(drain(&mut b).await, expected);

    let half = FaultLayer::new(FaultOptions {
        seed: 9,
        duplicate_probability: 0.5,
        ..FaultOptions::default()
    });
    let a = half.layer(A, network.join(A));
    let mut b = half.layer(B, network.join(B));
    for n in 0..2_000 {
        a.send(B, frame(n));
    }
    let received = drain(&mut b).await.len();
    // Expected 3,000 (standard deviation about 22).
    assert!(
        (2_700..=3_300).contains(&received),
        "received {received} frames from 2,000 with duplicate probability 0.5"
    );
}

#[tokio::test(start_paused = true)]
async fn delay_holds_frames_back_and_reorders_them() {
    let network = MemNetwork::new();
    let layer = FaultLayer::new(FaultOptions {
        seed: 3,
        delay_min: Duration::from_millis(50),
        delay_max: Duration::from_millis(500),
        ..FaultOptions::default()
    });
    let a = layer.layer(A, network.join(A));
    let mut b = layer.layer(B, network.join(B));
    for n in 0..50 {
        a.send(B, frame(n));
    }
    let early = tokio::time::timeout(Duration::from_millis(40), b.recv()).await;
    assert!(early.is_err(), "a frame arrived before delay_min");

    let mut order = Vec::new();
    for _ in 0..50 {
        let (from, frame) = b.recv().await.expect("transport open");
        assert_eq!(from, A);
        order.push(u32::from_be_bytes(frame[..].try_into().unwrap()));
    }
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..50).collect::<Vec<_>>(),
        "every frame arrives once"
    );
    assert_ne!(order, sorted, "random delays reorder frames");
}
