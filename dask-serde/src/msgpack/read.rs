//! Reading msgpack: the tree decoder behind [`MsgValue::decode`], the
//! depth scanners of typed messages, and the validator that lets a
//! [`Header`](crate::Header) keep its bytes and build its tree on demand.
//! All of them read heads with [`head`].

use bytes::Bytes;

use super::head::{head, Head, HeadError, Missing};
use super::MsgValue;
use crate::error::{Error, Result};

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
pub(super) fn quick_check(input: &[u8], max: usize) -> bool {
    let mut pos = 0usize;
    // values still to read, in all open containers
    let mut expected = 1u64;
    let mut containers = 0usize;
    while expected > 0 {
        let Ok((h, next)) = head(input, pos) else {
            return false;
        };
        pos = next;
        expected -= 1;
        let items = match h {
            Head::Array { len } => len as u64,
            Head::Map { len } => 2 * len as u64,
            _ => continue,
        };
        // a container is a level even when empty
        containers += 1;
        if containers > max || items > (input.len() - pos) as u64 {
            return false;
        }
        expected += items;
    }
    pos == input.len()
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
    let too_deep = |got: usize| Error::Limit {
        what: "nesting of a msgpack value",
        limit: max as u64,
        got: got as u64,
    };
    loop {
        let at = pos;
        let (h, next) = head(input, pos).map_err(|e| match e {
            HeadError::Truncated { at, .. } => err(at, "truncated"),
            HeadError::Ext { at, .. } | HeadError::Reserved { at } => {
                err(at, "ext types and 0xc1 are refused")
            }
        })?;
        pos = next;
        let items = match h {
            Head::Array { len } => Some(len as u64),
            Head::Map { len } => Some(2 * len as u64),
            _ => None,
        };
        match items {
            Some(n) if n > 0 => {
                if n > (input.len() - pos) as u64 {
                    return Err(err(at, "container longer than the input"));
                }
                stack.push(n);
                deepest = deepest.max(stack.len());
                if deepest > max {
                    return Err(too_deep(deepest));
                }
                continue;
            }
            Some(_) => {
                deepest = deepest.max(stack.len() + 1);
                if deepest > max {
                    return Err(too_deep(deepest));
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

/// `true` exactly when [`MsgValue::decode`] with `max_depth` accepts `buf`
/// and yields a map: the same checks (markers, truncation, UTF-8 of
/// strings, container counts against the bytes left, nesting depth,
/// trailing data) without building anything. Lets a header keep its bytes
/// and build its tree only when asked.
pub(crate) fn is_valid_map(buf: &[u8], max_depth: usize) -> bool {
    if !matches!(head(buf, 0), Ok((Head::Map { .. }, _))) {
        return false;
    }
    // items left in each open, non-empty container (as the decoder's stack)
    let mut open: Vec<u64> = Vec::new();
    let mut pos = 0;
    loop {
        let Ok((h, next)) = head(buf, pos) else {
            return false;
        };
        pos = next;
        match h {
            Head::Str(s) if !s.is_ascii() && std::str::from_utf8(s).is_err() => return false,
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

/// The tree decoder's error for a head that cannot be read, with the
/// messages (and offsets) of Python-facing diagnostics.
#[cold]
fn head_error(e: HeadError, input: &[u8]) -> Error {
    let (offset, message) = match e {
        HeadError::Truncated { at, need, what } => {
            let left = input.len().saturating_sub(at);
            let message = match what {
                Missing::Bin => format!("truncated: bin of {need} bytes, {left} left"),
                Missing::Head | Missing::Str => format!("truncated: need {need} bytes, {left} left"),
            };
            (at, message)
        }
        HeadError::Ext { at, marker } => (
            at,
            format!("ext type (marker 0x{marker:02x}) is not used by Dask and is refused"),
        ),
        HeadError::Reserved { at } => (at, "reserved marker 0xc1".to_owned()),
    };
    Error::Msgpack { offset, message }
}

/// Reserves room for `n` items of at least `min_bytes` bytes each, never
/// more than the remaining input can hold.
fn capacity(n: usize, min_bytes: usize, what: &str, pos: usize, input: &[u8]) -> Result<usize> {
    let remaining = input.len() - pos;
    if n.saturating_mul(min_bytes) > remaining {
        return Err(Error::Msgpack {
            offset: pos,
            message: format!(
                "{what} of {n} {} but only {remaining} bytes left",
                if what == "map" { "entries" } else { "items" },
            ),
        });
    }
    Ok(n)
}

/// Decodes one msgpack value that must span all of `input` (see
/// [`MsgValue::decode`]), iteratively: an explicit stack instead of
/// recursion, so `max_depth`, not the thread's stack, bounds the nesting.
pub(super) fn decode(input: &Bytes, max_depth: usize) -> Result<MsgValue> {
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
    let buf: &[u8] = input;
    let mut pos = 0usize;
    let mut stack: Vec<Open> = Vec::new();
    loop {
        let at = pos;
        let (h, next) = head(buf, pos).map_err(|e| head_error(e, buf))?;
        pos = next;
        let mut done = match h {
            Head::Nil => MsgValue::Nil,
            Head::Bool(b) => MsgValue::Bool(b),
            Head::Int(i) => MsgValue::Int(i),
            Head::Float(f) => MsgValue::Float(f),
            Head::Str(s) => match std::str::from_utf8(s) {
                Ok(s) => MsgValue::Str(s.to_owned()),
                Err(e) => {
                    return Err(Error::Msgpack {
                        offset: pos - s.len() + e.valid_up_to(),
                        message: "str is not valid UTF-8".into(),
                    })
                }
            },
            Head::Bin(b) => MsgValue::Bin(input.slice_ref(b)),
            Head::Array { len } | Head::Map { len } => {
                let is_map = matches!(h, Head::Map { .. });
                if stack.len() >= max_depth {
                    return Err(Error::Msgpack {
                        offset: at,
                        message: format!("containers nested deeper than {max_depth} levels"),
                    });
                }
                if is_map {
                    let cap = capacity(len, 2, "map", pos, buf)?;
                    if len == 0 {
                        MsgValue::Map(Vec::new())
                    } else {
                        stack.push(Open::Map {
                            entries: Vec::with_capacity(cap),
                            key: None,
                            left: len,
                        });
                        continue;
                    }
                } else {
                    let cap = capacity(len, 1, "array", pos, buf)?;
                    if len == 0 {
                        MsgValue::Array(Vec::new())
                    } else {
                        stack.push(Open::Array {
                            items: Vec::with_capacity(cap),
                            left: len,
                        });
                        continue;
                    }
                }
            }
        };
        // attach the finished value to its parents
        loop {
            match stack.last_mut() {
                None => {
                    if pos != buf.len() {
                        return Err(Error::Msgpack {
                            offset: pos,
                            message: format!("{} bytes of trailing data after the value", buf.len() - pos),
                        });
                    }
                    return Ok(done);
                }
                Some(Open::Array { items, left }) => {
                    items.push(done);
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                    match stack.pop() {
                        Some(Open::Array { items, .. }) => done = MsgValue::Array(items),
                        _ => return Err(internal(pos)),
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
                            _ => return Err(internal(pos)),
                        }
                    }
                },
            }
        }
    }
}

#[cold]
fn internal(pos: usize) -> Error {
    Error::Msgpack {
        offset: pos,
        message: "internal: stack mismatch".into(),
    }
}
