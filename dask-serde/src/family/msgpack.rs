//! The `msgpack` family (spec §4.3) and the conversions between
//! [`Value`] and [`MsgValue`] with msgpack-python's semantics.

use bytes::Bytes;

use super::{join, DecodeCx, EncodeCx, Family};
use crate::error::{Error, Result};
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
        Ok(from_msgpack(m))
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
    if depth > 511 {
        return Err(Error::Encode("nested more than 511 levels deep".into()));
    }
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
        Value::List(items) | Value::Tuple(items) => MsgValue::Array(
            items
                .iter()
                .map(|v| to_msgpack_depth(v, depth + 1))
                .collect::<Result<_>>()?,
        ),
        Value::Dict(entries) => MsgValue::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((to_msgpack_depth(k, depth + 1)?, to_msgpack_depth(v, depth + 1)?)))
                .collect::<Result<_>>()?,
        ),
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
    match m {
        MsgValue::Nil => Value::None,
        MsgValue::Bool(b) => Value::Bool(b),
        MsgValue::Int(i) => Value::Int(i),
        MsgValue::Float(f) => Value::Float(f),
        MsgValue::Str(s) => Value::Str(s),
        MsgValue::Bin(b) => Value::Bytes(b),
        MsgValue::Array(items) => Value::Tuple(items.into_iter().map(from_msgpack).collect()),
        MsgValue::Map(entries) => Value::Dict(
            entries
                .into_iter()
                .map(|(k, v)| (from_msgpack(k), from_msgpack(v)))
                .collect(),
        ),
    }
}

/// `from_msgpack` on a borrowed value.
pub(crate) fn from_msgpack_ref(m: &MsgValue) -> Value {
    from_msgpack(m.clone())
}
