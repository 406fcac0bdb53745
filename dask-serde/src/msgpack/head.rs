//! The one msgpack marker decoder of the crate.
//!
//! Every reader of msgpack bytes — the tree decoder ([`MsgValue::decode`]),
//! its depth scanners, the validator of encoded headers, the in-place
//! [`RawCursor`] and the one-pass message decoder — reads a value's head
//! through [`head`]: the marker byte, the length or value bytes after it,
//! and for `str`/`bin` the payload slice. Each caller only decides what a
//! head means to it and what to do with an error ([`HeadError`] carries
//! enough for the tree decoder's exact messages; the fast paths turn it
//! into "fall back").
//!
//! [`MsgValue::decode`]: super::MsgValue::decode
//! [`RawCursor`]: super::cursor::RawCursor

/// The head of a msgpack value: scalars decoded, `str`/`bin` payloads
/// sliced from the input, containers with their length (their items
/// follow the head).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Head<'a> {
    /// `nil`.
    Nil,
    /// `true` / `false`.
    Bool(bool),
    /// Any integer form (msgpack integers span `-2^63 ..= 2^64-1`).
    Int(i128),
    /// `float 32` (widened) or `float 64`.
    Float(f64),
    /// A `str` payload, not yet checked for UTF-8.
    Str(&'a [u8]),
    /// A `bin` payload.
    Bin(&'a [u8]),
    /// An array of `len` items.
    Array {
        /// Number of items.
        len: usize,
    },
    /// A map of `len` entries (`2 * len` values).
    Map {
        /// Number of entries.
        len: usize,
    },
}

/// What is missing when a head cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    /// The marker byte itself, or the length/value bytes after it.
    Head,
    /// A `str` payload.
    Str,
    /// A `bin` payload.
    Bin,
}

/// Why [`head`] could not read a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// The input ends inside the value: `need` bytes were wanted at offset
    /// `at`.
    Truncated {
        /// Offset where the missing bytes start.
        at: usize,
        /// How many bytes were wanted there.
        need: usize,
        /// Which part of the value they belong to.
        what: Missing,
    },
    /// An ext type (markers `0xc7..=0xc9`, `0xd4..=0xd8`): Dask never sends
    /// them and they are refused.
    Ext {
        /// Offset of the marker.
        at: usize,
        /// The marker byte.
        marker: u8,
    },
    /// The reserved marker `0xc1`.
    Reserved {
        /// Offset of the marker.
        at: usize,
    },
}

#[inline(always)]
fn take(buf: &[u8], at: usize, n: usize, what: Missing) -> Result<&[u8], HeadError> {
    match at.checked_add(n).and_then(|end| buf.get(at..end)) {
        Some(s) => Ok(s),
        None => Err(HeadError::Truncated { at, need: n, what }),
    }
}

#[inline(always)]
fn be(buf: &[u8], at: usize, n: usize) -> Result<u64, HeadError> {
    Ok(take(buf, at, n, Missing::Head)?
        .iter()
        .fold(0u64, |a, x| (a << 8) | u64::from(*x)))
}

/// Reads the head of the value at `pos`; returns it and the offset just
/// past the head (for `str`/`bin`: past the payload).
///
/// # Errors
///
/// [`HeadError`] for truncated input, ext types and the reserved marker
/// `0xc1`. Lengths are not checked against anything but the input: a
/// container's `len` may still exceed what the input can hold, which its
/// reader checks before reserving room.
#[inline(always)]
pub(crate) fn head(buf: &[u8], pos: usize) -> Result<(Head<'_>, usize), HeadError> {
    let Some(&m) = buf.get(pos) else {
        return Err(HeadError::Truncated {
            at: pos,
            need: 1,
            what: Missing::Head,
        });
    };
    let p = pos + 1;
    let sized = |n: usize, at: usize, what: Missing| -> Result<(&[u8], usize), HeadError> {
        Ok((take(buf, at, n, what)?, at + n))
    };
    Ok(match m {
        0x00..=0x7f => (Head::Int(i128::from(m)), p),
        0xe0..=0xff => (Head::Int(i128::from(m as i8)), p),
        0x80..=0x8f => (
            Head::Map {
                len: usize::from(m & 0x0f),
            },
            p,
        ),
        0x90..=0x9f => (
            Head::Array {
                len: usize::from(m & 0x0f),
            },
            p,
        ),
        0xa0..=0xbf => {
            let (s, end) = sized(usize::from(m & 0x1f), p, Missing::Str)?;
            (Head::Str(s), end)
        }
        0xc0 => (Head::Nil, p),
        0xc2 => (Head::Bool(false), p),
        0xc3 => (Head::Bool(true), p),
        0xc4..=0xc6 | 0xd9..=0xdb => {
            let w = match m {
                0xc4 | 0xd9 => 1,
                0xc5 | 0xda => 2,
                _ => 4,
            };
            let n = be(buf, p, w)? as usize;
            if m <= 0xc6 {
                let (s, end) = sized(n, p + w, Missing::Bin)?;
                (Head::Bin(s), end)
            } else {
                let (s, end) = sized(n, p + w, Missing::Str)?;
                (Head::Str(s), end)
            }
        }
        0xca => (
            Head::Float(f64::from(f32::from_bits(be(buf, p, 4)? as u32))),
            p + 4,
        ),
        0xcb => (Head::Float(f64::from_bits(be(buf, p, 8)?)), p + 8),
        0xcc => (Head::Int(i128::from(be(buf, p, 1)?)), p + 1),
        0xcd => (Head::Int(i128::from(be(buf, p, 2)?)), p + 2),
        0xce => (Head::Int(i128::from(be(buf, p, 4)?)), p + 4),
        0xcf => (Head::Int(i128::from(be(buf, p, 8)?)), p + 8),
        0xd0 => (Head::Int(i128::from(be(buf, p, 1)? as u8 as i8)), p + 1),
        0xd1 => (Head::Int(i128::from(be(buf, p, 2)? as u16 as i16)), p + 2),
        0xd2 => (Head::Int(i128::from(be(buf, p, 4)? as u32 as i32)), p + 4),
        0xd3 => (Head::Int(i128::from(be(buf, p, 8)? as i64)), p + 8),
        0xdc | 0xdd => {
            let w = if m == 0xdc { 2 } else { 4 };
            let len = be(buf, p, w)? as usize;
            (Head::Array { len }, p + w)
        }
        0xde | 0xdf => {
            let w = if m == 0xde { 2 } else { 4 };
            let len = be(buf, p, w)? as usize;
            (Head::Map { len }, p + w)
        }
        0xc1 => return Err(HeadError::Reserved { at: pos }),
        0xc7..=0xc9 | 0xd4..=0xd8 => return Err(HeadError::Ext { at: pos, marker: m }),
    })
}

/// Shortcuts for the one-byte forms most header items take, for readers
/// that test one expected form before calling [`head`]. Each returns
/// exactly what [`head`] gives for that marker (unit tests check every
/// byte), so marker knowledge stays in this file.
pub(crate) mod fixed {
    /// A positive fixint (`0x00..=0x7f`): its value.
    #[inline(always)]
    pub(crate) fn uint(m: u8) -> Option<u8> {
        (m < 0x80).then_some(m)
    }

    /// `nil` (`0xc0`).
    #[inline(always)]
    pub(crate) fn nil(m: u8) -> bool {
        m == 0xc0
    }

    /// `false` (`0xc2`) or `true` (`0xc3`).
    #[inline(always)]
    pub(crate) fn bool(m: u8) -> Option<bool> {
        match m {
            0xc2 => Some(false),
            0xc3 => Some(true),
            _ => None,
        }
    }

    /// A fixstr (`0xa0..=0xbf`): its length.
    #[inline(always)]
    pub(crate) fn str_len(m: u8) -> Option<usize> {
        (m & 0xe0 == 0xa0).then_some(usize::from(m & 0x1f))
    }

    /// A fixarray (`0x90..=0x9f`): its length.
    #[inline(always)]
    pub(crate) fn array_len(m: u8) -> Option<usize> {
        (m & 0xf0 == 0x90).then_some(usize::from(m & 0x0f))
    }

    /// A fixmap (`0x80..=0x8f`): its length.
    #[inline(always)]
    pub(crate) fn map_len(m: u8) -> Option<usize> {
        (m & 0xf0 == 0x80).then_some(usize::from(m & 0x0f))
    }
}

/// The offset just past the value at `pos` (containers skipped
/// iteratively: a count, no stack). `None` for malformed input.
pub(crate) fn skip(buf: &[u8], mut pos: usize) -> Option<usize> {
    let mut pending: u64 = 1;
    while pending > 0 {
        let (h, next) = head(buf, pos).ok()?;
        pending -= 1;
        let items = match h {
            Head::Array { len } => len as u64,
            Head::Map { len } => 2 * len as u64,
            _ => 0,
        };
        pos = next;
        // every item takes at least one byte
        pending += items;
        if pending > (buf.len() - pos) as u64 {
            return None;
        }
    }
    Some(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_is_missing() {
        assert_eq!(
            head(&[], 0),
            Err(HeadError::Truncated {
                at: 0,
                need: 1,
                what: Missing::Head
            })
        );
        assert_eq!(
            head(&[0xcd, 0x01], 0),
            Err(HeadError::Truncated {
                at: 1,
                need: 2,
                what: Missing::Head
            })
        );
        assert_eq!(
            head(&[0xc4, 0x03, 0x01], 0),
            Err(HeadError::Truncated {
                at: 2,
                need: 3,
                what: Missing::Bin
            })
        );
        assert_eq!(
            head(&[0xa3, b'a'], 0),
            Err(HeadError::Truncated {
                at: 1,
                need: 3,
                what: Missing::Str
            })
        );
        assert_eq!(head(&[0xc1], 0), Err(HeadError::Reserved { at: 0 }));
        assert_eq!(
            head(&[0xd4, 1, 2], 0),
            Err(HeadError::Ext { at: 0, marker: 0xd4 })
        );
        // every marker is classified: no byte panics or falls through, and
        // the one-byte shortcuts agree with the full decoder
        for m in 0..=255u8 {
            let buf = [m; 40];
            let full = head(&buf, 0).ok().map(|(h, _)| h);
            if let Some(v) = fixed::uint(m) {
                assert_eq!(full, Some(Head::Int(i128::from(v))));
            }
            if fixed::nil(m) {
                assert_eq!(full, Some(Head::Nil));
            }
            if let Some(b) = fixed::bool(m) {
                assert_eq!(full, Some(Head::Bool(b)));
            }
            if let Some(n) = fixed::str_len(m) {
                assert_eq!(full, Some(Head::Str(&buf[1..1 + n])));
            }
            if let Some(len) = fixed::array_len(m) {
                assert_eq!(full, Some(Head::Array { len }));
            }
            if let Some(len) = fixed::map_len(m) {
                assert_eq!(full, Some(Head::Map { len }));
            }
            let fixed_forms = [
                fixed::nil(m),
                fixed::uint(m).is_some(),
                fixed::bool(m).is_some(),
                fixed::str_len(m).is_some(),
                fixed::array_len(m).is_some(),
                fixed::map_len(m).is_some(),
            ];
            assert!(fixed_forms.iter().filter(|x| **x).count() <= 1, "{m:#x}");
        }
        for m in 0..=255u8 {
            let buf = [m, 0, 0, 0, 0, 0, 0, 0, 0];
            let _ = head(&buf, 0);
        }
    }
}
