//! Messages: `protocol.dumps` / `protocol.loads` (spec §10).
//!
//! Frame 0 is the msgpack message; values wrapped as "serialize me"
//! ([`Value::Serialize`]) become `{"__Serialized__": k}` references to a
//! sub-header frame followed by its payload frames (split and compressed);
//! [`Value::ToPickle`] becomes `{"__Pickled__": k}` (written by the safe
//! pickle writer); sets become `__Set__` maps and enum members `__Enum__`
//! maps. Decoding bounds-checks every reference, tolerates unreferenced
//! (orphan) frames, applies the receiver's allow-list to every payload and
//! reads `__Pickled__` only when `pickle` is allowed — and then only with the
//! safe pickle reader.

use bytes::Bytes;

use crate::compression::{decompress_frames, maybe_compress, CompressionOptions};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::header::{as_index, Header};
use crate::limits::Limits;
use crate::msgpack::{MsgValue, INT_MAX, INT_MIN};
use crate::options::{DeserializeOptions, OnError, SerializeOptions};
use crate::pytype::PyType;
use crate::registry::Registry;
use crate::serialized::OwnedSerialized;
use crate::value::{EnumMember, Value};

/// How [`dumps`] encodes a message (Python's `dumps(msg, serializers,
/// on_error, context, frame_split_size)`).
#[derive(Clone, Debug, PartialEq)]
pub struct DumpsOptions {
    /// Families for `to_serialize` payloads (default `["dask", "pickle"]`).
    pub serializers: Vec<String>,
    /// What to do with payloads no family can encode.
    pub on_error: OnError,
    /// The comm's context. Its `compression` entry chooses the codec of
    /// payload frames; without a context Dask uses `"auto"` (lz4), exactly as
    /// a bare `protocol.dumps(msg)` does, while a TCP comm passes its
    /// negotiated value (nil unless both peers agreed on a codec).
    pub context: Option<Context>,
    /// Shard size of payload frames (default 64 MiB).
    pub frame_split_size: Option<usize>,
    /// zstd level when the codec is zstd (Dask's default 3).
    pub zstd_level: i32,
}

impl Default for DumpsOptions {
    fn default() -> Self {
        DumpsOptions {
            serializers: vec!["dask".into(), "pickle".into()],
            on_error: OnError::Message,
            context: None,
            frame_split_size: None,
            zstd_level: 3,
        }
    }
}

impl DumpsOptions {
    /// Dask's defaults (compression "auto" since there is no context).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the context.
    pub fn context(mut self, context: Context) -> Self {
        self.context = Some(context);
        self
    }

    /// Sets the families for payloads.
    pub fn serializers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.serializers = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the shard size.
    pub fn frame_split_size(mut self, size: usize) -> Self {
        self.frame_split_size = Some(size);
        self
    }

    fn compression(&self) -> CompressionOptions {
        let codec = match self.context.as_ref().and_then(Context::compression) {
            Some(c) => c.map(str::to_owned),
            None => Some("auto".to_owned()),
        };
        CompressionOptions {
            codec,
            zstd_level: self.zstd_level,
            ..CompressionOptions::default()
        }
    }

    fn serialize_options(&self) -> SerializeOptions {
        SerializeOptions {
            serializers: self.serializers.clone(),
            on_error: self.on_error,
            context: self.context.clone(),
            iterate_collection: None,
        }
    }
}

/// How [`loads`] decodes a message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadsOptions {
    /// `false` keeps `__Serialized__` and `__Pickled__` payloads as opaque
    /// [`Value::Opaque`] values that re-encode byte-identically (what a
    /// scheduler does when it forwards data).
    pub keep_serialized: bool,
    /// Allow-list and limits for payloads. `__Pickled__` payloads are read
    /// (by the safe pickle reader) only when `pickle` is allowed.
    pub deserialize: DeserializeOptions,
}

impl LoadsOptions {
    /// Decode everything, every registered family allowed.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the allow-list.
    pub fn deserializers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.deserialize = self.deserialize.deserializers(names);
        self
    }
    /// Keep payloads opaque (`deserialize=False`).
    pub fn keep_serialized(mut self, keep: bool) -> Self {
        self.keep_serialized = keep;
        self
    }
    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.deserialize.limits = limits;
        self
    }
}

/// The kind of an opaque payload kept by `loads` with `keep_serialized`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadKind {
    /// A `__Serialized__` payload (Python's `Serialized`).
    Serialized,
    /// A `__Pickled__` payload (Python's `Pickled`), never unpickled.
    Pickled,
}

/// An undecoded payload of a message: its sub-header (including
/// `num-sub-frames`) and frames, as received.
#[derive(Clone, Debug, PartialEq)]
pub struct Opaque {
    /// `__Serialized__` or `__Pickled__`.
    pub kind: PayloadKind,
    /// The sub-header.
    pub header: Header,
    /// The payload frames.
    pub frames: Vec<Bytes>,
}

impl Opaque {
    /// Decodes a `__Serialized__` payload into a typed value
    /// (decompressing and merging split frames first).
    ///
    /// # Errors
    ///
    /// A `__Pickled__` payload, corrupt frames, or data of another type.
    pub fn decode<T: crate::traits::DaskDeserialize>(&self, limits: &Limits) -> Result<T> {
        if self.kind != PayloadKind::Serialized {
            return Err(Error::mismatch(
                "a __Serialized__ payload",
                "a __Pickled__ payload",
            ));
        }
        let frames = unpack_payload(&self.header, self.frames.clone(), limits)?;
        T::deserialize_from(&self.header, &frames, limits)
    }

    /// The payload as a serialized value (sub-header and frames).
    pub fn into_serialized(self) -> OwnedSerialized {
        OwnedSerialized::new(self.header, self.frames.into_iter().map(Frame::Shared).collect())
    }
}

/// Encodes a message with the process-wide registry (Python's
/// `distributed.protocol.dumps`). Returns the frames: frame 0 is the
/// msgpack message, the rest are sub-headers and payload frames.
///
/// # Examples
///
/// ```
/// use dask_serde::message::{dumps, loads, DumpsOptions, LoadsOptions};
/// use dask_serde::{Context, Value};
///
/// let msg = Value::Dict(vec![
///     (Value::from("op"), Value::from("update")),
///     (Value::from("data"), Value::Serialize(Box::new(Value::from(vec![1u8, 2, 3])))),
/// ]);
/// let opts = DumpsOptions::new().context(Context::new().with("compression", Value::None));
/// let frames = dumps(&msg, &opts)?;
/// assert_eq!(frames.len(), 3); // message, sub-header, payload
/// let back = loads(&frames, &LoadsOptions::new())?;
/// assert_eq!(back, Value::Dict(vec![
///     (Value::from("op"), Value::from("update")),
///     (Value::from("data"), Value::from(vec![1u8, 2, 3])),
/// ]));
/// # Ok::<(), dask_serde::Error>(())
/// ```
///
/// # Errors
///
/// An unknown family, an integer outside msgpack's range in the message
/// body (Python raises too), bytes longer than msgpack can carry.
pub fn dumps(msg: &Value, opts: &DumpsOptions) -> Result<Vec<Bytes>> {
    Registry::global().dumps(msg, opts)
}

/// Decodes a message with the process-wide registry (Python's
/// `distributed.protocol.loads`).
///
/// # Errors
///
/// Malformed frame 0 or sub-headers, references outside the frame list,
/// refused families (allow-list), `__Pickled__` without `pickle` allowed.
pub fn loads(frames: &[Bytes], opts: &LoadsOptions) -> Result<Value> {
    Registry::global().loads(frames, opts)
}

/// Appends a `to_serialize` payload: split, compress, then the sub-header
/// (with `compression` and `num-sub-frames`) and the frames. Returns the
/// index of the sub-header frame.
pub(crate) fn push_serialized(
    out: &mut Vec<Bytes>,
    s: crate::serialized::Serialized<'_>,
    split_size: Option<usize>,
    compression_opts: &CompressionOptions,
) -> Result<usize> {
    let offset = out.len();
    let s = crate::split::split_frames(s, split_size)?;
    let mut header = s.header;
    let mut frames = Vec::with_capacity(s.frames.len());
    let mut compression = header.compression()?.unwrap_or_default();
    compression.resize(s.frames.len(), None);
    for (i, f) in s.frames.into_iter().enumerate() {
        if compression[i].is_none() {
            let (codec, f) = maybe_compress(f, compression_opts)?;
            compression[i] = codec.map(str::to_owned);
            frames.push(f.into_bytes());
        } else {
            frames.push(f.into_bytes());
        }
    }
    header.insert(
        "compression",
        MsgValue::Array(
            compression
                .into_iter()
                .map(|c| c.map_or(MsgValue::Nil, MsgValue::Str))
                .collect(),
        ),
    );
    header.insert("num-sub-frames", frames.len());
    out.push(Bytes::from(header.to_msgpack()?));
    out.extend(frames);
    Ok(offset)
}

struct Encoder<'r> {
    registry: &'r Registry,
    opts: &'r DumpsOptions,
    compression: CompressionOptions,
    frames: Vec<Bytes>,
    /// second pass: wrap unencodable values in ToPickle
    safe: bool,
}

/// A value msgpack cannot encode (Python's `TypeError` from the packer).
struct Unencodable;

enum EncErr {
    Unencodable,
    Fatal(Error),
}

impl From<Error> for EncErr {
    fn from(e: Error) -> Self {
        EncErr::Fatal(e)
    }
}

impl From<Unencodable> for EncErr {
    fn from(_: Unencodable) -> Self {
        EncErr::Unencodable
    }
}

impl Encoder<'_> {
    fn encode(&mut self, v: &Value, depth: usize) -> std::result::Result<MsgValue, EncErr> {
        if depth > 511 {
            return Err(EncErr::Fatal(Error::Encode(
                "message nested more than 511 levels deep".into(),
            )));
        }
        Ok(match v {
            Value::List(items) | Value::Tuple(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.encode(i, depth + 1)?);
                }
                MsgValue::Array(out)
            }
            Value::Dict(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                for (k, val) in entries {
                    let k = self.encode(k, depth + 1)?;
                    out.push((k, self.encode(val, depth + 1)?));
                }
                MsgValue::Map(out)
            }
            other => self.encode_leaf(other, depth)?,
        })
    }

    /// Writes frame 0 straight into `out` (no intermediate tree for the
    /// common containers and scalars; special leaves go through
    /// [`Encoder::encode_leaf`]).
    fn encode_to(&mut self, v: &Value, out: &mut Vec<u8>, depth: usize) -> std::result::Result<(), EncErr> {
        use crate::msgpack::{
            write_array_len, write_bin, write_bool, write_f64, write_int, write_map_len, write_nil, write_str,
        };
        if depth > 511 {
            return Err(EncErr::Fatal(Error::Encode(
                "message nested more than 511 levels deep".into(),
            )));
        }
        match v {
            Value::List(items) | Value::Tuple(items) => {
                write_array_len(out, items.len())?;
                for i in items {
                    self.encode_to(i, out, depth + 1)?;
                }
            }
            Value::Dict(entries) => {
                write_map_len(out, entries.len())?;
                for (k, val) in entries {
                    self.encode_to(k, out, depth + 1)?;
                    self.encode_to(val, out, depth + 1)?;
                }
            }
            Value::None => write_nil(out),
            Value::Bool(b) => write_bool(out, *b),
            Value::Int(i) if (INT_MIN..=INT_MAX).contains(i) => write_int(out, *i)?,
            Value::Float(f) => write_f64(out, *f),
            Value::Str(s) => write_str(out, s)?,
            Value::Bytes(b) | Value::ByteArray(b) if b.len() as u64 <= u32::MAX as u64 => write_bin(out, b)?,
            other => {
                let m = self.encode_leaf(other, depth)?;
                m.write(out)?;
            }
        }
        Ok(())
    }

    #[inline(never)]
    fn encode_leaf(&mut self, v: &Value, depth: usize) -> std::result::Result<MsgValue, EncErr> {
        Ok(match v {
            Value::None => MsgValue::Nil,
            Value::Bool(b) => MsgValue::Bool(*b),
            Value::Int(i) if (INT_MIN..=INT_MAX).contains(i) => MsgValue::Int(*i),
            Value::Int(_) | Value::BigInt(_) => {
                // msgpack raises OverflowError, which Dask does not rescue
                let text = match v {
                    Value::Int(i) => i.to_string(),
                    Value::BigInt(i) => i.to_string(),
                    _ => String::new(),
                };
                return Err(EncErr::Fatal(Error::Encode(format!(
                    "integer {text} in a message does not fit in msgpack (Python raises OverflowError)"
                ))));
            }
            Value::Float(f) => MsgValue::Float(*f),
            Value::Str(s) => MsgValue::Str(s.clone()),
            Value::Bytes(b) | Value::ByteArray(b) => {
                if b.len() as u64 > u32::MAX as u64 {
                    return Err(EncErr::Fatal(Error::Encode(format!(
                        "{} bytes cannot go inline into a message (msgpack's limit is 4 GiB): wrap them in Value::Serialize",
                        b.len()
                    ))));
                }
                MsgValue::Bin(b.clone())
            }
            Value::MemoryView(m) => MsgValue::Bin(m.data.clone()),
            Value::Serialize(inner) => {
                let k = self.serialized_payload(inner)?;
                MsgValue::Map(vec![("__Serialized__".into(), MsgValue::from(k))])
            }
            Value::Opaque(o) => {
                let k = self.opaque_payload(o)?;
                let key = match o.kind {
                    PayloadKind::Serialized => "__Serialized__",
                    PayloadKind::Pickled => "__Pickled__",
                };
                MsgValue::Map(vec![(key.into(), MsgValue::from(k))])
            }
            Value::ToPickle(inner) => {
                let k = self.pickled_payload(inner)?;
                MsgValue::Map(vec![("__Pickled__".into(), MsgValue::from(k))])
            }
            Value::Set(items) => {
                let mut list = Vec::with_capacity(items.len());
                for i in items {
                    list.push(self.encode(i, depth + 1)?);
                }
                MsgValue::Map(vec![
                    ("__Set__".into(), MsgValue::Bool(true)),
                    ("as-list".into(), MsgValue::Array(list)),
                ])
            }
            Value::Enum(e) => MsgValue::Map(vec![
                ("__Enum__".into(), MsgValue::Bool(true)),
                ("name".into(), MsgValue::Str(e.name.clone())),
                ("__module__".into(), MsgValue::Str(e.class.module().to_owned())),
                ("__name__".into(), MsgValue::Str(e.class.name().to_owned())),
            ]),
            other => {
                if !self.safe {
                    return Err(Unencodable.into());
                }
                // Dask's fallback: pickle what msgpack cannot carry
                let k = self.pickled_payload(other)?;
                MsgValue::Map(vec![("__Pickled__".into(), MsgValue::from(k))])
            }
        })
    }

    fn serialized_payload(&mut self, v: &Value) -> Result<usize> {
        let sopts = self.opts.serialize_options();
        let s = self
            .registry
            .serialize_at(v, &sopts.iterate_collection(Some(true)), 0)?;
        push_serialized(&mut self.frames, s, self.opts.frame_split_size, &self.compression)
    }

    fn opaque_payload(&mut self, o: &Opaque) -> Result<usize> {
        let offset = self.frames.len();
        let mut header = o.header.clone();
        header.insert("num-sub-frames", o.frames.len());
        self.frames.push(Bytes::from(header.to_msgpack()?));
        self.frames.extend(o.frames.iter().cloned());
        Ok(offset)
    }

    fn pickled_payload(&mut self, v: &Value) -> Result<usize> {
        let offset = self.frames.len();
        let (pickle, buffers) = crate::pickle::dumps_with_buffers(v, 5)?;
        let mut frames = Vec::with_capacity(buffers.len());
        let mut compression = Vec::with_capacity(buffers.len());
        for b in buffers {
            let (codec, out) = maybe_compress(Frame::Shared(b), &self.compression)?;
            compression.push(codec.map_or(MsgValue::Nil, |c| MsgValue::Str(c.to_owned())));
            frames.push(out.into_bytes());
        }
        let header = Header::from_entries(vec![
            ("pickled-obj".into(), MsgValue::Bin(Bytes::from(pickle))),
            ("compression".into(), MsgValue::Array(compression)),
            ("num-sub-frames".into(), MsgValue::from(frames.len())),
        ]);
        self.frames.push(Bytes::from(header.to_msgpack()?));
        self.frames.extend(frames);
        Ok(offset)
    }
}

impl Registry {
    /// [`dumps`] with this registry.
    ///
    /// # Errors
    ///
    /// See [`dumps`].
    pub fn dumps(&self, msg: &Value, opts: &DumpsOptions) -> Result<Vec<Bytes>> {
        let mut enc = Encoder {
            registry: self,
            opts,
            compression: opts.compression(),
            frames: vec![Bytes::new()],
            safe: false,
        };
        let mut out = Vec::with_capacity(256);
        match enc.encode_to(msg, &mut out, 0) {
            Ok(()) => {}
            Err(EncErr::Fatal(e)) => return Err(e),
            Err(EncErr::Unencodable) => {
                // Dask re-encodes frame 0 from scratch, wrapping what msgpack
                // cannot carry in ToPickle; frames appended by the first
                // attempt stay in the output, unreferenced
                enc.safe = true;
                out.clear();
                match enc.encode_to(msg, &mut out, 0) {
                    Ok(()) => {}
                    Err(EncErr::Fatal(e)) => return Err(e),
                    Err(EncErr::Unencodable) => {
                        return Err(Error::Encode(
                            "message holds a value that cannot be encoded".into(),
                        ))
                    }
                }
            }
        }
        enc.frames[0] = Bytes::from(out);
        Ok(enc.frames)
    }

    /// [`loads`] with this registry.
    ///
    /// # Errors
    ///
    /// See [`loads`].
    pub fn loads(&self, frames: &[Bytes], opts: &LoadsOptions) -> Result<Value> {
        let limits = &opts.deserialize.limits;
        limits.check_frames(frames.len())?;
        let first = frames
            .first()
            .ok_or_else(|| Error::frames("a message needs at least frame 0"))?;
        let m = MsgValue::decode(first, limits)?;
        let d = crate::family::msgpack::msg_depth(&m);
        if d > limits.max_nesting {
            return Err(Error::Limit {
                what: "nesting of a message",
                limit: limits.max_nesting as u64,
                got: d as u64,
            });
        }
        let dec = Decoder {
            registry: self,
            frames,
            opts,
        };
        dec.value(m)
    }
}

struct Decoder<'a> {
    registry: &'a Registry,
    frames: &'a [Bytes],
    opts: &'a LoadsOptions,
}

impl Decoder<'_> {
    fn value(&self, m: MsgValue) -> Result<Value> {
        match m {
            MsgValue::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.value(i)?);
                }
                Ok(Value::Tuple(out))
            }
            MsgValue::Map(entries) => {
                // the object hook runs innermost first: convert children,
                // then look at this map
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
    fn special(&self, entries: &[(MsgValue, MsgValue)]) -> Result<Option<Value>> {
        let get = |key: &str| {
            entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v)
        };
        if let Some(off) = get("__Serialized__") {
            if let Some(k) = reference(off, "__Serialized__")? {
                return self.serialized(k).map(Some);
            }
        }
        if let Some(off) = get("__Pickled__") {
            if let Some(k) = reference(off, "__Pickled__")? {
                return self.pickled(k).map(Some);
            }
        }
        if get("__Enum__").is_some() {
            let s = |key: &str| {
                get(key)
                    .and_then(MsgValue::as_str)
                    .ok_or_else(|| Error::header(format!("__Enum__.{key}"), "expected a string"))
            };
            let class = PyType::new(s("__module__")?, s("__name__")?);
            return Ok(Some(Value::Enum(EnumMember {
                class,
                name: s("name")?.to_owned(),
            })));
        }
        if get("__Set__").is_some() {
            let items = match get("as-list") {
                Some(MsgValue::Array(items)) => items.clone(),
                _ => return Err(Error::header("__Set__.as-list", "expected an array")),
            };
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.push(self.value(i)?);
            }
            return Ok(Some(Value::Set(out)));
        }
        Ok(None)
    }

    fn payload(&self, k: usize, what: &str) -> Result<(Header, Vec<Bytes>)> {
        read_payload(self.frames, k, &self.opts.deserialize.limits, what)
    }

    fn serialized(&self, k: usize) -> Result<Value> {
        let (header, frames) = self.payload(k, "__Serialized__")?;
        if self.opts.keep_serialized {
            return Ok(Value::Opaque(Box::new(Opaque {
                kind: PayloadKind::Serialized,
                header,
                frames,
            })));
        }
        let limits = &self.opts.deserialize.limits;
        let frames = decompress_frames(header.compression()?.as_deref(), frames, limits)?;
        let frames = crate::split::merge_frames(&header, frames, None)?;
        self.registry
            .deserialize_any(&header, &frames, &self.opts.deserialize)
    }

    fn pickled(&self, k: usize) -> Result<Value> {
        let (header, frames) = self.payload(k, "__Pickled__")?;
        if self.opts.keep_serialized {
            return Ok(Value::Opaque(Box::new(Opaque {
                kind: PayloadKind::Pickled,
                header,
                frames,
            })));
        }
        if !self.opts.deserialize.allows(Some("pickle")) {
            return Err(Error::NotAllowed {
                serializer: Some("pickle".into()),
                allowed: self.opts.deserialize.deserializers.clone().unwrap_or_default(),
            });
        }
        let limits = &self.opts.deserialize.limits;
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

/// The sub-header at `k` and the `num-sub-frames` frames after it, with
/// every index checked against the frame list.
pub(crate) fn read_payload(
    frames: &[Bytes],
    k: usize,
    limits: &Limits,
    what: &str,
) -> Result<(Header, Vec<Bytes>)> {
    let sub = frames
        .get(k)
        .ok_or_else(|| Error::frames(format!("{what} {k} points past the {} frames", frames.len())))?;
    let header = Header::from_msgpack(sub, limits)?;
    let n = match header.get("num-sub-frames") {
        Some(v) => as_index(v, "num-sub-frames")?,
        None => {
            return Err(Error::header(
                "num-sub-frames",
                format!("missing in the sub-header of {what} {k}"),
            ))
        }
    };
    let start = k + 1;
    let end = start
        .checked_add(n)
        .filter(|e| *e <= frames.len())
        .ok_or_else(|| {
            Error::frames(format!(
                "{what} {k} claims {n} frames after it but the message has {}",
                frames.len()
            ))
        })?;
    Ok((header, frames[start..end].to_vec()))
}

/// Decompresses a payload's frames and merges split pieces.
pub(crate) fn unpack_payload(header: &Header, frames: Vec<Bytes>, limits: &Limits) -> Result<Vec<Bytes>> {
    let frames = decompress_frames(header.compression()?.as_deref(), frames, limits)?;
    crate::split::merge_frames(header, frames, None)
}

/// A `__Serialized__`/`__Pickled__` value: `Some(k)` when `k > 0` (Python's
/// test, under which `true` is 1), `None` when not a reference.
fn reference(v: &MsgValue, key: &str) -> Result<Option<usize>> {
    match v {
        MsgValue::Int(i) if *i > 0 => usize::try_from(*i)
            .map(Some)
            .map_err(|_| Error::frames(format!("{key} offset {i} is too large"))),
        MsgValue::Int(_) | MsgValue::Bool(false) | MsgValue::Nil => Ok(None),
        MsgValue::Bool(true) => Ok(Some(1)),
        MsgValue::Float(f) if *f > 0.0 => Err(Error::header(key, "a float frame offset")),
        MsgValue::Float(_) => Ok(None),
        other => Err(Error::header(
            key,
            format!("expected a frame offset, found {}", other.kind()),
        )),
    }
}

#[cfg(feature = "serde")]
#[path = "message_typed.rs"]
pub mod typed;
