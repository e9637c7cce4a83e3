//! [`NodeOptions`]: the driver's tunables.

use quorate_core::{ConfigError, GroupId};
use std::time::Duration;

/// The node driver's tunables. A plain struct: every field public,
/// [`Default`] for the rest, [`validate`](NodeOptions::validate) checks them.
///
/// Protocol tunables (election timeouts in ticks, batch sizes) live in the
/// protocol's own config; these say how the driver runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeOptions {
    /// Real time per protocol tick. A protocol's timeouts are counted in
    /// ticks, so this scales all of them.
    pub tick_interval: Duration,
    /// The group this protocol instance serves; frames for other groups are
    /// dropped and counted as garbage.
    pub group: GroupId,
    /// Client commands the mailbox holds. [`Node::submit`] waits for room;
    /// [`Node::try_submit`] fails with `Busy` when it is full.
    ///
    /// [`Node::submit`]: crate::Node::submit
    /// [`Node::try_submit`]: crate::Node::try_submit
    pub mailbox_capacity: usize,
    /// Commands submitted to the protocol and not yet answered. Beyond it
    /// new commands fail with `Busy` (the protocol may have a lower limit
    /// on its requests, each of which is a batch of commands).
    pub pending_requests_max: usize,
    /// Largest encoded command accepted; larger ones fail with `TooLarge`.
    /// The protocol's own request limit applies to the whole log entry:
    /// the command plus a length prefix of a few bytes.
    pub command_bytes_max: usize,
    /// Largest command batch the driver packs into one log entry, length
    /// prefixes included ([`quorate_core::command_batch`]). The commands of
    /// a turn go into as few entries as this allows; a command larger than
    /// this on its own gets an entry to itself. `1` gives every command an
    /// entry of its own. Keep it at or below the protocol's request limit.
    pub batch_bytes_max: usize,
    /// Client commands taken from the mailbox per turn, before the protocol
    /// is asked for a `Ready`: the batching limit.
    pub commands_per_turn_max: usize,
    /// Inbound frames taken per turn, before the protocol is asked for a
    /// `Ready`.
    pub frames_per_turn_max: usize,
    /// `Ready` batches carried out per turn before the driver looks at its
    /// inputs again (it comes straight back if more are waiting).
    pub readies_per_turn_max: usize,
    /// Applied entries after which the driver snapshots the state machine
    /// and hands the snapshot to the protocol, which then discards its log
    /// up to there ([`Protocol::compact`](quorate_core::Protocol::compact)).
    /// This and [`snapshot_bytes`](Self::snapshot_bytes), whichever comes
    /// first, bound the log kept in memory and in storage (and what a
    /// restart re-applies) to about this much plus the uncommitted entries;
    /// each snapshot costs one [`StateMachine::snapshot`] call and one
    /// storage write of the whole state. No value turns compaction off:
    /// without it the log would grow without limit.
    ///
    /// [`StateMachine::snapshot`]: quorate_core::StateMachine::snapshot
    pub snapshot_entries: u64,
    /// Bytes of applied command entries after which the driver snapshots,
    /// as for [`snapshot_entries`](Self::snapshot_entries). Under load an
    /// entry carries a batch of many commands, so a count of entries alone
    /// would let the log grow with the batch size. The default (1 MiB)
    /// suits a small state; each snapshot serializes the whole state, so a
    /// large one wants a larger value (the log then holds more).
    pub snapshot_bytes: u64,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            tick_interval: Duration::from_millis(10),
            group: GroupId(0),
            mailbox_capacity: 1024,
            pending_requests_max: 8192,
            command_bytes_max: 1024 * 1024,
            batch_bytes_max: 64 * 1024,
            commands_per_turn_max: 1024,
            frames_per_turn_max: 1024,
            readies_per_turn_max: 64,
            snapshot_entries: 16 * 1024,
            snapshot_bytes: 1024 * 1024,
        }
    }
}

impl NodeOptions {
    /// Checks every field; returns the first invalid one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tick_interval.is_zero() {
            return Err(ConfigError::new("tick_interval", "must be positive"));
        }
        let positive = [
            ("mailbox_capacity", self.mailbox_capacity),
            ("pending_requests_max", self.pending_requests_max),
            ("command_bytes_max", self.command_bytes_max),
            ("batch_bytes_max", self.batch_bytes_max),
            ("commands_per_turn_max", self.commands_per_turn_max),
            ("frames_per_turn_max", self.frames_per_turn_max),
            ("readies_per_turn_max", self.readies_per_turn_max),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(ConfigError::new(field, "must be positive"));
            }
        }
        if self.snapshot_entries == 0 {
            return Err(ConfigError::new("snapshot_entries", "must be positive"));
        }
        if self.snapshot_bytes == 0 {
            return Err(ConfigError::new("snapshot_bytes", "must be positive"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zeros_are_not() {
        assert_eq!(NodeOptions::default().validate(), Ok(()));
        let zero_tick = NodeOptions {
            tick_interval: Duration::ZERO,
            ..NodeOptions::default()
        };
        assert_eq!(zero_tick.validate().unwrap_err().field, "tick_interval");
        let zero_mailbox = NodeOptions {
            mailbox_capacity: 0,
            ..NodeOptions::default()
        };
        assert_eq!(
            zero_mailbox.validate().unwrap_err().field,
            "mailbox_capacity"
        );
        let never_compact = NodeOptions {
            snapshot_entries: 0,
            ..NodeOptions::default()
        };
        assert_eq!(
            never_compact.validate().unwrap_err().field,
            "snapshot_entries"
        );
    }
}
