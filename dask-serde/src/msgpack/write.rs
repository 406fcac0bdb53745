//! Writing msgpack as msgpack-python does (`use_bin_type=True`): the
//! smallest form of every integer, floats as float64, `bin` for bytes.

use super::{INT_MAX, INT_MIN};
use crate::error::{Error, Result};

pub(super) fn check_pack_depth(depth: usize) -> Result<()> {
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
