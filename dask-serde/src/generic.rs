//! `register_generic` objects (PROTOCOL.md §7): attributes split into `simple`
//! (msgpack, in the header) and `complex` (serialized into frames).

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::family::msgpack::{from_msgpack_limited, from_msgpack_ref, to_msgpack};
use crate::family::{DecodeCx, EncodeCx};
use crate::frame::Frame;
use crate::header::{as_index, as_map, Header, MsgExt};
use crate::msgpack::MsgValue;
use crate::options::{OnError, SerializeOptions};
use crate::pytype::cached_type_serialized;
use crate::pytype::PyType;
use crate::value::{Object, Value};

/// Encodes an object's attributes as `ObjectDictSerializer("dask")` does.
pub(crate) fn encode_object<'a>(o: &'a Object, cx: &EncodeCx<'_>) -> Result<(MsgValue, Vec<Frame<'a>>)> {
    let fields = o
        .fields
        .iter()
        .map(|(k, v)| (MsgValue::Str(k.clone()), v))
        .collect();
    encode_fields(&o.class, fields, cx)
}

fn encode_fields<'a>(
    class: &PyType,
    fields: Vec<(MsgValue, &'a Value)>,
    cx: &EncodeCx<'_>,
) -> Result<(MsgValue, Vec<Frame<'a>>)> {
    if cx.depth > crate::registry::MAX_SERIALIZE_NESTING {
        return Err(Error::Encode(format!(
            "objects nested more than {} levels deep",
            crate::registry::MAX_SERIALIZE_NESTING
        )));
    }
    let mut simple = Vec::new();
    let mut complex = Vec::new();
    let mut frames: Vec<Frame<'a>> = Vec::new();
    let inner = EncodeCx {
        registry: cx.registry,
        context: None,
        depth: cx.depth + 1,
    };
    for (k, v) in fields {
        if v.is_msgpack_serializable() {
            simple.push((k, to_msgpack(v)?));
            continue;
        }
        let (h, f) = if let Value::Dict(entries) = v {
            let (h, f) = encode_fields(
                &PyType::dict(),
                entries.iter().map(|(k, v)| (key_msgpack(k), v)).collect(),
                &inner,
            )?;
            (MsgValue::Map(vec![("nested-dict".into(), h)]), f)
        } else {
            let opts = SerializeOptions::new().on_error(OnError::Message);
            let s = cx.registry.serialize_at(v, &opts, inner.depth)?;
            (s.header.into_value(), s.frames)
        };
        let start = frames.len();
        frames.extend(f);
        complex.push((
            k,
            MsgValue::Map(vec![
                ("header".into(), h),
                ("start".into(), MsgValue::from(start)),
                ("stop".into(), MsgValue::from(frames.len())),
            ]),
        ));
    }
    let sub = MsgValue::Map(vec![
        ("serializer".into(), "dask".into()),
        (
            "type-serialized".into(),
            MsgValue::Bin(cached_type_serialized(class)),
        ),
        ("simple".into(), MsgValue::Map(simple)),
        ("complex".into(), MsgValue::Map(complex)),
    ]);
    Ok((sub, frames))
}

/// A nested dict's key as a header map key (an unencodable key becomes a
/// header that fails to pack, as in Python).
fn key_msgpack(k: &Value) -> MsgValue {
    to_msgpack(k).unwrap_or_else(|_| MsgValue::Str(format!("<unencodable key of type {}>", k.type_name())))
}

/// Decodes a `register_generic` sub-header. With `as_dict` (class
/// `builtins.dict`, i.e. `nested-dict`) the result is a dict, else an
/// object of the class named by the sub-header's `type-serialized`.
/// Fields come out simple-first, as in Python.
pub(crate) fn decode_generic(
    sub: &MsgValue,
    frames: &[Bytes],
    cx: &DecodeCx<'_>,
    as_dict: bool,
) -> Result<Value> {
    cx.options.limits.check_nesting(cx.depth)?;
    let ts = sub.req("type-serialized", "sub-header")?;
    let ts = ts
        .as_bin()
        .ok_or_else(|| Error::header("sub-header.type-serialized", "expected bin"))?;
    let class = PyType::from_type_serialized(ts)?;
    let is_dict = as_dict || class == PyType::dict();
    let simple = as_map(sub.req("simple", "sub-header")?, "sub-header.simple")?;
    let complex = as_map(sub.req("complex", "sub-header")?, "sub-header.complex")?;
    let mut entries = Entries::with_capacity(simple.len() + complex.len());
    for (k, v) in simple {
        let limits = &cx.options.limits;
        entries.set(
            from_msgpack_limited(k.clone(), limits)?,
            from_msgpack_limited(v.clone(), limits)?,
        );
    }
    for (k, d) in complex {
        let path = "sub-header.complex";
        let h = d.req("header", path)?;
        let start = as_index(d.req("start", path)?, "sub-header.complex.start")?;
        let stop = as_index(d.req("stop", path)?, "sub-header.complex.stop")?;
        if start > stop || stop > frames.len() {
            return Err(Error::frames(format!(
                "complex attribute frames {start}..{stop} outside the {} frames given",
                frames.len()
            )));
        }
        let f = &frames[start..stop];
        let nested = h.get("nested-dict").filter(|n| is_truthy(n));
        let v = match nested {
            Some(n) => {
                let ncx = DecodeCx {
                    depth: cx.depth + 1,
                    ..*cx
                };
                decode_generic(n, f, &ncx, true)?
            }
            None => {
                let hh = Header::from_value(h.clone())?;
                cx.deserialize(&hh, f)?
            }
        };
        entries.set(from_msgpack_ref(k), v);
    }
    let entries = entries.items;
    if is_dict {
        return Ok(Value::Dict(entries));
    }
    let fields = entries
        .into_iter()
        .map(|(k, v)| match k {
            Value::Str(s) => Ok((s, v)),
            other => Err(Error::header(
                "sub-header.simple",
                format!("attribute name must be a str, found {}", other.type_name()),
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Value::from(Object { class, fields }))
}

fn is_truthy(m: &MsgValue) -> bool {
    match m {
        MsgValue::Nil => false,
        MsgValue::Bool(b) => *b,
        MsgValue::Int(i) => *i != 0,
        MsgValue::Float(f) => *f != 0.0,
        MsgValue::Str(s) => !s.is_empty(),
        MsgValue::Bin(b) => !b.is_empty(),
        MsgValue::Array(a) => !a.is_empty(),
        MsgValue::Map(m) => !m.is_empty(),
    }
}

/// Insertion-ordered entries where a repeated key replaces the earlier
/// value in place (Python dict semantics), with a hash index for string
/// keys so hostile headers cannot cause quadratic work.
struct Entries {
    items: Vec<(Value, Value)>,
    by_name: std::collections::HashMap<String, usize>,
}

impl Entries {
    fn with_capacity(n: usize) -> Self {
        Entries {
            items: Vec::with_capacity(n),
            by_name: std::collections::HashMap::with_capacity(n),
        }
    }

    fn set(&mut self, key: Value, value: Value) {
        let found = match &key {
            Value::Str(s) => self.by_name.get(s).copied(),
            other => self.items.iter().position(|(k, _)| k == other),
        };
        match found {
            Some(i) => self.items[i].1 = value,
            None => {
                if let Value::Str(s) = &key {
                    self.by_name.insert(s.clone(), self.items.len());
                }
                self.items.push((key, value));
            }
        }
    }
}
