//! Decoding the arguments of opcodes: bytes read from the input (lengths
//! checked before anything is allocated), newline-terminated text
//! arguments, and the decimal and quoted literals of protocol 0.

use num_bigint::BigInt;

use super::Reader;
use crate::error::{Error, Result};
use crate::value::Value;

/// Longest decimal integer text accepted by `INT`/`LONG` (CPython 3.11's
/// default `sys.get_int_max_str_digits()`).
const MAX_INT_DIGITS: usize = 4300;

impl<'a> Reader<'a> {
    /// The next `n` bytes of input (the argument of the opcode at `at`).
    pub(super) fn take(&mut self, n: usize, at: usize, what: &str) -> Result<&'a [u8]> {
        let rest = self.data.len() - self.pos;
        if n > rest {
            return Err(self.err(
                at,
                format!("truncated pickle: {what} needs {n} bytes, only {rest} remain"),
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// The next `N` bytes of input, as an array.
    pub(super) fn array<const N: usize>(&mut self, at: usize, what: &str) -> Result<[u8; N]> {
        let s = self.take(N, at, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// A length read from the input, checked against the remaining input
    /// (and `max_frame_bytes`) before anything is allocated for it.
    pub(super) fn length(&mut self, n: u64, at: usize, what: &str) -> Result<usize> {
        let rest = self.data.len() - self.pos;
        let n = match usize::try_from(n) {
            Ok(n) if n <= rest => n,
            _ => {
                return Err(self.err(
                    at,
                    format!("truncated pickle: {what} announces {n} bytes, only {rest} remain"),
                ))
            }
        };
        if n as u64 > self.limits.max_frame_bytes {
            return Err(Error::Limit {
                what: "pickle string length",
                limit: self.limits.max_frame_bytes,
                got: n as u64,
            });
        }
        Ok(n)
    }

    /// The next `n` bytes, `n` being a length read from the input (checked
    /// by [`Reader::length`]).
    pub(super) fn sized(&mut self, n: u64, at: usize, what: &str) -> Result<&'a [u8]> {
        let n = self.length(n, at, what)?;
        self.take(n, at, what)
    }

    /// A newline-terminated argument (without the newline).
    pub(super) fn line(&mut self, at: usize, what: &str) -> Result<&'a [u8]> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => Err(self.err(
                at,
                format!("truncated pickle: {what} argument has no terminating newline"),
            )),
        }
    }

    /// A newline-terminated argument that must be UTF-8 text.
    pub(super) fn text_line(&mut self, at: usize, what: &str) -> Result<&'a str> {
        let l = self.line(at, what)?;
        std::str::from_utf8(l).map_err(|_| self.err(at, format!("{what} argument is not valid UTF-8")))
    }
}

/// Parses the decimal text of `INT`/`LONG` (an optional sign and digits).
pub(super) fn parse_decimal(s: &str) -> std::result::Result<Value, String> {
    let t = s.trim();
    let digits = t.strip_prefix(|c| c == '-' || c == '+').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not a decimal integer"));
    }
    if digits.len() > MAX_INT_DIGITS {
        return Err(format!(
            "an integer of {} digits exceeds the limit of {MAX_INT_DIGITS} digits",
            digits.len()
        ));
    }
    if let Ok(i) = t.parse::<i128>() {
        return Ok(Value::Int(i));
    }
    BigInt::parse_bytes(t.as_bytes(), 10)
        .map(Value::int)
        .ok_or_else(|| format!("{s:?} is not a decimal integer"))
}

/// Parses the decimal index of `PUT`/`GET`.
pub(super) fn parse_memo_index(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Decodes the quoted, backslash-escaped argument of `STRING` (Python 2
/// `repr` of a byte string), as `PyBytes_DecodeEscape` does.
pub(super) fn decode_string_literal(l: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let inner = match l {
        [q, inner @ .., q2] if q == q2 && (*q == b'\'' || *q == b'"') => inner,
        _ => return Err("the argument must be quoted".into()),
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = inner.get(i) else {
            return Err("trailing \\ in string".into());
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match inner.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' => {
                let hex = inner.get(i..i + 2).ok_or("invalid \\x escape")?;
                let s = std::str::from_utf8(hex).map_err(|_| "invalid \\x escape")?;
                out.push(u8::from_str_radix(s, 16).map_err(|_| "invalid \\x escape")?);
                i += 2;
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// Decodes the argument of `UNICODE` (`raw-unicode-escape`: bytes are
/// latin-1 characters, except `\uXXXX` and `\UXXXXXXXX`).
pub(super) fn decode_raw_unicode_escape(l: &[u8]) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(l.len());
    let mut i = 0;
    while i < l.len() {
        let c = l[i];
        i += 1;
        if c != b'\\' || i >= l.len() {
            out.push(char::from(c));
            continue;
        }
        let count = match l[i] {
            b'u' => 4,
            b'U' => 8,
            other => {
                out.push('\\');
                out.push(char::from(other));
                i += 1;
                continue;
            }
        };
        i += 1;
        let hex = l
            .get(i..i + count)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                format!(
                    "truncated \\{} escape",
                    if count == 4 { "uXXXX" } else { "UXXXXXXXX" }
                )
            })?;
        let v = u32::from_str_radix(hex, 16).map_err(|_| "invalid escape".to_owned())?;
        let ch = char::from_u32(v).ok_or_else(|| {
            format!(
                "\\{}{hex} is not a character that can be represented (surrogate or beyond U+10FFFF)",
                if count == 4 { 'u' } else { 'U' }
            )
        })?;
        out.push(ch);
        i += count;
    }
    Ok(out)
}
