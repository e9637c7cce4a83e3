//! Whole-cluster checks over a small deterministic network: one leader per
//! term, and every node applies the same entries in the same order.

mod common;

use bytes::Bytes;
use common::Cluster;
use quorate_core::{EntryKind, Protocol};
use quorate_raft::Config;

fn cluster_config(seed: u64) -> Config {
    Config {
        seed,
        ..Config::default()
    }
}

#[test]
fn three_nodes_elect_one_leader_and_apply_the_same_entries() {
    let mut cluster = Cluster::new(3, cluster_config(1));
    let leader = cluster.elect();
    let mut ids = Vec::new();
    for i in 0..20 {
        let id = cluster
            .nodes
            .get_mut(&leader)
            .unwrap()
            .submit(Bytes::from(format!("cmd{i}")))
            .expect("leader accepts");
        ids.push(id);
    }
    cluster.tick_all(5);
    cluster.check_applied_agree();
    for (node, applied) in &cluster.applied {
        let commands: Vec<&Bytes> = applied
            .iter()
            .filter(|c| c.entry.kind == EntryKind::Command)
            .map(|c| &c.entry.data)
            .collect();
        assert_eq!(commands.len(), 20, "n{node} applied every command");
        assert_eq!(commands[0], &Bytes::from("cmd0"));
        assert_eq!(commands[19], &Bytes::from("cmd19"));
    }
    // Only the leader's outputs carry its request ids, each exactly once.
    let carried: Vec<_> = cluster.applied[&leader]
        .iter()
        .filter_map(|c| c.request)
        .collect();
    assert_eq!(carried, ids);
    for (node, applied) in &cluster.applied {
        if *node != leader {
            assert!(applied.iter().all(|c| c.request.is_none()));
        }
    }
}

#[test]
fn five_nodes_survive_leader_crash_and_restart_reapplies_log() {
    let mut cluster = Cluster::new(5, cluster_config(2));
    let first = cluster.elect();
    for i in 0..10 {
        cluster
            .nodes
            .get_mut(&first)
            .unwrap()
            .submit(Bytes::from(format!("a{i}")))
            .unwrap();
    }
    cluster.tick_all(3);
    cluster.crash(first);
    let second = cluster.elect();
    assert_ne!(first, second);
    for i in 0..10 {
        cluster
            .nodes
            .get_mut(&second)
            .unwrap()
            .submit(Bytes::from(format!("b{i}")))
            .unwrap();
    }
    cluster.tick_all(3);
    cluster.start(first);
    cluster.tick_all(30);
    cluster.check_applied_agree();
    // The restarted node rebuilt its state from index 1.
    let restarted: Vec<&Bytes> = cluster.applied[&first]
        .iter()
        .filter(|c| c.entry.kind == EntryKind::Command)
        .map(|c| &c.entry.data)
        .collect();
    assert_eq!(restarted.len(), 20);
    assert_eq!(restarted[0], &Bytes::from("a0"));
    assert_eq!(restarted[19], &Bytes::from("b9"));
}

#[test]
fn isolated_leader_steps_down_and_majority_moves_on() {
    let mut cluster = Cluster::new(3, cluster_config(3));
    let old = cluster.elect();
    cluster.isolated.push(old);
    let new = cluster.elect();
    assert_ne!(old, new);
    // CheckQuorum: the isolated leader stops leading on its own.
    cluster.tick_all(2 * cluster.config.election_ticks_max);
    assert_ne!(
        cluster.nodes[&old].status().role,
        quorate_core::Role::Leader
    );
    cluster.isolated.clear();
    cluster
        .nodes
        .get_mut(&new)
        .unwrap()
        .submit(Bytes::from("x"))
        .unwrap();
    cluster.tick_all(10);
    cluster.check_applied_agree();
    let leader = cluster.leader().unwrap();
    let last = cluster.nodes[&leader].status().commit_index;
    for raft in cluster.nodes.values() {
        assert_eq!(raft.status().commit_index, last);
    }
}

#[test]
fn many_seeds_keep_safety_under_repeated_crashes_and_lossy_network() {
    for seed in 0..50 {
        let mut cluster = Cluster::new(3, cluster_config(seed));
        cluster.faults_percent = 10;
        for round in 0..4u64 {
            let leader = cluster.elect();
            for i in 0..5 {
                let _ = cluster
                    .nodes
                    .get_mut(&leader)
                    .unwrap()
                    .submit(Bytes::from(format!("s{seed}r{round}i{i}")));
            }
            cluster.tick_all(2);
            let victim = 1 + (seed + round) % 3;
            cluster.crash(victim);
            cluster.tick_all(25);
            cluster.start(victim);
            cluster.tick_all(25);
            cluster.check_applied_agree();
        }
    }
}

#[test]
fn lossy_reordering_network_keeps_safety_and_progress() {
    for seed in 0..10 {
        let mut cluster = Cluster::new(5, cluster_config(seed));
        cluster.faults_percent = 10;
        let mut submitted = 0;
        for round in 0..30u32 {
            if let Some(leader) = cluster.leader() {
                let raft = cluster.nodes.get_mut(&leader).unwrap();
                if raft.submit(Bytes::from(format!("s{seed}r{round}"))).is_ok() {
                    submitted += 1;
                }
            }
            cluster.tick_all(3);
            cluster.check_applied_agree();
        }
        // Heal and let everything settle: every replica converges.
        cluster.faults_percent = 0;
        cluster.elect();
        cluster.tick_all(40);
        cluster.check_applied_agree();
        let leader = cluster.leader().unwrap();
        let commit = cluster.nodes[&leader].status().commit_index;
        for (id, raft) in &cluster.nodes {
            assert_eq!(
                raft.status().applied_index,
                commit,
                "seed {seed} n{id} caught up"
            );
        }
        // Every request is accounted for exactly once, on the node it was
        // submitted to: committed with its id, or failed.
        let committed_with_id: usize = cluster
            .applied
            .values()
            .map(|a| a.iter().filter(|c| c.request.is_some()).count())
            .sum();
        let failed: usize = cluster.failed.values().map(Vec::len).sum();
        assert_eq!(committed_with_id + failed, submitted, "seed {seed}");
        assert!(
            submitted > 10,
            "seed {seed}: the cluster made progress ({submitted})"
        );
    }
}
