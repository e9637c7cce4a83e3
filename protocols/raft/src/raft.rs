//! The Raft instance: state, role transitions, and the `Protocol` surface.
//!
//! The rules live in sibling modules as further `impl Raft` blocks:
//! `election` (timers, PreVote, votes, CheckQuorum), `replication`
//! (AppendEntries both ways, commit) and `proposals` (submit, forwarding).

use crate::config::Config;
use crate::hard_state::HardState;
use crate::log::RaftLog;
use crate::message::Message;
use crate::progress::Progress;
use crate::proposals::SeenProposals;
use crate::requests::Requests;
use bytes::Bytes;
use quorate_core::{
    Committed, ConfigError, Entry, LogIndex, NodeId, Protocol, ProtocolConfig, Ready, ReadyId,
    Recovered, RequestId, Role, SeededRng, Status, SubmitError, Term, WriteBatch,
};
use std::collections::BTreeMap;

/// One Raft replica: a deterministic, sans-IO state machine.
///
/// Drive it through [`Protocol`]: feed `tick`, `step` and `submit`, then
/// carry out each [`Ready`] in the order its documentation gives and hand it
/// back with `advance`. Outputs are every committed entry in log order,
/// [`EntryKind::Noop`](quorate_core::EntryKind::Noop) entries included (the
/// driver skips them when applying); after a restart the log after the
/// recovered snapshot is handed out again (the driver restores the state
/// machine from the snapshot first).
///
/// The driver bounds the log by handing over state-machine snapshots
/// ([`Protocol::compact`]); a follower too far behind for the leader's log
/// receives the snapshot itself (InstallSnapshot, §7).
#[derive(Debug)]
pub struct Raft {
    pub(crate) id: NodeId,
    pub(crate) config: Config,
    /// Every voter except this node, in id order.
    pub(crate) peers: Vec<NodeId>,
    pub(crate) role: Role,
    pub(crate) term: Term,
    pub(crate) vote: Option<NodeId>,
    /// The vote is kept out of the hard state (only under the
    /// `UnpersistedVote` mutant).
    pub(crate) vote_volatile: bool,
    pub(crate) leader: Option<NodeId>,
    pub(crate) log: RaftLog,
    pub(crate) incarnation: u64,
    /// False until the hard state carrying `incarnation` is durable;
    /// forwarded proposals wait for it.
    pub(crate) incarnation_durable: bool,
    /// The hard state last handed to storage.
    pub(crate) hard_state_written: HardState,
    pub(crate) rng: SeededRng,
    /// Ticks since this instance started.
    pub(crate) ticks: u64,
    pub(crate) election_elapsed: u32,
    pub(crate) heartbeat_elapsed: u32,
    /// This round's randomized election timeout.
    pub(crate) election_timeout: u32,
    /// Votes received in the current (pre-)election.
    pub(crate) votes: BTreeMap<NodeId, bool>,
    /// Leader only: one entry per peer.
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    pub(crate) requests: Requests,
    /// Forwarded proposals answered this term, per origin. Kept when a
    /// leader steps down within its term (CheckQuorum), so that a duplicate
    /// arriving afterwards is answered as the original was; cleared when
    /// the term changes, since a Propose of an older term is dropped.
    pub(crate) proposals_seen: BTreeMap<NodeId, SeenProposals>,
    /// Restored with a vote for itself in the current term: this node may
    /// have led the term before it restarted, and no longer remembers which
    /// forwarded proposals it appended. Cleared when the term changes.
    pub(crate) may_have_led_before_restart: bool,
    /// Messages for the next Ready. Drained by every `ready()`; between two
    /// of them each input adds at most a few messages per peer.
    pub(crate) send_now: Vec<(NodeId, Message)>,
    pub(crate) send_after_persist: Vec<(NodeId, Message)>,
    pub(crate) ready_id_last: u64,
    pub(crate) outstanding: Option<ReadyId>,
    pub(crate) dropped_messages: u64,
}

impl Raft {
    pub(crate) fn quorum(&self) -> usize {
        let voters = self.peers.len() + 1;
        voters / 2 + 1
    }

    pub(crate) fn is_member(&self, node: NodeId) -> bool {
        node == self.id || self.peers.contains(&node)
    }

    pub(crate) fn drop_message(&mut self) {
        self.dropped_messages += 1;
    }

    /// The hard state as it should be on disk.
    pub(crate) fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: if self.vote_volatile { None } else { self.vote },
            commit: self.log.committed(),
            incarnation: self.incarnation,
        }
    }

    pub(crate) fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        // Uniform in [election_ticks_min, election_ticks_max); validate()
        // guarantees max > min, and both fit in u32.
        let ticks = self.rng.between(
            u64::from(self.config.election_ticks_min),
            u64::from(self.config.election_ticks_max) - 1,
        );
        self.election_timeout = u32::try_from(ticks).expect("drawn between two u32 bounds");
    }

    /// Moves to a new term, forgetting the vote (§5.1).
    fn set_term(&mut self, term: Term) {
        assert!(
            term >= self.term,
            "term must never decrease: {} -> {term}",
            self.term
        );
        if term > self.term {
            self.term = term;
            self.vote = None;
            self.vote_volatile = false;
            self.proposals_seen.clear();
            self.may_have_led_before_restart = false;
            // The leader we forwarded to is gone; its answers would be
            // dropped as stale, so nothing else would resolve them.
            self.requests
                .fail_unplaced("term changed before the leader answered");
        }
    }

    /// Leaves whatever role we had. A leader's pending requests cannot be
    /// tracked through someone else's leadership, so they fail as
    /// indeterminate.
    fn leave_role(&mut self) {
        if self.role == Role::Leader {
            self.requests
                .fail_all("leadership lost before the entry committed");
        }
        self.progress.clear();
        self.votes.clear();
    }

    pub(crate) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        self.leave_role();
        self.set_term(term);
        self.role = Role::Follower;
        self.leader = leader;
        self.reset_election_timer();
    }

    pub(crate) fn become_pre_candidate(&mut self) {
        self.leave_role();
        self.role = Role::PreCandidate;
        self.leader = None;
        self.reset_election_timer();
    }

    pub(crate) fn become_candidate(&mut self) {
        self.leave_role();
        let term = self.term + 1;
        self.set_term(term);
        self.vote = Some(self.id);
        self.role = Role::Candidate;
        self.leader = None;
        self.reset_election_timer();
    }

    pub(crate) fn become_leader(&mut self) {
        assert_eq!(
            self.role,
            Role::Candidate,
            "only a candidate becomes leader (n{} term {})",
            self.id.0,
            self.term
        );
        self.leave_role();
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.reset_election_timer();
        let last = self.log.last_index();
        for &peer in &self.peers {
            self.progress.insert(peer, Progress::new(last));
        }
        // §5.4.2 / §8: a new leader commits entries of earlier terms only
        // through an entry of its own term; append one at once.
        self.log.append(Entry {
            index: last + 1,
            term: self.term,
            kind: quorate_core::EntryKind::Noop,
            data: Bytes::new(),
        });
    }
}

impl Protocol for Raft {
    type Message = Message;
    type Config = Config;
    type Request = Bytes;
    type Output = Committed;

    fn restore(id: NodeId, config: Config, recovered: Recovered) -> Result<Self, ConfigError> {
        config.validate()?;
        if !config.members.contains(&id) {
            return Err(ConfigError::new(
                "members",
                format!("must contain this node's id {id}"),
            ));
        }
        let (snapshot_index, snapshot_term) = match &recovered.snapshot {
            Some(snapshot) => {
                check_membership(&config, &snapshot.meta.membership)?;
                (snapshot.meta.last_index, snapshot.meta.last_term)
            }
            None => (0, 0),
        };
        let hard_state = match &recovered.hard_state {
            Some(bytes) => HardState::decode(bytes).map_err(|e| {
                ConfigError::new(
                    "hard_state",
                    format!("recovered hard state does not decode: {e}"),
                )
            })?,
            None => HardState::default(),
        };
        let mut term_previous = snapshot_term;
        for (offset, entry) in recovered.entries.iter().enumerate() {
            if entry.index != snapshot_index + offset as LogIndex + 1 {
                return Err(ConfigError::new(
                    "entries",
                    format!(
                        "recovered log is not contiguous from {}: position {offset} holds index {}",
                        snapshot_index + 1,
                        entry.index
                    ),
                ));
            }
            if entry.term < term_previous {
                return Err(ConfigError::new(
                    "entries",
                    format!("recovered entry {} has a decreasing term", entry.index),
                ));
            }
            term_previous = entry.term;
        }
        if recovered.hard_state.is_some() && term_previous > hard_state.term {
            return Err(ConfigError::new(
                "hard_state",
                format!(
                    "recovered term {} is below the last entry's term {term_previous}",
                    hard_state.term
                ),
            ));
        }
        let last = snapshot_index + recovered.entries.len() as LogIndex;
        if hard_state.commit > last {
            return Err(ConfigError::new(
                "hard_state",
                format!(
                    "recovered commit index {} is beyond the recovered log (last index {last})",
                    hard_state.commit
                ),
            ));
        }
        let peers: Vec<NodeId> = {
            let mut p: Vec<NodeId> = config
                .members
                .iter()
                .copied()
                .filter(|&m| m != id)
                .collect();
            p.sort();
            p
        };
        // Mixing the node id in gives each node its own timeout sequence even
        // when every node is configured with the same seed.
        let rng = SeededRng::new(config.seed ^ id.0.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        let mut raft = Raft {
            id,
            peers,
            role: Role::Follower,
            term: hard_state.term.max(term_previous),
            vote: hard_state.vote,
            vote_volatile: false,
            leader: None,
            log: RaftLog::recovered(recovered.snapshot, recovered.entries, hard_state.commit),
            // A new incarnation per restart; persisted by the first Ready.
            incarnation: hard_state.incarnation + 1,
            incarnation_durable: false,
            hard_state_written: hard_state,
            rng,
            ticks: 0,
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            election_timeout: 0,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            requests: Requests::default(),
            proposals_seen: BTreeMap::new(),
            may_have_led_before_restart: hard_state.vote == Some(id)
                && hard_state.term >= term_previous,
            send_now: Vec::new(),
            send_after_persist: Vec::new(),
            ready_id_last: 0,
            outstanding: None,
            dropped_messages: 0,
            config,
        };
        raft.reset_election_timer();
        Ok(raft)
    }

    fn tick(&mut self) {
        self.ticks += 1;
        self.requests.expire(self.ticks);
        if self.role == Role::Leader {
            self.tick_leader();
        } else {
            self.tick_election();
        }
    }

    fn step(&mut self, from: NodeId, message: Message) {
        self.step_message(from, message);
    }

    fn submit(&mut self, request: Bytes) -> Result<RequestId, SubmitError> {
        self.submit_request(request)
    }

    fn ready(&mut self) -> Option<Ready<Message, Committed>> {
        if self.outstanding.is_some() {
            return None;
        }
        if self.role == Role::Leader {
            self.flush_appends();
        }
        let mut ready = Ready::new(ReadyId(self.ready_id_last + 1));

        let write = self.log.take_write();
        let hard_state = self.hard_state();
        let written = self.hard_state_written;
        // Term, vote and incarnation are promises and must be synced before
        // anything that depends on them leaves. The commit index is only a
        // hint (see `HardState::commit`): it is written lazily, along with
        // the next batch that has to be written anyway, so a commit-only
        // change costs no storage write at all.
        let promises_changed = hard_state.term != written.term
            || hard_state.vote != written.vote
            || hard_state.incarnation != written.incarnation;
        if write.is_some() || promises_changed {
            let hard_state_changed = hard_state != written;
            let (snapshot, truncate_from, entries, compact_to) = match write {
                Some(w) => (w.snapshot, w.truncate_from, w.entries, w.compact_to),
                None => (None, None, Vec::new(), None),
            };
            ready.persist = Some(WriteBatch {
                hard_state: hard_state_changed.then(|| hard_state.encode()),
                snapshot,
                truncate_from,
                entries,
                compact_to,
                sync: true,
            });
            if hard_state_changed {
                self.hard_state_written = hard_state;
            }
        }

        // Taken after the write: every entry handed out is in the log that
        // will be durable once `persist` completes, and the driver applies
        // outputs only after that.
        for entry in self.log.take_committed(self.config.ready_outputs_max) {
            let request = self.requests.on_committed(entry.index, entry.term);
            ready.outputs.push(Committed { entry, request });
        }
        assert!(
            self.log.applied() <= self.log.committed(),
            "applied {} beyond committed {} (n{})",
            self.log.applied(),
            self.log.committed(),
            self.id.0
        );
        ready.failed = self.requests.take_failed();
        ready.send_now = std::mem::take(&mut self.send_now);
        ready.send_after_persist = std::mem::take(&mut self.send_after_persist);

        if ready.is_empty() {
            return None;
        }
        self.ready_id_last += 1;
        self.outstanding = Some(ready.id);
        Some(ready)
    }

    fn advance(&mut self, ready: ReadyId) {
        assert_eq!(
            self.outstanding,
            Some(ready),
            "advance must name the one outstanding Ready (n{})",
            self.id.0
        );
        self.outstanding = None;
        self.log.write_done();
        if self.hard_state_written.incarnation == self.incarnation {
            self.incarnation_durable = true;
        }
        if self.role == Role::Leader {
            // Our own log now counts towards the commit quorum.
            self.maybe_commit();
        }
    }

    fn compact(&mut self, applied: LogIndex, data: Bytes) {
        self.compact_log(applied, data);
    }

    fn status(&self) -> Status {
        Status {
            id: self.id,
            role: self.role,
            term: self.term,
            leader: self.leader,
            commit_index: self.log.committed(),
            applied_index: self.log.applied(),
            last_index: self.log.last_index(),
            snapshot_index: self.log.snapshot_index(),
            dropped_messages: self.dropped_messages,
        }
    }
}

/// The membership a snapshot records: the voters, in id order.
pub(crate) fn encode_membership(members: &[NodeId]) -> Bytes {
    let mut voters = members.to_vec();
    voters.sort();
    Bytes::from(postcard::to_allocvec(&voters).expect("encoding into a Vec cannot fail"))
}

/// Membership changes are not implemented, so a recovered snapshot must
/// record the configured voters: anything else means the operator changed
/// `members` under a running group, which Raft cannot do safely.
fn check_membership(config: &Config, membership: &[u8]) -> Result<(), ConfigError> {
    let recorded: Vec<NodeId> = postcard::from_bytes(membership).map_err(|e| {
        ConfigError::new(
            "snapshot",
            format!("recovered snapshot membership does not decode: {e}"),
        )
    })?;
    if encode_membership(&recorded) != encode_membership(&config.members) {
        return Err(ConfigError::new(
            "members",
            format!(
                "differ from the voters {recorded:?} recorded in the recovered snapshot \
                 (membership changes are not supported)"
            ),
        ));
    }
    Ok(())
}
