//! Client requests: ids on outputs, NotLeader hints, limits, indeterminate
//! failures on leadership loss, and forwarding from followers.

mod common;

use bytes::Bytes;
use common::*;
use quorate_core::{EntryKind, NodeId, Protocol, RequestId, SubmitError};
use quorate_raft::{AppendOutcome, Config, Message, ProposeOutcome, Raft};

fn accepted(term: u64, match_index: u64) -> Message {
    Message::AppendResponse {
        term,
        outcome: AppendOutcome::Accepted { match_index },
    }
}

fn leader(config: Config) -> Raft {
    let mut leader = new_node(1, config);
    make_leader(&mut leader);
    leader.step(NodeId(2), accepted(1, 1));
    drain_all(&mut leader);
    leader
}

#[test]
fn committed_output_carries_the_submitted_request_id() {
    let mut leader = leader(config(3));
    let first = leader.submit(Bytes::from("a")).unwrap();
    let second = leader.submit(Bytes::from("b")).unwrap();
    assert_ne!(first, second);
    drain_all(&mut leader);
    leader.step(NodeId(2), accepted(1, 3));
    let ready = drain(&mut leader).unwrap();
    let outputs: Vec<(u64, EntryKind, Option<RequestId>)> = ready
        .outputs
        .iter()
        .map(|o| (o.entry.index, o.entry.kind, o.request))
        .collect();
    assert_eq!(
        outputs,
        vec![
            (2, EntryKind::Command, Some(first)),
            (3, EntryKind::Command, Some(second))
        ]
    );
    assert!(ready.failed.is_empty());
}

#[test]
fn follower_refuses_with_leader_hint() {
    let mut raft = follower_with_log(2, 3, &[], 1);
    assert_eq!(
        raft.submit(Bytes::from("x")),
        Err(SubmitError::NotLeader { leader_hint: None })
    );
    raft.step(NodeId(1), append(1, (0, 0), vec![], 0));
    assert_eq!(
        raft.submit(Bytes::from("x")),
        Err(SubmitError::NotLeader {
            leader_hint: Some(NodeId(1))
        })
    );
}

#[test]
fn oversized_request_is_too_large() {
    let mut leader = leader(Config {
        request_bytes_max: 8,
        ..config(3)
    });
    assert_eq!(
        leader.submit(Bytes::from("123456789")),
        Err(SubmitError::TooLarge {
            size_bytes: 9,
            limit_bytes: 8
        })
    );
    assert!(leader.submit(Bytes::from("12345678")).is_ok());
}

#[test]
fn pending_requests_bounded_busy_k3() {
    let mut leader = leader(Config {
        pending_requests_max: 2,
        ..config(3)
    });
    leader.submit(Bytes::from("a")).unwrap();
    leader.submit(Bytes::from("b")).unwrap();
    assert_eq!(
        leader.submit(Bytes::from("c")),
        Err(SubmitError::Busy {
            in_flight: 2,
            limit: 2
        })
    );
    // Once they commit, room frees up.
    drain_all(&mut leader);
    leader.step(NodeId(2), accepted(1, 3));
    drain_all(&mut leader);
    assert!(leader.submit(Bytes::from("c")).is_ok());
}

#[test]
fn uncommitted_entries_bounded_busy_k3() {
    let mut leader = leader(Config {
        uncommitted_entries_max: 3,
        ..config(3)
    });
    for i in 0..3 {
        leader.submit(Bytes::from(format!("{i}"))).unwrap();
    }
    assert_eq!(
        leader.submit(Bytes::from("x")),
        Err(SubmitError::Busy {
            in_flight: 3,
            limit: 3
        })
    );
}

#[test]
fn requests_fail_indeterminate_on_step_down() {
    let mut leader = leader(config(3));
    let a = leader.submit(Bytes::from("a")).unwrap();
    let b = leader.submit(Bytes::from("b")).unwrap();
    drain_all(&mut leader);
    // A newer leader appears.
    leader.step(NodeId(2), append(2, (1, 1), vec![], 0));
    let ready = drain(&mut leader).unwrap();
    assert_eq!(
        ready.failed,
        vec![
            (
                a,
                SubmitError::Indeterminate {
                    reason: "leadership lost before the entry committed"
                }
            ),
            (
                b,
                SubmitError::Indeterminate {
                    reason: "leadership lost before the entry committed"
                }
            ),
        ]
    );
    // If the entries commit after all, no id is reported a second time.
    leader.step(NodeId(2), append(2, (3, 1), vec![entry(4, 2)], 4));
    let ready = drain(&mut leader).unwrap();
    let indexes: Vec<u64> = ready.outputs.iter().map(|o| o.entry.index).collect();
    assert_eq!(indexes, vec![2, 3, 4], "index 1 was applied while leading");
    assert!(ready.outputs.iter().all(|o| o.request.is_none()));
}

fn forwarding(size: u64) -> Config {
    Config {
        forward_proposals: true,
        ..config(size)
    }
}

#[test]
fn follower_forwards_and_origin_output_carries_request_id() {
    let mut follower = new_node(2, forwarding(3));
    drain_all(&mut follower);
    follower.step(NodeId(1), append(1, (0, 0), vec![entry(1, 1)], 0));
    drain_all(&mut follower);
    let id = follower.submit(Bytes::from("fwd")).unwrap();
    let ready = drain(&mut follower).unwrap();
    assert_eq!(
        ready.send_now,
        vec![(
            NodeId(1),
            Message::Propose {
                term: 1,
                incarnation: 1,
                request_id: id.0,
                data: Bytes::from("fwd"),
            }
        )]
    );

    // The leader appends it and says where.
    let mut leader = leader(forwarding(3));
    leader.step(
        NodeId(2),
        Message::Propose {
            term: 1,
            incarnation: 1,
            request_id: id.0,
            data: Bytes::from("fwd"),
        },
    );
    let ready = drain(&mut leader).unwrap();
    let response = Message::ProposeResponse {
        term: 1,
        incarnation: 1,
        request_id: id.0,
        outcome: ProposeOutcome::Placed { index: 2, term: 1 },
    };
    assert!(ready.send_now.contains(&(NodeId(2), response.clone())));
    let appended = &ready.persist.as_ref().unwrap().entries;
    assert_eq!(appended.len(), 1);
    assert_eq!(appended[0].data, Bytes::from("fwd"));

    follower.step(NodeId(1), response);
    follower.step(NodeId(1), append(1, (1, 1), vec![appended[0].clone()], 2));
    let ready = drain(&mut follower).unwrap();
    let outputs: Vec<(u64, Option<RequestId>)> = ready
        .outputs
        .iter()
        .map(|o| (o.entry.index, o.request))
        .collect();
    assert_eq!(outputs, vec![(1, None), (2, Some(id))]);
}

#[test]
fn forwarded_entry_overwritten_fails_indeterminate() {
    let mut follower = new_node(2, forwarding(3));
    drain_all(&mut follower);
    follower.step(NodeId(1), append(1, (0, 0), vec![entry(1, 1)], 1));
    drain_all(&mut follower);
    let id = follower.submit(Bytes::from("fwd")).unwrap();
    drain_all(&mut follower);
    follower.step(
        NodeId(1),
        Message::ProposeResponse {
            term: 1,
            incarnation: 1,
            request_id: id.0,
            outcome: ProposeOutcome::Placed { index: 2, term: 1 },
        },
    );
    follower.step(NodeId(1), append(1, (1, 1), vec![entry(2, 1)], 1));
    drain_all(&mut follower);
    // A leader of term 2 replaces index 2.
    follower.step(NodeId(3), append(2, (1, 1), vec![entry(2, 2)], 2));
    let ready = drain(&mut follower).unwrap();
    assert_eq!(
        ready.failed,
        vec![(
            id,
            SubmitError::Indeterminate {
                reason: "entry overwritten by a newer leader"
            }
        )]
    );
    assert_eq!(ready.outputs.len(), 1);
    assert_eq!(ready.outputs[0].request, None);
}

/// A follower (node 2) of leader 1 forwards a request, and the leader
/// answers it with `outcome`: returns the request's id and what the
/// follower's next Ready reports as failed.
fn forward_and_answer(outcome: ProposeOutcome) -> (RequestId, Vec<(RequestId, SubmitError)>) {
    let mut follower = new_node(2, forwarding(3));
    drain_all(&mut follower);
    follower.step(NodeId(1), append(1, (0, 0), vec![], 0));
    let id = follower.submit(Bytes::from("fwd")).unwrap();
    drain_all(&mut follower);
    follower.step(
        NodeId(1),
        Message::ProposeResponse {
            term: 1,
            incarnation: 1,
            request_id: id.0,
            outcome,
        },
    );
    (id, drain(&mut follower).unwrap().failed)
}

#[test]
fn forwarded_request_refused_by_non_leader_fails_not_leader() {
    let (id, failed) = forward_and_answer(ProposeOutcome::NotLeader {
        leader_hint: Some(NodeId(3)),
    });
    assert_eq!(
        failed,
        vec![(
            id,
            SubmitError::NotLeader {
                leader_hint: Some(NodeId(3))
            }
        )]
    );
}

#[test]
fn unanswered_forward_times_out_indeterminate() {
    let config = forwarding(3);
    let mut follower = new_node(2, config.clone());
    drain_all(&mut follower);
    follower.step(NodeId(1), append(1, (0, 0), vec![], 0));
    let id = follower.submit(Bytes::from("fwd")).unwrap();
    drain_all(&mut follower);
    let mut failed = Vec::new();
    for _ in 0..config.forward_ticks_max {
        // Keep the leader alive so the term never changes.
        follower.step(
            NodeId(1),
            Message::Heartbeat {
                term: 1,
                commit_index: 0,
            },
        );
        follower.tick();
        for ready in drain_all(&mut follower) {
            failed.extend(ready.failed);
        }
    }
    assert_eq!(
        failed,
        vec![(
            id,
            SubmitError::Indeterminate {
                reason: "forwarded proposal was not answered in time"
            }
        )]
    );
}

#[test]
fn restarted_origin_never_matches_answer_for_earlier_incarnation() {
    let mut store = MemStore::default();
    let mut first = new_node(2, forwarding(3));
    first.step(NodeId(1), append(1, (0, 0), vec![entry(1, 1)], 0));
    for ready in drain_all(&mut first) {
        store.write(ready.persist.as_ref().unwrap());
    }
    let old_id = first.submit(Bytes::from("old")).unwrap();
    drop(first);

    let mut second = Raft::restore(NodeId(2), forwarding(3), store.recovered()).unwrap();
    drain_all(&mut second);
    second.step(NodeId(1), append(1, (1, 1), vec![], 0));
    let new_id = second.submit(Bytes::from("new")).unwrap();
    assert_eq!(old_id, new_id, "ids restart with the instance");
    let ready = drain(&mut second).unwrap();
    assert!(matches!(
        &ready.send_now[..],
        [(_, Message::Propose { incarnation: 2, .. })]
    ));
    // The answer to the first instance's request arrives late.
    let dropped = second.status().dropped_messages;
    second.step(
        NodeId(1),
        Message::ProposeResponse {
            term: 1,
            incarnation: 1,
            request_id: old_id.0,
            outcome: ProposeOutcome::Placed { index: 2, term: 1 },
        },
    );
    assert_eq!(second.status().dropped_messages, dropped + 1);
    let old_entry = quorate_core::Entry {
        index: 2,
        term: 1,
        kind: EntryKind::Command,
        data: Bytes::from("old"),
    };
    second.step(NodeId(1), append(1, (1, 1), vec![old_entry], 2));
    let ready = drain(&mut second).unwrap();
    assert_eq!(ready.outputs.len(), 2);
    assert!(
        ready.outputs.iter().all(|o| o.request.is_none()),
        "the old entry is not reported as the new request"
    );
}

#[test]
fn forwarding_through_a_cluster_reports_on_the_origin() {
    let mut cluster = Cluster::new(
        3,
        Config {
            forward_proposals: true,
            ..Config::default()
        },
    );
    let leader = cluster.elect();
    let origin = if leader == 1 { 2 } else { 1 };
    let id = cluster
        .nodes
        .get_mut(&origin)
        .unwrap()
        .submit(Bytes::from("via follower"))
        .unwrap();
    cluster.tick_all(4);
    let on_origin: Vec<_> = cluster.applied[&origin]
        .iter()
        .filter(|c| c.entry.data == "via follower")
        .collect();
    assert_eq!(on_origin.len(), 1);
    assert_eq!(on_origin[0].request, Some(id));
    let on_leader: Vec<_> = cluster.applied[&leader]
        .iter()
        .filter(|c| c.entry.data == "via follower")
        .collect();
    assert_eq!(on_leader.len(), 1);
    assert_eq!(on_leader[0].request, None);
    assert!(cluster.failed.values().all(|f| f.is_empty()));
}

#[test]
fn duplicated_propose_is_appended_once() {
    let mut leader = leader(forwarding(3));
    let propose = |request_id| Message::Propose {
        term: 1,
        incarnation: 1,
        request_id,
        data: Bytes::from("once"),
    };
    leader.step(NodeId(2), propose(1));
    leader.step(NodeId(2), propose(1));
    let ready = drain(&mut leader).unwrap();
    let appended = &ready.persist.as_ref().unwrap().entries;
    assert_eq!(appended.len(), 1, "a duplicate must not apply twice");
    // Both copies get the same answer.
    let placed = Message::ProposeResponse {
        term: 1,
        incarnation: 1,
        request_id: 1,
        outcome: ProposeOutcome::Placed { index: 2, term: 1 },
    };
    assert_eq!(
        to(&ready.send_now, 2)
            .into_iter()
            .filter(|m| matches!(m, Message::ProposeResponse { .. }))
            .collect::<Vec<_>>(),
        vec![placed.clone(), placed]
    );
    // A refused proposal stays refused when its copy arrives later.
    let mut busy = leader_with_uncommitted_max(1);
    busy.step(NodeId(2), propose(1));
    busy.step(NodeId(2), propose(2));
    drain_all(&mut busy);
    busy.step(NodeId(2), accepted(1, 2));
    drain_all(&mut busy);
    busy.step(NodeId(2), propose(2));
    let ready = drain(&mut busy).unwrap();
    assert!(
        ready.persist.is_none(),
        "the refused proposal is not appended"
    );
    assert!(matches!(
        &to(&ready.send_now, 2)[..],
        [Message::ProposeResponse {
            outcome: ProposeOutcome::Busy { .. },
            ..
        }]
    ));
}

fn leader_with_uncommitted_max(uncommitted_entries_max: usize) -> Raft {
    leader(Config {
        uncommitted_entries_max,
        ..forwarding(3)
    })
}

/// Found by the simulator (seed 19363 of a 100,000-seed campaign): a leader
/// appended a forwarded proposal, crashed before answering, and restarted
/// as a follower of the same term; a network duplicate of the proposal then
/// arrived. Answering `NotLeader` told the origin the request had certainly
/// failed, yet the appended copy committed later. A node that may have led
/// this term must answer that the proposal may have been placed.
#[test]
fn duplicate_proposal_after_leader_restart_is_not_a_definite_failure() {
    let mut store = MemStore::default();
    let mut leader = new_node(1, forwarding(3));
    for ready in make_leader(&mut leader) {
        if let Some(persist) = &ready.persist {
            store.write(persist);
        }
    }
    let propose = Message::Propose {
        term: 1,
        incarnation: 1,
        request_id: 7,
        data: Bytes::from("fwd"),
    };
    leader.step(NodeId(2), propose.clone());
    for ready in drain_all(&mut leader) {
        if let Some(persist) = &ready.persist {
            store.write(persist);
        }
    }
    assert!(store.entries.iter().any(|e| e.data == "fwd"));

    // Restarted from its durable state: a follower of term 1 that voted for
    // itself, with no memory of the proposals it answered.
    let mut restarted = Raft::restore(NodeId(1), forwarding(3), store.recovered()).unwrap();
    drain_all(&mut restarted);
    restarted.step(NodeId(2), propose);
    let replies: Vec<Message> = drain_all(&mut restarted)
        .into_iter()
        .flat_map(|ready| ready.send_now)
        .filter(|(to, _)| *to == NodeId(2))
        .map(|(_, message)| message)
        .collect();
    assert_eq!(
        replies,
        vec![Message::ProposeResponse {
            term: 1,
            incarnation: 1,
            request_id: 7,
            outcome: ProposeOutcome::MayHaveBeenPlaced,
        }]
    );

    // The origin reports the request's outcome as unknown.
    let (id, failed) = forward_and_answer(ProposeOutcome::MayHaveBeenPlaced);
    assert!(matches!(
        failed.as_slice(),
        [(failed, SubmitError::Indeterminate { .. })] if *failed == id
    ));
}

/// A leader that steps down within its term (CheckQuorum) still remembers
/// the forwarded proposals it appended: a late duplicate gets the original
/// answer, never a `NotLeader` that would call an appended request failed.
#[test]
fn duplicate_proposal_after_step_down_in_the_same_term_gets_the_original_answer() {
    let config = Config {
        check_quorum: true,
        ..forwarding(3)
    };
    let mut leader = leader(config.clone());
    let propose = Message::Propose {
        term: 1,
        incarnation: 1,
        request_id: 7,
        data: Bytes::from("fwd"),
    };
    leader.step(NodeId(2), propose.clone());
    let answers = |ready: Vec<common::RaftReady>| -> Vec<ProposeOutcome> {
        ready
            .into_iter()
            .flat_map(|ready| ready.send_now)
            .filter_map(|(_, message)| match message {
                Message::ProposeResponse { outcome, .. } => Some(outcome),
                _ => None,
            })
            .collect()
    };
    let first = answers(drain_all(&mut leader));
    assert_eq!(first, vec![ProposeOutcome::Placed { index: 2, term: 1 }]);

    // No peer answers for longer than an election timeout: CheckQuorum.
    for _ in 0..2 * config.election_ticks_max {
        if leader.status().role != quorate_core::Role::Leader {
            break;
        }
        ticks(&mut leader, 1);
    }
    drain_all(&mut leader);
    let status = leader.status();
    assert_ne!(status.role, quorate_core::Role::Leader);
    assert_eq!(status.term, 1, "CheckQuorum steps down within the term");

    leader.step(NodeId(2), propose);
    assert_eq!(answers(drain_all(&mut leader)), first);
}
