//! Nonsense in, nothing out: messages from strangers, stale terms and
//! malformed contents are dropped and counted (FAULTS J8); bad recovered
//! state and bad configs are refused with a precise error.

mod common;

use bytes::Bytes;
use common::*;
use quorate_core::{
    ConfigError, Entry, EntryKind, NodeId, Protocol, ProtocolConfig, Recovered, Role, Snapshot,
};
use quorate_raft::{AppendOutcome, Config, HardState, Message, Raft};

#[test]
fn messages_from_unknown_nodes_and_self_dropped_and_counted_j8() {
    let mut raft = new_node(1, config(3));
    drain_all(&mut raft);
    let vote = Message::Vote {
        term: 5,
        last_log_index: 0,
        last_log_term: 0,
    };
    raft.step(NodeId(9), vote.clone());
    raft.step(NodeId(1), vote);
    raft.step(NodeId(42), append(5, (0, 0), vec![entry(1, 5)], 1));
    assert_eq!(raft.status().dropped_messages, 3);
    assert_eq!(raft.status().term, 0, "no term effect");
    assert!(drain(&mut raft).is_none(), "no vote counted, nothing sent");
}

#[test]
fn malformed_append_dropped_and_counted() {
    let mut raft = follower_with_log(1, 3, &[], 1);
    let malformed = [
        // Not contiguous.
        append(1, (0, 0), vec![entry(1, 1), entry(3, 1)], 0),
        // Entry term above the message term.
        append(1, (0, 0), vec![entry(1, 2)], 0),
        // Decreasing entry terms.
        append(2, (0, 0), vec![entry(1, 2), entry(2, 1)], 0),
        // prev index 0 with a non-zero term.
        append(1, (0, 1), vec![], 0),
        // Index overflow.
        append(1, (u64::MAX, 1), vec![entry(0, 1)], 0),
    ];
    for (i, message) in malformed.into_iter().enumerate() {
        raft.step(NodeId(2), message);
        assert_eq!(raft.status().dropped_messages, i as u64 + 1);
    }
    assert_eq!(raft.status().last_index, 0);
    assert_eq!(raft.status().term, 1);
    assert!(drain(&mut raft).is_none());
}

#[test]
fn stale_term_and_misdirected_messages_dropped_and_counted() {
    let mut raft = follower_with_log(1, 3, &[], 3);
    raft.step(
        NodeId(2),
        Message::VoteResponse {
            term: 2,
            granted: true,
        },
    );
    raft.step(
        NodeId(2),
        Message::AppendResponse {
            term: 3,
            outcome: AppendOutcome::Accepted { match_index: 7 },
        },
    );
    raft.step(NodeId(2), Message::HeartbeatResponse { term: 3 });
    assert_eq!(raft.status().dropped_messages, 3);
    assert_eq!(raft.status().role, Role::Follower);
    assert!(drain(&mut raft).is_none());
}

#[test]
fn ack_beyond_leader_log_dropped() {
    let mut leader = new_node(1, config(3));
    make_leader(&mut leader);
    leader.step(
        NodeId(2),
        Message::AppendResponse {
            term: 1,
            outcome: AppendOutcome::Accepted { match_index: 99 },
        },
    );
    assert_eq!(leader.status().dropped_messages, 1);
    assert_eq!(leader.status().commit_index, 0);
}

#[test]
fn second_leader_in_same_term_ignored_5_2() {
    let mut raft = follower_with_log(1, 3, &[], 1);
    raft.step(NodeId(2), append(1, (0, 0), vec![], 0));
    drain_all(&mut raft);
    raft.step(NodeId(3), append(1, (0, 0), vec![entry(1, 1)], 0));
    assert_eq!(raft.status().leader, Some(NodeId(2)));
    assert_eq!(raft.status().last_index, 0);
    assert_eq!(raft.status().dropped_messages, 1);
}

#[test]
fn config_validation_names_the_field() {
    let check = |config: Config, field: &str| {
        assert_eq!(config.validate().unwrap_err().field, field);
    };
    check(
        Config {
            members: vec![],
            ..Config::default()
        },
        "members",
    );
    check(
        Config {
            members: vec![NodeId(1), NodeId(1)],
            ..Config::default()
        },
        "members",
    );
    check(
        Config {
            election_ticks_min: 2,
            heartbeat_ticks: 2,
            ..Config::default()
        },
        "election_ticks_min",
    );
    check(
        Config {
            election_ticks_max: 10,
            ..Config::default()
        },
        "election_ticks_max",
    );
    check(
        Config {
            inflight_appends_max: 0,
            ..Config::default()
        },
        "inflight_appends_max",
    );
    check(
        Config {
            request_bytes_max: 2 * 1024 * 1024,
            ..Config::default()
        },
        "request_bytes_max",
    );
    assert!(Config::default().validate().is_ok());
}

fn restore_error(id: u64, recovered: Recovered) -> ConfigError {
    Raft::restore(NodeId(id), config(3), recovered).unwrap_err()
}

#[test]
fn restore_refuses_bad_state() {
    assert_eq!(restore_error(4, Recovered::default()).field, "members");
    let snapshot = Recovered {
        snapshot: Some(Snapshot::default()),
        ..Recovered::default()
    };
    assert_eq!(restore_error(1, snapshot).field, "snapshot");
    let garbage = Recovered {
        hard_state: Some(Bytes::from_static(&[0xff, 0xff, 0xff])),
        ..Recovered::default()
    };
    assert_eq!(restore_error(1, garbage).field, "hard_state");
    let gap = Recovered {
        entries: vec![entry(1, 1), entry(3, 1)],
        ..Recovered::default()
    };
    assert_eq!(restore_error(1, gap).field, "entries");
    let commit_beyond = Recovered {
        hard_state: Some(
            HardState {
                term: 1,
                vote: None,
                commit: 2,
                incarnation: 1,
            }
            .encode(),
        ),
        entries: vec![entry(1, 1)],
        snapshot: None,
    };
    assert_eq!(restore_error(1, commit_beyond).field, "hard_state");
}

#[test]
fn every_restart_is_a_new_durable_incarnation() {
    let mut store = MemStore::default();
    for expected in 1..=3 {
        let mut raft = Raft::restore(NodeId(1), config(3), store.recovered()).unwrap();
        let ready = drain(&mut raft).expect("the new incarnation is written");
        assert_eq!(hard_state(&ready).unwrap().incarnation, expected);
        assert!(ready.persist.as_ref().unwrap().sync);
        store.write(ready.persist.as_ref().unwrap());
    }
}

#[test]
fn noop_entries_are_output_in_order() {
    let mut raft = follower_with_log(1, 3, &[], 1);
    let noop = Entry {
        index: 1,
        term: 1,
        kind: EntryKind::Noop,
        data: Bytes::new(),
    };
    raft.step(
        NodeId(2),
        append(1, (0, 0), vec![noop.clone(), entry(2, 1)], 2),
    );
    let ready = drain(&mut raft).unwrap();
    assert_eq!(ready.outputs[0].entry, noop);
    assert_eq!(ready.outputs[1].entry.index, 2);
}
