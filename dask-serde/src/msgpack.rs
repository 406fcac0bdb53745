//! msgpack with msgpack-python's conventions (spec §2).
//!
//! Writing uses [`rmp`]'s primitive encoders, which already choose the
//! smallest representation exactly as msgpack-python does (`use_bin_type =
//! True`, floats always as float64). Reading is done here rather than with
//! `rmpv` because Dask's decoding needs things `rmpv` does not give: `bin`
//! values sliced zero-copy out of the received [`Bytes`], strict UTF-8,
//! refusal of ext types, and lengths/depths checked against [`Limits`] and
//! the input size before anything is allocated.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::limits::Limits;

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
        let mut r = Reader {
            input,
            pos: 0,
            max_depth: limits.max_depth,
        };
        let v = r.value(0)?;
        if r.pos != input.len() {
            return Err(r.err(format!(
                "{} bytes of trailing data after the value",
                input.len() - r.pos
            )));
        }
        Ok(v)
    }
}

/// Checks that `input` is one well-formed msgpack value nested at most
/// `max` deep, with exactly the errors of [`scan_depth`].
#[cfg_attr(not(feature = "serde"), allow(dead_code))] // used by typed messages
pub(crate) fn check_depth(input: &[u8], max: usize) -> Result<()> {
    if quick_check(input, max) {
        return Ok(());
    }
    // malformed, or too many containers for the quick check to vouch for
    // the nesting: the full scan finds the depth or the error
    scan_depth(input, max).map(drop)
}

/// `true` if `input` is one well-formed msgpack value with at most `max`
/// containers in all (so nested at most `max` deep); `false` for
/// anything else, including well-formed input with more containers.
///
/// Counting values still expected instead of tracking each open
/// container keeps this loop short: small messages have few containers.
#[cfg_attr(not(feature = "serde"), allow(dead_code))] // used by typed messages
fn quick_check(input: &[u8], max: usize) -> bool {
    let len = input.len();
    let mut pos = 0usize;
    // values still to read, in all open containers
    let mut expected = 1u64;
    let mut containers = 0usize;
    let be = |at: usize, n: usize| -> Option<u64> {
        let b = input.get(at..at.checked_add(n)?)?;
        Some(b.iter().fold(0u64, |a, x| (a << 8) | u64::from(*x)))
    };
    while expected > 0 {
        let Some(&m) = input.get(pos) else {
            return false;
        };
        pos += 1;
        expected -= 1;
        // (bytes to skip, items if a container)
        let (skip, items): (u64, Option<u64>) = match m {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => continue,
            0xa0..=0xbf => (u64::from(m & 0x1f), None),
            0x80..=0x8f => (0, Some(2 * u64::from(m & 0x0f))),
            0x90..=0x9f => (0, Some(u64::from(m & 0x0f))),
            0xcb | 0xcf | 0xd3 => (8, None),
            0xca | 0xce | 0xd2 => (4, None),
            0xcd | 0xd1 => (2, None),
            0xcc | 0xd0 => (1, None),
            0xc4 | 0xd9 => match be(pos, 1) {
                Some(l) => (1 + l, None),
                None => return false,
            },
            0xc5 | 0xda => match be(pos, 2) {
                Some(l) => (2 + l, None),
                None => return false,
            },
            0xc6 | 0xdb => match be(pos, 4) {
                Some(l) => (4 + l, None),
                None => return false,
            },
            0xdc => match be(pos, 2) {
                Some(n) => (2, Some(n)),
                None => return false,
            },
            0xdd => match be(pos, 4) {
                Some(n) => (4, Some(n)),
                None => return false,
            },
            0xde => match be(pos, 2) {
                Some(n) => (2, Some(2 * n)),
                None => return false,
            },
            0xdf => match be(pos, 4) {
                Some(n) => (4, Some(2 * n)),
                None => return false,
            },
            _ => return false,
        };
        let end = pos as u64 + skip;
        if end > len as u64 {
            return false;
        }
        pos = end as usize;
        if let Some(n) = items {
            // a container is a level even when empty
            containers += 1;
            if containers > max || n > (len - pos) as u64 {
                return false;
            }
            expected += n;
        }
    }
    pos == len
}

/// The deepest container nesting of the msgpack value in `input`, found
/// by skipping over it without building anything (no allocation beyond a
/// small stack of counts). Errors on malformed input, and with
/// [`Error::Limit`] as soon as the nesting passes `max`.
#[inline(never)]
#[cfg_attr(not(feature = "serde"), allow(dead_code))] // used by typed messages
pub(crate) fn scan_depth(input: &[u8], max: usize) -> Result<usize> {
    let mut pos = 0usize;
    let mut stack: Vec<u64> = Vec::new();
    let mut deepest = 0usize;
    let err = |pos: usize, m: &str| Error::Msgpack {
        offset: pos,
        message: m.to_owned(),
    };
    loop {
        let at = pos;
        let m = *input.get(pos).ok_or_else(|| err(pos, "truncated"))?;
        pos += 1;
        let mut be = |n: usize| -> Result<u64> {
            let b = input.get(pos..pos + n).ok_or_else(|| err(pos, "truncated"))?;
            pos += n;
            Ok(b.iter().fold(0u64, |a, x| (a << 8) | u64::from(*x)))
        };
        // (bytes to skip, container items)
        let (skip, items): (u64, Option<u64>) = match m {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, None),
            0x80..=0x8f => (0, Some(2 * u64::from(m & 0x0f))),
            0x90..=0x9f => (0, Some(u64::from(m & 0x0f))),
            0xa0..=0xbf => (u64::from(m & 0x1f), None),
            0xc4 | 0xd9 => (be(1)?, None),
            0xc5 | 0xda => (be(2)?, None),
            0xc6 | 0xdb => (be(4)?, None),
            0xca => (4, None),
            0xcb => (8, None),
            0xcc | 0xd0 => (1, None),
            0xcd | 0xd1 => (2, None),
            0xce | 0xd2 => (4, None),
            0xcf | 0xd3 => (8, None),
            0xdc => (0, Some(be(2)?)),
            0xdd => (0, Some(be(4)?)),
            0xde => (0, Some(2 * be(2)?)),
            0xdf => (0, Some(2 * be(4)?)),
            _ => return Err(err(at, "ext types and 0xc1 are refused")),
        };
        let end = (pos as u64)
            .checked_add(skip)
            .filter(|e| *e <= input.len() as u64);
        pos = end.ok_or_else(|| err(pos, "truncated"))? as usize;
        match items {
            Some(n) if n > 0 => {
                if n > (input.len() - pos) as u64 {
                    return Err(err(at, "container longer than the input"));
                }
                stack.push(n);
                deepest = deepest.max(stack.len());
                if deepest > max {
                    return Err(Error::Limit {
                        what: "nesting of a msgpack value",
                        limit: max as u64,
                        got: deepest as u64,
                    });
                }
                continue;
            }
            Some(_) => {
                deepest = deepest.max(stack.len() + 1);
                if deepest > max {
                    return Err(Error::Limit {
                        what: "nesting of a msgpack value",
                        limit: max as u64,
                        got: deepest as u64,
                    });
                }
            }
            None => {}
        }
        // one value done: count it against the open containers
        loop {
            match stack.last_mut() {
                None => {
                    return if pos == input.len() {
                        Ok(deepest)
                    } else {
                        Err(err(pos, "trailing data"))
                    };
                }
                Some(left) => {
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                    stack.pop();
                }
            }
        }
    }
}

fn check_pack_depth(depth: usize) -> Result<()> {
    // msgpack-python's packer refuses structures nested deeper than its
    // recursion limit (512 by default for the packer, 1024 for unpacking);
    // keep our own output decodable by Python.
    if depth >= 512 {
        return Err(Error::Encode(
            "msgpack structure nested more than 512 levels deep".into(),
        ));
    }
    Ok(())
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

// ---------------------------------------------------------------------------
// Primitive writers (shared with the dynamic-value and typed encoders).

pub(crate) fn write_nil(out: &mut Vec<u8>) {
    out.push(0xc0);
}
pub(crate) fn write_bool(out: &mut Vec<u8>, b: bool) {
    out.push(if b { 0xc3 } else { 0xc2 });
}
pub(crate) fn write_f64(out: &mut Vec<u8>, f: f64) {
    out.push(0xcb);
    out.extend_from_slice(&f.to_bits().to_be_bytes());
}
pub(crate) fn write_int(out: &mut Vec<u8>, i: i128) -> Result<()> {
    if i >= 0 {
        let u =
            u64::try_from(i).map_err(|_| Error::Encode(format!("integer {i} does not fit in msgpack")))?;
        write_uint(out, u);
    } else {
        let s =
            i64::try_from(i).map_err(|_| Error::Encode(format!("integer {i} does not fit in msgpack")))?;
        write_negative(out, s);
    }
    Ok(())
}
/// [`write_int`] of an integer in [`INT_MIN`]`..=`[`INT_MAX`] (checked
/// by the caller; anything else is clamped, never written wrongly
/// silently in debug builds).
#[inline]
pub(crate) fn write_int_in_range(out: &mut Vec<u8>, i: i128) {
    debug_assert!((INT_MIN..=INT_MAX).contains(&i));
    if i >= 0 {
        write_uint(out, u64::try_from(i).unwrap_or(u64::MAX));
    } else {
        write_negative(out, i64::try_from(i).unwrap_or(i64::MIN));
    }
}
/// The smallest form of a non-negative integer (msgpack-python's and
/// `rmp::encode::write_uint`'s choice).
#[inline]
fn write_uint(out: &mut Vec<u8>, u: u64) {
    if u < 0x80 {
        out.push(u as u8);
    } else if u <= 0xff {
        out.extend_from_slice(&[0xcc, u as u8]);
    } else if u <= 0xffff {
        write_tagged(out, 0xcd, &(u as u16).to_be_bytes());
    } else if u <= 0xffff_ffff {
        write_tagged(out, 0xce, &(u as u32).to_be_bytes());
    } else {
        write_tagged(out, 0xcf, &u.to_be_bytes());
    }
}
/// The smallest form of a negative integer.
#[inline]
fn write_negative(out: &mut Vec<u8>, i: i64) {
    if i >= -32 {
        out.push(i as u8);
    } else if i >= -0x80 {
        out.extend_from_slice(&[0xd0, i as u8]);
    } else if i >= -0x8000 {
        write_tagged(out, 0xd1, &(i as i16).to_be_bytes());
    } else if i >= -0x8000_0000 {
        write_tagged(out, 0xd2, &(i as i32).to_be_bytes());
    } else {
        write_tagged(out, 0xd3, &i.to_be_bytes());
    }
}
#[inline]
fn write_tagged(out: &mut Vec<u8>, marker: u8, data: &[u8]) {
    out.reserve(1 + data.len());
    out.push(marker);
    out.extend_from_slice(data);
}
fn len32(len: usize, what: &str) -> Result<u32> {
    u32::try_from(len)
        .map_err(|_| Error::Encode(format!("{what} of {len} items/bytes exceeds msgpack's 2^32-1")))
}
/// A length in the smallest of the forms `fix` (`None` for bin, which has
/// no fix form; else the fix marker and its largest length), 8 bits (if
/// `m8` is given), 16 and 32 bits.
#[inline]
fn write_len(
    out: &mut Vec<u8>,
    len: usize,
    fix: Option<(u8, usize)>,
    m8: Option<u8>,
    m16: u8,
    what: &str,
) -> Result<()> {
    match (fix, m8) {
        (Some((marker, max)), _) if len <= max => out.push(marker | len as u8),
        (_, Some(m8)) if len <= 0xff => out.extend_from_slice(&[m8, len as u8]),
        _ if len <= 0xffff => write_tagged(out, m16, &(len as u16).to_be_bytes()),
        _ => write_tagged(out, m16 + 1, &len32(len, what)?.to_be_bytes()),
    }
    Ok(())
}
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) -> Result<()> {
    len32(s.len(), "str")?;
    write_str_fitting(out, s);
    Ok(())
}
/// [`write_str`] of a string of at most `2^32-1` bytes (checked by the
/// caller).
#[inline]
pub(crate) fn write_str_fitting(out: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 32 {
        // the common case in one step
        out.reserve(1 + n);
        out.push(0xa0 | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n <= 0xffff {
        write_tagged(out, 0xda, &(n as u16).to_be_bytes());
    } else {
        debug_assert!(n as u64 <= u64::from(u32::MAX));
        write_tagged(out, 0xdb, &(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}
pub(crate) fn write_bin(out: &mut Vec<u8>, b: &[u8]) -> Result<()> {
    write_len(out, b.len(), None, Some(0xc4), 0xc5, "bin")?;
    out.extend_from_slice(b);
    Ok(())
}
pub(crate) fn write_array_len(out: &mut Vec<u8>, len: usize) -> Result<()> {
    write_len(out, len, Some((0x90, 15)), None, 0xdc, "array")
}
pub(crate) fn write_map_len(out: &mut Vec<u8>, len: usize) -> Result<()> {
    write_len(out, len, Some((0x80, 15)), None, 0xde, "map")
}

// ---------------------------------------------------------------------------
// Reader.

struct Reader<'a> {
    input: &'a Bytes,
    pos: usize,
    max_depth: usize,
}

impl Reader<'_> {
    fn err(&self, message: impl Into<String>) -> Error {
        Error::Msgpack {
            offset: self.pos,
            message: message.into(),
        }
    }

    fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if n > self.remaining() {
            return Err(self.err(format!("truncated: need {n} bytes, {} left", self.remaining())));
        }
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn be<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn len(&mut self, bytes: usize) -> Result<usize> {
        Ok(match bytes {
            1 => self.u8()? as usize,
            2 => u16::from_be_bytes(self.be()?) as usize,
            _ => u32::from_be_bytes(self.be()?) as usize,
        })
    }

    fn str(&mut self, n: usize) -> Result<MsgValue> {
        let start = self.pos;
        let raw = self.take(n)?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(MsgValue::Str(s.to_owned())),
            Err(e) => Err(Error::Msgpack {
                offset: start + e.valid_up_to(),
                message: "str is not valid UTF-8".into(),
            }),
        }
    }

    fn bin(&mut self, n: usize) -> Result<MsgValue> {
        if n > self.remaining() {
            return Err(self.err(format!("truncated: bin of {n} bytes, {} left", self.remaining())));
        }
        let b = self.input.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(MsgValue::Bin(b))
    }

    /// Reserves room for `n` items of at least `min_bytes` bytes each, never
    /// more than the remaining input can hold.
    fn capacity(&self, n: usize, min_bytes: usize, what: &str) -> Result<usize> {
        if n.saturating_mul(min_bytes) > self.remaining() {
            return Err(self.err(format!(
                "{what} of {n} {} but only {} bytes left",
                if what == "map" { "entries" } else { "items" },
                self.remaining()
            )));
        }
        Ok(n)
    }

    /// Decodes one value iteratively (an explicit stack instead of
    /// recursion, so the nesting limit, not the thread's stack, bounds
    /// the depth).
    fn value(&mut self, _depth: usize) -> Result<MsgValue> {
        enum Open {
            Array {
                items: Vec<MsgValue>,
                left: usize,
            },
            Map {
                entries: Vec<(MsgValue, MsgValue)>,
                key: Option<MsgValue>,
                left: usize,
            },
        }
        let mut stack: Vec<Open> = Vec::new();
        loop {
            let at = self.pos;
            let m = self.u8()?;
            // a scalar, or a container to open
            let (scalar, open): (Option<MsgValue>, Option<(bool, usize)>) = match m {
                0x00..=0x7f => (Some(MsgValue::Int(m as i128)), None),
                0x80..=0x8f => (None, Some((true, (m & 0x0f) as usize))),
                0x90..=0x9f => (None, Some((false, (m & 0x0f) as usize))),
                0xa0..=0xbf => (Some(self.str((m & 0x1f) as usize)?), None),
                0xc0 => (Some(MsgValue::Nil), None),
                0xc2 => (Some(MsgValue::Bool(false)), None),
                0xc3 => (Some(MsgValue::Bool(true)), None),
                0xc4 => {
                    let n = self.len(1)?;
                    (Some(self.bin(n)?), None)
                }
                0xc5 => {
                    let n = self.len(2)?;
                    (Some(self.bin(n)?), None)
                }
                0xc6 => {
                    let n = self.len(4)?;
                    (Some(self.bin(n)?), None)
                }
                0xca => (Some(MsgValue::Float(f32::from_be_bytes(self.be()?) as f64)), None),
                0xcb => (Some(MsgValue::Float(f64::from_be_bytes(self.be()?))), None),
                0xcc => (Some(MsgValue::Int(self.u8()? as i128)), None),
                0xcd => (Some(MsgValue::Int(u16::from_be_bytes(self.be()?) as i128)), None),
                0xce => (Some(MsgValue::Int(u32::from_be_bytes(self.be()?) as i128)), None),
                0xcf => (Some(MsgValue::Int(u64::from_be_bytes(self.be()?) as i128)), None),
                0xd0 => (Some(MsgValue::Int(i8::from_be_bytes(self.be()?) as i128)), None),
                0xd1 => (Some(MsgValue::Int(i16::from_be_bytes(self.be()?) as i128)), None),
                0xd2 => (Some(MsgValue::Int(i32::from_be_bytes(self.be()?) as i128)), None),
                0xd3 => (Some(MsgValue::Int(i64::from_be_bytes(self.be()?) as i128)), None),
                0xd9 => {
                    let n = self.len(1)?;
                    (Some(self.str(n)?), None)
                }
                0xda => {
                    let n = self.len(2)?;
                    (Some(self.str(n)?), None)
                }
                0xdb => {
                    let n = self.len(4)?;
                    (Some(self.str(n)?), None)
                }
                0xdc => (None, Some((false, self.len(2)?))),
                0xdd => (None, Some((false, self.len(4)?))),
                0xde => (None, Some((true, self.len(2)?))),
                0xdf => (None, Some((true, self.len(4)?))),
                0xe0..=0xff => (Some(MsgValue::Int((m as i8) as i128)), None),
                0xc7..=0xc9 | 0xd4..=0xd8 => {
                    return Err(Error::Msgpack {
                        offset: at,
                        message: format!("ext type (marker 0x{m:02x}) is not used by Dask and is refused"),
                    })
                }
                0xc1 => {
                    return Err(Error::Msgpack {
                        offset: at,
                        message: "reserved marker 0xc1".into(),
                    });
                }
            };
            let mut done = match (scalar, open) {
                (Some(v), _) => v,
                (None, Some((is_map, n))) => {
                    if stack.len() >= self.max_depth {
                        return Err(Error::Msgpack {
                            offset: at,
                            message: format!("containers nested deeper than {} levels", self.max_depth),
                        });
                    }
                    if is_map {
                        let cap = self.capacity(n, 2, "map")?;
                        if n == 0 {
                            MsgValue::Map(Vec::new())
                        } else {
                            stack.push(Open::Map {
                                entries: Vec::with_capacity(cap),
                                key: None,
                                left: n,
                            });
                            continue;
                        }
                    } else {
                        let cap = self.capacity(n, 1, "array")?;
                        if n == 0 {
                            MsgValue::Array(Vec::new())
                        } else {
                            stack.push(Open::Array {
                                items: Vec::with_capacity(cap),
                                left: n,
                            });
                            continue;
                        }
                    }
                }
                (None, None) => return Err(self.err("internal: no value")),
            };
            // attach the finished value to its parents
            loop {
                match stack.last_mut() {
                    None => return Ok(done),
                    Some(Open::Array { items, left }) => {
                        items.push(done);
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                        match stack.pop() {
                            Some(Open::Array { items, .. }) => done = MsgValue::Array(items),
                            _ => return Err(self.err("internal: stack mismatch")),
                        }
                    }
                    Some(Open::Map { entries, key, left }) => match key.take() {
                        None => {
                            *key = Some(done);
                            break;
                        }
                        Some(k) => {
                            entries.push((k, done));
                            *left -= 1;
                            if *left > 0 {
                                break;
                            }
                            match stack.pop() {
                                Some(Open::Map { entries, .. }) => done = MsgValue::Map(entries),
                                _ => return Err(self.err("internal: stack mismatch")),
                            }
                        }
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
