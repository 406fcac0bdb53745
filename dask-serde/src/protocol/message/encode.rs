//! Encoding of messages ([`dumps`](super::dumps)).

use bytes::Bytes;

use crate::compression::{maybe_compress, CompressionOptions};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::header::Header;
use crate::msgpack::{MsgValue, INT_MAX, INT_MIN};
use crate::opaque::{Opaque, PayloadKind};
use crate::options::SerializeOptions;
use crate::registry::Registry;
use crate::value::Value;

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
    out.push(Bytes::from(header.encode()?));
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

pub(super) struct Encoder<'r> {
    pub(super) registry: &'r Registry,
    pub(super) opts: &'r SerializeOptions,
    /// made on the first payload
    pub(super) compression: Option<CompressionOptions>,
    /// the options of payloads (`opts` with collections iterated), made on
    /// the first payload
    pub(super) leaf_opts: Option<SerializeOptions>,
    pub(super) frames: Vec<Bytes>,
    /// second pass: wrap unencodable values in ToPickle
    pub(super) safe: bool,
}

#[cold]
#[inline(never)]
fn too_deep() -> EncErr {
    EncErr::Fatal(Error::Encode("message nested more than 511 levels deep".into()))
}

/// A value msgpack cannot encode (Python's `TypeError` from the packer).
struct Unencodable;

pub(super) enum EncErr {
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
    pub(super) fn encode_to(
        &mut self,
        v: &Value,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> std::result::Result<(), EncErr> {
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
        let opts = self.opts;
        let leaf = self
            .leaf_opts
            .get_or_insert_with(|| opts.clone().iterate_collection(Some(true)));
        let s = self.registry.serialize_at(v, leaf, 0)?;
        let compression = self
            .compression
            .get_or_insert_with(|| opts.effective_compression());
        push_serialized(&mut self.frames, s, self.opts.frame_split_size, compression)
    }

    fn opaque_payload(&mut self, o: &Opaque) -> Result<usize> {
        let offset = self.frames.len();
        let mut header = o.header.clone();
        header.insert("num-sub-frames", o.frames.len());
        self.frames.push(Bytes::from(header.encode()?));
        self.frames.extend(o.frames.iter().cloned());
        Ok(offset)
    }

    fn pickled_payload(&mut self, v: &Value) -> Result<usize> {
        let offset = self.frames.len();
        let (pickle, buffers) = crate::pickle::dumps_with_buffers(v, 5)?;
        let mut frames = Vec::with_capacity(buffers.len());
        let mut compression = Vec::with_capacity(buffers.len());
        for b in buffers {
            let opts = self
                .compression
                .get_or_insert_with(|| self.opts.effective_compression());
            let (codec, out) = maybe_compress(Frame::Shared(b), opts)?;
            compression.push(codec.map_or(MsgValue::Nil, |c| MsgValue::Str(c.to_owned())));
            frames.push(out.into_bytes());
        }
        let header = Header::from_entries(vec![
            ("pickled-obj".into(), MsgValue::Bin(Bytes::from(pickle))),
            ("compression".into(), MsgValue::Array(compression)),
            ("num-sub-frames".into(), MsgValue::from(frames.len())),
        ]);
        self.frames.push(Bytes::from(header.encode()?));
        self.frames.extend(frames);
        Ok(offset)
    }
}
