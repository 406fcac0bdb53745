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

use super::head::{fixed, head, skip, Head};

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
        let (h, next) = head(self.buf, self.pos).ok()?;
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
        if let Some(n) = fixed::str_len(self.marker()?) {
            // fixstr, the form of every header key
            let start = self.pos + 1;
            let s = self.buf.get(start..start + n)?;
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
        if let Some(v) = fixed::uint(self.marker()?) {
            self.pos += 1;
            return Some(i128::from(v));
        }
        match self.next_head()? {
            Head::Int(i) => Some(i),
            _ => None,
        }
    }

    /// Reads an integer that fits `i64` (`None` for larger ones).
    #[inline(always)]
    pub fn i64(&mut self) -> Option<i64> {
        if let Some(v) = fixed::uint(self.marker()?) {
            self.pos += 1;
            return Some(i64::from(v));
        }
        i64::try_from(self.int()?).ok()
    }

    /// Reads a boolean.
    #[inline]
    pub fn bool(&mut self) -> Option<bool> {
        if let Some(b) = fixed::bool(self.marker()?) {
            self.pos += 1;
            return Some(b);
        }
        match self.next_head()? {
            Head::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// Reads an array's length; its items follow.
    #[inline]
    pub fn array_len(&mut self) -> Option<usize> {
        if let Some(len) = fixed::array_len(self.marker()?) {
            self.pos += 1;
            return Some(len);
        }
        match self.next_head()? {
            Head::Array { len, .. } => Some(len),
            _ => None,
        }
    }

    /// Reads a map's length; its keys and values follow, alternating.
    #[inline]
    pub fn map_len(&mut self) -> Option<usize> {
        if let Some(len) = fixed::map_len(self.marker()?) {
            self.pos += 1;
            return Some(len);
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
    use crate::limits::Limits;
    use crate::msgpack::read::is_valid_map;
    use crate::msgpack::MsgValue;
    use bytes::Bytes;

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
