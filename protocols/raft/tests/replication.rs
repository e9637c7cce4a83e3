//! Log replication (§5.3) and the commit rule (§5.4.2), checked on the
//! exact Ready batches a node emits.

mod common;

use bytes::Bytes;
use common::*;
use quorate_core::{EntryKind, NodeId, Protocol, Role};
use quorate_raft::{AppendOutcome, Config, Message, Raft};

fn accepted(term: u64, match_index: u64) -> Message {
    Message::AppendResponse {
        term,
        outcome: AppendOutcome::Accepted { match_index },
    }
}

#[test]
fn log_matching_rejects_append_without_matching_prev_5_3() {
    let mut raft = follower_with_log(1, 3, &[1, 1], 2);
    raft.step(NodeId(2), append(2, (3, 2), vec![entry(4, 2)], 0));
    let ready = drain(&mut raft).unwrap();
    assert!(ready.persist.is_none(), "nothing appended");
    assert_eq!(
        ready.send_after_persist,
        vec![(
            NodeId(2),
            Message::AppendResponse {
                term: 2,
                outcome: AppendOutcome::Rejected {
                    rejected_prev_index: 3,
                    hint_index: 2,
                    hint_term: 1,
                },
            }
        )]
    );
    assert_eq!(raft.status().last_index, 2);
}

#[test]
fn follower_truncates_conflicting_suffix_5_3() {
    // Index 3..=5 hold term-2 entries the new leader never had.
    let mut raft = follower_with_log(1, 3, &[1, 1, 2, 2, 2], 3);
    raft.step(
        NodeId(2),
        append(3, (2, 1), vec![entry(3, 3), entry(4, 3)], 0),
    );
    let ready = drain(&mut raft).unwrap();
    let persist = ready.persist.as_ref().unwrap();
    assert_eq!(persist.truncate_from, Some(3));
    assert_eq!(persist.entries, vec![entry(3, 3), entry(4, 3)]);
    assert!(persist.sync);
    assert_eq!(ready.send_after_persist, vec![(NodeId(2), accepted(3, 4))]);
    assert_eq!(raft.status().last_index, 4);
}

#[test]
fn stale_append_never_truncates_d2() {
    let mut raft = follower_with_log(1, 3, &[], 1);
    raft.step(
        NodeId(2),
        append(1, (0, 0), vec![entry(1, 1), entry(2, 1), entry(3, 1)], 0),
    );
    drain_all(&mut raft);
    // An older, shorter AppendEntries arrives late (reordered).
    raft.step(NodeId(2), append(1, (0, 0), vec![entry(1, 1)], 0));
    let ready = drain(&mut raft).unwrap();
    assert!(
        ready.persist.is_none(),
        "no truncation without a conflict: {:?}",
        ready.persist
    );
    assert_eq!(ready.send_after_persist, vec![(NodeId(2), accepted(1, 1))]);
    assert_eq!(raft.status().last_index, 3);
    // And a duplicate of the newer one changes nothing either.
    raft.step(
        NodeId(2),
        append(1, (1, 1), vec![entry(2, 1), entry(3, 1)], 0),
    );
    let ready = drain(&mut raft).unwrap();
    assert!(ready.persist.is_none());
    assert_eq!(raft.status().last_index, 3);
}

#[test]
fn fast_backtracking_skips_a_term_per_round_trip_5_3() {
    // Follower side: log [1 1 2 2 2]; the leader's first message (prev at
    // its last entry before the noop) is (6, 3).
    let mut follower = follower_with_log(2, 3, &[1, 1, 2, 2, 2], 4);
    follower.step(NodeId(1), append(4, (6, 3), vec![entry(7, 4)], 0));
    let ready = drain(&mut follower).unwrap();
    let reject = Message::AppendResponse {
        term: 4,
        outcome: AppendOutcome::Rejected {
            rejected_prev_index: 6,
            hint_index: 5,
            hint_term: 2,
        },
    };
    assert_eq!(ready.send_after_persist, vec![(NodeId(1), reject.clone())]);

    // Leader side: log [1 1 3 3 3 3], elected in term 4 (noop at 7).
    let mut leader = follower_with_log(1, 3, &[1, 1, 3, 3, 3, 3], 3);
    make_leader(&mut leader);
    assert_eq!(leader.status().term, 4);
    leader.step(NodeId(2), reject);
    let ready = drain(&mut leader).unwrap();
    // Its own log has no term <= 2 after index 2, so it jumps straight to
    // prev = (2, 1) and sends everything after in one message.
    let sent = to(&ready.send_now, 2);
    assert_eq!(sent.len(), 1);
    let Message::Append {
        prev_log_index,
        prev_log_term,
        entries,
        ..
    } = &sent[0]
    else {
        panic!("expected an append, got {sent:?}");
    };
    assert_eq!((*prev_log_index, *prev_log_term), (2, 1));
    let indexes: Vec<u64> = entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, vec![3, 4, 5, 6, 7]);

    // The follower takes it, truncating its term-2 suffix.
    follower.step(NodeId(1), sent[0].clone());
    let ready = drain(&mut follower).unwrap();
    assert_eq!(ready.persist.as_ref().unwrap().truncate_from, Some(3));
    assert_eq!(ready.send_after_persist, vec![(NodeId(1), accepted(4, 7))]);
}

#[test]
fn figure8_previous_term_entry_not_committed_by_counting_5_4_2() {
    // n1 holds (2, term 2), which only n2 also has; n1 wins term 3.
    let mut leader = follower_with_log(1, 3, &[1, 2], 2);
    make_leader(&mut leader);
    assert_eq!(leader.status().term, 3);
    // n2 reports it stores up to index 2: a majority holds entry 2.
    leader.step(NodeId(2), accepted(3, 2));
    assert_eq!(
        leader.status().commit_index,
        0,
        "an entry of an earlier term is never committed by counting replicas"
    );
    let ready = drain(&mut leader);
    assert!(ready.is_none_or(|r| r.outputs.is_empty()));
    // Once the term-3 noop is on a majority, it commits, and with it
    // everything before it.
    leader.step(NodeId(2), accepted(3, 3));
    assert_eq!(leader.status().commit_index, 3);
    let ready = drain(&mut leader).unwrap();
    let indexes: Vec<u64> = ready.outputs.iter().map(|o| o.entry.index).collect();
    assert_eq!(indexes, vec![1, 2, 3]);
    assert_eq!(ready.outputs[2].entry.kind, EntryKind::Noop);
}

#[test]
fn leader_counts_itself_only_after_its_write_is_advanced_5_3() {
    let mut leader = new_node(1, config(3));
    tick_until_candidate(&mut leader);
    drain_all(&mut leader);
    leader.step(
        NodeId(2),
        Message::VoteResponse {
            term: 1,
            granted: true,
        },
    );
    // The noop's write is handed out but not yet done.
    let pending = leader.ready().unwrap();
    assert_eq!(pending.persist.as_ref().unwrap().entries.len(), 1);
    assert!(leader.ready().is_none(), "one Ready at a time");
    leader.step(NodeId(2), accepted(1, 1));
    assert_eq!(leader.status().commit_index, 0, "own write not durable yet");
    leader.advance(pending.id);
    assert_eq!(leader.status().commit_index, 1);
    let ready = drain(&mut leader).unwrap();
    assert_eq!(ready.outputs.len(), 1);
    assert_eq!(ready.outputs[0].entry.index, 1);
    assert!(drain(&mut leader).is_none(), "each output exactly once");
}

fn batching_config() -> Config {
    Config {
        append_bytes_max: 150,
        request_bytes_max: 100,
        inflight_appends_max: 3,
        ..config(3)
    }
}

/// A leader of term 1 whose followers have acknowledged the noop.
fn replicating_leader(config: Config) -> Raft {
    let mut leader = new_node(1, config);
    make_leader(&mut leader);
    leader.step(NodeId(2), accepted(1, 1));
    leader.step(NodeId(3), accepted(1, 1));
    drain_all(&mut leader);
    leader
}

#[test]
fn appends_batched_by_bytes_and_pipelined_up_to_inflight_limit() {
    let mut leader = replicating_leader(batching_config());
    for i in 0..10 {
        // 40 bytes of data: 64 bytes per entry, two per message.
        leader
            .submit(Bytes::from(format!("{i:040}")))
            .expect("leader accepts");
    }
    let ready = drain(&mut leader).unwrap();
    assert_eq!(ready.persist.as_ref().unwrap().entries.len(), 10);
    let sent = to(&ready.send_now, 2);
    let shapes: Vec<(u64, Vec<u64>)> = sent
        .iter()
        .map(|m| match m {
            Message::Append {
                prev_log_index,
                entries,
                ..
            } => (*prev_log_index, entries.iter().map(|e| e.index).collect()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    // Three messages in flight, two entries each; the rest waits.
    assert_eq!(
        shapes,
        vec![(1, vec![2, 3]), (3, vec![4, 5]), (5, vec![6, 7])]
    );
    // An ack for the first message frees one slot.
    leader.step(NodeId(2), accepted(1, 3));
    let ready = drain(&mut leader).unwrap();
    let sent = to(&ready.send_now, 2);
    assert_eq!(sent.len(), 1);
    assert!(
        matches!(&sent[0], Message::Append { prev_log_index: 7, entries, .. } if entries.len() == 2)
    );
}

#[test]
fn single_oversized_entry_still_sent_alone() {
    let mut leader = replicating_leader(Config {
        append_bytes_max: 100,
        request_bytes_max: 100,
        ..config(3)
    });
    leader.submit(Bytes::from(vec![7u8; 100])).unwrap();
    leader.submit(Bytes::from(vec![8u8; 100])).unwrap();
    let ready = drain(&mut leader).unwrap();
    let sent = to(&ready.send_now, 2);
    assert_eq!(sent.len(), 2, "one entry per message, never zero");
}

#[test]
fn reject_in_replicate_state_falls_back_to_probing() {
    let mut leader = replicating_leader(batching_config());
    for i in 0..4 {
        leader.submit(Bytes::from(format!("{i}"))).unwrap();
    }
    drain_all(&mut leader);
    // n2 lost the message carrying 2..: it rejects a later one.
    leader.step(
        NodeId(2),
        Message::AppendResponse {
            term: 1,
            outcome: AppendOutcome::Rejected {
                rejected_prev_index: 3,
                hint_index: 1,
                hint_term: 1,
            },
        },
    );
    let ready = drain(&mut leader).unwrap();
    let sent = to(&ready.send_now, 2);
    // Probe: exactly one message, from just after the known match.
    assert_eq!(sent.len(), 1);
    assert!(matches!(
        &sent[0],
        Message::Append {
            prev_log_index: 1,
            ..
        }
    ));
    // Until it is answered, nothing more goes to n2.
    leader.submit(Bytes::from("more")).unwrap();
    let ready = drain(&mut leader).unwrap();
    assert!(to(&ready.send_now, 2).is_empty());
    assert!(!to(&ready.send_now, 3).is_empty());
    // A stale reject (for a message before the match) is ignored.
    let dropped = leader.status().dropped_messages;
    leader.step(NodeId(3), accepted(1, 5));
    leader.step(
        NodeId(3),
        Message::AppendResponse {
            term: 1,
            outcome: AppendOutcome::Rejected {
                rejected_prev_index: 2,
                hint_index: 2,
                hint_term: 1,
            },
        },
    );
    assert_eq!(leader.status().dropped_messages, dropped + 1);
}

#[test]
fn heartbeat_commit_capped_at_follower_match_5_3() {
    let mut leader = replicating_leader(config(3));
    leader.submit(Bytes::from("x")).unwrap();
    drain_all(&mut leader);
    leader.step(NodeId(2), accepted(1, 2));
    assert_eq!(leader.status().commit_index, 2);
    drain_all(&mut leader);
    // Heartbeat: n2 may commit 2, n3 (match 1) only 1.
    let mut sent = Vec::new();
    for _ in 0..config(3).heartbeat_ticks {
        leader.tick();
        if let Some(ready) = drain(&mut leader) {
            sent.extend(ready.send_now);
        }
    }
    assert!(sent.contains(&(
        NodeId(2),
        Message::Heartbeat {
            term: 1,
            commit_index: 2
        }
    )));
    assert!(sent.contains(&(
        NodeId(3),
        Message::Heartbeat {
            term: 1,
            commit_index: 1
        }
    )));
}

#[test]
fn follower_commits_only_within_matched_prefix_and_outputs_once_5_3() {
    let mut raft = follower_with_log(1, 3, &[], 1);
    // Leader commit 5, but this message proves only up to index 2.
    raft.step(
        NodeId(2),
        append(1, (0, 0), vec![entry(1, 1), entry(2, 1)], 5),
    );
    assert_eq!(raft.status().commit_index, 2);
    let ready = drain(&mut raft).unwrap();
    // Outputs go with the write that makes them durable (applied after it).
    let persisted: Vec<u64> = ready
        .persist
        .as_ref()
        .unwrap()
        .entries
        .iter()
        .map(|e| e.index)
        .collect();
    assert_eq!(persisted, vec![1, 2]);
    let outputs: Vec<u64> = ready.outputs.iter().map(|o| o.entry.index).collect();
    assert_eq!(outputs, vec![1, 2]);
    assert!(ready.outputs.iter().all(|o| o.request.is_none()));
    // A duplicate delivers nothing new.
    raft.step(
        NodeId(2),
        append(1, (0, 0), vec![entry(1, 1), entry(2, 1)], 5),
    );
    let ready = drain(&mut raft).unwrap();
    assert!(ready.outputs.is_empty());
    assert_eq!(raft.status().applied_index, 2);
}

#[test]
fn restart_reemits_committed_entries_from_the_start() {
    let mut raft = follower_with_log(1, 3, &[], 1);
    let mut store = MemStore::default();
    raft.step(
        NodeId(2),
        append(1, (0, 0), vec![entry(1, 1), entry(2, 1), entry(3, 1)], 2),
    );
    for ready in drain_all(&mut raft) {
        if let Some(batch) = &ready.persist {
            store.write(batch);
        }
    }
    // follower_with_log's own initial hard state was never in `store`; the
    // batch above carried the full hard state.
    let mut restarted = Raft::restore(NodeId(1), config(3), store.recovered()).unwrap();
    assert_eq!(restarted.status().commit_index, 2);
    assert_eq!(restarted.status().applied_index, 0);
    let ready = drain(&mut restarted).unwrap();
    let outputs: Vec<u64> = ready.outputs.iter().map(|o| o.entry.index).collect();
    assert_eq!(outputs, vec![1, 2]);
    assert_eq!(restarted.status().role, Role::Follower);
}

#[test]
fn queued_ack_for_truncated_entries_never_leaves_5_3() {
    let mut raft = follower_with_log(1, 3, &[], 1);
    // n2 (term 1) sends 1..=3; the ack waits for the write.
    raft.step(
        NodeId(2),
        append(1, (0, 0), vec![entry(1, 1), entry(2, 1), entry(3, 1)], 0),
    );
    // Before that write is even handed out, n3 leads term 2 and replaces
    // 2..=3.
    raft.step(NodeId(3), append(2, (1, 1), vec![entry(2, 2)], 0));
    let ready = drain(&mut raft).unwrap();
    let persist = ready.persist.as_ref().unwrap();
    assert_eq!(persist.truncate_from, None, "nothing was on storage yet");
    assert_eq!(persist.entries, vec![entry(1, 1), entry(2, 2)]);
    // n2 must not hear "I hold 1..=3": it could commit entries we dropped.
    assert_eq!(ready.send_after_persist, vec![(NodeId(3), accepted(2, 2))]);
}

#[test]
fn commit_index_rides_on_next_append_or_heartbeat_not_its_own_message() {
    let mut leader = replicating_leader(config(3));
    leader.submit(Bytes::from("x")).unwrap();
    drain_all(&mut leader);
    leader.step(NodeId(2), accepted(1, 2));
    leader.step(NodeId(3), accepted(1, 2));
    assert_eq!(leader.status().commit_index, 2);
    // The commit yields the output, but no message and no storage write:
    // the new commit index alone is not worth a round of appends.
    let readies = drain_all(&mut leader);
    assert_eq!(readies.len(), 1);
    assert_eq!(readies[0].outputs.len(), 1);
    assert!(readies[0].send_now.is_empty(), "{:?}", readies[0].send_now);
    assert!(
        readies[0].persist.is_none(),
        "a commit index alone is a hint"
    );
    // The next entry carries it.
    leader.submit(Bytes::from("y")).unwrap();
    let ready = drain(&mut leader).unwrap();
    for peer in [2, 3] {
        assert!(matches!(
            to(&ready.send_now, peer)[..],
            [Message::Append {
                prev_log_index: 2,
                commit_index: 2,
                ..
            }]
        ));
    }
    // With nothing more to send, the next heartbeat carries it.
    let mut sent = Vec::new();
    for _ in 0..config(3).heartbeat_ticks {
        leader.tick();
        if let Some(ready) = drain(&mut leader) {
            sent.extend(ready.send_now);
        }
    }
    for peer in [2, 3] {
        assert_eq!(
            to(&sent, peer),
            vec![Message::Heartbeat {
                term: 1,
                commit_index: 2
            }]
        );
    }
}

#[test]
fn follower_learns_commit_from_heartbeat_without_a_storage_write() {
    let mut raft = follower_with_log(2, 3, &[], 1);
    raft.step(
        NodeId(1),
        append(1, (0, 0), vec![entry(1, 1), entry(2, 1)], 0),
    );
    let ready = drain(&mut raft).unwrap();
    assert_eq!(ready.persist.as_ref().unwrap().entries.len(), 2);
    assert!(ready.outputs.is_empty(), "nothing known committed yet");
    // The commit index arrives on a heartbeat: the entries are output at
    // once, with no write to wait for, and the answer is not an append
    // acknowledgement.
    raft.step(
        NodeId(1),
        Message::Heartbeat {
            term: 1,
            commit_index: 2,
        },
    );
    let ready = drain(&mut raft).unwrap();
    assert!(ready.persist.is_none());
    let outputs: Vec<u64> = ready.outputs.iter().map(|o| o.entry.index).collect();
    assert_eq!(outputs, vec![1, 2]);
    assert_eq!(
        ready.send_after_persist,
        vec![(NodeId(1), Message::HeartbeatResponse { term: 1 })]
    );
    // The commit hint is written with the next batch that is written anyway.
    raft.step(NodeId(1), append(1, (2, 1), vec![entry(3, 1)], 2));
    let ready = drain(&mut raft).unwrap();
    assert_eq!(hard_state(&ready).map(|h| h.commit), Some(2));
}
