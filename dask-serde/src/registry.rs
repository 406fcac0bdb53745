//! The registry of families and `dask` types, and the `serialize` /
//! `deserialize` algorithms of PROTOCOL.md §3 and §6.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::family::msgpack::to_msgpack;
use crate::family::{dask::DaskFamily, error::ErrorFamily, msgpack::MsgpackFamily, pickle::PickleFamily};
use crate::family::{DecodeCx, EncodeCx, Family};
use crate::frame::Frame;
use crate::header::Header;
use crate::msgpack::MsgValue;
use crate::options::{DeserializeOptions, OnError, SerializeOptions};
use crate::pytype::PyType;
use crate::serialized::Serialized;
use crate::value::Value;

/// A loader for a `dask`-family Python class that has no built-in support:
/// turns the class's sub-header and frames into a [`Value`].
pub trait DaskTypeLoader: Send + Sync {
    /// Decodes the sub-header and frames.
    ///
    /// # Errors
    ///
    /// Malformed input.
    fn decode(&self, sub_header: &MsgValue, frames: &[Bytes], cx: &DecodeCx<'_>) -> Result<Value>;
}

impl<F> DaskTypeLoader for F
where
    F: Fn(&MsgValue, &[Bytes], &DecodeCx<'_>) -> Result<Value> + Send + Sync,
{
    fn decode(&self, sub_header: &MsgValue, frames: &[Bytes], cx: &DecodeCx<'_>) -> Result<Value> {
        self(sub_header, frames, cx)
    }
}

/// Serialization families by name, plus loaders for extra `dask` types.
///
/// [`Registry::new`] holds the built-in families `dask`, `pickle` (safe
/// subset), `msgpack` and `error`. The free functions
/// [`serialize`](crate::serialize) and
/// [`deserialize_any`](crate::deserialize_any) use a process-wide default
/// registry ([`Registry::global`]); build your own for tests or embedding.
///
/// # Examples
///
/// ```
/// use dask_serde::{Registry, SerializeOptions, Value};
///
/// let reg = Registry::new();
/// let v = Value::from(vec![1u8, 2, 3]);
/// let s = reg.serialize(&v, &SerializeOptions::new())?;
/// assert_eq!(s.header.serializer(), Some("dask"));
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[derive(Clone)]
pub struct Registry {
    families: Vec<Arc<dyn Family>>,
    dask_types: HashMap<PyType, Arc<dyn DaskTypeLoader>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("families", &self.family_names())
            .field("dask_types", &self.dask_types.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

fn global_cell() -> &'static RwLock<Arc<Registry>> {
    static GLOBAL: OnceLock<RwLock<Arc<Registry>>> = OnceLock::new();
    GLOBAL.get_or_init(|| RwLock::new(Arc::new(Registry::new())))
}

/// Deepest nesting `serialize` follows (collections and generic objects);
/// deeper values get an error instead of exhausting the stack. Python's own
/// recursion limit stops well before msgpack's 512 levels too.
pub const MAX_SERIALIZE_NESTING: usize = 128;

impl Registry {
    /// A registry with the built-in families.
    pub fn new() -> Self {
        Registry {
            families: vec![
                Arc::new(DaskFamily),
                Arc::new(PickleFamily),
                Arc::new(MsgpackFamily),
                Arc::new(ErrorFamily),
            ],
            dask_types: HashMap::new(),
        }
    }

    /// A snapshot of the process-wide registry used by the free functions.
    pub fn global() -> Arc<Registry> {
        match global_cell().read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Changes the process-wide registry (copy-on-write: snapshots already
    /// handed out are unaffected).
    pub fn update_global(f: impl FnOnce(&mut Registry)) {
        let mut guard = match global_cell().write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(Arc::make_mut(&mut guard));
    }

    /// Adds a family, replacing any family of the same name (as Python's
    /// `register_serialization_family` does).
    pub fn register_family(&mut self, family: Arc<dyn Family>) {
        match self.families.iter_mut().find(|f| f.name() == family.name()) {
            Some(slot) => *slot = family,
            None => self.families.push(family),
        }
    }

    /// The family called `name`.
    pub fn family(&self, name: &str) -> Option<&Arc<dyn Family>> {
        self.families.iter().find(|f| f.name() == name)
    }

    /// Names of all registered families, in registration order.
    pub fn family_names(&self) -> Vec<String> {
        self.families.iter().map(|f| f.name().to_owned()).collect()
    }

    /// Registers a loader for a `dask`-family class that is not built in.
    pub fn register_dask_type(&mut self, class: PyType, loader: Arc<dyn DaskTypeLoader>) {
        self.dask_types.insert(class, loader);
    }

    /// The loader registered for `class`.
    pub fn dask_type(&self, class: &PyType) -> Option<&Arc<dyn DaskTypeLoader>> {
        self.dask_types.get(class)
    }

    /// Python's `serialize(x, serializers, on_error, context,
    /// iterate_collection)` (PROTOCOL.md §3.1 and §6).
    ///
    /// Frames borrow nothing from `value` that is not already shared
    /// ([`Bytes`] buffers are reference-counted, never copied).
    ///
    /// # Errors
    ///
    /// An unknown family name in `serializers`; with
    /// [`OnError::Raise`], [`Error::Unserializable`] when no family could
    /// encode the value.
    pub fn serialize<'a>(&self, value: &'a Value, opts: &SerializeOptions) -> Result<Serialized<'a>> {
        self.serialize_at(value, opts, 0)
    }

    pub(crate) fn serialize_at<'a>(
        &self,
        value: &'a Value,
        opts: &SerializeOptions,
        depth: usize,
    ) -> Result<Serialized<'a>> {
        self.serialize_inner(value, opts, opts.iterate_collection, depth)
    }

    fn serialize_inner<'a>(
        &self,
        value: &'a Value,
        opts: &SerializeOptions,
        iterate: Option<bool>,
        depth: usize,
    ) -> Result<Serialized<'a>> {
        if depth > MAX_SERIALIZE_NESTING {
            return Err(Error::Encode(format!(
                "value nested more than {MAX_SERIALIZE_NESTING} levels deep"
            )));
        }
        if let Value::Serialize(inner) = value {
            return self.serialize_inner(inner, opts, Some(true), depth + 1);
        }
        if let Value::Opaque(o) = value {
            if o.kind == crate::opaque::PayloadKind::Serialized {
                // already serialized: header and frames unchanged
                let frames = o.frames.iter().cloned().map(Frame::Shared).collect();
                return Ok(Serialized::new(o.header.clone(), frames));
            }
        }
        let serializers = &opts.serializers;
        let is_collection = matches!(
            value,
            Value::List(_) | Value::Tuple(_) | Value::Set(_) | Value::Dict(_)
        );
        let mut iterate = iterate;
        if iterate.is_none() && is_collection {
            if matches!(value, Value::List(_)) {
                if let Some(m) = serializers.iter().position(|s| s == "msgpack") {
                    iterate = Some(match serializers.iter().position(|s| s == "pickle") {
                        None => true,
                        Some(p) => p > m,
                    });
                }
            }
            if iterate != Some(true) {
                iterate = Some(value.check_dask_serializable());
            }
        }
        if iterate == Some(true) && is_collection {
            let dict_safe = match value {
                Value::Dict(entries) => entries.iter().all(|(k, _)| to_msgpack(k).is_ok()),
                _ => true,
            };
            if dict_safe {
                return self.serialize_collection(value, opts, depth);
            }
        }

        let cx = EncodeCx {
            registry: self,
            context: opts.context.as_ref(),
            depth,
        };
        let mut failure: Option<Error> = None;
        for name in serializers {
            let family = self
                .family(name)
                .ok_or_else(|| Error::UnknownFamily(name.clone()))?;
            match family.encode(value, &cx) {
                Ok(Some(mut s)) => {
                    s.header.insert("serializer", name.as_str());
                    return Ok(s);
                }
                Ok(None) => continue,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let type_name = value.type_name();
        let message = format!("Could not serialize object of type {type_name}");
        match opts.on_error {
            OnError::Message => {
                let mut frames: Vec<Frame<'a>> = vec![Frame::from(message.into_bytes())];
                if let Some(e) = failure {
                    let mut tb = e.to_string();
                    if tb.chars().count() > 100_000 {
                        tb = tb.chars().take(100_000).collect();
                    }
                    frames.push(Frame::from(tb.into_bytes()));
                }
                let mut header = Header::new();
                header.insert("serializer", "error");
                Ok(Serialized::new(header, frames))
            }
            OnError::Raise => Err(Error::Unserializable {
                type_name,
                message,
                cause: failure.map(|e| e.to_string()),
            }),
        }
    }

    fn serialize_collection<'a>(
        &self,
        value: &'a Value,
        opts: &SerializeOptions,
        depth: usize,
    ) -> Result<Serialized<'a>> {
        let (items, keys, type_name): (Vec<&'a Value>, Option<Vec<&'a Value>>, &str) = match value {
            Value::List(v) => (v.iter().collect(), None, "list"),
            Value::Tuple(v) => (v.iter().collect(), None, "tuple"),
            Value::Set(v) => (v.iter().collect(), None, "set"),
            Value::Dict(e) => (
                e.iter().map(|(_, v)| v).collect(),
                Some(e.iter().map(|(k, _)| k).collect()),
                "dict",
            ),
            _ => return Err(Error::Encode("not a collection".into())),
        };
        let mut sub_headers = Vec::with_capacity(items.len());
        let mut lengths = Vec::with_capacity(items.len());
        let mut compressions: Vec<MsgValue> = Vec::new();
        let mut frames = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let mut s = self.serialize_inner(item, opts, None, depth + 1)?;
            if let Some(keys) = &keys {
                s.header.insert("key", to_msgpack(keys[i])?);
            }
            match s.header.get("compression").and_then(MsgValue::as_array) {
                Some(c) if !c.is_empty() => compressions.extend(c.iter().cloned()),
                _ => compressions.extend(std::iter::repeat_n(MsgValue::Nil, s.frames.len())),
            }
            lengths.push(MsgValue::from(s.frames.len()));
            frames.extend(s.frames);
            sub_headers.push(s.header.into_value());
        }
        let mut header = Header::from_entries(vec![
            ("sub-headers".into(), MsgValue::Array(sub_headers)),
            ("is-collection".into(), MsgValue::Bool(true)),
            ("frame-lengths".into(), MsgValue::Array(lengths)),
            ("type-serialized".into(), MsgValue::Str(type_name.into())),
        ]);
        if compressions.iter().any(|c| !c.is_nil()) {
            header.insert("compression", MsgValue::Array(compressions));
        }
        Ok(Serialized::new(header, frames))
    }

    /// Python's `deserialize(header, frames, deserializers)` into a dynamic
    /// [`Value`] (PROTOCOL.md §3.2 and §6.3).
    ///
    /// The allow-list is checked against each leaf's `serializer` before
    /// anything of that leaf is decoded.
    ///
    /// # Errors
    ///
    /// [`Error::NotAllowed`] (Dask's exact text), [`Error::UnknownFamily`],
    /// [`Error::Remote`] for `error`-family data, or a decoding error.
    pub fn deserialize_any(
        &self,
        header: &Header,
        frames: &[Bytes],
        opts: &DeserializeOptions,
    ) -> Result<Value> {
        opts.limits.check_frames(frames.len())?;
        self.deserialize_at(header, frames, opts, 0)
    }

    pub(crate) fn deserialize_at(
        &self,
        header: &Header,
        frames: &[Bytes],
        opts: &DeserializeOptions,
        depth: usize,
    ) -> Result<Value> {
        opts.limits.check_nesting(depth)?;
        if header.is_collection() {
            return self.deserialize_collection(header, frames, opts, depth);
        }
        let family = self.leaf_family(header, opts)?;
        let cx = DecodeCx {
            registry: self,
            options: opts,
            depth,
        };
        family.decode(header, frames, &cx)
    }

    /// The family of a leaf header, after the allow-list check.
    #[inline(never)]
    fn leaf_family(&self, header: &Header, opts: &DeserializeOptions) -> Result<&Arc<dyn Family>> {
        let name = match header.get("serializer") {
            None | Some(MsgValue::Nil) => None,
            Some(MsgValue::Str(s)) => Some(s.as_str()),
            Some(other) => {
                return Err(Error::header(
                    "serializer",
                    format!("expected a string, found {}", other.kind()),
                ));
            }
        };
        if let Some(allowed) = &opts.deserializers {
            if !opts.allows(name) {
                return Err(Error::NotAllowed {
                    serializer: name.map(str::to_owned),
                    allowed: allowed.clone(),
                });
            }
        }
        let name = name.ok_or_else(|| Error::UnknownFamily("None".into()))?;
        self.family(name)
            .ok_or_else(|| Error::UnknownFamily(name.to_owned()))
    }

    fn deserialize_collection(
        &self,
        header: &Header,
        frames: &[Bytes],
        opts: &DeserializeOptions,
        depth: usize,
    ) -> Result<Value> {
        // all parsing and checking happens out of line, so each level of
        // recursion costs little stack
        let (kind, plan) = crate::collection::collection_items(header, frames, &opts.limits)?;
        let is_dict = kind == "dict";
        let mut items = Vec::with_capacity(plan.len());
        let mut entries = Vec::new();
        for (i, (mut h, f)) in plan.into_iter().enumerate() {
            let key = if is_dict {
                Some(take_key(&mut h, i, &opts.limits)?)
            } else {
                None
            };
            let v = self.deserialize_at(&h, f, opts, depth + 1)?;
            match key {
                Some(k) => entries.push((k, v)),
                None => items.push(v),
            }
        }
        Ok(match kind {
            "list" => Value::List(items),
            "tuple" => Value::Tuple(items),
            "set" => Value::Set(items),
            "dict" => Value::Dict(entries),
            other => return Err(unknown_collection(other)),
        })
    }
}

#[inline(never)]
fn take_key(h: &mut Header, i: usize, limits: &crate::limits::Limits) -> Result<Value> {
    match h.remove("key") {
        Some(k) => crate::family::msgpack::from_msgpack_limited(k, limits),
        None => Err(Error::header(
            format!("sub-headers[{i}]"),
            "dict item without \"key\"",
        )),
    }
}

#[inline(never)]
fn unknown_collection(kind: &str) -> Error {
    Error::header("type-serialized", format!("unknown collection type {kind:?}"))
}

/// Serializes a value with the process-wide registry (Python's
/// `distributed.protocol.serialize`).
///
/// # Examples
///
/// ```
/// use dask_serde::{serialize, SerializeOptions, Value};
///
/// let v = Value::from(vec![0u8; 4]);
/// let s = serialize(&v, &SerializeOptions::new())?;
/// assert_eq!(s.header.get("type").and_then(|t| t.as_str()), Some("bytes"));
/// assert_eq!(s.frames.len(), 1);
/// # Ok::<(), dask_serde::Error>(())
/// ```
///
/// # Errors
///
/// See [`Registry::serialize`].
pub fn serialize<'a>(value: &'a Value, opts: &SerializeOptions) -> Result<Serialized<'a>> {
    Registry::global().serialize(value, opts)
}

/// Deserializes into a dynamic [`Value`] with the process-wide registry
/// (Python's `distributed.protocol.deserialize`).
///
/// # Examples
///
/// ```
/// use dask_serde::{deserialize_any, serialize, DeserializeOptions, SerializeOptions, Value};
///
/// let v = Value::Tuple(vec![Value::from(1), Value::from("two")]);
/// let s = serialize(&v, &SerializeOptions::new().serializers(["msgpack"]))?;
/// let strict = DeserializeOptions::new().deserializers(["dask", "msgpack"]);
/// assert_eq!(deserialize_any(&s.header, &s.frame_bytes(), &strict)?, v);
/// # Ok::<(), dask_serde::Error>(())
/// ```
///
/// # Errors
///
/// See [`Registry::deserialize_any`].
pub fn deserialize_any(header: &Header, frames: &[Bytes], opts: &DeserializeOptions) -> Result<Value> {
    Registry::global().deserialize_any(header, frames, opts)
}

/// Registers a family in the process-wide registry.
pub fn register_family(family: Arc<dyn Family>) {
    Registry::update_global(|r| r.register_family(family));
}
