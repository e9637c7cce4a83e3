//! End to end: a 3-node Raft cluster in one process, built with the node
//! builder over `MemTransport` (behind the fault layer) and `MemStorage`.

mod common;

use bytes::Bytes;
use common::{eventually, Cluster, DEADLINE};
use quorate_core::{NodeId, Role, SubmitError, Transport};
use quorate_node::NodeOptions;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Every replica applied the same sequence; returns it.
async fn assert_identical_logs(cluster: &Cluster) -> Vec<(u64, u64)> {
    let leader = cluster.leader().await;
    let reference = cluster.applied(leader);
    let last = reference.last().map_or(0, |(index, _)| *index);
    cluster.wait_applied(last).await;
    for id in cluster.nodes.keys() {
        let applied = cluster.applied(*id);
        let common = applied.len().min(reference.len());
        assert_eq!(
            applied[..common],
            reference[..common],
            "{id} applied a different sequence than {leader}"
        );
        assert!(applied.len() >= reference.len(), "{id} is missing entries");
    }
    reference
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_one_leader_per_term() {
    let mut cluster = Cluster::start(3, false).await;
    let mut leaders: BTreeMap<u64, BTreeSet<NodeId>> = BTreeMap::new();
    let mut sample = |statuses: Vec<quorate_node::NodeStatus>| {
        for status in statuses {
            if status.protocol.role == Role::Leader {
                leaders
                    .entry(status.protocol.term)
                    .or_default()
                    .insert(status.protocol.id);
            }
        }
    };
    // Through the first election, a crash of the leader and the next
    // election, sample every node's view repeatedly.
    for _ in 0..100 {
        sample(cluster.statuses().await);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let first = cluster.leader().await;
    cluster.crash(first).await;
    let second = cluster.leader().await;
    for _ in 0..100 {
        sample(cluster.statuses().await);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    cluster.boot(first).await;
    for _ in 0..100 {
        sample(cluster.statuses().await);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_ne!(first, second);
    assert!(leaders.len() >= 2, "saw leaders in {} terms", leaders.len());
    for (term, ids) in &leaders {
        assert_eq!(ids.len(), 1, "term {term} had leaders {ids:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_commands_apply_in_the_same_order_everywhere() {
    const COMMANDS: u64 = 10_000;
    let cluster = Cluster::start(3, false).await;
    cluster.leader().await;
    let acknowledged = cluster.submit_all(0..COMMANDS, 64).await;
    assert_eq!(acknowledged as u64, COMMANDS);

    let sequence = assert_identical_logs(&cluster).await;
    let distinct: BTreeSet<u64> = sequence.iter().map(|(_, command)| *command).collect();
    assert_eq!(
        distinct.len() as u64,
        COMMANDS,
        "every acknowledged command applied"
    );
    // Indexes never decrease: commands packed into one entry share its
    // index, and no-op entries of new terms leave gaps.
    assert!(sequence.windows(2).all(|w| w[0].0 <= w[1].0));
    let entries: BTreeSet<u64> = sequence.iter().map(|(index, _)| *index).collect();
    assert!(entries.len() as u64 <= COMMANDS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_serves_after_the_leader_crashes_and_loses_nothing() {
    let mut cluster = Cluster::start(3, false).await;
    for command in 0..100 {
        cluster.submit(command).await;
    }
    let old = cluster.leader().await;
    cluster.crash(old).await;

    let survivors: Vec<NodeId> = cluster.nodes.keys().copied().collect();
    let new = cluster.leader_among(&survivors).await;
    assert_ne!(new, old);
    let index = cluster.submit(1_000).await;
    cluster.wait_applied(index).await;

    for id in survivors {
        let applied: BTreeSet<u64> = cluster.applied(id).iter().map(|(_, c)| *c).collect();
        for command in (0..100).chain([1_000]) {
            assert!(
                applied.contains(&command),
                "{id} lost committed command {command}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_cannot_commit_and_steps_down() {
    let cluster = Cluster::start(3, false).await;
    for command in 0..10 {
        cluster.submit(command).await;
    }
    let old = cluster.leader().await;
    cluster.control.isolate(old);

    // The minority leader cannot commit: its submit never succeeds.
    let stranded =
        tokio::time::timeout(Duration::from_secs(2), cluster.node(old).submit(500)).await;
    match stranded {
        Err(_elapsed) => {}
        Ok(Err(SubmitError::Indeterminate { .. } | SubmitError::NotLeader { .. })) => {}
        Ok(other) => panic!("an isolated leader answered {other:?}"),
    }
    // CheckQuorum: it notices it lost the quorum and steps down.
    eventually("the isolated leader steps down", || async {
        (cluster.node(old).status().await.protocol.role != Role::Leader).then_some(())
    })
    .await;
    // The majority elects another leader and serves.
    let majority: Vec<NodeId> = cluster
        .members
        .iter()
        .copied()
        .filter(|id| *id != old)
        .collect();
    let new = cluster.leader_among(&majority).await;
    assert_ne!(new, old);
    let mut nodes = cluster.nodes.clone();
    nodes.remove(&old);
    common::submit_with_retry(&nodes, 600).await;

    cluster.control.heal();
    let index = cluster.submit(700).await;
    cluster.wait_applied(index).await;
    assert_identical_logs(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_recovers_and_catches_up() {
    let mut cluster = Cluster::start(3, false).await;
    for command in 0..50 {
        cluster.submit(command).await;
    }
    let leader = cluster.leader().await;
    let follower = *cluster.members.iter().find(|id| **id != leader).unwrap();
    cluster
        .wait_applied(cluster.node(leader).status().await.applied_index)
        .await;
    let before_crash = cluster.applied(follower);
    cluster.crash(follower).await;

    for command in 50..250 {
        cluster.submit(command).await;
    }
    cluster.boot(follower).await;
    let index = cluster.submit(250).await;
    cluster.wait_applied(index).await;

    let replayed = cluster.applied(follower);
    assert_eq!(
        replayed[..before_crash.len()],
        before_crash[..],
        "the restarted node replays its log"
    );
    let reference = assert_identical_logs(&cluster).await;
    let applied: BTreeSet<u64> = cluster.applied(follower).iter().map(|(_, c)| *c).collect();
    assert!(reference.iter().all(|(_, c)| applied.contains(c)));
    assert!((0..=250).all(|c| applied.contains(&c)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_frame_is_dropped_and_counted() {
    let cluster = Cluster::start(3, false).await;
    cluster.submit(1).await;
    let target = NodeId(2);
    let intruder = cluster.network.join(NodeId(99));
    intruder.send(
        target,
        Bytes::from_static(b"\x01\x00\x00\x00\x00 not a raft message"),
    );
    intruder.send(target, Bytes::from_static(b"\xff garbage"));
    let status = eventually("the garbage frames are counted", || async {
        let status = cluster.node(target).status().await;
        (status.garbage_frames >= 2).then_some(status)
    })
    .await;
    assert_eq!(status.garbage_frames, 2);
    assert!(!status.stopped);
    let index = cluster.submit(2).await;
    cluster.wait_applied(index).await;
}

/// Commits one command, then returns the leader and a follower that knows
/// who leads.
async fn leader_and_informed_follower(cluster: &Cluster) -> (NodeId, NodeId) {
    cluster.submit(1).await;
    let leader = cluster.leader().await;
    let follower = *cluster.members.iter().find(|id| **id != leader).unwrap();
    eventually("the follower knows the leader", || async {
        (cluster.node(follower).status().await.protocol.leader == Some(leader)).then_some(())
    })
    .await;
    (leader, follower)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_answers_not_leader_with_a_hint() {
    let cluster = Cluster::start(3, false).await;
    let (leader, follower) = leader_and_informed_follower(&cluster).await;
    match cluster.node(follower).submit(2).await {
        Err(SubmitError::NotLeader { leader_hint }) => assert_eq!(leader_hint, Some(leader)),
        other => panic!("a follower answered {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_forwards_when_forwarding_is_on() {
    let cluster = Cluster::start(3, true).await;
    let (leader, follower) = leader_and_informed_follower(&cluster).await;
    let index = tokio::time::timeout(DEADLINE, async {
        loop {
            match cluster.node(follower).submit(42).await {
                Ok(index) => return index,
                // The leader may change under load; the forward then fails
                // as indeterminate and is retried.
                Err(SubmitError::Indeterminate { .. } | SubmitError::NotLeader { .. }) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(other) => panic!("a forwarded submit failed: {other}"),
            }
        }
    })
    .await
    .expect("the forwarded command is applied");
    assert!(cluster.applied(follower).contains(&(index, 42)));
    cluster.wait_applied(index).await;
    assert!(cluster.applied(leader).contains(&(index, 42)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_far_behind_catches_up_by_snapshot_and_logs_stay_bounded() {
    const SNAPSHOT_ENTRIES: u64 = 64;
    let options = NodeOptions {
        tick_interval: Duration::from_millis(5),
        snapshot_entries: SNAPSHOT_ENTRIES,
        ..NodeOptions::default()
    };
    let mut cluster = Cluster::start_with_options(3, false, options).await;
    for command in 0..20 {
        cluster.submit(command).await;
    }
    let leader = cluster.leader().await;
    let follower = *cluster.members.iter().find(|id| **id != leader).unwrap();
    let index = cluster.submit(20).await;
    cluster.wait_applied(index).await;
    let behind = cluster.node(follower).status().await.protocol.last_index;
    cluster.crash(follower).await;

    // The others commit (and compact) far past the follower's log. Under
    // concurrency commands share entries, so keep going until they have.
    let mut next = 21u64;
    let compacted = loop {
        assert_eq!(cluster.submit_all(next..next + 250, 32).await, 250);
        next += 250;
        let leader = cluster.leader().await;
        let compacted = cluster.node(leader).status().await.protocol.snapshot_index;
        if compacted > behind + SNAPSHOT_ENTRIES {
            break compacted;
        }
        assert!(
            next < 100_000,
            "the leader compacted only to {compacted}, not past the follower's last entry {behind}"
        );
    };

    // Only a snapshot can bring it back: the entries it lacks are gone.
    cluster.boot(follower).await;
    let index = cluster.submit(next).await;
    cluster.wait_applied(index).await;
    let reference = assert_identical_logs(&cluster).await;
    assert_eq!(
        cluster.applied(follower),
        reference,
        "the follower's state is identical to the leader's"
    );
    let installed = cluster.storages[&follower]
        .durable_state()
        .snapshot
        .expect("the follower holds a snapshot");
    assert!(installed.meta.last_index >= compacted);

    // A restart recovers from the installed snapshot: the node builder
    // restores the state machine from it and only later entries replay.
    cluster.crash(follower).await;
    cluster.boot(follower).await;
    let restarted = cluster.node(follower).status().await;
    assert!(restarted.applied_index >= installed.meta.last_index);
    let index = cluster.submit(next + 1).await;
    cluster.wait_applied(index).await;
    let reference = assert_identical_logs(&cluster).await;
    assert_eq!(cluster.applied(follower), reference);

    for (id, node) in &cluster.nodes {
        let status = node.status().await.protocol;
        let held = status.last_index - status.snapshot_index;
        assert!(
            held < 2 * SNAPSHOT_ENTRIES,
            "{id} holds {held} entries in memory (snapshot at {})",
            status.snapshot_index
        );
        let stored = cluster.storages[id].durable_state().entries.len() as u64;
        assert!(
            stored < 2 * SNAPSHOT_ENTRIES,
            "{id} stores {stored} entries"
        );
    }
}
