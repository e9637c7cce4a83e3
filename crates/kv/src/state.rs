//! The key-value state and how commands change it.

use crate::command::{Command, CommandRef, Response};
use crate::stored::Stored;
use bytes::Bytes;
use quorate_core::{CommandData, DecodeError, LogIndex, StateMachine, StorageError};
use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// An in-memory key-value map driven by committed [`Command`]s.
///
/// A hash map with a fixed hasher rather than an ordered map: every command
/// is a point operation applied on every replica, and a hash lookup costs
/// one hash of the key and about one comparison, where a `BTreeMap` compares
/// keys through a pointer at every level (the index was a fifth of the CPU
/// of a replicated put). Order is needed only by snapshots, which must be
/// byte-identical on every replica: [`snapshot`](StateMachine::snapshot)
/// sorts by key, so the hash order is never observed. Short keys and
/// values are held inline in the table (see `Stored`).
///
/// The hasher is rustc's FxHash: unkeyed and the same in every process
/// (std's `RandomState` is seeded per process, and everything reachable from
/// outputs must be a pure function of the inputs), and far cheaper than
/// SipHash on short keys. The price of an unkeyed hash is that a client who
/// knows it can choose colliding keys; that slows its group down but never
/// changes a result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kv {
    entries: HashMap<Stored, Stored, FxBuildHasher>,
    applied_index: LogIndex,
}

/// The snapshot's wire shape. Versioned so a later layout can be told apart.
#[derive(Serialize, Deserialize)]
struct SnapshotV1 {
    applied_index: LogIndex,
    entries: Vec<(Bytes, Bytes)>,
}

/// [`SnapshotV1`] as written: the same encoding, borrowing the map's keys
/// and values instead of copying each into a `Bytes` first.
#[derive(Serialize)]
struct SnapshotV1Ref<'a> {
    applied_index: LogIndex,
    entries: Vec<(AsBytes<'a>, AsBytes<'a>)>,
}

/// A byte string serialized as bytes, as `Bytes` is (a plain `&[u8]`
/// serializes as a sequence of numbers).
struct AsBytes<'a>(&'a [u8]);

impl Serialize for AsBytes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

const SNAPSHOT_VERSION: u8 = 1;

impl Kv {
    /// An empty store.
    pub fn new() -> Self {
        Kv::default()
    }

    /// Reads `key` directly from this replica's state (not linearizable by
    /// itself: the replica may lag behind the leader).
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.entries.get(key).map(Stored::as_slice)
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Index of the last command applied.
    pub fn applied_index(&self) -> LogIndex {
        self.applied_index
    }

    /// Iterates over the stored pairs in key order. Sorts the keys first:
    /// O(n log n), meant for snapshots, inspection and tests rather than
    /// the command path.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut pairs: Vec<(&[u8], &[u8])> = self
            .entries
            .iter()
            .map(|(key, value)| (key.as_slice(), value.as_slice()))
            .collect();
        pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        pairs.into_iter()
    }
}

impl Kv {
    /// The one place commands change the state; both `apply` and
    /// `apply_encoded` come here.
    fn apply_ref(&mut self, index: LogIndex, command: CommandRef<'_>) -> Response {
        // The commands of one entry share its index.
        assert!(
            index >= self.applied_index,
            "commands must be applied in log order: index {index} after {}",
            self.applied_index
        );
        self.applied_index = index;
        match command {
            CommandRef::Get { key } => Response::Value(self.entries.get(key).map(Stored::to_bytes)),
            CommandRef::Put { key, value } => {
                self.put(key, value);
                Response::Written
            }
            CommandRef::Delete { key } => Response::Deleted {
                existed: self.entries.remove(key).is_some(),
            },
            CommandRef::CompareAndSwap { key, expected, new } => {
                let swapped = self.entries.get(key).map(Stored::as_slice) == expected;
                if swapped {
                    self.put(key, new);
                }
                Response::Swapped(swapped)
            }
        }
    }

    /// Sets `key` to `value`. An existing key keeps its stored form and only
    /// the value is replaced.
    fn put(&mut self, key: &[u8], value: &[u8]) {
        let value = Stored::new(value);
        match self.entries.get_mut(key) {
            Some(slot) => *slot = value,
            None => {
                self.entries.insert(Stored::new(key), value);
            }
        }
    }
}

impl StateMachine for Kv {
    type Command = Command;
    type Response = Response;

    /// Slices keys and values out of the entry's data instead of copying
    /// them ([`Command::decode_borrowed`]). Replicas do not come this way:
    /// they apply through [`apply_encoded`](StateMachine::apply_encoded),
    /// which borrows the fields without making a `Bytes` of each.
    fn decode_command(data: CommandData<'_>) -> Result<Command, DecodeError> {
        Command::decode_borrowed(data)
    }

    fn apply(&mut self, index: LogIndex, command: Command) -> Response {
        self.apply_ref(index, command.as_ref())
    }

    /// Decodes the command borrowing its fields from `data` and applies it:
    /// no `Bytes` handle is made for a key or value (each would cost a
    /// reference count increment and decrement on the entry's buffer),
    /// since the map copies what it keeps anyway. Decodes exactly what
    /// [`decode_command`](StateMachine::decode_command) decodes.
    fn apply_encoded(
        &mut self,
        index: LogIndex,
        data: CommandData<'_>,
    ) -> Result<Response, DecodeError> {
        let command = CommandRef::decode(data.as_slice())?;
        Ok(self.apply_ref(index, command))
    }

    fn snapshot(&self) -> Bytes {
        let snapshot = SnapshotV1Ref {
            applied_index: self.applied_index,
            // Key order, whatever the hash order: the same bytes on every
            // replica.
            entries: self
                .iter()
                .map(|(key, value)| (AsBytes(key), AsBytes(value)))
                .collect(),
        };
        let out = postcard::to_extend(&snapshot, vec![SNAPSHOT_VERSION])
            .expect("encoding into a Vec cannot fail");
        Bytes::from(out)
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), StorageError> {
        let corruption = |detail: String| StorageError::Corruption {
            location: "kv snapshot".to_string(),
            detail,
        };
        let (version, body) = snapshot
            .split_first()
            .ok_or_else(|| corruption("empty snapshot".to_string()))?;
        if *version != SNAPSHOT_VERSION {
            return Err(corruption(format!("unknown snapshot version {version}")));
        }
        let decoded: SnapshotV1 =
            postcard::from_bytes(body).map_err(|error| corruption(error.to_string()))?;
        let mut entries = HashMap::with_capacity_and_hasher(decoded.entries.len(), FxBuildHasher);
        for (key, value) in decoded.entries {
            if entries
                .insert(Stored::new(&key), Stored::new(&value))
                .is_some()
            {
                return Err(corruption("duplicate key".to_string()));
            }
        }
        // Replace the state only once the whole snapshot decoded: a corrupt
        // snapshot leaves the state as it was.
        self.entries = entries;
        self.applied_index = decoded.applied_index;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn put_get_delete_round_trip() {
        let mut kv = Kv::new();
        assert_eq!(
            kv.apply(1, Command::Get { key: b("a") }),
            Response::Value(None)
        );
        assert_eq!(
            kv.apply(
                2,
                Command::Put {
                    key: b("a"),
                    value: b("1")
                }
            ),
            Response::Written
        );
        assert_eq!(
            kv.apply(3, Command::Get { key: b("a") }),
            Response::Value(Some(b("1")))
        );
        assert_eq!(
            kv.apply(4, Command::Delete { key: b("a") }),
            Response::Deleted { existed: true }
        );
        assert_eq!(
            kv.apply(5, Command::Delete { key: b("a") }),
            Response::Deleted { existed: false }
        );
        assert_eq!(kv.applied_index(), 5);
    }

    #[test]
    fn compare_and_swap_swaps_only_on_match() {
        let mut kv = Kv::new();
        let cas = |expected: Option<&str>, new: &str| Command::CompareAndSwap {
            key: b("k"),
            expected: expected.map(b),
            new: b(new),
        };
        assert_eq!(kv.apply(1, cas(Some("x"), "1")), Response::Swapped(false));
        assert_eq!(kv.apply(2, cas(None, "1")), Response::Swapped(true));
        assert_eq!(kv.apply(3, cas(None, "2")), Response::Swapped(false));
        assert_eq!(kv.apply(4, cas(Some("1"), "2")), Response::Swapped(true));
        assert_eq!(kv.get(b"k"), Some(&b"2"[..]));
    }

    #[test]
    #[should_panic(expected = "log order")]
    fn applying_out_of_order_is_a_bug() {
        let mut kv = Kv::new();
        // Commands of one entry share its index.
        let _ = kv.apply(2, Command::Get { key: b("a") });
        let _ = kv.apply(2, Command::Get { key: b("a") });
        let _ = kv.apply(1, Command::Get { key: b("a") });
    }

    #[test]
    fn corrupt_snapshot_is_rejected_and_state_kept() {
        let mut kv = Kv::new();
        let _ = kv.apply(
            1,
            Command::Put {
                key: b("a"),
                value: b("1"),
            },
        );
        for bad in [
            &[][..],
            &[9, 0, 0][..],
            &[SNAPSHOT_VERSION, 0xff, 0xff, 0xff][..],
        ] {
            assert!(matches!(
                kv.restore(bad),
                Err(StorageError::Corruption { .. })
            ));
            assert_eq!(kv.get(b"a"), Some(&b"1"[..]));
            assert_eq!(kv.applied_index(), 1);
        }
    }

    #[test]
    fn snapshots_are_written_in_the_versioned_layout_restore_reads() {
        let mut kv = Kv::new();
        let long = Bytes::from(vec![b'v'; 100]);
        kv.apply(
            1,
            Command::Put {
                key: b("b"),
                value: long.clone(),
            },
        );
        kv.apply(
            2,
            Command::Put {
                key: b("a"),
                value: b("1"),
            },
        );
        let expected = SnapshotV1 {
            applied_index: 2,
            entries: vec![(b("a"), b("1")), (b("b"), long)],
        };
        let mut bytes = vec![SNAPSHOT_VERSION];
        bytes.extend(postcard::to_allocvec(&expected).unwrap());
        assert_eq!(kv.snapshot(), Bytes::from(bytes));
    }

    #[test]
    fn snapshot_bytes_do_not_depend_on_insertion_order() {
        let keys: Vec<String> = (0..200).map(|i| format!("key-{i}")).collect();
        let mut forward = Kv::new();
        let mut backward = Kv::new();
        for (i, key) in keys.iter().enumerate() {
            let put = |key: &String| Command::Put {
                key: b(key),
                value: b(key),
            };
            let _ = forward.apply(i as u64 + 1, put(key));
            let _ = backward.apply(i as u64 + 1, put(&keys[keys.len() - 1 - i]));
        }
        assert_eq!(forward.snapshot(), backward.snapshot());
        let listed: Vec<&[u8]> = forward.iter().map(|(key, _)| key).collect();
        assert!(
            listed.windows(2).all(|w| w[0] < w[1]),
            "iter is in key order"
        );
    }

    fn command_strategy() -> impl Strategy<Value = Command> {
        let key = prop::sample::select(vec!["a", "b", "c"]).prop_map(b);
        let value = "[a-z]{0,3}".prop_map(|s| b(&s));
        prop_oneof![
            key.clone().prop_map(|key| Command::Get { key }),
            (key.clone(), value.clone()).prop_map(|(key, value)| Command::Put { key, value }),
            key.clone().prop_map(|key| Command::Delete { key }),
            (key, prop::option::of(value.clone()), value)
                .prop_map(|(key, expected, new)| Command::CompareAndSwap { key, expected, new }),
        ]
    }

    proptest! {
        #[test]
        fn applying_encoded_data_equals_decoding_then_applying(
            commands in proptest::collection::vec(command_strategy(), 1..40),
            garbage in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 0..8),
        ) {
            let (mut direct, mut decoded) = (Kv::new(), Kv::new());
            let mut index = 0;
            let encoded = commands
                .iter()
                .map(|command| Bytes::from(postcard::to_allocvec(command).unwrap()))
                .chain(garbage.into_iter().map(Bytes::from));
            for data in encoded {
                index += 1;
                let expected = Kv::decode_command((&data).into()).map(|command| decoded.apply(index, command));
                let got = direct.apply_encoded(index, (&data).into());
                prop_assert_eq!(&got, &expected);
                if expected.is_err() {
                    // Rejected data changes nothing; keep the two in step.
                    index -= 1;
                }
                prop_assert_eq!(&direct, &decoded);
            }
        }

        /// A replica restored from a snapshot taken midway answers the rest of
        /// the log exactly as the replica that never stopped.
        #[test]
        fn snapshot_restore_is_indistinguishable(
            commands in prop::collection::vec(command_strategy(), 0..64),
            cut in 0usize..64,
        ) {
            let cut = cut.min(commands.len());
            let mut original = Kv::new();
            for (i, command) in commands[..cut].iter().enumerate() {
                let _ = original.apply(i as u64 + 1, command.clone());
            }
            let mut restored = Kv::new();
            restored.restore(&original.snapshot()).unwrap();
            prop_assert_eq!(&restored, &original);
            for (i, command) in commands[cut..].iter().enumerate() {
                let index = (cut + i) as u64 + 1;
                prop_assert_eq!(
                    original.apply(index, command.clone()),
                    restored.apply(index, command.clone())
                );
            }
            prop_assert_eq!(original.snapshot(), restored.snapshot());
        }
    }
}
