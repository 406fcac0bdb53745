//! The `msgpack` family (PROTOCOL.md §4.3) and the conversions between
//! [`Value`] and [`MsgValue`] with msgpack-python's semantics.

use bytes::Bytes;

use super::{DecodeCx, EncodeCx, Family};
use crate::error::{Error, Result};
use crate::frame::join;
use crate::frame::Frame;
use crate::header::Header;
use crate::msgpack::{MsgValue, INT_MAX, INT_MIN};
use crate::serialized::Serialized;
use crate::value::Value;

/// The `msgpack` family: the whole value as one msgpack frame.
///
/// Encodes what `msgpack.dumps(x, use_bin_type=True)` accepts (None, bool,
/// int in range, float, str, bytes-like, list/tuple, dict with any
/// encodable keys) and declines everything else. Decodes as Python does:
/// arrays become tuples, strings must be valid UTF-8, map keys may be of
/// any type, ext types are refused, nesting is limited.
#[derive(Clone, Copy, Debug, Default)]
pub struct MsgpackFamily;

impl Family for MsgpackFamily {
    fn name(&self) -> &str {
        "msgpack"
    }

    fn encode<'a>(&self, value: &'a Value, _cx: &EncodeCx<'_>) -> Result<Option<Serialized<'a>>> {
        // Any failure to pack means "not me", as in Dask.
        let Ok(m) = to_msgpack(value) else {
            return Ok(None);
        };
        let Ok(bytes) = m.encode() else {
            return Ok(None);
        };
        let mut header = Header::new();
        header.insert("serializer", "msgpack");
        Ok(Some(Serialized::new(header, vec![Frame::from(bytes)])))
    }

    fn decode(&self, _header: &Header, frames: &[Bytes], cx: &DecodeCx<'_>) -> Result<Value> {
        let data = join(frames);
        let m = MsgValue::decode(&data, &cx.options.limits)?;
        from_msgpack_limited(m, &cx.options.limits)
    }
}

/// Converts a value to msgpack exactly as msgpack-python would pack it
/// (no `default=` hook).
///
/// # Errors
///
/// A value msgpack cannot pack (sets, arrays, objects, ints out of range,
/// ...).
pub fn to_msgpack(value: &Value) -> Result<MsgValue> {
    to_msgpack_depth(value, 0)
}

fn to_msgpack_depth(value: &Value, depth: usize) -> Result<MsgValue> {
    match value {
        Value::List(items) | Value::Tuple(items) => {
            check_depth(depth)?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(to_msgpack_depth(item, depth + 1)?);
            }
            Ok(MsgValue::Array(out))
        }
        Value::Dict(entries) => {
            check_depth(depth)?;
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let k = to_msgpack_depth(k, depth + 1)?;
                out.push((k, to_msgpack_depth(v, depth + 1)?));
            }
            Ok(MsgValue::Map(out))
        }
        other => to_msgpack_scalar(other),
    }
}

/// msgpack-python's packer refuses structures nested deeper than 511.
#[inline(never)]
fn check_depth(depth: usize) -> Result<()> {
    if depth >= 511 {
        return Err(Error::Encode("nested more than 511 levels deep".into()));
    }
    Ok(())
}

#[inline(never)]
fn to_msgpack_scalar(value: &Value) -> Result<MsgValue> {
    Ok(match value {
        Value::None => MsgValue::Nil,
        Value::Bool(b) => MsgValue::Bool(*b),
        Value::Int(i) if (INT_MIN..=INT_MAX).contains(i) => MsgValue::Int(*i),
        Value::Int(_) | Value::BigInt(_) => {
            return Err(Error::Encode("int too big to convert".into()));
        }
        Value::Float(f) => MsgValue::Float(*f),
        Value::Str(s) => MsgValue::Str(s.clone()),
        Value::Bytes(b) | Value::ByteArray(b) => MsgValue::Bin(b.clone()),
        Value::MemoryView(m) => MsgValue::Bin(m.data.clone()),
        other => {
            return Err(Error::Encode(format!(
                "can not serialize {:?} object",
                other.type_name()
            )))
        }
    })
}

/// Converts decoded msgpack to a value with Python's decoding options:
/// arrays become tuples, bin becomes bytes, maps become dicts.
pub fn from_msgpack(m: MsgValue) -> Value {
    // plain loops (no iterator adaptors) keep each recursion level's stack
    // frame small: msgpack allows 1024 levels
    match m {
        MsgValue::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(from_msgpack(item));
            }
            Value::Tuple(out)
        }
        MsgValue::Map(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let k = from_msgpack(k);
                out.push((k, from_msgpack(v)));
            }
            Value::Dict(out)
        }
        scalar => from_msgpack_scalar(scalar),
    }
}

#[inline(never)]
fn from_msgpack_scalar(m: MsgValue) -> Value {
    match m {
        MsgValue::Nil => Value::None,
        MsgValue::Bool(b) => Value::Bool(b),
        MsgValue::Int(i) => Value::Int(i),
        MsgValue::Float(f) => Value::Float(f),
        MsgValue::Str(s) => Value::Str(s),
        MsgValue::Bin(b) => Value::Bytes(b),
        MsgValue::Array(_) | MsgValue::Map(_) => from_msgpack(m),
    }
}

/// Nesting depth of a msgpack value (containers; scalars are 0),
/// computed without recursion.
pub(crate) fn msg_depth(m: &MsgValue) -> usize {
    let mut max = 0;
    let mut stack: Vec<(&MsgValue, usize)> = vec![(m, 0)];
    while let Some((v, d)) = stack.pop() {
        match v {
            MsgValue::Array(items) => {
                max = max.max(d + 1);
                stack.extend(items.iter().map(|i| (i, d + 1)));
            }
            MsgValue::Map(entries) => {
                max = max.max(d + 1);
                for (k, v) in entries {
                    stack.push((k, d + 1));
                    stack.push((v, d + 1));
                }
            }
            _ => {}
        }
    }
    max
}

/// [`from_msgpack`] for untrusted data: values nested deeper than
/// [`Limits::max_nesting`](crate::Limits) are refused, so the resulting
/// [`Value`] can be cloned, compared and dropped on an ordinary stack.
///
/// # Errors
///
/// [`Error::Limit`] for too deep values.
pub(crate) fn from_msgpack_limited(m: MsgValue, limits: &crate::limits::Limits) -> Result<Value> {
    let d = msg_depth(&m);
    if d > limits.max_nesting {
        return Err(Error::Limit {
            what: "nesting of a msgpack value",
            limit: limits.max_nesting as u64,
            got: d as u64,
        });
    }
    Ok(from_msgpack(m))
}

/// `from_msgpack` on a borrowed value.
pub(crate) fn from_msgpack_ref(m: &MsgValue) -> Value {
    from_msgpack(m.clone())
}
