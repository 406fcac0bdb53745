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
        compression_options(
            self.context.as_ref().and_then(Context::compression),
            self.zstd_level,
        )
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

/// The payload compression of [`DumpsOptions`] from its context's
/// `compression` entry (`None` when the context has none: Dask's "auto").
pub(crate) fn compression_options(codec: Option<Option<&str>>, zstd_level: i32) -> CompressionOptions {
    let codec = match codec {
        Some(c) => c.map(str::to_owned),
        None => Some("auto".to_owned()),
    };
    CompressionOptions {
        codec,
        zstd_level,
        ..CompressionOptions::default()
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

/// Frames 0 up to this size are written into a per-thread buffer and
/// copied out into an exactly sized frame; larger ones are handed over.
const FRAME0_COPY_MAX: usize = 16 << 10;

thread_local! {
    static FRAME0: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Runs `write` on an empty buffer and returns its result and the bytes
/// written as frame 0.
///
/// A small frame is copied out of a per-thread buffer that keeps its
/// room between calls: one allocation of the exact size, where writing
/// into a fresh vector costs its growth steps plus the separate block
/// `Bytes` needs for a vector with spare room.
pub(crate) fn write_frame0<R>(write: impl FnOnce(&mut Vec<u8>) -> R) -> (R, Bytes) {
    // taken, not borrowed: a nested call (a payload writing a message)
    // simply starts from an empty buffer
    let mut buf = FRAME0.take();
    buf.clear();
    let r = write(&mut buf);
    if buf.len() > FRAME0_COPY_MAX {
        return (r, Bytes::from(buf));
    }
    let frame = Bytes::copy_from_slice(&buf);
    if buf.capacity() <= FRAME0_COPY_MAX {
        FRAME0.set(buf);
    }
    (r, frame)
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

/// Writes `v` if it is a string, a float, an integer msgpack can carry,
/// `None` or a bool (exactly as [`Encoder::encode_to`] would) and returns
/// `true`; returns `false` for anything else, writing nothing. Cannot
/// fail, so the callers' frames stay small.
#[inline(always)]
fn write_plain(out: &mut Vec<u8>, v: &Value) -> bool {
    use crate::msgpack::{write_bool, write_f64, write_int_in_range, write_nil, write_str_fitting};
    match v {
        Value::Str(s) if s.len() as u64 <= u64::from(u32::MAX) => write_str_fitting(out, s),
        Value::Float(f) => write_f64(out, *f),
        Value::Int(i) if (INT_MIN..=INT_MAX).contains(i) => write_int_in_range(out, *i),
        Value::None => write_nil(out),
        Value::Bool(b) => write_bool(out, *b),
        _ => return false,
    }
    true
}

struct Encoder<'r> {
    registry: &'r Registry,
    opts: &'r DumpsOptions,
    /// made on the first payload
    compression: Option<CompressionOptions>,
    frames: Vec<Bytes>,
    /// second pass: wrap unencodable values in ToPickle
    safe: bool,
}

#[cold]
#[inline(never)]
fn too_deep() -> EncErr {
    EncErr::Fatal(Error::Encode("message nested more than 511 levels deep".into()))
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
        use crate::msgpack::{write_array_len, write_map_len};
        if depth > 511 {
            return Err(too_deep());
        }
        // children that are strings, numbers, None or bools are written
        // right here (most of a message), unless they are too deep: then
        // the call below reports it
        let inline = depth < 511;
        match v {
            Value::List(items) | Value::Tuple(items) => {
                write_array_len(out, items.len())?;
                for i in items {
                    if !(inline && write_plain(out, i)) {
                        self.encode_to(i, out, depth + 1)?;
                    }
                }
            }
            Value::Dict(entries) => {
                write_map_len(out, entries.len())?;
                for (k, val) in entries {
                    if !(inline && write_plain(out, k)) {
                        self.encode_to(k, out, depth + 1)?;
                    }
                    if !(inline && write_plain(out, val)) {
                        self.encode_to(val, out, depth + 1)?;
                    }
                }
            }
            other => self.encode_scalar(other, out, depth)?,
        }
        Ok(())
    }

    /// [`Encoder::encode_to`] of anything but a list, tuple or dict (out of
    /// line: keeps the recursive function's frame small, also in debug
    /// builds, where 511 levels must fit in a 2 MiB stack).
    #[inline(never)]
    fn encode_scalar(
        &mut self,
        v: &Value,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> std::result::Result<(), EncErr> {
        use crate::msgpack::{write_bin, write_bool, write_f64, write_int, write_nil, write_str};
        match v {
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
        let compression = self.compression.get_or_insert_with(|| self.opts.compression());
        push_serialized(&mut self.frames, s, self.opts.frame_split_size, compression)
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
            let opts = self.compression.get_or_insert_with(|| self.opts.compression());
            let (codec, out) = maybe_compress(Frame::Shared(b), opts)?;
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
            compression: None,
            frames: vec![Bytes::new()],
            safe: false,
        };
        let (written, frame0) = write_frame0(|out| match enc.encode_to(msg, out, 0) {
            Ok(()) => Ok(()),
            Err(EncErr::Fatal(e)) => Err(e),
            Err(EncErr::Unencodable) => {
                // Dask re-encodes frame 0 from scratch, wrapping what msgpack
                // cannot carry in ToPickle; frames appended by the first
                // attempt stay in the output, unreferenced
                enc.safe = true;
                out.clear();
                match enc.encode_to(msg, out, 0) {
                    Ok(()) => Ok(()),
                    Err(EncErr::Fatal(e)) => Err(e),
                    Err(EncErr::Unencodable) => Err(Error::Encode(
                        "message holds a value that cannot be encoded".into(),
                    )),
                }
            }
        });
        written?;
        enc.frames[0] = frame0;
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
        let dec = Decoder {
            registry: self,
            frames,
            opts,
        };
        // one pass straight into a Value; anything unusual (malformed or
        // deep input, nested or failing special maps) is left to the
        // reference path, which then decides the result and the error
        match dec.one_pass(first) {
            Ok(v) => Ok(v),
            Err(Fallback) => dec.reference(first),
        }
    }
}

struct Decoder<'a> {
    registry: &'a Registry,
    frames: &'a [Bytes],
    opts: &'a LoadsOptions,
}

/// A msgpack value as [`classify`] sees it (the same view of a raw
/// [`MsgValue`] and of a [`Value`] converted from one).
enum View<'v> {
    Nil,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'v str),
    /// Anything else, by its msgpack kind (`"bin"`, `"array"`, `"map"`).
    Other(&'static str),
}

trait AsView {
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
enum Special {
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
fn classify<V: AsView>(entries: &[(V, V)]) -> Result<Special> {
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
fn is_special_key(s: &str) -> bool {
    s.len() >= 7
        && s.as_bytes()[0] == b'_'
        && matches!(s, "__Serialized__" | "__Pickled__" | "__Enum__" | "__Set__")
}

impl Decoder<'_> {
    /// The reference decoding of frame 0: the whole msgpack tree first
    /// (every msgpack error and the depth limit), then the nesting limit,
    /// then the conversion, each map looked at before its children.
    fn reference(&self, first: &Bytes) -> Result<Value> {
        let limits = &self.opts.deserialize.limits;
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
    fn special(&self, entries: &[(MsgValue, MsgValue)]) -> Result<Option<Value>> {
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

    /// Decodes frame 0 in one pass straight into a [`Value`].
    ///
    /// Gives up ([`Fallback`]) on anything it does not handle exactly as
    /// the reference path ([`MsgValue::decode`], the nesting check, then
    /// [`Decoder::value`]) would: malformed msgpack, nesting past the
    /// limits (or past [`ONE_PASS_MAX_DEPTH`], as it recurses), a special
    /// map inside another special map, and any error of a special map.
    /// The reference path then produces the result or the error, so the
    /// outcome never depends on which path ran.
    fn one_pass(&self, input: &Bytes) -> std::result::Result<Value, Fallback> {
        let limits = &self.opts.deserialize.limits;
        let mut r = OnePass {
            dec: self,
            cur: Cursor {
                input,
                bytes: input,
                pos: 0,
            },
            max_depth: limits.max_depth.min(limits.max_nesting).min(ONE_PASS_MAX_DEPTH),
            specials: 0,
        };
        r.root()
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
fn reference(v: View<'_>, key: &str) -> Result<Option<usize>> {
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

/// The one-pass decoder gave up: the reference path decides.
struct Fallback;

/// Deepest container nesting the one-pass decoder handles (it recurses,
/// two small frames per level); deeper messages take the iterative
/// reference path.
const ONE_PASS_MAX_DEPTH: usize = 64;

/// A container marker read by [`Cursor::scalar`].
enum Open {
    Array(usize),
    Map(usize),
}

/// Position in frame 0.
struct Cursor<'a> {
    /// frame 0, for zero-copy `bin` slices
    input: &'a Bytes,
    bytes: &'a [u8],
    pos: usize,
}

type OnePassResult<T> = std::result::Result<T, Fallback>;

impl Cursor<'_> {
    #[inline(always)]
    fn byte(&mut self) -> OnePassResult<u8> {
        let m = *self.bytes.get(self.pos).ok_or(Fallback)?;
        self.pos += 1;
        Ok(m)
    }

    #[inline(always)]
    fn take(&mut self, n: usize) -> OnePassResult<&[u8]> {
        let end = self.pos.checked_add(n).ok_or(Fallback)?;
        let s = self.bytes.get(self.pos..end).ok_or(Fallback)?;
        self.pos = end;
        Ok(s)
    }

    #[inline(always)]
    fn be<const N: usize>(&mut self) -> OnePassResult<[u8; N]> {
        let s = self.take(N)?;
        <[u8; N]>::try_from(s).map_err(|_| Fallback)
    }

    #[inline(always)]
    fn len8(&mut self) -> OnePassResult<usize> {
        self.byte().map(usize::from)
    }
    #[inline(always)]
    fn len16(&mut self) -> OnePassResult<usize> {
        Ok(usize::from(u16::from_be_bytes(self.be()?)))
    }
    #[inline(always)]
    fn len32(&mut self) -> OnePassResult<usize> {
        usize::try_from(u32::from_be_bytes(self.be()?)).map_err(|_| Fallback)
    }

    #[inline(always)]
    fn str(&mut self, n: usize) -> OnePassResult<Value> {
        let raw = self.take(n)?;
        let s = std::str::from_utf8(raw).map_err(|_| Fallback)?;
        Ok(Value::Str(s.to_owned()))
    }

    fn bin(&mut self, n: usize) -> OnePassResult<Value> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or(Fallback)?;
        let b = self.input.slice(self.pos..end);
        self.pos = end;
        Ok(Value::Bytes(b))
    }

    /// Decodes the value of marker `m` into `slot` (in place: a [`Value`]
    /// is large, and moving whole values costs more than writing the
    /// variant where it belongs), or returns the container it opens.
    #[inline(always)]
    fn scalar(&mut self, m: u8, slot: &mut Value) -> OnePassResult<Option<Open>> {
        let v = match m {
            0x00..=0x7f => Value::Int(i128::from(m)),
            0xa0..=0xbf => self.str(usize::from(m & 0x1f))?,
            0x80..=0x8f => return Ok(Some(Open::Map(usize::from(m & 0x0f)))),
            0x90..=0x9f => return Ok(Some(Open::Array(usize::from(m & 0x0f)))),
            0xc0 => Value::None,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xcb => Value::Float(f64::from_be_bytes(self.be()?)),
            0xe0..=0xff => Value::Int(i128::from(m as i8)),
            _ => return self.rare(m, slot),
        };
        put(slot, v);
        Ok(None)
    }

    /// The less common markers of [`Cursor::scalar`].
    #[inline(never)]
    fn rare(&mut self, m: u8, slot: &mut Value) -> OnePassResult<Option<Open>> {
        let v = match m {
            0xc4 => {
                let n = self.len8()?;
                self.bin(n)?
            }
            0xc5 => {
                let n = self.len16()?;
                self.bin(n)?
            }
            0xc6 => {
                let n = self.len32()?;
                self.bin(n)?
            }
            0xca => Value::Float(f64::from(f32::from_be_bytes(self.be()?))),
            0xcc => Value::Int(i128::from(self.byte()?)),
            0xcd => Value::Int(i128::from(u16::from_be_bytes(self.be()?))),
            0xce => Value::Int(i128::from(u32::from_be_bytes(self.be()?))),
            0xcf => Value::Int(i128::from(u64::from_be_bytes(self.be()?))),
            0xd0 => Value::Int(i128::from(i8::from_be_bytes(self.be()?))),
            0xd1 => Value::Int(i128::from(i16::from_be_bytes(self.be()?))),
            0xd2 => Value::Int(i128::from(i32::from_be_bytes(self.be()?))),
            0xd3 => Value::Int(i128::from(i64::from_be_bytes(self.be()?))),
            0xd9 => {
                let n = self.len8()?;
                self.str(n)?
            }
            0xda => {
                let n = self.len16()?;
                self.str(n)?
            }
            0xdb => {
                let n = self.len32()?;
                self.str(n)?
            }
            0xdc => return Ok(Some(Open::Array(self.len16()?))),
            0xdd => return Ok(Some(Open::Array(self.len32()?))),
            0xde => return Ok(Some(Open::Map(self.len16()?))),
            0xdf => return Ok(Some(Open::Map(self.len32()?))),
            // ext types and the reserved 0xc1: the reference path's error
            _ => return Err(Fallback),
        };
        put(slot, v);
        Ok(None)
    }
}

/// Writes `v` into a placeholder `slot` (a `Value::None`, which owns
/// nothing) without running the drop glue on the placeholder.
#[inline(always)]
fn put(slot: &mut Value, v: Value) {
    debug_assert!(matches!(slot, Value::None));
    std::mem::forget(std::mem::replace(slot, v));
}

/// State of [`Decoder::one_pass`].
struct OnePass<'a, 'd> {
    dec: &'d Decoder<'a>,
    cur: Cursor<'a>,
    /// containers may nest this deep (the smaller of both limits and
    /// [`ONE_PASS_MAX_DEPTH`])
    max_depth: usize,
    /// maps with a special key seen so far
    specials: usize,
}

impl OnePass<'_, '_> {
    /// Decodes the next value into `slot`, at nesting `depth` (its
    /// parents).
    #[inline(always)]
    fn fill(&mut self, slot: &mut Value, depth: usize) -> OnePassResult<()> {
        let m = self.cur.byte()?;
        match self.cur.scalar(m, slot)? {
            None => Ok(()),
            Some(open) => self.container(open, slot, depth),
        }
    }

    fn container(&mut self, open: Open, slot: &mut Value, depth: usize) -> OnePassResult<()> {
        let (n, min_bytes) = match open {
            Open::Array(n) => (n, 1),
            Open::Map(n) => (n, 2),
        };
        // the nesting, and `n` items of at least `min_bytes` each must fit
        // in the rest of the input (before anything is allocated)
        if depth >= self.max_depth || n.saturating_mul(min_bytes) > self.cur.bytes.len() - self.cur.pos {
            return Err(Fallback);
        }
        match open {
            Open::Array(n) => {
                // placeholders first, then each item decoded in place
                let mut items: Vec<Value> = Vec::with_capacity(n);
                items.extend((0..n).map(|_| Value::None));
                for item in &mut items {
                    self.fill(item, depth + 1)?;
                }
                put(slot, Value::Tuple(items));
            }
            Open::Map(n) => {
                let before = self.specials;
                let mut special = false;
                let mut entries: Vec<(Value, Value)> = Vec::with_capacity(n);
                entries.extend((0..n).map(|_| (Value::None, Value::None)));
                for (k, v) in &mut entries {
                    self.fill(k, depth + 1)?;
                    special |= matches!(k, Value::Str(s) if is_special_key(s));
                    self.fill(v, depth + 1)?;
                }
                let v = if special {
                    self.special(entries, before)?
                } else {
                    Value::Dict(entries)
                };
                put(slot, v);
            }
        }
        Ok(())
    }

    fn root(&mut self) -> OnePassResult<Value> {
        let mut v = Value::None;
        self.fill(&mut v, 0)?;
        if self.cur.pos != self.cur.bytes.len() {
            return Err(Fallback);
        }
        Ok(v)
    }

    /// A map with a special key: what [`Decoder::special`] makes of it,
    /// provided no special map was inside (its children were converted
    /// first here, while the reference path looks at the map before its
    /// children and may never convert them).
    #[cold]
    #[inline(never)]
    fn special(&mut self, mut entries: Vec<(Value, Value)>, before: usize) -> OnePassResult<Value> {
        if self.specials != before {
            return Err(Fallback);
        }
        self.specials += 1;
        let dec = self.dec;
        let result = match classify(&entries).map_err(|_| Fallback)? {
            Special::No => Ok(Value::Dict(entries)),
            Special::Serialized(k) => dec.serialized(k),
            Special::Pickled(k) => dec.pickled(k),
            Special::Enum(e) => Ok(Value::from(e)),
            Special::Set(i) => match std::mem::replace(&mut entries[i].1, Value::None) {
                // the items hold no special map: already what the
                // reference path's conversion gives
                Value::Tuple(items) => Ok(Value::Set(items)),
                _ => return Err(Fallback),
            },
        };
        result.map_err(|_| Fallback)
    }
}

#[cfg(test)]
mod one_pass_tests {
    //! The one-pass decoder against the reference path: whenever it
    //! returns a value, the reference path returns the same value, and
    //! `loads` always gives what the reference path gives.

    use super::*;
    use crate::limits::Limits;

    fn check(frames: &[Bytes], opts: &LoadsOptions) -> bool {
        let registry = Registry::global();
        let dec = Decoder {
            registry: &registry,
            frames,
            opts,
        };
        let reference = dec.reference(&frames[0]);
        let one_pass = dec.one_pass(&frames[0]);
        let took_one_pass = one_pass.is_ok();
        if let Ok(v) = one_pass {
            match &reference {
                Ok(r) => assert_eq!(format!("{v:?}"), format!("{r:?}"), "{:x?}", &frames[0][..]),
                Err(e) => panic!("one pass: {v:?}, reference: {e}; input {:x?}", &frames[0][..]),
            }
        }
        let got = registry.loads(frames, opts);
        assert_eq!(
            format!("{got:?}"),
            format!("{reference:?}"),
            "{:x?}",
            &frames[0][..]
        );
        took_one_pass
    }

    fn s(x: &str) -> MsgValue {
        MsgValue::from(x)
    }

    fn map(entries: Vec<(MsgValue, MsgValue)>) -> MsgValue {
        MsgValue::Map(entries)
    }

    fn enc(m: &MsgValue) -> Bytes {
        Bytes::from(m.encode().unwrap())
    }

    /// Messages with payloads, written by `dumps`.
    fn dumped() -> Vec<Vec<Bytes>> {
        let opts = DumpsOptions::new().context(Context::new().with("compression", Value::None));
        let ser = |v: Value| Value::Serialize(Box::new(v));
        let msgs = [
            Value::Dict(vec![
                (Value::from("op"), Value::from("task-finished")),
                (Value::from("nbytes"), Value::Int(8_000_128)),
                (
                    Value::from("startstops"),
                    Value::List(vec![Value::Dict(vec![
                        (Value::from("action"), Value::from("compute")),
                        (Value::from("start"), Value::Float(1.5)),
                    ])]),
                ),
            ]),
            Value::Dict(vec![
                (Value::from("data"), ser(Value::from(vec![1u8, 2, 3]))),
                (Value::from("p"), Value::ToPickle(Box::new(Value::from(7)))),
                (
                    Value::from("s"),
                    Value::Set(vec![Value::from(1), Value::from("a")]),
                ),
                (
                    Value::from("e"),
                    Value::from(EnumMember {
                        class: PyType::new("distributed.core", "Status"),
                        name: "running".into(),
                    }),
                ),
                (
                    Value::from("l"),
                    Value::List(vec![
                        ser(Value::from("x")),
                        Value::Bytes(Bytes::from_static(b"raw")),
                    ]),
                ),
            ]),
            Value::Set(vec![ser(Value::from(1))]),
        ];
        msgs.iter().map(|m| dumps(m, &opts).unwrap()).collect()
    }

    /// Hand-made frame 0s: special maps of every shape, odd keys, every
    /// msgpack marker.
    fn handmade() -> Vec<Bytes> {
        let enum_map = |name: MsgValue| {
            map(vec![
                (s("__Enum__"), true.into()),
                (s("__module__"), s("m")),
                (s("__name__"), s("C")),
                (s("name"), name),
            ])
        };
        let ms = vec![
            map(vec![(s("__Serialized__"), 0.into()), (s("a"), 1.into())]),
            map(vec![(s("__Serialized__"), MsgValue::Nil)]),
            map(vec![
                (s("__Serialized__"), false.into()),
                (s("__Pickled__"), (-3).into()),
            ]),
            map(vec![(s("__Serialized__"), true.into())]),
            map(vec![(s("__Serialized__"), 1.5.into())]),
            map(vec![(s("__Serialized__"), (-1.5).into())]),
            map(vec![(s("__Serialized__"), s("1"))]),
            map(vec![(s("__Serialized__"), MsgValue::Array(vec![1.into()]))]),
            map(vec![(s("__Serialized__"), map(vec![]))]),
            map(vec![(
                s("__Serialized__"),
                MsgValue::Bin(Bytes::from_static(b"x")),
            )]),
            map(vec![(s("__Pickled__"), 99.into())]),
            map(vec![(s("__Pickled__"), MsgValue::Int(u64::MAX.into()))]),
            map(vec![
                (s("__Serialized__"), 1.into()),
                (s("x"), map(vec![(s("__Pickled__"), 99.into())])),
            ]),
            map(vec![
                (s("__Serialized__"), 0.into()),
                (s("x"), map(vec![(s("__Pickled__"), 99.into())])),
            ]),
            enum_map(s("running")),
            enum_map(5.into()),
            enum_map(enum_map(s("inner"))),
            map(vec![(s("__Enum__"), true.into()), (s("name"), s("x"))]),
            map(vec![
                (s("__Set__"), true.into()),
                (s("as-list"), MsgValue::Array(vec![1.into(), s("a")])),
            ]),
            map(vec![(s("__Set__"), true.into()), (s("as-list"), s("no"))]),
            map(vec![(s("__Set__"), true.into())]),
            map(vec![
                (s("__Set__"), true.into()),
                (s("as-list"), MsgValue::Array(vec![enum_map(s("a"))])),
            ]),
            map(vec![
                (s("__Set__"), true.into()),
                (s("as-list"), MsgValue::Array(vec![1.into()])),
                (s("as-list"), MsgValue::Array(vec![2.into()])),
            ]),
            MsgValue::Array(vec![
                enum_map(s("a")),
                enum_map(s("b")),
                map(vec![(s("k"), enum_map(s("c")))]),
            ]),
            map(vec![
                (1.into(), 2.into()),
                (MsgValue::Array(vec![1.into()]), map(vec![])),
                (MsgValue::Nil, MsgValue::Bin(Bytes::from_static(b"bin"))),
                (map(vec![(s("__Set__"), 1.into())]), 1.into()),
            ]),
            MsgValue::Array(vec![
                MsgValue::Int(-1),
                MsgValue::Int(-33),
                MsgValue::Int(200),
                MsgValue::Int(-200),
                MsgValue::Int(70_000),
                MsgValue::Int(-70_000),
                MsgValue::Int(5_000_000_000),
                MsgValue::Int(-5_000_000_000),
                MsgValue::Int(u64::MAX.into()),
                MsgValue::Float(f64::NAN),
                MsgValue::Float(-0.0),
                s(&"y".repeat(40)),
                s(&"z".repeat(300)),
                s(&"w".repeat(70_000)),
                MsgValue::Bin(Bytes::from(vec![7u8; 300])),
                MsgValue::Bin(Bytes::from(vec![7u8; 70_000])),
                MsgValue::Array((0..20).map(MsgValue::from).collect()),
                MsgValue::Array((0..70_000).map(|_| MsgValue::Nil).collect()),
                map((0..20).map(|i| (MsgValue::from(i), MsgValue::Nil)).collect()),
                map((0..70_000).map(|i| (MsgValue::from(i), MsgValue::Nil)).collect()),
            ]),
        ];
        let mut out: Vec<Bytes> = ms.iter().map(enc).collect();
        // markers msgpack-python never writes but reads: float32, ext,
        // the reserved byte, invalid UTF-8, trailing data
        out.push(Bytes::from_static(&[0x92, 0xca, 0x3f, 0xc0, 0, 0, 0xc0]));
        out.push(Bytes::from_static(&[0x91, 0xd4, 0x01, 0x00]));
        out.push(Bytes::from_static(&[0x91, 0xc1]));
        out.push(Bytes::from_static(&[0x81, 0xa2, 0xff, 0xfe, 0x01]));
        out.push(Bytes::from_static(&[0x01, 0x02]));
        out.push(Bytes::from_static(&[0xdd, 0xff, 0xff, 0xff, 0xff]));
        out.push(Bytes::from_static(&[0xdf, 0x00, 0x00, 0x00, 0x01, 0x01]));
        out.push(Bytes::from_static(&[0xc6, 0xff, 0xff, 0xff, 0xff]));
        out
    }

    /// Containers nested `d` deep (arrays and single-entry maps alternating).
    fn nested(d: usize) -> Bytes {
        let mut v = Vec::new();
        for i in 0..d {
            if i % 2 == 0 {
                v.push(0x91);
            } else {
                v.extend_from_slice(&[0x81, 0x01]);
            }
        }
        v.push(0xc0);
        Bytes::from(v)
    }

    fn all_opts() -> Vec<LoadsOptions> {
        vec![
            LoadsOptions::new(),
            LoadsOptions::new().keep_serialized(true),
            LoadsOptions::new().deserializers(["msgpack"]),
        ]
    }

    #[test]
    fn agrees_with_the_reference_path() {
        for (i, frames) in dumped().iter().enumerate() {
            for opts in all_opts() {
                let one_pass = check(frames, &opts);
                // specials side by side take the one pass; a payload
                // inside a set, or a refused payload, the reference path
                let refused = opts.deserialize.deserializers.is_some() && i == 1;
                assert_eq!(one_pass, i < 2 && !refused, "message {i}");
            }
        }
        for first in handmade() {
            for opts in all_opts() {
                check(std::slice::from_ref(&first), &opts);
            }
        }
    }

    #[test]
    fn agrees_on_damaged_input() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut inputs: Vec<Vec<Bytes>> = dumped();
        inputs.extend(handmade().into_iter().filter(|b| b.len() < 1000).map(|b| vec![b]));
        let opts = LoadsOptions::new();
        for frames in inputs {
            let first = frames[0].clone();
            for cut in 0..first.len() {
                let mut f = frames.clone();
                f[0] = first.slice(..cut);
                check(&f, &opts);
            }
            for _ in 0..300 {
                let mut b = first.to_vec();
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
                let mut f = frames.clone();
                f[0] = Bytes::from(b);
                check(&f, &opts);
            }
        }
    }

    #[test]
    fn dumps_refuses_leaves_past_511_levels() {
        for leaf in [Value::from("s"), Value::from(1), Value::None, Value::Float(0.5)] {
            let mut v = leaf;
            for _ in 0..511 {
                v = Value::List(vec![v]);
            }
            let opts = DumpsOptions::new();
            let frames = dumps(&v, &opts).unwrap();
            assert!(frames[0][..511].iter().all(|b| *b == 0x91));
            let deeper = Value::List(vec![v]);
            assert!(matches!(dumps(&deeper, &opts), Err(Error::Encode(_))));
        }
    }

    #[test]
    fn nesting_limits_give_the_same_errors() {
        for d in [1, 2, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025, 100_000] {
            check(&[nested(d)], &LoadsOptions::new());
        }
        for (max_depth, max_nesting) in [(0, 0), (1, 5), (5, 1), (3, 3), (70, 200), (200, 70)] {
            let opts = LoadsOptions::new().limits(Limits {
                max_depth,
                max_nesting,
                ..Limits::default()
            });
            for d in 0..8 {
                check(&[nested(d)], &opts);
            }
            check(&[nested(69)], &opts);
            check(&[nested(71)], &opts);
        }
        // the one-pass decoder takes everything within its own bound
        assert!(check(&[nested(64)], &LoadsOptions::new()));
        assert!(!check(&[nested(65)], &LoadsOptions::new()));
    }
}

#[cfg(feature = "serde")]
#[path = "message_typed.rs"]
pub mod typed;
