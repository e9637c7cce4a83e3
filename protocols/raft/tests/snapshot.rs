//! Log compaction and InstallSnapshot (§7), checked on the exact Ready
//! batches a node emits, plus whole-cluster runs that compact constantly.

mod common;

use bytes::Bytes;
use common::*;
use quorate_core::{NodeId, Protocol, Recovered, Role, Snapshot, SnapshotMeta};
use quorate_raft::{AppendOutcome, Config, HardState, Message, Raft};

fn accepted(term: u64, match_index: u64) -> Message {
    Message::AppendResponse {
        term,
        outcome: AppendOutcome::Accepted { match_index },
    }
}

/// What a snapshot of voters `1..=size` records as its membership.
fn membership(size: u64) -> Bytes {
    let voters: Vec<NodeId> = (1..=size).map(NodeId).collect();
    Bytes::from(postcard::to_allocvec(&voters).unwrap())
}

fn snapshot(last_index: u64, last_term: u64, data: &'static str) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta {
            last_index,
            last_term,
            membership: membership(3),
        },
        data: Bytes::from_static(data.as_bytes()),
    }
}

fn install(term: u64, snapshot: Snapshot) -> Message {
    Message::InstallSnapshot { term, snapshot }
}

/// Leader n1 of term 1 in a three-node group: its no-op and `commands`
/// commands are committed (n2 acknowledged them) and handed out; n3 has
/// not answered anything.
fn leader_with_applied_log(commands: u64) -> Raft {
    let mut leader = new_node(1, config(3));
    make_leader(&mut leader);
    leader.step(NodeId(2), accepted(1, 1));
    for i in 0..commands {
        leader.submit(Bytes::from(format!("c{i}"))).unwrap();
    }
    drain_all(&mut leader);
    let last = leader.status().last_index;
    leader.step(NodeId(2), accepted(1, last));
    drain_all(&mut leader);
    assert_eq!(leader.status().applied_index, last);
    leader
}

fn install_snapshots(messages: &[(NodeId, Message)], node: u64) -> Vec<Snapshot> {
    to(messages, node)
        .into_iter()
        .filter_map(|m| match m {
            Message::InstallSnapshot { snapshot, .. } => Some(snapshot),
            _ => None,
        })
        .collect()
}

#[test]
fn compaction_persists_the_snapshot_and_drops_the_covered_log_7() {
    let mut leader = leader_with_applied_log(4);
    leader.compact(5, Bytes::from_static(b"state@5"));
    let status = leader.status();
    assert_eq!(
        (
            status.snapshot_index,
            status.last_index,
            status.applied_index
        ),
        (5, 5, 5)
    );
    let ready = drain(&mut leader).unwrap();
    let persist = ready.persist.expect("the snapshot is written");
    assert_eq!(persist.snapshot, Some(snapshot(5, 1, "state@5")));
    assert_eq!(persist.compact_to, Some(5));
    assert_eq!(persist.truncate_from, None);
    assert!(persist.entries.is_empty());
    assert!(persist.sync);
    assert!(ready.outputs.is_empty());
    assert!(ready.send_now.is_empty() && ready.send_after_persist.is_empty());
    // The log goes on after the snapshot: a new entry follows it directly.
    leader.submit(Bytes::from("next")).unwrap();
    let ready = drain(&mut leader).unwrap();
    let persist = ready.persist.unwrap();
    assert_eq!(persist.entries.len(), 1);
    assert_eq!(persist.entries[0].index, 6);
    assert_eq!(persist.snapshot, None);
    let sent = to(&ready.send_now, 2);
    assert!(
        matches!(
            &sent[..],
            [Message::Append {
                prev_log_index: 5,
                prev_log_term: 1,
                ..
            }]
        ),
        "log matching at the boundary uses the snapshot's term: {sent:?}"
    );
}

#[test]
fn compaction_at_or_below_the_snapshot_changes_nothing_7() {
    let mut leader = leader_with_applied_log(4);
    leader.compact(3, Bytes::from_static(b"state@3"));
    drain_all(&mut leader);
    leader.compact(3, Bytes::from_static(b"again"));
    leader.compact(2, Bytes::from_static(b"older"));
    assert!(drain(&mut leader).is_none(), "nothing to write");
    assert_eq!(leader.status().snapshot_index, 3);
    assert_eq!(leader.status().last_index, 5);
}

#[test]
#[should_panic(expected = "beyond the last output")]
fn compaction_beyond_the_applied_index_is_a_driver_bug() {
    let mut leader = leader_with_applied_log(2);
    leader.compact(9, Bytes::from_static(b"from the future"));
}

#[test]
fn leader_sends_the_snapshot_when_the_next_entry_is_compacted_7() {
    let mut leader = leader_with_applied_log(4);
    leader.compact(5, Bytes::from_static(b"state@5"));
    drain_all(&mut leader);
    // n3 shows up: its next entry (1) is inside the snapshot.
    leader.step(NodeId(3), Message::HeartbeatResponse { term: 1 });
    let ready = drain(&mut leader).unwrap();
    assert_eq!(
        to(&ready.send_now, 3),
        vec![install(1, snapshot(5, 1, "state@5"))]
    );
    // One snapshot in flight per follower: more signs of life and new
    // entries send nothing more to n3 until it answers...
    leader.step(NodeId(3), Message::HeartbeatResponse { term: 1 });
    leader.submit(Bytes::from("c")).unwrap();
    let ready = drain(&mut leader).unwrap();
    assert!(to(&ready.send_now, 3).is_empty(), "{:?}", ready.send_now);
    // ...or until `snapshot_retry_ticks` pass without an answer.
    let retry_ticks = config(3).snapshot_retry_ticks;
    let mut resent = Vec::new();
    for _ in 0..retry_ticks {
        leader.tick();
        for ready in drain_all(&mut leader) {
            resent.extend(install_snapshots(&ready.send_now, 3));
        }
    }
    assert_eq!(resent, vec![snapshot(5, 1, "state@5")]);
}

#[test]
fn snapshot_acknowledgement_moves_replication_past_the_snapshot_7() {
    let mut leader = leader_with_applied_log(4);
    leader.compact(5, Bytes::from_static(b"state@5"));
    drain_all(&mut leader);
    leader.step(NodeId(3), Message::HeartbeatResponse { term: 1 });
    drain_all(&mut leader);
    leader.submit(Bytes::from("c6")).unwrap();
    drain_all(&mut leader);
    // n3 installed it: it matches up to 5, so entries follow from 6.
    leader.step(NodeId(3), accepted(1, 5));
    let ready = drain(&mut leader).unwrap();
    let sent = to(&ready.send_now, 3);
    let [Message::Append {
        prev_log_index,
        prev_log_term,
        entries,
        ..
    }] = &sent[..]
    else {
        panic!("expected one append to n3, got {sent:?}");
    };
    assert_eq!((*prev_log_index, *prev_log_term), (5, 1));
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].data, Bytes::from("c6"));
}

#[test]
fn follower_discards_a_log_that_conflicts_with_the_snapshot_7() {
    // Entries 3 and 4 are of a term the leader's log does not have there.
    let mut raft = follower_with_log(2, 3, &[1, 1, 2, 2], 3);
    raft.step(NodeId(1), install(3, snapshot(5, 3, "state@5")));
    let ready = drain(&mut raft).unwrap();
    let persist = ready.persist.as_ref().unwrap();
    assert_eq!(persist.snapshot, Some(snapshot(5, 3, "state@5")));
    assert_eq!(persist.truncate_from, Some(6));
    assert!(persist.entries.is_empty());
    assert_eq!(persist.compact_to, Some(5));
    assert!(
        persist.sync,
        "the snapshot is durable before it is acknowledged"
    );
    assert!(ready.send_now.is_empty());
    assert_eq!(ready.send_after_persist, vec![(NodeId(1), accepted(3, 5))]);
    assert!(ready.outputs.is_empty(), "the snapshot replaces the state");
    let status = raft.status();
    assert_eq!(
        (
            status.snapshot_index,
            status.last_index,
            status.commit_index,
            status.applied_index
        ),
        (5, 5, 5, 5)
    );
    assert_eq!(
        (status.role, status.leader),
        (Role::Follower, Some(NodeId(1)))
    );
    // The log goes on from the snapshot.
    raft.step(NodeId(1), append(3, (5, 3), vec![entry(6, 3)], 6));
    let ready = drain(&mut raft).unwrap();
    assert_eq!(ready.persist.unwrap().entries, vec![entry(6, 3)]);
    let outputs: Vec<u64> = ready.outputs.iter().map(|o| o.entry.index).collect();
    assert_eq!(outputs, vec![6]);
}

#[test]
fn follower_keeps_the_entries_after_a_snapshot_its_log_matches_7() {
    let mut raft = follower_with_log(2, 3, &[1, 1, 1, 1, 1], 1);
    raft.step(NodeId(1), install(1, snapshot(3, 1, "state@3")));
    let ready = drain(&mut raft).unwrap();
    let persist = ready.persist.as_ref().unwrap();
    assert_eq!(persist.snapshot, Some(snapshot(3, 1, "state@3")));
    // Storage is told to hold exactly the entries kept, whatever it had.
    assert_eq!(persist.truncate_from, Some(4));
    assert_eq!(persist.entries, vec![entry(4, 1), entry(5, 1)]);
    assert_eq!(ready.send_after_persist, vec![(NodeId(1), accepted(1, 3))]);
    let status = raft.status();
    assert_eq!(
        (
            status.snapshot_index,
            status.last_index,
            status.commit_index,
            status.applied_index
        ),
        (3, 5, 3, 3)
    );
}

#[test]
fn snapshot_within_the_committed_log_is_acknowledged_and_ignored_7() {
    let mut raft = follower_with_log(2, 3, &[], 1);
    raft.step(
        NodeId(1),
        append(1, (0, 0), (1..=4).map(|i| entry(i, 1)).collect(), 4),
    );
    drain_all(&mut raft);
    raft.step(NodeId(1), install(1, snapshot(3, 1, "state@3")));
    let ready = drain(&mut raft).unwrap();
    assert!(ready.persist.is_none(), "{:?}", ready.persist);
    assert_eq!(ready.send_after_persist, vec![(NodeId(1), accepted(1, 4))]);
    assert_eq!(raft.status().snapshot_index, 0);
    assert_eq!(raft.status().last_index, 4);
}

#[test]
fn snapshot_from_a_stale_leader_is_refused_7() {
    let mut raft = follower_with_log(2, 3, &[1, 1], 4);
    raft.step(NodeId(1), install(3, snapshot(5, 3, "old")));
    let ready = drain(&mut raft).unwrap();
    assert!(ready.persist.is_none());
    assert_eq!(
        ready.send_now,
        vec![(NodeId(1), Message::HeartbeatResponse { term: 4 })]
    );
    assert_eq!(raft.status().snapshot_index, 0);
    assert_eq!(raft.status().dropped_messages, 1);
}

#[test]
fn snapshot_of_another_membership_is_dropped() {
    let mut raft = follower_with_log(2, 3, &[1], 1);
    let mut foreign = snapshot(5, 1, "state");
    foreign.meta.membership = membership(5);
    raft.step(NodeId(1), install(1, foreign));
    assert!(drain(&mut raft).is_none());
    assert_eq!(raft.status().snapshot_index, 0);
    assert_eq!(raft.status().dropped_messages, 1);
}

#[test]
fn a_request_placed_inside_an_installed_snapshot_fails_as_indeterminate() {
    // n2 forwards a request; the leader places it at 2, then n2 misses the
    // entry and receives a snapshot covering it instead.
    let mut raft = new_node(
        2,
        Config {
            forward_proposals: true,
            ..config(3)
        },
    );
    raft.step(NodeId(1), append(1, (0, 0), vec![entry(1, 1)], 0));
    drain_all(&mut raft);
    let id = raft.submit(Bytes::from("x")).unwrap();
    let ready = drain(&mut raft).unwrap();
    let Some(Message::Propose {
        incarnation,
        request_id,
        ..
    }) = to(&ready.send_now, 1).into_iter().next()
    else {
        panic!("expected a forwarded proposal: {:?}", ready.send_now);
    };
    raft.step(
        NodeId(1),
        Message::ProposeResponse {
            term: 1,
            incarnation,
            request_id,
            outcome: quorate_raft::ProposeOutcome::Placed { index: 2, term: 1 },
        },
    );
    raft.step(NodeId(1), install(1, snapshot(3, 1, "state@3")));
    let ready = drain(&mut raft).unwrap();
    assert_eq!(ready.failed.len(), 1);
    assert_eq!(ready.failed[0].0, id);
    assert!(!ready.failed[0].1.is_definite_failure());
}

fn recovered_with_snapshot(entries: Vec<quorate_core::Entry>, commit: u64) -> Recovered {
    Recovered {
        hard_state: Some(
            HardState {
                term: 2,
                vote: None,
                commit,
                incarnation: 1,
            }
            .encode(),
        ),
        snapshot: Some(snapshot(3, 1, "state@3")),
        entries,
    }
}

#[test]
fn restart_recovers_the_snapshot_and_the_entries_after_it_7() {
    let recovered = recovered_with_snapshot(vec![entry(4, 1), entry(5, 2)], 5);
    let mut raft = Raft::restore(NodeId(1), config(3), recovered).unwrap();
    let status = raft.status();
    assert_eq!(
        (
            status.snapshot_index,
            status.last_index,
            status.commit_index,
            status.applied_index
        ),
        (3, 5, 5, 3)
    );
    // The state machine restarts from the snapshot: only later entries
    // are handed out again.
    let ready = drain(&mut raft).unwrap();
    let outputs: Vec<u64> = ready.outputs.iter().map(|o| o.entry.index).collect();
    assert_eq!(outputs, vec![4, 5]);
    // Votes compare the log's end, wherever the snapshot ends.
    raft.step(
        NodeId(2),
        Message::Vote {
            term: 3,
            last_log_index: 4,
            last_log_term: 2,
        },
    );
    let ready = drain(&mut raft).unwrap();
    assert!(
        to(&ready.send_after_persist, 2).contains(&Message::VoteResponse {
            term: 3,
            granted: false
        })
    );
}

#[test]
fn recovered_state_that_does_not_fit_the_snapshot_is_refused() {
    let gap = recovered_with_snapshot(vec![entry(5, 1)], 3);
    let error = Raft::restore(NodeId(1), config(3), gap).unwrap_err();
    assert_eq!(error.field, "entries");
    let older_term = recovered_with_snapshot(vec![entry(4, 0)], 3);
    assert_eq!(
        Raft::restore(NodeId(1), config(3), older_term)
            .unwrap_err()
            .field,
        "entries"
    );
    let other_members =
        Raft::restore(NodeId(1), config(5), recovered_with_snapshot(Vec::new(), 3)).unwrap_err();
    assert_eq!(other_members.field, "members");
}

// ---- whole clusters ---------------------------------------------------

fn submit_to_leader(cluster: &mut Cluster, count: usize, tag: &str) {
    let leader = cluster.elect();
    for i in 0..count {
        cluster
            .nodes
            .get_mut(&leader)
            .unwrap()
            .submit(Bytes::from(format!("{tag}{i}")))
            .expect("leader accepts");
        if i % 16 == 15 {
            cluster.tick_all(1);
        }
    }
    cluster.tick_all(3);
}

#[test]
fn lagging_follower_catches_up_by_snapshot_and_logs_stay_bounded_7() {
    let every = 10;
    let mut cluster = Cluster::new(3, Config::default());
    cluster.snapshot_entries = Some(every);
    let leader = cluster.elect();
    let lagging = (1..=3).find(|&n| n != leader).unwrap();
    cluster.isolated.push(lagging);
    submit_to_leader(&mut cluster, 200, "a");
    // Crash it too: it restarts from its own (early) state.
    cluster.crash(lagging);
    cluster.start(lagging);
    cluster.isolated.clear();
    cluster.tick_all(30);
    assert!(cluster.snapshots_installed >= 1, "caught up by a snapshot");
    cluster.check_applied_agree();
    let leader = cluster.leader().unwrap();
    let commit = cluster.nodes[&leader].status().commit_index;
    assert!(commit > 200);
    for (id, raft) in &cluster.nodes {
        let status = raft.status();
        assert_eq!(status.applied_index, commit, "n{id} caught up");
        assert_eq!(cluster.applied[id].len() as u64, commit, "n{id} state");
        assert!(
            status.last_index - status.snapshot_index < every,
            "n{id} holds {} entries in memory",
            status.last_index - status.snapshot_index
        );
        let store = &cluster.stores[id];
        assert!(
            store.entries.len() < every as usize,
            "n{id} storage bounded"
        );
        assert!(store.snapshot.is_some());
    }
}

#[test]
fn compacting_clusters_keep_safety_under_crashes_and_a_lossy_network() {
    let mut installed = 0;
    for seed in 0..30 {
        let mut cluster = Cluster::new(
            3,
            Config {
                seed,
                ..Config::default()
            },
        );
        cluster.snapshot_entries = Some(1 + seed % 7);
        cluster.faults_percent = 10;
        for round in 0..4u64 {
            let leader = cluster.elect();
            for i in 0..12 {
                let _ = cluster
                    .nodes
                    .get_mut(&leader)
                    .unwrap()
                    .submit(Bytes::from(format!("s{seed}r{round}i{i}")));
            }
            let victim = 1 + (seed + round) % 3;
            cluster.isolated.push(victim);
            cluster.tick_all(10);
            cluster.crash(victim);
            cluster.tick_all(5);
            cluster.isolated.clear();
            cluster.start(victim);
            cluster.tick_all(25);
            cluster.check_applied_agree();
        }
        cluster.faults_percent = 0;
        cluster.elect();
        cluster.tick_all(40);
        cluster.check_applied_agree();
        let leader = cluster.leader().unwrap();
        let commit = cluster.nodes[&leader].status().commit_index;
        for (id, applied) in &cluster.applied {
            assert_eq!(applied.len() as u64, commit, "seed {seed} n{id} caught up");
        }
        installed += cluster.snapshots_installed;
    }
    assert!(installed > 0, "some follower caught up by snapshot");
}
