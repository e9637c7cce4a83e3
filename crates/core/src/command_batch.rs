//! Several state-machine commands in the data of one log entry.
//!
//! A node packs the commands it takes in one turn into a single
//! [`EntryKind::Command`](crate::EntryKind::Command) entry, so that the work
//! a protocol does per entry (appending it, writing it, sending it to every
//! follower, counting its acknowledgements, compacting it) is paid once per
//! batch instead of once per command. The protocol sees opaque bytes; every
//! replica unpacks them with [`apply`], in order, so replicas stay
//! identical.
//!
//! # Layout
//!
//! ```text
//! +-----------------+-----------+-----------------+-----------+-----
//! | len (varint)    | command   | len (varint)    | command   | ...
//! | 1–10 bytes      | len bytes | 1–10 bytes      | len bytes |
//! +-----------------+-----------+-----------------+-----------+-----
//! ```
//!
//! Lengths are unsigned LEB128 varints, as postcard writes them. The batch
//! ends where the data ends; an empty batch holds no command. A length that
//! runs past the end, or does not terminate, breaks the batch off there:
//! the commands before it are applied, and the break is reported once, as
//! [`DecodeError::Batch`]. Every replica sees the same bytes, so every
//! replica stops at the same place.

use crate::ids::LogIndex;
use crate::traits::{DecodeError, StateMachine};
use bytes::{BufMut, Bytes};

/// The longest length prefix: a `u64` varint.
pub const LEN_PREFIX_BYTES_MAX: usize = 10;

/// Bytes a command of `len` bytes takes in a batch, its prefix included.
pub fn framed_len(len: usize) -> usize {
    prefix_len(len as u64) + len
}

/// Writes the length prefix of a command of `len` bytes; the command's
/// bytes follow it.
pub fn put_len_prefix<B: BufMut>(buf: &mut B, len: usize) {
    let mut value = len as u64;
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// Appends one framed command to `buf`.
pub fn put_command<B: BufMut>(buf: &mut B, command: &[u8]) {
    put_len_prefix(buf, command.len());
    buf.put_slice(command);
}

/// Most empty commands [`empty_commands`] has static data for.
pub const EMPTY_COMMANDS_MAX: usize = 1024;

static ZEROS: [u8; EMPTY_COMMANDS_MAX] = [0; EMPTY_COMMANDS_MAX];

/// The data of a batch of `count` empty commands (each a zero length
/// prefix), as static bytes when `count` is at most
/// [`EMPTY_COMMANDS_MAX`]. Static data has no reference count, so the
/// clones a protocol makes of such an entry cost nothing.
pub fn empty_commands(count: usize) -> Option<Bytes> {
    (count <= EMPTY_COMMANDS_MAX).then(|| Bytes::from_static(&ZEROS[..count]))
}

/// [`empty_commands`] for `data` when it is such a batch: all zero bytes.
pub(crate) fn as_empty_commands(data: &[u8]) -> Option<Bytes> {
    if data.len() > EMPTY_COMMANDS_MAX || data.iter().any(|&byte| byte != 0) {
        return None;
    }
    empty_commands(data.len())
}

/// The commands of a batch, in order, each borrowed from `data` (no copy,
/// no reference count).
pub fn commands(data: &Bytes) -> Commands<'_> {
    Commands {
        data,
        offset: 0,
        broken: false,
    }
}

/// Applies every command of a command entry's `data` to `state_machine`, in
/// order, all at log position `index`, and hands each result to `answer`.
///
/// A command that does not decode is answered with its error and changes
/// nothing; the rest of the batch is applied. A batch that breaks off
/// yields one [`DecodeError::Batch`] after the commands before the break.
/// The node driver and the simulator both apply entries through this
/// function.
pub fn apply<S: StateMachine>(
    state_machine: &mut S,
    index: LogIndex,
    data: &Bytes,
    mut answer: impl FnMut(Result<S::Response, DecodeError>),
) {
    for command in commands(data) {
        answer(command.and_then(|command| state_machine.apply_encoded(index, command)));
    }
}

/// Iterator over a batch's commands; see [`commands`].
#[derive(Debug)]
pub struct Commands<'a> {
    data: &'a Bytes,
    offset: usize,
    broken: bool,
}

impl<'a> Iterator for Commands<'a> {
    type Item = Result<CommandData<'a>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.broken || self.offset == self.data.len() {
            return None;
        }
        let start = self.offset;
        let command = read_len_prefix(&self.data[start..])
            .and_then(|(len, prefix)| {
                let begin = start + prefix;
                let end = begin.checked_add(len)?;
                (end <= self.data.len()).then_some((begin, end))
            })
            .map(|(begin, end)| {
                self.offset = end;
                CommandData {
                    entry: self.data,
                    bytes: &self.data[begin..end],
                }
            });
        if command.is_none() {
            self.broken = true;
        }
        Some(command.ok_or(DecodeError::Batch { offset: start }))
    }
}

/// One command's encoded bytes, borrowed from the data of the log entry
/// that carries it.
///
/// Borrowed rather than a `Bytes` of its own because most state machines
/// decode a command and copy what they keep: a handle per command would
/// cost a reference-count increment and decrement on the entry's buffer
/// for nothing. One that keeps parts of the command can still share them
/// without copying ([`share`](Self::share)).
#[derive(Clone, Copy, Debug)]
pub struct CommandData<'a> {
    entry: &'a Bytes,
    bytes: &'a [u8],
}

impl<'a> CommandData<'a> {
    /// The command's bytes.
    pub fn as_slice(&self) -> &'a [u8] {
        self.bytes
    }

    /// `part`, which must lie within this command's bytes, as a `Bytes`
    /// that shares the entry's buffer (`Bytes::slice_ref`): no copy, but it
    /// keeps the whole entry's buffer alive.
    ///
    /// # Panics
    ///
    /// When `part` is not within the command's bytes.
    pub fn share(&self, part: &[u8]) -> Bytes {
        let within = self.bytes.as_ptr_range();
        let range = part.as_ptr_range();
        assert!(
            part.is_empty() || (within.start <= range.start && range.end <= within.end),
            "a shared part must lie within the command"
        );
        self.entry.slice_ref(part)
    }
}

impl<'a> From<&'a Bytes> for CommandData<'a> {
    /// The whole of `data` as one command.
    fn from(data: &'a Bytes) -> Self {
        CommandData {
            entry: data,
            bytes: data,
        }
    }
}

impl std::ops::Deref for CommandData<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

/// Decodes a length prefix at the start of `bytes`: the length and the
/// prefix's own size, or `None` when it is cut off, longer than ten bytes,
/// or beyond `usize`.
#[inline]
fn read_len_prefix(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().take(LEN_PREFIX_BYTES_MAX).enumerate() {
        let bits = u64::from(byte & 0x7f);
        let shift = 7 * i as u32;
        if shift == 63 && bits > 1 {
            return None;
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Some((usize::try_from(value).ok()?, i + 1));
        }
    }
    None
}

fn prefix_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(commands: &[&[u8]]) -> Bytes {
        let mut buf = Vec::new();
        for command in commands {
            put_command(&mut buf, command);
        }
        Bytes::from(buf)
    }

    fn slices(data: &Bytes) -> Vec<Result<&[u8], DecodeError>> {
        commands(data)
            .map(|command| command.map(|command| command.as_slice()))
            .collect()
    }

    #[test]
    fn commands_come_back_in_order_as_slices_of_the_entry() {
        let long = vec![7u8; 300];
        let data = batch(&[b"a", b"", &long, b"xyz"]);
        let decoded: Vec<CommandData<'_>> = commands(&data).map(Result::unwrap).collect();
        let slices: Vec<&[u8]> = decoded.iter().map(CommandData::as_slice).collect();
        assert_eq!(slices, vec![&b"a"[..], b"", &long, b"xyz"]);
        assert_eq!(decoded[2].as_ptr(), data[5..].as_ptr());
        // Parts are shared out of the entry's buffer.
        let shared = decoded[3].share(&decoded[3][1..]);
        assert_eq!(
            (&shared[..], shared.as_ptr()),
            (&b"yz"[..], data[data.len() - 2..].as_ptr())
        );
        assert_eq!(
            data.len(),
            framed_len(1) + framed_len(0) + framed_len(300) + framed_len(3)
        );
        assert_eq!(commands(&Bytes::new()).count(), 0);
    }

    #[test]
    fn prefix_lengths_match_what_is_written() {
        for len in [
            0usize,
            1,
            127,
            128,
            16_383,
            16_384,
            1 << 21,
            1 << 28,
            usize::MAX,
        ] {
            let mut buf = Vec::new();
            put_len_prefix(&mut buf, len);
            assert_eq!(buf.len(), prefix_len(len as u64));
            assert_eq!(read_len_prefix(&buf), Some((len, buf.len())), "len {len}");
        }
    }

    proptest::proptest! {
        /// Any list of commands comes back as it went in.
        #[test]
        fn any_batch_round_trips(
            commands in proptest::collection::vec(
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
                0..20,
            )
        ) {
            let slices: Vec<&[u8]> = commands.iter().map(Vec::as_slice).collect();
            let data = batch(&slices);
            let decoded: Vec<Vec<u8>> = commands_of(&data).map(|c| c.unwrap().to_vec()).collect();
            proptest::prop_assert_eq!(decoded, commands);
        }

        /// Arbitrary bytes (a corrupted entry) never panic: they decode to
        /// whole commands that lie within the data, then at most one error,
        /// and nothing after it.
        #[test]
        fn arbitrary_bytes_decode_or_fail_cleanly(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)
        ) {
            let data = Bytes::from(data);
            let results: Vec<_> = commands_of(&data).collect();
            let errors = results.iter().filter(|r| r.is_err()).count();
            proptest::prop_assert!(errors <= 1);
            if errors == 1 {
                proptest::prop_assert!(results.last().unwrap().is_err());
            }
            let within = data.as_ptr_range();
            for command in results.iter().flatten() {
                let range = command.as_ptr_range();
                proptest::prop_assert!(
                    command.is_empty() || (within.start <= range.start && range.end <= within.end)
                );
            }
        }
    }

    /// `commands`, named apart from the proptest-generated argument.
    fn commands_of(data: &Bytes) -> Commands<'_> {
        commands(data)
    }

    #[test]
    fn a_batch_that_breaks_off_yields_its_commands_then_one_error() {
        let whole = batch(&[b"one", b"two"]);
        // The second command's prefix says 3 bytes; only 2 are left.
        let cut = whole.slice(..whole.len() - 1);
        assert_eq!(
            slices(&cut),
            vec![Ok(&b"one"[..]), Err(DecodeError::Batch { offset: 4 })]
        );
        // A prefix that never ends, and one beyond any length.
        let endless = Bytes::from(vec![0x80u8; 12]);
        assert_eq!(
            slices(&endless),
            vec![Err(DecodeError::Batch { offset: 0 })]
        );
        let mut huge = vec![0xffu8; 9];
        huge.push(0x02);
        assert_eq!(
            slices(&Bytes::from(huge)),
            vec![Err(DecodeError::Batch { offset: 0 })]
        );
    }
}
