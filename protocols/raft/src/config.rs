//! Raft's tunables.

use crate::Raft;
use quorate_core::{ConfigError, NodeId, ProtocolConfig};
use std::collections::BTreeSet;

/// Deliberately broken protocol variants.
///
/// They exist only so the simulator can prove that its safety checkers catch
/// real bugs: each one breaks exactly one rule of the paper. Available only
/// with the cargo feature `mutants`; never enable it in a real build.
#[cfg(feature = "mutants")]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mutant {
    /// The leader commits an entry of an earlier term as soon as a majority
    /// stores it, breaking the rule of §5.4.2 (Figure 8).
    Figure8,
    /// A granted vote is neither written to the hard state nor held back
    /// until persisted: the grant leaves at once, so a node that crashes and
    /// restarts can vote twice in one term (breaks §5.2 election safety).
    UnpersistedVote,
}

/// Raft's tunables: a plain struct with [`Default`] and
/// [`validate`](ProtocolConfig::validate).
///
/// Time is counted in ticks ([`Protocol::tick`](quorate_core::Protocol::tick));
/// the driver decides how long a tick is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The initial voters, this node included. Membership changes are not
    /// implemented yet, so this is the membership for the life of the group.
    pub members: Vec<NodeId>,
    /// Seeds the election-timeout PRNG (mixed with the node id, so every
    /// node draws a different sequence from one shared seed).
    pub seed: u64,
    /// Lower bound (inclusive) of the randomized election timeout (§5.2).
    /// Also the leader's CheckQuorum period and the follower's lease.
    pub election_ticks_min: u32,
    /// Upper bound (exclusive) of the randomized election timeout (§5.2).
    pub election_ticks_max: u32,
    /// Ticks between a leader's heartbeats; must be below
    /// `election_ticks_min` so followers hear from a live leader in time.
    pub heartbeat_ticks: u32,
    /// Run a PreVote round before starting an election (thesis §9.6), so a
    /// node that was partitioned away does not disrupt a healthy leader.
    pub pre_vote: bool,
    /// A leader steps down when it has not heard from a quorum within
    /// `election_ticks_min` ticks, and followers that heard from a leader
    /// within that time ignore vote requests (thesis §6.2, §9.6).
    pub check_quorum: bool,
    /// A follower forwards `submit`ted requests to the leader it knows
    /// instead of failing them with `NotLeader`.
    pub forward_proposals: bool,
    /// Maximum bytes of entries (by [`Entry::size_bytes`](quorate_core::Entry::size_bytes))
    /// in one AppendEntries message. One entry is always sent, so a message
    /// carries at most `max(append_bytes_max, request_bytes_max + 24)` bytes
    /// of entries.
    pub append_bytes_max: usize,
    /// Maximum AppendEntries messages carrying entries in flight
    /// (unacknowledged) to one follower: the replication pipeline depth.
    pub inflight_appends_max: usize,
    /// Maximum requests submitted on this node whose fate is not yet known;
    /// beyond it `submit` fails with `SubmitError::Busy`.
    pub pending_requests_max: usize,
    /// Maximum size of one request; larger ones fail with
    /// `SubmitError::TooLarge`. Must not exceed `append_bytes_max`.
    pub request_bytes_max: usize,
    /// Maximum entries a leader holds beyond its commit index; beyond it
    /// local and forwarded proposals fail with `SubmitError::Busy`. Bounds
    /// the work a slow quorum can pile up on a leader.
    pub uncommitted_entries_max: usize,
    /// Maximum committed entries handed out in one `Ready`; the rest follow
    /// in the next batches.
    pub ready_outputs_max: usize,
    /// Ticks a follower waits for the leader to say where it placed a
    /// forwarded proposal before failing it as indeterminate.
    pub forward_ticks_max: u32,
    /// Ticks a leader waits for a follower to acknowledge an
    /// InstallSnapshot before sending it again (§7). Only one snapshot is
    /// in flight per follower; give a large one time to cross the network
    /// and be written.
    pub snapshot_retry_ticks: u32,
    /// Deliberately break one rule (see [`Mutant`]); `None` in every real
    /// build.
    #[cfg(feature = "mutants")]
    pub mutant: Option<Mutant>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            members: vec![NodeId(1)],
            seed: 0,
            election_ticks_min: 10,
            election_ticks_max: 20,
            heartbeat_ticks: 2,
            pre_vote: true,
            check_quorum: true,
            forward_proposals: false,
            append_bytes_max: 1024 * 1024,
            inflight_appends_max: 64,
            pending_requests_max: 4096,
            request_bytes_max: 1024 * 1024,
            uncommitted_entries_max: 16 * 1024,
            ready_outputs_max: 1024,
            forward_ticks_max: 40,
            snapshot_retry_ticks: 50,
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }
}

impl Config {
    /// True when the Figure 8 mutant is on (always false without the
    /// `mutants` feature, so the check compiles away).
    pub(crate) fn mutant_figure8(&self) -> bool {
        #[cfg(feature = "mutants")]
        {
            self.mutant == Some(Mutant::Figure8)
        }
        #[cfg(not(feature = "mutants"))]
        {
            false
        }
    }

    /// True when the unpersisted-vote mutant is on.
    pub(crate) fn mutant_unpersisted_vote(&self) -> bool {
        #[cfg(feature = "mutants")]
        {
            self.mutant == Some(Mutant::UnpersistedVote)
        }
        #[cfg(not(feature = "mutants"))]
        {
            false
        }
    }
}

fn positive(field: &'static str, value: usize) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::new(field, "must be at least 1"));
    }
    Ok(())
}

impl ProtocolConfig for Config {
    type Protocol = Raft;

    fn validate(&self) -> Result<(), ConfigError> {
        if self.members.is_empty() {
            return Err(ConfigError::new("members", "must name at least one voter"));
        }
        let unique: BTreeSet<NodeId> = self.members.iter().copied().collect();
        if unique.len() != self.members.len() {
            return Err(ConfigError::new("members", "contains a duplicate node id"));
        }
        positive("heartbeat_ticks", self.heartbeat_ticks as usize)?;
        if self.election_ticks_min <= self.heartbeat_ticks {
            return Err(ConfigError::new(
                "election_ticks_min",
                format!(
                    "must exceed heartbeat_ticks ({}), got {}",
                    self.heartbeat_ticks, self.election_ticks_min
                ),
            ));
        }
        if self.election_ticks_max <= self.election_ticks_min {
            return Err(ConfigError::new(
                "election_ticks_max",
                format!(
                    "must exceed election_ticks_min ({}), got {}",
                    self.election_ticks_min, self.election_ticks_max
                ),
            ));
        }
        positive("append_bytes_max", self.append_bytes_max)?;
        positive("inflight_appends_max", self.inflight_appends_max)?;
        positive("pending_requests_max", self.pending_requests_max)?;
        positive("request_bytes_max", self.request_bytes_max)?;
        positive("uncommitted_entries_max", self.uncommitted_entries_max)?;
        positive("ready_outputs_max", self.ready_outputs_max)?;
        positive("forward_ticks_max", self.forward_ticks_max as usize)?;
        positive("snapshot_retry_ticks", self.snapshot_retry_ticks as usize)?;
        if self.request_bytes_max > self.append_bytes_max {
            return Err(ConfigError::new(
                "request_bytes_max",
                format!(
                    "must not exceed append_bytes_max ({}), got {}",
                    self.append_bytes_max, self.request_bytes_max
                ),
            ));
        }
        Ok(())
    }
}
