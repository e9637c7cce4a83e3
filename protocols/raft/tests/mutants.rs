//! The deliberately broken variants really break the rule they name, so the
//! simulator's checkers have something real to catch.
#![cfg(feature = "mutants")]

mod common;

use common::*;
use quorate_core::{NodeId, Protocol, Role};
use quorate_raft::{AppendOutcome, Config, Message, Mutant, Raft};

#[test]
fn figure8_mutant_commits_previous_term_entry_by_counting() {
    let config = Config {
        mutant: Some(Mutant::Figure8),
        ..config(3)
    };
    // n1 holds (2, term 2), which only n2 also has; n1 wins term 3.
    let store = MemStore {
        entries: vec![entry(1, 1), entry(2, 2)],
        hard_state: Some(
            quorate_raft::HardState {
                term: 2,
                ..Default::default()
            }
            .encode(),
        ),
    };
    let mut leader = Raft::restore(NodeId(1), config, store.recovered()).unwrap();
    make_leader(&mut leader);
    leader.step(
        NodeId(2),
        Message::AppendResponse {
            term: 3,
            outcome: AppendOutcome::Accepted { match_index: 2 },
        },
    );
    assert_eq!(
        leader.status().commit_index,
        2,
        "the mutant commits a term-2 entry in term 3 by counting"
    );
}

#[test]
fn unpersisted_vote_mutant_votes_twice_in_a_term_after_restart() {
    let config = Config {
        mutant: Some(Mutant::UnpersistedVote),
        ..config(3)
    };
    let mut store = MemStore::default();
    let mut raft = Raft::restore(NodeId(1), config.clone(), store.recovered()).unwrap();
    drain_all(&mut raft);
    let vote = Message::Vote {
        term: 1,
        last_log_index: 0,
        last_log_term: 0,
    };
    raft.step(NodeId(2), vote.clone());
    let ready = drain(&mut raft).unwrap();
    let grant = Message::VoteResponse {
        term: 1,
        granted: true,
    };
    assert_eq!(
        ready.send_now,
        vec![(NodeId(2), grant.clone())],
        "grant leaves at once"
    );
    assert_eq!(hard_state(&ready).unwrap().vote, None, "vote not persisted");
    store.write(ready.persist.as_ref().unwrap());

    let mut restarted = Raft::restore(NodeId(1), config, store.recovered()).unwrap();
    drain_all(&mut restarted);
    restarted.step(NodeId(3), vote);
    let ready = drain(&mut restarted).unwrap();
    assert_eq!(
        ready.send_now,
        vec![(NodeId(3), grant)],
        "second vote in term 1"
    );
    assert_eq!(restarted.status().role, Role::Follower);
}
