//! msgpack with msgpack-python's conventions (PROTOCOL.md §2).
//!
//! One concept per file:
//!
//! * `head`: the one marker decoder every reader uses (a value's marker,
//!   its length or value bytes, the `str`/`bin` payload);
//! * `read`: the tree decoder behind [`MsgValue::decode`], the depth
//!   scanners and the validator of encoded headers;
//! * `cursor`: [`RawCursor`], reading an encoded header forward in place;
//! * `write`: the writers, which choose the smallest form exactly as
//!   msgpack-python does (`use_bin_type=True`, floats always as float64).
//!
//! Reading and writing are this crate's own code rather than `rmp`/`rmpv`:
//! Dask's decoding needs `bin` values sliced zero-copy out of the received
//! [`Bytes`], strict UTF-8, refusal of ext types, and lengths and depths
//! checked against [`Limits`] and the input size before anything is
//! allocated; the writers are a few lines each. A unit test checks the
//! writers byte for byte against `rmp`'s encoders (a dev-dependency).

use bytes::Bytes;

use crate::error::Result;
use crate::limits::Limits;

pub(crate) mod cursor;
pub(crate) mod head;
pub(crate) mod read;
mod write;

pub use cursor::RawCursor;
#[cfg(feature = "serde")]
pub(crate) use read::check_depth;
pub(crate) use read::is_valid_map;
use write::check_pack_depth;
pub(crate) use write::*;

/// A msgpack value as Python's `msgpack.unpackb(raw=False, use_list=False,
/// strict_map_key=False)` sees it: maps keep their insertion order and may
/// have keys of any type, arrays are what Python turns into tuples.
#[derive(Clone, Debug, PartialEq)]
pub enum MsgValue {
    /// `nil` (Python `None`).
    Nil,
    /// `true`/`false`.
    Bool(bool),
    /// An integer in msgpack's range `-2^63 ..= 2^64-1`.
    Int(i128),
    /// A float (float32 on the wire is widened, as Python does).
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// Binary data; decoding slices it out of the input without copying.
    Bin(Bytes),
    /// An array (a tuple in Python).
    Array(Vec<MsgValue>),
    /// A map in insertion order.
    Map(Vec<(MsgValue, MsgValue)>),
}

/// Smallest and largest integers msgpack can carry.
pub(crate) const INT_MIN: i128 = i64::MIN as i128;
pub(crate) const INT_MAX: i128 = u64::MAX as i128;

impl MsgValue {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MsgValue::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i128> {
        match self {
            MsgValue::Int(i) => Some(*i),
            _ => None,
        }
    }
    /// The float (or integer, widened), if this is a number.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            MsgValue::Float(f) => Some(*f),
            MsgValue::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            MsgValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// The binary payload, if this is one.
    pub fn as_bin(&self) -> Option<&Bytes> {
        match self {
            MsgValue::Bin(b) => Some(b),
            _ => None,
        }
    }
    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&[MsgValue]> {
        match self {
            MsgValue::Array(a) => Some(a),
            _ => None,
        }
    }
    /// The entries, if this is a map.
    pub fn as_map(&self) -> Option<&[(MsgValue, MsgValue)]> {
        match self {
            MsgValue::Map(m) => Some(m),
            _ => None,
        }
    }
    /// Looks up a string key in a map (first match, as Python dicts have
    /// unique keys). `None` if this is not a map or the key is absent.
    pub fn get(&self, key: &str) -> Option<&MsgValue> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }
    /// `true` for `Nil`.
    pub fn is_nil(&self) -> bool {
        matches!(self, MsgValue::Nil)
    }
    /// A short name of the msgpack type, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            MsgValue::Nil => "nil",
            MsgValue::Bool(_) => "bool",
            MsgValue::Int(_) => "int",
            MsgValue::Float(_) => "float",
            MsgValue::Str(_) => "str",
            MsgValue::Bin(_) => "bin",
            MsgValue::Array(_) => "array",
            MsgValue::Map(_) => "map",
        }
    }

    /// Encodes this value as msgpack-python would (`use_bin_type=True`).
    ///
    /// # Errors
    ///
    /// An integer outside `-2^63 ..= 2^64-1` or a length above `2^32-1`
    /// (Python raises there too).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write(&mut out)?;
        Ok(out)
    }

    /// Appends the encoding of this value to `out`.
    ///
    /// # Errors
    ///
    /// As [`MsgValue::encode`].
    pub fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.write_depth(out, 0)
    }

    fn write_depth(&self, out: &mut Vec<u8>, depth: usize) -> Result<()> {
        match self {
            MsgValue::Array(items) => {
                check_pack_depth(depth)?;
                write_array_len(out, items.len())?;
                for item in items {
                    item.write_depth(out, depth + 1)?;
                }
            }
            MsgValue::Map(entries) => {
                check_pack_depth(depth)?;
                write_map_len(out, entries.len())?;
                for (k, v) in entries {
                    k.write_depth(out, depth + 1)?;
                    v.write_depth(out, depth + 1)?;
                }
            }
            scalar => scalar.write_scalar(out)?,
        }
        Ok(())
    }

    #[inline(never)]
    fn write_scalar(&self, out: &mut Vec<u8>) -> Result<()> {
        match self {
            MsgValue::Nil => write_nil(out),
            MsgValue::Bool(b) => write_bool(out, *b),
            MsgValue::Int(i) => write_int(out, *i)?,
            MsgValue::Float(f) => write_f64(out, *f),
            MsgValue::Str(s) => write_str(out, s)?,
            MsgValue::Bin(b) => write_bin(out, b)?,
            MsgValue::Array(_) | MsgValue::Map(_) => self.write_depth(out, 0)?,
        }
        Ok(())
    }

    /// Decodes one msgpack value that must span all of `input`, with
    /// Python's options (`raw=False, use_list=False, strict_map_key=False`).
    /// `bin` values share `input`'s memory.
    ///
    /// # Errors
    ///
    /// Truncated or trailing data, invalid UTF-8, ext types, the reserved
    /// byte `0xc1`, lengths beyond the input, nesting deeper than
    /// `limits.max_depth`.
    pub fn decode(input: &Bytes, limits: &Limits) -> Result<MsgValue> {
        read::decode(input, limits.max_depth)
    }
}

impl From<&str> for MsgValue {
    fn from(s: &str) -> Self {
        MsgValue::Str(s.to_owned())
    }
}
impl From<String> for MsgValue {
    fn from(s: String) -> Self {
        MsgValue::Str(s)
    }
}
impl From<bool> for MsgValue {
    fn from(b: bool) -> Self {
        MsgValue::Bool(b)
    }
}
impl From<Bytes> for MsgValue {
    fn from(b: Bytes) -> Self {
        MsgValue::Bin(b)
    }
}
macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for MsgValue {
            fn from(i: $t) -> Self { MsgValue::Int(i as i128) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);
impl From<f64> for MsgValue {
    fn from(f: f64) -> Self {
        MsgValue::Float(f)
    }
}
impl From<Vec<MsgValue>> for MsgValue {
    fn from(v: Vec<MsgValue>) -> Self {
        MsgValue::Array(v)
    }
}

#[cfg(test)]
mod tests {
    use super::read::{check_depth, quick_check, scan_depth};
    use super::*;
    use crate::error::Error;

    fn enc(v: MsgValue) -> Vec<u8> {
        v.encode().unwrap()
    }

    #[test]
    fn integers_use_pythons_smallest_forms() {
        assert_eq!(enc(128.into()), [0xcc, 0x80]);
        assert_eq!(enc((-33).into()), [0xd0, 0xdf]);
        assert_eq!(enc((-129).into()), [0xd1, 0xff, 0x7f]);
        assert_eq!(enc(MsgValue::Int(1 << 63)), [0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(enc(MsgValue::Int(-(1 << 63))), [0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert!(MsgValue::Int(INT_MAX + 1).encode().is_err());
        assert!(MsgValue::Int(INT_MIN - 1).encode().is_err());
    }

    #[test]
    fn floats_strings_bins() {
        assert_eq!(enc(1.5.into()), [0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
        let s = "x".repeat(32);
        assert_eq!(&enc(s.as_str().into())[..2], [0xd9, 0x20]);
        assert_eq!(enc(Bytes::new().into()), [0xc4, 0x00]);
        assert_eq!(enc(MsgValue::Array(vec![1.into()])), [0x91, 0x01]);
    }

    #[test]
    fn decode_round_trip_and_zero_copy_bin() {
        let v = MsgValue::Map(vec![
            (
                "a".into(),
                MsgValue::Array(vec![MsgValue::Nil, true.into(), (-5).into()]),
            ),
            (7.into(), MsgValue::Bin(Bytes::from_static(b"xyz"))),
        ]);
        let bytes = Bytes::from(enc(v.clone()));
        let back = MsgValue::decode(&bytes, &Limits::default()).unwrap();
        assert_eq!(back, v);
        let MsgValue::Map(m) = &back else { unreachable!() };
        let b = m[1].1.as_bin().unwrap();
        let inside = bytes.as_ptr_range();
        assert!(inside.contains(&b.as_ptr()), "bin must share the input");
    }

    #[test]
    fn decode_rejects_bad_input() {
        let l = Limits::default();
        let bad: &[&[u8]] = &[
            &[],
            &[0xc1],
            &[0xd4, 0x01, 0x00],
            &[0xa2, 0xff, 0xfe],
            &[0xdd, 0xff, 0xff, 0xff, 0xff],
            &[0xdf, 0xff, 0xff, 0xff, 0xff],
            &[0xc6, 0xff, 0xff, 0xff, 0xff, 0x00],
            &[0x01, 0x02],
        ];
        for b in bad {
            assert!(
                MsgValue::decode(&Bytes::copy_from_slice(b), &l).is_err(),
                "{b:x?}"
            );
        }
    }

    #[test]
    fn scan_depth_agrees_with_decoding() {
        let cases: Vec<Vec<u8>> = vec![
            vec![0x01],
            vec![0x91, 0x90],
            vec![0x82, 0xa1, b'a', 0x91, 0x91, 0x01, 0x01, 0x80],
            [vec![0x91u8; 50], vec![0xc0]].concat(),
            vec![0xdc, 0x00, 0x02, 0xc4, 0x01, 0xff, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0],
        ];
        for c in cases {
            let tree = MsgValue::decode(&Bytes::from(c.clone()), &Limits::default()).unwrap();
            assert_eq!(
                scan_depth(&c, 1024).unwrap(),
                crate::family::msgpack::msg_depth(&tree),
                "{c:x?}"
            );
            if quick_check(&c, 1024) {
                assert!(scan_depth(&c, 1024).is_ok(), "{c:x?}");
            }
        }
        assert!(matches!(
            scan_depth(&[vec![0x91u8; 10], vec![0x90]].concat(), 5),
            Err(Error::Limit { .. })
        ));
        for bad in [
            &[0x92u8, 0x01][..],
            &[0xc1],
            &[0xd4, 0, 0],
            &[0x01, 0x02],
            &[0xdd, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(scan_depth(bad, 1024).is_err(), "{bad:x?}");
        }
    }

    #[test]
    fn quick_check_agrees_with_the_full_scan() {
        let seed_msg = MsgValue::Map(vec![
            ("op".into(), "task-finished".into()),
            ("n".into(), MsgValue::Int(8_000_128)),
            ("f".into(), 1.5.into()),
            ("b".into(), MsgValue::Bin(Bytes::from_static(b"xyz"))),
            ("s".into(), "y".repeat(40).as_str().into()),
            (
                "l".into(),
                MsgValue::Array(vec![MsgValue::Map(vec![]), MsgValue::Array(vec![(-200).into()])]),
            ),
        ]);
        let seeds = vec![
            seed_msg.encode().unwrap(),
            [vec![0x91u8; 40], vec![0x90]].concat(),
            [[0x81u8, 0x01].repeat(31), vec![0xc0]].concat(),
            [[0x92u8, 0x90, 0x80].repeat(20), vec![0xc0, 0xc0]].concat(),
        ];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for seed in seeds {
            for max in [0, 1, 2, 3, 31, 32, 33, 1024] {
                let check = |b: &[u8]| {
                    if quick_check(b, max) {
                        assert!(scan_depth(b, max).is_ok(), "{b:x?}");
                    }
                    assert_eq!(
                        format!("{:?}", check_depth(b, max)),
                        format!("{:?}", scan_depth(b, max).map(drop)),
                        "{b:x?}"
                    );
                };
                check(&seed);
                for cut in 0..seed.len() {
                    check(&seed[..cut]);
                }
                for _ in 0..200 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let mut b = seed.clone();
                    let i = (x as usize) % b.len();
                    b[i] = (x >> 32) as u8;
                    check(&b);
                }
            }
        }
    }

    #[test]
    fn writers_match_rmp() {
        let mut ints: Vec<i128> = vec![0, 1, 127, 128, 255, 256, 65535, 65536, (1 << 32) - 1, 1 << 32];
        ints.extend([u64::MAX as i128, -1, -32, -33, -128, -129, -32768, -32769]);
        ints.extend([i32::MIN as i128, i32::MIN as i128 - 1, i64::MIN as i128]);
        for i in ints {
            let mut ours = Vec::new();
            write_int(&mut ours, i).unwrap();
            let mut theirs = Vec::new();
            if i >= 0 {
                rmp::encode::write_uint(&mut theirs, i as u64).unwrap();
            } else {
                rmp::encode::write_sint(&mut theirs, i as i64).unwrap();
            }
            assert_eq!(ours, theirs, "{i}");
        }
        for n in [0usize, 1, 15, 16, 31, 32, 255, 256, 65535, 65536] {
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            write_str(&mut ours, &"s".repeat(n)).unwrap();
            rmp::encode::write_str(&mut theirs, &"s".repeat(n)).unwrap();
            assert_eq!(ours, theirs, "str {n}");
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            write_bin(&mut ours, &vec![7u8; n]).unwrap();
            rmp::encode::write_bin(&mut theirs, &vec![7u8; n]).unwrap();
            assert_eq!(ours, theirs, "bin {n}");
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            write_array_len(&mut ours, n).unwrap();
            rmp::encode::write_array_len(&mut theirs, n as u32).unwrap();
            assert_eq!(ours, theirs, "array {n}");
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            write_map_len(&mut ours, n).unwrap();
            rmp::encode::write_map_len(&mut theirs, n as u32).unwrap();
            assert_eq!(ours, theirs, "map {n}");
        }
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        write_array_len(&mut ours, 1 << 20).unwrap();
        rmp::encode::write_array_len(&mut theirs, 1 << 20).unwrap();
        assert_eq!(ours, theirs);
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        write_map_len(&mut ours, 1 << 20).unwrap();
        rmp::encode::write_map_len(&mut theirs, 1 << 20).unwrap();
        assert_eq!(ours, theirs);
        #[cfg(target_pointer_width = "64")]
        assert!(write_map_len(&mut Vec::new(), 1 << 32).is_err());
    }

    #[test]
    fn depth_limit_matches_python() {
        let l = Limits::default();
        let ok = [vec![0x91u8; 1023], vec![0x90]].concat();
        assert!(MsgValue::decode(&Bytes::from(ok), &l).is_ok());
        let deep = [vec![0x91u8; 1024], vec![0x90]].concat();
        assert!(MsgValue::decode(&Bytes::from(deep), &l).is_err());
    }
}
