//! The `dask` family (PROTOCOL.md §4.1): per-type serializers dispatched on the
//! Python class.

use bytes::Bytes;

use super::{DecodeCx, EncodeCx, Family};
use crate::error::{Error, Result};
use crate::frame::join;
use crate::frame::Frame;
use crate::generic;
use crate::header::{as_array, as_index, as_str, Header, MsgExt};
use crate::msgpack::MsgValue;
use crate::pytype::PyType;
use crate::serialized::Serialized;
use crate::value::{MemoryView, PyArray, Value};

/// The `dask` family.
///
/// Built in: `bytes`, `bytearray`, `memoryview`, `array.array`,
/// `numpy.ndarray` and `register_generic` objects ([`Value::Object`]);
/// more classes can be added with
/// [`Registry::register_dask_type`](crate::Registry::register_dask_type).
/// Decoding identifies the class from `type-serialized` without running
/// pickle (see [`PyType::from_type_serialized`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct DaskFamily;

pub use crate::pytype::dask_header;

impl Family for DaskFamily {
    fn name(&self) -> &str {
        "dask"
    }

    fn encode<'a>(&self, value: &'a Value, cx: &EncodeCx<'_>) -> Result<Option<Serialized<'a>>> {
        let empty = || MsgValue::Map(vec![]);
        Ok(Some(match value {
            Value::Bytes(b) => Serialized::new(
                dask_header(empty(), &PyType::bytes()),
                vec![Frame::Shared(b.clone())],
            ),
            Value::ByteArray(b) => Serialized::new(
                dask_header(empty(), &PyType::bytearray()),
                vec![Frame::Shared(b.clone())],
            ),
            Value::MemoryView(m) => {
                if m.format == "O" {
                    return Err(Error::Encode(
                        "Cannot serialize `memoryview` containing Python objects".into(),
                    ));
                }
                if m.data.is_empty() && m.shape.len() > 1 {
                    return Err(Error::Encode(
                        "Cannot serialize empty non-1-D `memoryview`".into(),
                    ));
                }
                let sub = MsgValue::Map(vec![
                    ("format".into(), MsgValue::Str(m.format.clone())),
                    (
                        "shape".into(),
                        MsgValue::Array(m.shape.iter().map(|d| MsgValue::from(*d)).collect()),
                    ),
                ]);
                Serialized::new(
                    dask_header(sub, &PyType::memoryview()),
                    vec![Frame::Shared(m.data.clone())],
                )
            }
            Value::PyArray(a) => {
                let sub = MsgValue::Map(vec![
                    ("typecode".into(), MsgValue::Str(a.typecode.to_string())),
                    ("writeable".into(), MsgValue::Array(vec![MsgValue::Nil])),
                ]);
                Serialized::new(
                    dask_header(sub, &PyType::pyarray()),
                    vec![Frame::Shared(a.data.clone())],
                )
            }
            Value::NdArray(a) => {
                let protocol = cx.context.and_then(|c| c.pickle_protocol());
                let (sub, frames) = crate::builtins::numpy_header::encode_with(a, protocol)?;
                Serialized::new(dask_header(sub, &PyType::ndarray()), frames)
            }
            Value::Object(o) => {
                let (sub, frames) = generic::encode_object(o, cx)?;
                Serialized::new(dask_header(sub, &o.class), frames)
            }
            _ => return Ok(None),
        }))
    }

    fn decode(&self, header: &Header, frames: &[Bytes], cx: &DecodeCx<'_>) -> Result<Value> {
        let ts = header.req("type-serialized", "header")?;
        let ts = ts
            .as_bin()
            .ok_or_else(|| Error::header("type-serialized", format!("expected bin, found {}", ts.kind())))?;
        let class = PyType::from_type_serialized(ts)?;
        let sub = header.req("sub-header", "header")?;
        decode_class(&class, sub, frames, cx)
    }
}

/// Decodes the sub-header of a `dask`-family value of `class`.
pub(crate) fn decode_class(
    class: &PyType,
    sub: &MsgValue,
    frames: &[Bytes],
    cx: &DecodeCx<'_>,
) -> Result<Value> {
    match (class.module(), class.qualname()) {
        ("builtins", "bytes") => Ok(Value::Bytes(join(frames))),
        ("builtins", "bytearray") => Ok(Value::ByteArray(join(frames))),
        ("builtins", "memoryview") => decode_memoryview(sub, frames).map(Value::from),
        ("array", "array") => decode_pyarray(sub, frames).map(Value::PyArray),
        ("numpy", "ndarray") => {
            crate::builtins::numpy_header::decode(sub, frames, &cx.options.limits).map(Value::from)
        }
        ("builtins", "dict") => generic::decode_generic(sub, frames, cx, true),
        _ => {
            if let Some(loader) = cx.registry.dask_type(class) {
                return loader.decode(sub, frames, cx);
            }
            if sub.get("simple").is_some() && sub.get("complex").is_some() {
                return generic::decode_generic(sub, frames, cx, false);
            }
            Err(Error::NoDispatch(class.path()))
        }
    }
}

/// Item size of a native `struct` format as memoryview uses it (optional
/// `@` prefix), or `None` when unknown.
fn struct_itemsize(format: &str) -> Option<usize> {
    let f = format.strip_prefix('@').unwrap_or(format);
    Some(match f {
        "c" | "b" | "B" | "?" => 1,
        "h" | "H" | "e" => 2,
        "i" | "I" | "f" => 4,
        "l" | "L" | "q" | "Q" | "n" | "N" | "P" | "d" => 8,
        _ => return None,
    })
}

fn decode_memoryview(sub: &MsgValue, frames: &[Bytes]) -> Result<MemoryView> {
    let format = as_str(sub.req("format", "sub-header")?, "sub-header.format")?.to_owned();
    let shape: Vec<usize> = as_array(sub.req("shape", "sub-header")?, "sub-header.shape")?
        .iter()
        .enumerate()
        .map(|(i, d)| as_index(d, &format!("sub-header.shape[{i}]")))
        .collect::<Result<_>>()?;
    let data = join(frames);
    let itemsize = struct_itemsize(&format).ok_or_else(|| {
        Error::header(
            "sub-header.format",
            format!("memoryview: cannot cast to unsupported format {format:?}"),
        )
    })?;
    if data.is_empty() {
        // Python casts with the format only and asserts the shape.
        if shape != [0] {
            return Err(Error::frames(format!(
                "empty memoryview frame but shape {shape:?}"
            )));
        }
    } else {
        let n = shape
            .iter()
            .try_fold(itemsize, |a, d| a.checked_mul(*d))
            .ok_or_else(|| Error::header("sub-header.shape", "shape overflows"))?;
        if n != data.len() {
            return Err(Error::frames(format!(
                "memoryview of format {format:?} and shape {shape:?} needs {n} bytes, frame has {}",
                data.len()
            )));
        }
    }
    Ok(MemoryView { format, shape, data })
}

fn decode_pyarray(sub: &MsgValue, frames: &[Bytes]) -> Result<PyArray> {
    let tc = as_str(sub.req("typecode", "sub-header")?, "sub-header.typecode")?;
    let mut chars = tc.chars();
    let (typecode, itemsize) = match (chars.next(), chars.next()) {
        (Some(c), None) => match PyArray::itemsize(c) {
            Some(n) => (c, n),
            None => {
                return Err(Error::header(
                    "sub-header.typecode",
                    format!("bad typecode {tc:?}"),
                ))
            }
        },
        _ => {
            return Err(Error::header(
                "sub-header.typecode",
                format!("bad typecode {tc:?}"),
            ))
        }
    };
    let data = join(frames);
    if data.len() % itemsize != 0 {
        return Err(Error::frames(format!(
            "array.array('{typecode}'): {} bytes is not a multiple of the item size {itemsize}",
            data.len()
        )));
    }
    Ok(PyArray { typecode, data })
}
