//! [`Stored`]: how the map holds a key or a value.

use bytes::Bytes;
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Longest byte string held inline (the size of a [`Bytes`] handle, less
/// the length byte).
const INLINE_BYTES_MAX: usize = 31;

/// A key or value as the map holds it: short ones inline, longer ones in a
/// buffer of their own.
///
/// Why inline: a map lookup compares the probed key with the stored one, and
/// replacing a value drops the old one. With every key and value a `Bytes`
/// sliced out of an earlier command, both touch that command's buffer and
/// reference count, somewhere cold in the heap: on a replicated put these
/// cache misses were most of the cost of the map. Inline, they are in the
/// table slot the probe reads anyway.
///
/// Why longer ones are copied: a command's bytes may be a slice of a whole
/// received frame (entries are decoded without copying), and a stored slice
/// would keep that frame, up to a megabyte, alive for as long as the key
/// keeps its value.
#[derive(Clone)]
pub(crate) enum Stored {
    /// At most [`INLINE_BYTES_MAX`] bytes, in place.
    Inline {
        len: u8,
        bytes: [u8; INLINE_BYTES_MAX],
    },
    /// Longer: a buffer of exactly this length, shared only with the
    /// responses that read it.
    Shared(Bytes),
}

impl Stored {
    /// Holds a copy of `bytes`: inline when short, in its own buffer
    /// otherwise.
    pub(crate) fn new(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE_BYTES_MAX {
            let mut inline = [0u8; INLINE_BYTES_MAX];
            inline[..bytes.len()].copy_from_slice(bytes);
            Stored::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            }
        } else {
            Stored::Shared(Bytes::copy_from_slice(bytes))
        }
    }

    /// The bytes held.
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Stored::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Stored::Shared(bytes) => bytes,
        }
    }

    /// The bytes held, as a `Bytes` for a response (a copy when inline).
    pub(crate) fn to_bytes(&self) -> Bytes {
        match self {
            Stored::Inline { .. } => Bytes::copy_from_slice(self.as_slice()),
            Stored::Shared(bytes) => bytes.clone(),
        }
    }
}

// Equality, order and hash are those of the byte string, so the map can be
// probed with a `&[u8]` (through `Borrow`) and sorts like `Bytes` did.
impl PartialEq for Stored {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Stored {}

impl PartialOrd for Stored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Stored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl Hash for Stored {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly like `[u8]`: lookups hash the probe as `[u8]`.
        self.as_slice().hash(state);
    }
}

impl Borrow<[u8]> for Stored {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Bytes::copy_from_slice(self.as_slice()), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn short_strings_are_inline_and_long_ones_shared() {
        let short = Bytes::from(vec![7u8; INLINE_BYTES_MAX]);
        assert!(matches!(Stored::new(&short), Stored::Inline { .. }));
        // A long value is a slice of a larger buffer, as a value decoded
        // from a frame is: the map must not keep the buffer alive.
        let frame = Bytes::from(vec![7u8; 4096]);
        let long = frame.slice(100..100 + INLINE_BYTES_MAX + 1);
        match Stored::new(&long) {
            Stored::Shared(held) => {
                assert_eq!(held, long);
                assert_ne!(held.as_ptr(), long.as_ptr(), "the frame is pinned");
            }
            Stored::Inline { .. } => panic!("a long value was held inline"),
        }
    }

    proptest! {
        #[test]
        fn behaves_like_the_byte_string(
            a in proptest::collection::vec(any::<u8>(), 0..64),
            b in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let (sa, sb) = (Stored::new(&a), Stored::new(&b));
            prop_assert_eq!(sa.as_slice(), &a[..]);
            prop_assert_eq!(&sa.to_bytes()[..], &a[..]);
            prop_assert_eq!(sa == sb, a == b);
            prop_assert_eq!(sa.cmp(&sb), a.cmp(&b));
            prop_assert_eq!(hash_of(&sa), hash_of(&a[..]));
        }
    }
}
