//! `serialize_bytes` / `deserialize_bytes` (PROTOCOL.md §9.5): a value as
//! one self-contained blob, `pack_frames([msgpack(header), *frames])` with
//! every frame offered to the compressor.

use bytes::Bytes;

use super::{merge_and_deserialize_with, serialize_and_split_with};
use crate::compression::{decompress_frames, maybe_compress};
use crate::error::{Error, Result};
use crate::header::{as_index, Header};
use crate::msgpack::MsgValue;
use crate::options::{DeserializeOptions, SerializeOptions};
use crate::pack::{pack_frames, unpack_frames};
use crate::registry::Registry;
use crate::value::Value;

/// Python's `serialize_bytes(x, compression=…, serializers=…, on_error=…,
/// context=…, size=…)` with the process-wide registry: a self-contained
/// `pack_frames` blob of `[msgpack(header), *frames]`.
///
/// The value goes through [`serialize_and_split`](super::serialize_and_split)
/// (splitting at `opts.frame_split_size`, default 64 MiB), then every frame
/// through [`maybe_compress`] with `opts`'
/// [`effective_compression`](SerializeOptions::effective_compression)
/// (`"auto"` unless set); the header's `compression` list is replaced by the
/// codecs used and `count` (the number of frames) is appended, so the key
/// order is `…, split-num-sub-frames, split-offsets, compression, count`.
///
/// One deviation: a frame whose `compression` entry was already set by its
/// serializer is kept as is (Python would compress it again and lose the
/// first codec's name). Dask's built-in serializers never set one.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use dask_serde::{deserialize_bytes, serialize_bytes, DeserializeOptions, SerializeOptions, Value};
///
/// let v = Value::Bytes(Bytes::from(vec![0u8; 100_000]));
/// let blob = serialize_bytes(&v, &SerializeOptions::new())?; // lz4 ("auto")
/// assert!(blob.len() < 1_000);
/// assert!(blob.len() < 1_000);
/// let back = deserialize_bytes(&Bytes::from(blob), &DeserializeOptions::new())?;
/// assert_eq!(back, v);
/// # Ok::<(), dask_serde::Error>(())
/// ```
///
/// # Errors
///
/// Serialization errors, [`Error::UnknownCodec`], codec failures.
pub fn serialize_bytes(value: &Value, opts: &SerializeOptions) -> Result<Vec<u8>> {
    serialize_bytes_with(&Registry::global(), value, opts)
}

/// Python's `deserialize_bytes(blob)` with the process-wide registry (and,
/// unlike Python, the allow-list and limits of `opts`).
///
/// The header is decoded with msgpack's strict map keys, as Python does
/// here: a key that is not a str or bin anywhere in it is an error
/// (Python: `ValueError: int is not allowed for map key when
/// strict_map_key=True`). Then the frames are decompressed, split pieces
/// merged (pieces adjacent in `blob` without copying) and deserialized.
///
/// Stricter than Python: the `compression` list must match the frames one
/// to one, and `count`, when present, must equal the number of frames.
///
/// # Examples
///
/// See [`serialize_bytes`].
///
/// # Errors
///
/// A malformed blob or header, corrupt compressed frames, limits exceeded,
/// or the errors of [`deserialize_any`](crate::deserialize_any).
pub fn deserialize_bytes(blob: &Bytes, opts: &DeserializeOptions) -> Result<Value> {
    deserialize_bytes_with(&Registry::global(), blob, opts)
}

/// [`serialize_bytes`] with the families of `registry`.
///
/// # Errors
///
/// See [`serialize_bytes`].
pub fn serialize_bytes_with(registry: &Registry, value: &Value, opts: &SerializeOptions) -> Result<Vec<u8>> {
    let compression = &opts.effective_compression();
    let s = serialize_and_split_with(registry, value, opts)?;
    let mut header = s.header;
    let prior = header.compression()?.unwrap_or_default();
    let mut codecs = Vec::with_capacity(s.frames.len());
    let mut frames = Vec::with_capacity(s.frames.len());
    for (i, f) in s.frames.into_iter().enumerate() {
        match prior.get(i).cloned().flatten() {
            Some(kept) => {
                codecs.push(MsgValue::Str(kept));
                frames.push(f);
            }
            None => {
                let (codec, f) = maybe_compress(f, compression)?;
                codecs.push(codec.map_or(MsgValue::Nil, MsgValue::from));
                frames.push(f);
            }
        }
    }
    if !frames.is_empty() {
        header.insert("compression", MsgValue::Array(codecs));
    }
    header.insert("count", frames.len());
    let head = header.encode()?;
    let mut parts: Vec<&[u8]> = Vec::with_capacity(frames.len() + 1);
    parts.push(&head);
    parts.extend(frames.iter().map(|f| f.as_slice()));
    Ok(pack_frames(&parts))
}

/// [`deserialize_bytes`] with the families of `registry`.
///
/// # Errors
///
/// See [`deserialize_bytes`].
pub fn deserialize_bytes_with(registry: &Registry, blob: &Bytes, opts: &DeserializeOptions) -> Result<Value> {
    let limits = &opts.limits;
    let mut frames = unpack_frames(blob, limits)?;
    if frames.is_empty() {
        return Err(Error::frames("a serialize_bytes blob needs a header frame"));
    }
    let rest = frames.split_off(1);
    let head = &frames[0];
    let header = if head.is_empty() {
        Header::new()
    } else {
        let v = MsgValue::decode(head, limits)?;
        check_strict_map_keys(&v)?;
        Header::from_value(v)?
    };
    let compression = match header.get("compression") {
        None => return Err(Error::header("<root>", "missing key \"compression\"")),
        Some(MsgValue::Array(_)) => header.compression()?,
        Some(other) => {
            return Err(Error::header(
                "compression",
                format!("expected an array, found {}", other.kind()),
            ))
        }
    };
    if let Some(count) = header.get("count") {
        let count = as_index(count, "count")?;
        if count != rest.len() {
            return Err(Error::frames(format!(
                "header count is {count} but the blob has {} frames",
                rest.len()
            )));
        }
    }
    let frames = decompress_frames(compression.as_deref(), rest, limits)?;
    merge_and_deserialize_with(registry, &header, frames, Some(blob), opts)
}

/// msgpack-python's `strict_map_key=True`: only str and bin map keys, at
/// every level.
fn check_strict_map_keys(v: &MsgValue) -> Result<()> {
    let mut stack: Vec<(&MsgValue, String)> = vec![(v, String::from("<root>"))];
    while let Some((v, path)) = stack.pop() {
        match v {
            MsgValue::Map(entries) => {
                for (k, val) in entries {
                    let name = match k {
                        MsgValue::Str(s) => s.clone(),
                        MsgValue::Bin(_) => "<bin>".to_owned(),
                        other => {
                            return Err(Error::header(
                                path,
                                format!(
                                    "{} is not allowed for map key when strict_map_key=True",
                                    py_type_of(other)
                                ),
                            ))
                        }
                    };
                    stack.push((val, format!("{path}.{name}")));
                }
            }
            MsgValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    stack.push((item, format!("{path}[{i}]")));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn py_type_of(v: &MsgValue) -> &'static str {
    match v {
        MsgValue::Nil => "NoneType",
        MsgValue::Bool(_) => "bool",
        MsgValue::Int(_) => "int",
        MsgValue::Float(_) => "float",
        MsgValue::Str(_) => "str",
        MsgValue::Bin(_) => "bytes",
        MsgValue::Array(_) => "tuple",
        MsgValue::Map(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_keys() {
        let ok = MsgValue::Map(vec![(
            "a".into(),
            MsgValue::Map(vec![(MsgValue::Bin(Bytes::new()), 1.into())]),
        )]);
        check_strict_map_keys(&ok).unwrap();
        let bad = MsgValue::Map(vec![(
            "a".into(),
            MsgValue::Array(vec![MsgValue::Map(vec![(1.into(), 1.into())])]),
        )]);
        let e = check_strict_map_keys(&bad).unwrap_err();
        assert!(e.to_string().contains("int is not allowed for map key"), "{e}");
        assert_eq!(e.python_type(), "ValueError");
    }
}
