//! Leader election (§5.2, §5.4.1), PreVote (thesis §9.6) and CheckQuorum
//! (thesis §6.2), checked on the exact Ready batches a node emits.

mod common;

use common::*;
use quorate_core::{NodeId, Protocol, Role};
use quorate_raft::{Config, HardState, Message};

#[test]
fn election_starts_after_randomized_timeout_5_2() {
    let config = config(3);
    let (min, max) = (config.election_ticks_min, config.election_ticks_max);
    for id in 1..=3 {
        let mut raft = new_node(id, config.clone());
        drain_all(&mut raft);
        ticks(&mut raft, min - 1);
        assert_eq!(raft.status().role, Role::Follower, "no election before min");
        assert!(drain(&mut raft).is_none());
        let mut elapsed = min - 1;
        while raft.status().role == Role::Follower {
            raft.tick();
            elapsed += 1;
        }
        assert!(elapsed < max, "timeout {elapsed} within [{min}, {max})");
        assert_eq!(raft.status().role, Role::Candidate);
        assert_eq!(raft.status().term, 1);

        let ready = drain(&mut raft).expect("a candidate has work");
        // The self-vote is persisted, synced, and the requests wait for it.
        assert_eq!(
            hard_state(&ready),
            Some(HardState {
                term: 1,
                vote: Some(NodeId(id)),
                commit: 0,
                incarnation: 1,
            })
        );
        assert!(ready.persist.as_ref().unwrap().sync);
        assert!(ready.send_now.is_empty());
        let expected: Vec<(NodeId, Message)> = (1..=3)
            .filter(|&p| p != id)
            .map(|p| {
                (
                    NodeId(p),
                    Message::Vote {
                        term: 1,
                        last_log_index: 0,
                        last_log_term: 0,
                    },
                )
            })
            .collect();
        assert_eq!(ready.send_after_persist, expected);
    }
}

#[test]
fn randomized_timeouts_differ_between_nodes_5_2() {
    let config = config(5);
    let mut timeouts = Vec::new();
    for id in 1..=5 {
        let mut raft = new_node(id, config.clone());
        let mut elapsed = 0;
        while raft.status().role == Role::Follower {
            raft.tick();
            elapsed += 1;
        }
        timeouts.push(elapsed);
    }
    timeouts.sort();
    timeouts.dedup();
    assert!(timeouts.len() > 1, "seeded per node: {timeouts:?}");
}

#[test]
fn candidate_with_majority_becomes_leader_and_appends_noop_5_2_8() {
    let mut raft = new_node(1, config(3));
    tick_until_candidate(&mut raft);
    drain_all(&mut raft);
    raft.step(
        NodeId(2),
        Message::VoteResponse {
            term: 1,
            granted: true,
        },
    );
    assert_eq!(raft.status().role, Role::Leader);
    let ready = drain(&mut raft).unwrap();
    let persist = ready.persist.as_ref().unwrap();
    assert_eq!(persist.entries.len(), 1);
    assert_eq!(persist.entries[0].kind, quorate_core::EntryKind::Noop);
    assert_eq!((persist.entries[0].index, persist.entries[0].term), (1, 1));
    // The leader's AppendEntries do not wait for its own write.
    for peer in [2, 3] {
        assert_eq!(
            to(&ready.send_now, peer),
            vec![append(1, (0, 0), vec![persist.entries[0].clone()], 0)]
        );
    }
    assert!(ready.send_after_persist.is_empty());
}

#[test]
fn candidate_rejected_by_majority_returns_to_follower_5_2() {
    let mut raft = new_node(1, config(3));
    tick_until_candidate(&mut raft);
    drain_all(&mut raft);
    for peer in [2, 3] {
        raft.step(
            NodeId(peer),
            Message::VoteResponse {
                term: 1,
                granted: false,
            },
        );
    }
    assert_eq!(raft.status().role, Role::Follower);
    assert_eq!(raft.status().term, 1);
}

#[test]
fn election_safety_one_vote_per_term_5_2() {
    let mut raft = new_node(1, config(3));
    drain_all(&mut raft);
    let vote = |term| Message::Vote {
        term,
        last_log_index: 0,
        last_log_term: 0,
    };
    raft.step(NodeId(2), vote(1));
    let first = drain(&mut raft).unwrap();
    assert_eq!(hard_state(&first).unwrap().vote, Some(NodeId(2)));
    assert_eq!(
        first.send_after_persist,
        vec![(
            NodeId(2),
            Message::VoteResponse {
                term: 1,
                granted: true
            }
        )]
    );
    raft.step(NodeId(3), vote(1));
    let second = drain(&mut raft).unwrap();
    assert_eq!(
        second.send_after_persist,
        vec![(
            NodeId(3),
            Message::VoteResponse {
                term: 1,
                granted: false
            }
        )]
    );
    // Asking again is answered the same way (the reply may have been lost).
    raft.step(NodeId(2), vote(1));
    let again = drain(&mut raft).unwrap();
    assert_eq!(
        again.send_after_persist,
        vec![(
            NodeId(2),
            Message::VoteResponse {
                term: 1,
                granted: true
            }
        )]
    );
}

#[test]
fn vote_persisted_before_grant_is_sent_5_2() {
    let mut raft = new_node(1, config(3));
    drain_all(&mut raft);
    raft.step(
        NodeId(2),
        Message::Vote {
            term: 4,
            last_log_index: 0,
            last_log_term: 0,
        },
    );
    let ready = drain(&mut raft).unwrap();
    assert!(
        ready.send_now.is_empty(),
        "no grant may leave before persist"
    );
    let persist = ready.persist.as_ref().unwrap();
    assert!(persist.sync);
    let hs = hard_state(&ready).unwrap();
    assert_eq!((hs.term, hs.vote), (4, Some(NodeId(2))));
    assert_eq!(ready.send_after_persist.len(), 1);

    // After a restart from that durable state, the vote still binds.
    let mut store = MemStore::default();
    store.write(persist);
    let mut restarted =
        quorate_raft::Raft::restore(NodeId(1), config(3), store.recovered()).unwrap();
    drain_all(&mut restarted);
    restarted.step(
        NodeId(3),
        Message::Vote {
            term: 4,
            last_log_index: 0,
            last_log_term: 0,
        },
    );
    let ready = drain(&mut restarted).unwrap();
    assert_eq!(
        ready.send_after_persist,
        vec![(
            NodeId(3),
            Message::VoteResponse {
                term: 4,
                granted: false
            }
        )]
    );
}

#[test]
fn vote_denied_to_candidate_with_stale_log_5_4_1() {
    // Our log ends at (2, term 2).
    let mut raft = follower_with_log(1, 3, &[1, 2], 2);
    // Candidate's last term is lower: denied even though its log is longer.
    raft.step(
        NodeId(2),
        Message::Vote {
            term: 3,
            last_log_index: 5,
            last_log_term: 1,
        },
    );
    // Same last term but shorter: denied.
    raft.step(
        NodeId(3),
        Message::Vote {
            term: 3,
            last_log_index: 1,
            last_log_term: 2,
        },
    );
    let ready = drain(&mut raft).unwrap();
    let denied = |n| {
        (
            NodeId(n),
            Message::VoteResponse {
                term: 3,
                granted: false,
            },
        )
    };
    assert_eq!(ready.send_after_persist, vec![denied(2), denied(3)]);
    assert_eq!(hard_state(&ready).unwrap().vote, None);
    assert_eq!(
        raft.status().term,
        3,
        "a higher term is adopted anyway (§5.1)"
    );
}

fn pre_vote_config() -> Config {
    Config {
        pre_vote: true,
        check_quorum: true,
        ..config(3)
    }
}

#[test]
fn pre_vote_round_does_not_raise_term_9_6() {
    let mut raft = new_node(1, pre_vote_config());
    drain_all(&mut raft);
    tick_until_candidate(&mut raft);
    assert_eq!(raft.status().role, Role::PreCandidate);
    assert_eq!(raft.status().term, 0);
    let ready = drain(&mut raft).unwrap();
    assert!(
        ready.persist.is_none(),
        "a pre-vote changes nothing durable"
    );
    let expected = Message::PreVote {
        term: 1,
        last_log_index: 0,
        last_log_term: 0,
    };
    assert_eq!(to(&ready.send_now, 2), vec![expected.clone()]);
    assert_eq!(to(&ready.send_now, 3), vec![expected]);

    // One grant makes a majority: now the real election starts at term 1.
    raft.step(
        NodeId(2),
        Message::PreVoteResponse {
            term: 1,
            granted: true,
        },
    );
    assert_eq!(raft.status().role, Role::Candidate);
    assert_eq!(raft.status().term, 1);
    let ready = drain(&mut raft).unwrap();
    assert_eq!(hard_state(&ready).unwrap().vote, Some(NodeId(1)));
    assert_eq!(ready.send_after_persist.len(), 2);
}

#[test]
fn pre_vote_not_disrupting_stable_leader_9_6() {
    // n1 follows leader n2 in term 1 and heard from it just now. (A wide
    // timeout range keeps n1's own timer from firing in this test.)
    let config = Config {
        election_ticks_max: 1000,
        ..pre_vote_config()
    };
    let mut raft = new_node(1, config.clone());
    drain_all(&mut raft);
    raft.step(NodeId(2), append(1, (0, 0), vec![], 0));
    drain_all(&mut raft);
    // n3, cut off for a while, asks for pre-votes and votes in term 2.
    raft.step(
        NodeId(3),
        Message::PreVote {
            term: 2,
            last_log_index: 0,
            last_log_term: 0,
        },
    );
    raft.step(
        NodeId(3),
        Message::Vote {
            term: 2,
            last_log_index: 0,
            last_log_term: 0,
        },
    );
    assert_eq!(raft.status().term, 1, "the term is not disturbed");
    assert_eq!(raft.status().leader, Some(NodeId(2)));
    assert!(
        drain(&mut raft).is_none(),
        "requests inside the lease are ignored"
    );

    // Once the leader has been silent for an election timeout, a pre-vote
    // is granted, still without touching the term.
    ticks(&mut raft, config.election_ticks_min);
    assert_eq!(raft.status().role, Role::Follower);
    raft.step(
        NodeId(3),
        Message::PreVote {
            term: 2,
            last_log_index: 0,
            last_log_term: 0,
        },
    );
    assert_eq!(raft.status().term, 1);
    let ready = drain(&mut raft).unwrap();
    assert_eq!(
        ready.send_now,
        vec![(
            NodeId(3),
            Message::PreVoteResponse {
                term: 2,
                granted: true
            }
        )]
    );
}

#[test]
fn pre_candidate_with_stale_log_cannot_win_9_6() {
    let mut raft = follower_with_log(1, 3, &[1, 1, 1], 1);
    raft.step(
        NodeId(2),
        Message::PreVote {
            term: 2,
            last_log_index: 2,
            last_log_term: 1,
        },
    );
    let ready = drain(&mut raft).unwrap();
    assert_eq!(
        ready.send_now,
        vec![(
            NodeId(2),
            Message::PreVoteResponse {
                term: 1,
                granted: false
            }
        )]
    );
}

#[test]
fn check_quorum_leader_steps_down_without_majority_6_2() {
    let config = Config {
        check_quorum: true,
        ..config(3)
    };
    let mut raft = new_node(1, config.clone());
    make_leader(&mut raft);
    // Peers never answer. Within two CheckQuorum periods the leader quits.
    for _ in 0..(2 * config.election_ticks_min) {
        raft.tick();
        drain_all(&mut raft);
    }
    assert_eq!(raft.status().role, Role::Follower);
    assert_eq!(raft.status().term, 1, "stepping down keeps the term");
    assert_eq!(raft.status().leader, None);
}

#[test]
fn check_quorum_leader_stays_while_a_majority_answers_6_2() {
    let config = Config {
        check_quorum: true,
        ..config(3)
    };
    let mut raft = new_node(1, config.clone());
    make_leader(&mut raft);
    for _ in 0..(5 * config.election_ticks_min) {
        raft.tick();
        raft.step(NodeId(2), Message::HeartbeatResponse { term: 1 });
        drain_all(&mut raft);
    }
    assert_eq!(raft.status().role, Role::Leader);
}

#[test]
fn stale_leader_learns_newer_term_from_heartbeat_reply_5_1() {
    let mut raft = new_node(1, pre_vote_config());
    drain_all(&mut raft);
    raft.step(NodeId(2), append(3, (0, 0), vec![], 0));
    drain_all(&mut raft);
    raft.step(
        NodeId(3),
        Message::Heartbeat {
            term: 2,
            commit_index: 0,
        },
    );
    let ready = drain(&mut raft).unwrap();
    assert_eq!(
        ready.send_now,
        vec![(NodeId(3), Message::HeartbeatResponse { term: 3 })]
    );
    assert_eq!(raft.status().dropped_messages, 1);
}

#[test]
fn single_node_elects_itself_and_commits_noop() {
    let mut raft = new_node(1, config(1));
    tick_until_candidate(&mut raft);
    assert_eq!(raft.status().role, Role::Leader);
    let first = drain(&mut raft).unwrap();
    assert!(first.outputs.is_empty(), "not durable yet");
    let second = drain(&mut raft).unwrap();
    assert_eq!(second.outputs.len(), 1);
    assert_eq!(second.outputs[0].entry.index, 1);
    assert_eq!(raft.status().commit_index, 1);
}

#[test]
fn rejected_vote_does_not_restart_election_timer_5_2() {
    // n1 has a newer log than candidate n2.
    let mut raft = follower_with_log(1, 3, &[1, 1], 1);
    let mut reference = follower_with_log(1, 3, &[1, 1], 1);
    let mut elapsed = 0;
    while reference.status().role == Role::Follower {
        reference.tick();
        elapsed += 1;
    }
    ticks(&mut raft, elapsed - 1);
    raft.step(
        NodeId(2),
        Message::Vote {
            term: 5,
            last_log_index: 1,
            last_log_term: 1,
        },
    );
    assert_eq!(raft.status().term, 5);
    assert_eq!(hard_state(&drain(&mut raft).unwrap()).unwrap().vote, None);
    // The timer kept running: n1 campaigns on the very tick it would have.
    raft.tick();
    assert_eq!(raft.status().role, Role::Candidate);
    assert_eq!(raft.status().term, 6);
}
