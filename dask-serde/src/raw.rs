//! Encoded headers read in place: msgpack values borrowed from the header
//! bytes, with no tree built and nothing allocated.
//!
//! Collections of many small values (10,000 arrays have 10,000
//! sub-headers) are where a tree of owned values per sub-header costs more
//! than the data itself. Typed decoders read such headers with a
//! [`RawCursor`] instead; anything they do not recognise falls back to the
//! tree ([`Header`](crate::Header)), so the errors stay those of the tree
//! path.
//!
//! Reading is bounds-checked at every step: malformed bytes make the
//! reader return `None` (the caller falls back to the tree path, whose
//! decoder reports the error), never a panic, and nothing is allocated
//! from a length found in the input.

#[cfg(test)]
use crate::{limits::Limits, msgpack::MsgValue};
#[cfg(test)]
use bytes::Bytes;

/// The head of a msgpack value: scalars decoded, containers with their
/// length (their items follow the head).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Head<'a> {
    Nil,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Array { len: usize },
    Map { len: usize },
}

#[inline]
fn take(buf: &[u8], pos: usize, n: usize) -> Option<&[u8]> {
    buf.get(pos..pos.checked_add(n)?)
}

#[inline]
fn be(buf: &[u8], pos: usize, n: usize) -> Option<u64> {
    Some(
        take(buf, pos, n)?
            .iter()
            .fold(0u64, |a, x| (a << 8) | u64::from(*x)),
    )
}

/// Reads the head of the value at `pos`; returns it and the offset just
/// past the head (for str/bin: past the payload). `None` for truncated
/// input, ext types and the unused marker `0xc1`.
pub(crate) fn head(buf: &[u8], pos: usize) -> Option<(Head<'_>, usize)> {
    let m = *buf.get(pos)?;
    let p = pos + 1;
    let sized = |n: usize, at: usize| -> Option<(&[u8], usize)> { Some((take(buf, at, n)?, at + n)) };
    Some(match m {
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
            let (s, end) = sized(usize::from(m & 0x1f), p)?;
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
            let (s, end) = sized(n, p + w)?;
            (if m <= 0xc6 { Head::Bin(s) } else { Head::Str(s) }, end)
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
        _ => return None,
    })
}

/// The offset just past the value at `pos` (containers skipped
/// iteratively: a count, no stack). `None` for malformed input.
pub(crate) fn skip(buf: &[u8], mut pos: usize) -> Option<usize> {
    let mut pending: u64 = 1;
    while pending > 0 {
        let (h, next) = head(buf, pos)?;
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

/// `true` exactly when [`MsgValue::decode`](crate::MsgValue::decode) with
/// `max_depth` accepts `buf` and yields a map: the same checks (markers,
/// truncation, UTF-8 of strings, container counts against the bytes left,
/// nesting depth, trailing data) without building anything. Lets a header
/// keep its bytes and build its tree only when asked.
pub(crate) fn is_valid_map(buf: &[u8], max_depth: usize) -> bool {
    if !matches!(buf.first(), Some(0x80..=0x8f | 0xde | 0xdf)) {
        return false;
    }
    // items left in each open, non-empty container (as the decoder's stack)
    let mut open: Vec<u64> = Vec::new();
    let mut pos = 0;
    loop {
        let m = buf.get(pos).copied();
        // the forms most header values take, inline
        if let Some(0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3) = m {
            pos += 1;
        } else if let Some(m @ 0xa0..=0xbf) = m {
            let start = pos + 1;
            let Some(s) = buf.get(start..start + usize::from(m & 0x1f)) else {
                return false;
            };
            if !s.is_ascii() && std::str::from_utf8(s).is_err() {
                return false;
            }
            pos = start + s.len();
        } else {
            let Some((h, next)) = head(buf, pos) else {
                return false;
            };
            pos = next;
            match h {
                Head::Str(s) if std::str::from_utf8(s).is_err() => return false,
                Head::Array { len } | Head::Map { len } => {
                    if open.len() >= max_depth {
                        return false;
                    }
                    let items = if matches!(h, Head::Map { .. }) {
                        (len as u64).saturating_mul(2)
                    } else {
                        len as u64
                    };
                    if items > (buf.len() - pos) as u64 {
                        return false;
                    }
                    if items > 0 {
                        open.push(items);
                        continue;
                    }
                }
                _ => {}
            }
        }
        // one value finished: count it against the open containers
        loop {
            match open.last_mut() {
                None => return pos == buf.len(),
                Some(left) => {
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                    open.pop();
                }
            }
        }
    }
}

/// Appends an integer in Python msgpack's smallest form (a fixint inline,
/// others through [`crate::msgpack::write_int`]).
#[inline]
pub(crate) fn put_int(out: &mut Vec<u8>, i: i128) -> crate::Result<()> {
    if (0..128).contains(&i) {
        out.push(i as u8);
        Ok(())
    } else {
        crate::msgpack::write_int(out, i)
    }
}

/// Appends an array length (fixarray inline).
#[inline]
pub(crate) fn put_array_len(out: &mut Vec<u8>, n: usize) -> crate::Result<()> {
    if n < 16 {
        out.push(0x90 | n as u8);
        Ok(())
    } else {
        crate::msgpack::write_array_len(out, n)
    }
}

/// Appends a string (fixstr inline).
#[inline]
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) -> crate::Result<()> {
    if s.len() < 32 {
        out.push(0xa0 | s.len() as u8);
        out.extend_from_slice(s.as_bytes());
        Ok(())
    } else {
        crate::msgpack::write_str(out, s)
    }
}

/// A position in an encoded header, read forward one msgpack item at a
/// time by the typed fast paths.
///
/// Every method returns `None` on anything unexpected (malformed bytes,
/// another type, the end of the input) and leaves the position
/// unspecified; callers then fall back to decoding the header as a tree,
/// which reports the precise error.
#[derive(Clone, Debug)]
pub struct RawCursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> RawCursor<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        RawCursor { buf, pos: 0 }
    }

    /// The current offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Moves back to an offset read before.
    pub(crate) fn rewind(&mut self, pos: usize) {
        self.pos = pos.min(self.buf.len());
    }

    /// `true` when every byte has been read.
    pub fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    #[inline]
    fn next_head(&mut self) -> Option<Head<'a>> {
        let (h, next) = head(self.buf, self.pos)?;
        self.pos = next;
        Some(h)
    }

    #[inline]
    fn marker(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Consumes `lit` if the input continues with exactly these bytes.
    #[inline]
    pub fn eat(&mut self, lit: &[u8]) -> bool {
        match self.buf.get(self.pos..) {
            Some(rest) if rest.starts_with(lit) => {
                self.pos += lit.len();
                true
            }
            _ => false,
        }
    }

    /// Reads a string.
    #[inline]
    pub fn str(&mut self) -> Option<&'a str> {
        match self.next_head()? {
            Head::Str(s) => std::str::from_utf8(s).ok(),
            _ => None,
        }
    }

    /// Reads a string's bytes (not checked for UTF-8).
    #[inline]
    pub fn str_bytes(&mut self) -> Option<&'a [u8]> {
        let m = self.marker()?;
        if m & 0xe0 == 0xa0 {
            // fixstr, the form of every header key
            let start = self.pos + 1;
            let s = self.buf.get(start..start + usize::from(m & 0x1f))?;
            self.pos = start + s.len();
            return Some(s);
        }
        match self.next_head()? {
            Head::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Reads a `bin`.
    #[inline]
    pub fn bin(&mut self) -> Option<&'a [u8]> {
        match self.next_head()? {
            Head::Bin(b) => Some(b),
            _ => None,
        }
    }

    /// Reads an integer.
    #[inline]
    pub fn int(&mut self) -> Option<i128> {
        let m = self.marker()?;
        if m < 0x80 {
            self.pos += 1;
            return Some(i128::from(m));
        }
        match self.next_head()? {
            Head::Int(i) => Some(i),
            _ => None,
        }
    }

    /// Reads an integer that fits `i64` (`None` for larger ones).
    #[inline(always)]
    pub fn i64(&mut self) -> Option<i64> {
        let m = self.marker()?;
        if m < 0x80 {
            self.pos += 1;
            return Some(i64::from(m));
        }
        i64::try_from(self.int()?).ok()
    }

    /// Reads a boolean.
    #[inline]
    pub fn bool(&mut self) -> Option<bool> {
        let m = self.marker()?;
        if m == 0xc2 || m == 0xc3 {
            self.pos += 1;
            return Some(m == 0xc3);
        }
        match self.next_head()? {
            Head::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// Reads an array's length; its items follow.
    #[inline]
    pub fn array_len(&mut self) -> Option<usize> {
        let m = self.marker()?;
        if m & 0xf0 == 0x90 {
            self.pos += 1;
            return Some(usize::from(m & 0x0f));
        }
        match self.next_head()? {
            Head::Array { len, .. } => Some(len),
            _ => None,
        }
    }

    /// Reads a map's length; its keys and values follow, alternating.
    #[inline]
    pub fn map_len(&mut self) -> Option<usize> {
        let m = self.marker()?;
        if m & 0xf0 == 0x80 {
            self.pos += 1;
            return Some(usize::from(m & 0x0f));
        }
        match self.next_head()? {
            Head::Map { len, .. } => Some(len),
            _ => None,
        }
    }

    /// Skips one value (containers included, iteratively).
    pub fn skip_value(&mut self) -> Option<()> {
        self.pos = skip(self.buf, self.pos)?;
        Some(())
    }

    /// The bytes of the next value, skipped over.
    pub fn value_bytes(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        self.skip_value()?;
        self.buf.get(start..self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: MsgValue) -> Vec<u8> {
        v.encode().unwrap()
    }

    #[test]
    fn reads_every_scalar_form() {
        let vals = [
            MsgValue::Nil,
            MsgValue::Bool(true),
            MsgValue::Int(5),
            MsgValue::Int(-3),
            MsgValue::Int(200),
            MsgValue::Int(-200),
            MsgValue::Int(70_000),
            MsgValue::Int(-70_000),
            MsgValue::Int(5_000_000_000),
            MsgValue::Int(-5_000_000_000),
            MsgValue::Int(u64::MAX as i128),
            MsgValue::Float(1.5),
            MsgValue::Str("x".repeat(40)),
            MsgValue::Bin(Bytes::from(vec![1u8; 300])),
        ];
        let b = enc(MsgValue::Array(vals.to_vec()));
        let mut c = RawCursor::new(&b);
        assert_eq!(c.array_len(), Some(vals.len()));
        for want in &vals {
            let start = c.pos();
            let bytes = c.value_bytes().unwrap();
            let back = MsgValue::decode(&Bytes::copy_from_slice(bytes), &Limits::default()).unwrap();
            assert_eq!(&back, want);
            let mut again = RawCursor::new(&b);
            again.pos = start;
            match want {
                MsgValue::Int(i) => assert_eq!(again.int(), Some(*i)),
                MsgValue::Str(s) => assert_eq!(again.str(), Some(s.as_str())),
                MsgValue::Bin(x) => assert_eq!(again.bin(), Some(&x[..])),
                MsgValue::Bool(x) => assert_eq!(again.bool(), Some(*x)),
                _ => {}
            }
        }
        assert!(c.at_end());
    }

    #[test]
    fn malformed_input_is_none_not_a_panic() {
        let good = enc(MsgValue::Map(vec![
            ("a".into(), MsgValue::Array(vec![MsgValue::Int(1); 20])),
            ("b".into(), MsgValue::Str("hello".into())),
        ]));
        for cut in 0..good.len() {
            assert!(
                RawCursor::new(&good[..cut]).value_bytes().is_none(),
                "cut at {cut}"
            );
        }
        // a container claiming more items than there are bytes
        let huge = [0xdd, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(RawCursor::new(&huge).skip_value().is_none());
        assert!(RawCursor::new(&[0xc1]).skip_value().is_none());
        assert!(RawCursor::new(&[0xd4, 0, 0]).skip_value().is_none());
        assert_eq!(RawCursor::new(&[0xa1, 0xff]).str(), None, "invalid UTF-8");
        assert_eq!(RawCursor::new(&[0x01]).str(), None, "wrong type");
    }

    /// The validator must agree with the decoder exactly: a header it
    /// accepts is decoded later without a way to report errors.
    fn agrees(b: &[u8], depth: usize) {
        let limits = Limits {
            max_depth: depth,
            ..Limits::default()
        };
        let decoded = MsgValue::decode(&Bytes::copy_from_slice(b), &limits);
        let want = matches!(decoded, Ok(MsgValue::Map(_)));
        assert_eq!(
            is_valid_map(b, depth),
            want,
            "{b:02x?} at depth {depth}: {decoded:?}"
        );
    }

    fn samples() -> Vec<Vec<u8>> {
        let nested = |d: usize| {
            let mut v = MsgValue::Array(vec![MsgValue::Int(1)]);
            for _ in 0..d {
                v = MsgValue::Array(vec![v, MsgValue::Map(vec![])]);
            }
            MsgValue::Map(vec![("k".into(), v)])
        };
        vec![
            enc(MsgValue::Map(vec![
                (
                    "sub-headers".into(),
                    MsgValue::Array(vec![MsgValue::Map(vec![("a".into(), MsgValue::Nil)]); 3]),
                ),
                ("f".into(), MsgValue::Float(-1.5)),
                ("i".into(), MsgValue::Int(-70_000)),
                ("u".into(), MsgValue::Int(u64::MAX as i128)),
                ("s".into(), MsgValue::Str("é".repeat(20))),
                ("b".into(), MsgValue::Bin(Bytes::from(vec![0xc1u8; 40]))),
                (MsgValue::Int(3), MsgValue::Array(vec![])),
            ])),
            enc(nested(3)),
            enc(nested(6)),
            enc(MsgValue::Map(vec![])),
        ]
    }

    #[test]
    fn validation_agrees_with_the_decoder() {
        for b in samples() {
            for depth in 0..10 {
                agrees(&b, depth);
            }
            for cut in 0..b.len() {
                agrees(&b[..cut], 1024);
            }
            let mut longer = b.clone();
            longer.push(0xc0);
            agrees(&longer, 1024);
        }
        agrees(&[0xa1, b'x'], 1024); // not a map
        agrees(&[0x81, 0xa1, 0xff, 0xc0], 1024); // invalid UTF-8 key
        agrees(&[0x81, 0xc0, 0xd4, 0, 0], 1024); // ext value
        agrees(&[0x81, 0xc0, 0xdd, 0, 0, 0, 9, 1, 2], 1024); // long array, short input
        agrees(&[0xdf, 0, 0, 0, 0], 1024); // map32 of 0
        agrees(&[0x80, 0x80], 1024); // trailing data
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        #[test]
        fn validation_agrees_on_corrupted_headers(
            which in 0usize..4,
            edits in proptest::collection::vec((0usize..512, proptest::prelude::any::<u8>()), 1..4),
            depth in 1usize..8,
        ) {
            let mut b = samples()[which].clone();
            for (pos, byte) in edits {
                let n = b.len();
                b[pos % n] = byte;
            }
            agrees(&b, depth);
            agrees(&b, 1024);
        }

        #[test]
        fn validation_agrees_on_random_bytes(
            mut b in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..48),
            marker in 0x80u8..0x90,
        ) {
            b[0] = marker;
            agrees(&b, 4);
            agrees(&b, 1024);
        }
    }

    #[test]
    fn deep_nesting_is_skipped_without_recursion() {
        let mut v: Vec<u8> = std::iter::repeat_n(0x91u8, 200_000).collect();
        v.push(0xc0);
        let mut c = RawCursor::new(&v);
        assert!(c.skip_value().is_some());
        assert!(c.at_end());
    }
}
