//! The reference decoder of messages ([`loads`](super::loads)): frame 0 as
//! a msgpack tree, special maps recognised innermost first.

use bytes::Bytes;

use crate::compression::decompress_frames;
use crate::error::{Error, Result};
use crate::header::Header;
use crate::msgpack::MsgValue;
use crate::opaque::{read_payload, Opaque, PayloadKind};
use crate::options::DeserializeOptions;
use crate::pytype::PyType;
use crate::registry::Registry;
use crate::value::{EnumMember, Value};

pub(super) struct Decoder<'a> {
    pub(super) registry: &'a Registry,
    pub(super) frames: &'a [Bytes],
    pub(super) opts: &'a DeserializeOptions,
}

/// A msgpack value as [`classify`] sees it (the same view of a raw
/// [`MsgValue`] and of a [`Value`] converted from one).
pub(super) enum View<'v> {
    Nil,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'v str),
    /// Anything else, by its msgpack kind (`"bin"`, `"array"`, `"map"`).
    Other(&'static str),
}

pub(super) trait AsView {
    fn view(&self) -> View<'_>;
    fn is_array(&self) -> bool;
}

impl AsView for MsgValue {
    fn view(&self) -> View<'_> {
        match self {
            MsgValue::Nil => View::Nil,
            MsgValue::Bool(b) => View::Bool(*b),
            MsgValue::Int(i) => View::Int(*i),
            MsgValue::Float(f) => View::Float(*f),
            MsgValue::Str(s) => View::Str(s),
            other => View::Other(other.kind()),
        }
    }
    fn is_array(&self) -> bool {
        matches!(self, MsgValue::Array(_))
    }
}

/// A [`Value`] the one-pass decoder built from plain msgpack (no special
/// map inside, so only the kinds msgpack itself produces).
impl AsView for Value {
    fn view(&self) -> View<'_> {
        match self {
            Value::None => View::Nil,
            Value::Bool(b) => View::Bool(*b),
            Value::Int(i) => View::Int(*i),
            Value::Float(f) => View::Float(*f),
            Value::Str(s) => View::Str(s),
            Value::Bytes(_) => View::Other("bin"),
            Value::Tuple(_) => View::Other("array"),
            _ => View::Other("map"),
        }
    }
    fn is_array(&self) -> bool {
        matches!(self, Value::Tuple(_))
    }
}

/// What a map of frame 0 stands for (Python's object hook).
pub(super) enum Special {
    /// An ordinary dict.
    No,
    /// `{"__Serialized__": k}`.
    Serialized(usize),
    /// `{"__Pickled__": k}`.
    Pickled(usize),
    /// `{"__Enum__": .., "__module__": .., "__name__": .., "name": ..}`.
    Enum(EnumMember),
    /// `{"__Set__": .., "as-list": [..]}`: the index of the `as-list` entry.
    Set(usize),
}

/// Recognises `__Serialized__` / `__Pickled__` / `__Enum__` / `__Set__`
/// maps, looking at the keys in that order (first matching key wins, as
/// in a Python dict).
pub(super) fn classify<V: AsView>(entries: &[(V, V)]) -> Result<Special> {
    let find = |key: &str| {
        entries
            .iter()
            .position(|(k, _)| matches!(k.view(), View::Str(s) if s == key))
    };
    let get = |key: &str| find(key).map(|i| &entries[i].1);
    if let Some(off) = get("__Serialized__") {
        if let Some(k) = reference(off.view(), "__Serialized__")? {
            return Ok(Special::Serialized(k));
        }
    }
    if let Some(off) = get("__Pickled__") {
        if let Some(k) = reference(off.view(), "__Pickled__")? {
            return Ok(Special::Pickled(k));
        }
    }
    if get("__Enum__").is_some() {
        let s = |key: &str| match get(key).map(AsView::view) {
            Some(View::Str(s)) => Ok(s),
            _ => Err(Error::header(format!("__Enum__.{key}"), "expected a string")),
        };
        let class = PyType::new(s("__module__")?, s("__name__")?);
        return Ok(Special::Enum(EnumMember {
            class,
            name: s("name")?.to_owned(),
        }));
    }
    if get("__Set__").is_some() {
        return match find("as-list") {
            Some(i) if entries[i].1.is_array() => Ok(Special::Set(i)),
            _ => Err(Error::header("__Set__.as-list", "expected an array")),
        };
    }
    Ok(Special::No)
}

/// `true` for the keys [`classify`] looks for first: a map without any of
/// them is an ordinary dict.
#[inline]
pub(super) fn is_special_key(s: &str) -> bool {
    s.len() >= 7
        && s.as_bytes()[0] == b'_'
        && matches!(s, "__Serialized__" | "__Pickled__" | "__Enum__" | "__Set__")
}

impl Decoder<'_> {
    /// The reference decoding of frame 0: the whole msgpack tree first
    /// (every msgpack error and the depth limit), then the nesting limit,
    /// then the conversion, each map looked at before its children.
    pub(super) fn reference(&self, first: &Bytes) -> Result<Value> {
        let limits = &self.opts.limits;
        let m = MsgValue::decode(first, limits)?;
        let d = crate::family::msgpack::msg_depth(&m);
        if d > limits.max_nesting {
            return Err(Error::Limit {
                what: "nesting of a message",
                limit: limits.max_nesting as u64,
                got: d as u64,
            });
        }
        self.value(m)
    }

    pub(super) fn value(&self, m: MsgValue) -> Result<Value> {
        match m {
            MsgValue::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.value(i)?);
                }
                Ok(Value::Tuple(out))
            }
            MsgValue::Map(entries) => {
                // the map is looked at before its children are converted
                // (its special keys are read raw)
                if let Some(special) = self.special(&entries)? {
                    return Ok(special);
                }
                let mut out = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let k = self.value(k)?;
                    out.push((k, self.value(v)?));
                }
                Ok(Value::Dict(out))
            }
            scalar => Ok(crate::family::msgpack::from_msgpack(scalar)),
        }
    }

    /// `__Serialized__` / `__Pickled__` / `__Enum__` / `__Set__` maps.
    #[inline(never)]
    pub(super) fn special(&self, entries: &[(MsgValue, MsgValue)]) -> Result<Option<Value>> {
        Ok(Some(match classify(entries)? {
            Special::No => return Ok(None),
            Special::Serialized(k) => self.serialized(k)?,
            Special::Pickled(k) => self.pickled(k)?,
            Special::Enum(e) => Value::from(e),
            Special::Set(i) => {
                let items = match &entries[i].1 {
                    MsgValue::Array(items) => items.clone(),
                    _ => return Err(Error::header("__Set__.as-list", "expected an array")),
                };
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.value(i)?);
                }
                Value::Set(out)
            }
        }))
    }

    pub(super) fn payload(&self, k: usize, what: &str) -> Result<(Header, Vec<Bytes>)> {
        read_payload(self.frames, k, &self.opts.limits, what)
    }

    pub(super) fn serialized(&self, k: usize) -> Result<Value> {
        let (header, frames) = self.payload(k, "__Serialized__")?;
        if self.opts.keep_serialized {
            return Ok(Value::Opaque(Box::new(Opaque {
                kind: PayloadKind::Serialized,
                header,
                frames,
            })));
        }
        let limits = &self.opts.limits;
        let frames = decompress_frames(header.compression()?.as_deref(), frames, limits)?;
        let frames = crate::split::merge_frames(&header, frames, None)?;
        self.registry.deserialize_any(&header, &frames, self.opts)
    }

    pub(super) fn pickled(&self, k: usize) -> Result<Value> {
        let (header, frames) = self.payload(k, "__Pickled__")?;
        if self.opts.keep_serialized {
            return Ok(Value::Opaque(Box::new(Opaque {
                kind: PayloadKind::Pickled,
                header,
                frames,
            })));
        }
        if !self.opts.allows(Some("pickle")) {
            return Err(Error::NotAllowed {
                serializer: Some("pickle".into()),
                allowed: self.opts.deserializers.clone().unwrap_or_default(),
            });
        }
        let limits = &self.opts.limits;
        let frames = decompress_frames(header.compression()?.as_deref(), frames, limits)?;
        let pickle = header
            .get("pickled-obj")
            .and_then(MsgValue::as_bin)
            .ok_or_else(|| Error::header("pickled-obj", "expected bin"))?;
        // Python hands the buffers over as given (writeable memoryviews)
        let oob: Vec<crate::pickle::OobBuffer> = frames
            .into_iter()
            .map(|data| crate::pickle::OobBuffer {
                data,
                writeable: true,
            })
            .collect();
        crate::pickle::loads(pickle, &oob, limits)
    }
}

/// A `__Serialized__`/`__Pickled__` value: `Some(k)` when `k > 0` (Python's
/// test, under which `true` is 1), `None` when not a reference.
pub(super) fn reference(v: View<'_>, key: &str) -> Result<Option<usize>> {
    match v {
        View::Int(i) if i > 0 => usize::try_from(i)
            .map(Some)
            .map_err(|_| Error::frames(format!("{key} offset {i} is too large"))),
        View::Int(_) | View::Bool(false) | View::Nil => Ok(None),
        View::Bool(true) => Ok(Some(1)),
        View::Float(f) if f > 0.0 => Err(Error::header(key, "a float frame offset")),
        View::Float(_) => Ok(None),
        View::Str(_) => Err(Error::header(key, "expected a frame offset, found str")),
        View::Other(kind) => Err(Error::header(
            key,
            format!("expected a frame offset, found {kind}"),
        )),
    }
}
