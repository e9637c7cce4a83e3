//! Decoding [`Bytes`] fields as slices of the buffer being decoded.
//!
//! A follower receives entries inside an AppendEntries frame. Decoded the
//! usual way, every entry's data is copied out of the frame into a buffer
//! of its own: an allocation and a copy per entry, on every follower. Within
//! [`decode_sharing`], the `data` of every [`Entry`](crate::Entry) and
//! [`Snapshot`](crate::Snapshot) decoded from that buffer is instead a
//! [`Bytes::slice_ref`] of it: one shared buffer for the whole frame, kept
//! alive as long as any entry sliced from it.
//!
//! The decoder must hand out borrowed bytes for this (postcard decoding from
//! a slice does); otherwise, and outside `decode_sharing`, the bytes are
//! copied as before. The result is the same value either way.
//!
//! What keeps such an entry should copy what it keeps for long: a slice
//! pins the whole frame. Logs drop entries at compaction; a state machine
//! that stores values from commands copies them (see `quorate-kv`).

use bytes::Bytes;
use serde::de::{Deserializer, Error, SeqAccess, Visitor};
use std::fmt;

scoped_tls::scoped_thread_local!(static SOURCE: Bytes);

/// Runs `decode` on `buffer`'s bytes, with `Bytes` fields of entries and
/// snapshots decoded as slices of `buffer` rather than copies.
pub fn decode_sharing<T>(buffer: &Bytes, decode: impl FnOnce(&[u8]) -> T) -> T {
    SOURCE.set(buffer, || decode(buffer))
}

/// `deserialize_with` for `Bytes` fields that may share the source buffer.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
    deserializer.deserialize_bytes(SharedBytesVisitor)
}

/// The slice of the current source that `bytes` is, or a copy when there is
/// no source or `bytes` lies outside it. Data that is a batch of empty
/// commands (all zeros) is static instead: no reference to the source, so
/// an entry of them pins no frame and its clones update no count.
fn share_or_copy(bytes: &[u8]) -> Bytes {
    if let Some(empty_commands) = crate::command_batch::as_empty_commands(bytes) {
        return empty_commands;
    }
    if SOURCE.is_set() {
        SOURCE.with(|source| {
            let start = source.as_ptr() as usize;
            let end = start + source.len();
            let at = bytes.as_ptr() as usize;
            if !bytes.is_empty() && at >= start && at + bytes.len() <= end {
                source.slice_ref(bytes)
            } else {
                Bytes::copy_from_slice(bytes)
            }
        })
    } else {
        Bytes::copy_from_slice(bytes)
    }
}

struct SharedBytesVisitor;

impl<'de> Visitor<'de> for SharedBytesVisitor {
    type Value = Bytes;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a byte string")
    }

    fn visit_borrowed_bytes<E: Error>(self, bytes: &'de [u8]) -> Result<Bytes, E> {
        Ok(share_or_copy(bytes))
    }

    fn visit_bytes<E: Error>(self, bytes: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes::copy_from_slice(bytes))
    }

    fn visit_byte_buf<E: Error>(self, bytes: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes::from(bytes))
    }

    fn visit_str<E: Error>(self, text: &str) -> Result<Bytes, E> {
        Ok(Bytes::copy_from_slice(text.as_bytes()))
    }

    // Self-describing formats (JSON) write bytes as a sequence of numbers,
    // as `Bytes`' own `Deserialize` accepts.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(byte) = seq.next_element::<u8>()? {
            bytes.push(byte);
        }
        Ok(Bytes::from(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Entry, EntryKind, Snapshot, SnapshotMeta};

    fn entries() -> Vec<Entry> {
        (1..=3)
            .map(|index| Entry {
                index,
                term: 2,
                kind: EntryKind::Command,
                data: Bytes::from(vec![index as u8; 10 * index as usize]),
            })
            .collect()
    }

    fn lies_within(inner: &Bytes, outer: &Bytes) -> bool {
        let start = outer.as_ptr() as usize;
        let at = inner.as_ptr() as usize;
        at >= start && at + inner.len() <= start + outer.len()
    }

    #[test]
    fn entries_decoded_within_decode_sharing_are_slices_of_the_buffer() {
        let buffer = Bytes::from(postcard::to_allocvec(&entries()).unwrap());
        let decoded: Vec<Entry> =
            decode_sharing(&buffer, |bytes| postcard::from_bytes(bytes).unwrap());
        assert_eq!(decoded, entries());
        for entry in &decoded {
            assert!(
                lies_within(&entry.data, &buffer),
                "entry {} copied",
                entry.index
            );
        }
    }

    #[test]
    fn batches_of_empty_commands_decode_as_static_data() {
        let mut with_empties = entries();
        with_empties[1].data = Bytes::from(vec![0u8; 3]);
        let buffer = Bytes::from(postcard::to_allocvec(&with_empties).unwrap());
        let decoded: Vec<Entry> =
            decode_sharing(&buffer, |bytes| postcard::from_bytes(bytes).unwrap());
        assert_eq!(decoded, with_empties);
        let static_zeros = crate::command_batch::empty_commands(3).unwrap();
        assert_eq!(decoded[1].data.as_ptr(), static_zeros.as_ptr());
        assert!(lies_within(&decoded[2].data, &buffer));
    }

    #[test]
    fn outside_decode_sharing_the_bytes_are_copied_and_equal() {
        let buffer = Bytes::from(postcard::to_allocvec(&entries()).unwrap());
        let decoded: Vec<Entry> = postcard::from_bytes(&buffer).unwrap();
        assert_eq!(decoded, entries());
        for entry in &decoded {
            assert!(!lies_within(&entry.data, &buffer));
        }
    }

    #[test]
    fn a_decode_from_another_buffer_copies() {
        let buffer = Bytes::from(postcard::to_allocvec(&entries()).unwrap());
        let other = buffer.to_vec();
        let decoded: Vec<Entry> =
            decode_sharing(&buffer, |_| postcard::from_bytes(&other).unwrap());
        assert_eq!(decoded, entries());
        for entry in &decoded {
            assert!(!lies_within(&entry.data, &buffer));
        }
    }

    #[test]
    fn snapshots_share_too_and_json_still_round_trips() {
        let snapshot = Snapshot {
            meta: SnapshotMeta {
                last_index: 7,
                last_term: 3,
                membership: Bytes::from_static(b"members"),
            },
            data: Bytes::from(vec![5u8; 100]),
        };
        let buffer = Bytes::from(postcard::to_allocvec(&snapshot).unwrap());
        let decoded: Snapshot =
            decode_sharing(&buffer, |bytes| postcard::from_bytes(bytes).unwrap());
        assert_eq!(decoded, snapshot);
        assert!(lies_within(&decoded.data, &buffer));
        let json = serde_json::to_string(&snapshot).unwrap();
        assert_eq!(serde_json::from_str::<Snapshot>(&json).unwrap(), snapshot);
    }
}
