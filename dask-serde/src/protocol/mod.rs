//! The protocol layer: how Dask composes serialization, splitting and
//! compression (Python's `distributed/protocol/serialize.py` and
//! `core.py`).
//!
//! Everything below this layer is either a pure function over headers and
//! frames ([`split`](crate::split), [`compression`](crate::compression),
//! [`pack`](crate::pack)) or the serialize/deserialize recursion of the
//! [`Registry`]. This module puts them together:
//!
//! * [`serialize_and_split`] / [`merge_and_deserialize`]: a value as a
//!   header and frames cut at `frame_split_size` (PROTOCOL.md §8);
//! * [`serialize_bytes`] / [`deserialize_bytes`]: a value as one
//!   self-contained, compressed blob (PROTOCOL.md §9.5);
//! * [`message`]: `dumps` / `loads` of whole messages (PROTOCOL.md §10).
//!
//! Each function uses the process-wide registry; its `_with` twin takes an
//! explicit [`Registry`].

use bytes::Bytes;

use crate::error::Result;
use crate::header::Header;
use crate::options::{DeserializeOptions, SerializeOptions};
use crate::registry::Registry;
use crate::serialized::Serialized;
use crate::split::{merge_frames, split_frames};
use crate::value::Value;

mod blob;
pub mod message;

pub use blob::{deserialize_bytes, deserialize_bytes_with, serialize_bytes, serialize_bytes_with};

/// Python's `serialize_and_split(x, serializers, on_error, context, size)`
/// with the process-wide registry: [`serialize`](crate::serialize) then
/// [`split_frames`] at `opts.frame_split_size`. `opts.iterate_collection`
/// is honoured (Python's function always infers it).
///
/// # Examples
///
/// ```
/// use dask_serde::{serialize_and_split, MsgValue, SerializeOptions, Value};
///
/// let v = Value::from("small");
/// let s = serialize_and_split(&v, &SerializeOptions::new())?;
/// assert_eq!(s.header.get("compression"), Some(&MsgValue::Array(vec![MsgValue::Nil])));
/// # Ok::<(), dask_serde::Error>(())
/// ```
///
/// # Errors
///
/// Those of [`Registry::serialize`] and [`split_frames`].
pub fn serialize_and_split<'a>(value: &'a Value, opts: &SerializeOptions) -> Result<Serialized<'a>> {
    serialize_and_split_with(&Registry::global(), value, opts)
}

/// [`serialize_and_split`] with the families of `registry`.
///
/// # Errors
///
/// Those of [`Registry::serialize`] and [`split_frames`].
pub fn serialize_and_split_with<'a>(
    registry: &Registry,
    value: &'a Value,
    opts: &SerializeOptions,
) -> Result<Serialized<'a>> {
    split_frames(registry.serialize(value, opts)?, opts.frame_split_size)
}

/// Python's `merge_and_deserialize(header, frames, deserializers)` with the
/// process-wide registry: [`merge_frames`] then
/// [`deserialize_any`](crate::deserialize_any). See
/// [`merge_and_deserialize_with`] to merge without copying inside a
/// parent buffer.
///
/// # Examples
///
/// ```
/// use dask_serde::{merge_and_deserialize, serialize_and_split, DeserializeOptions, NdArray};
/// use dask_serde::{SerializeOptions, Value};
///
/// let v = Value::from(NdArray::from_c_order("<f8", vec![1000], vec![0u8; 8000].into())?);
/// let s = serialize_and_split(&v, &SerializeOptions::new().frame_split_size(1000))?;
/// assert_eq!(s.frames.len(), 8); // 125 items per piece
/// let back = merge_and_deserialize(&s.header, s.frame_bytes(), &DeserializeOptions::new())?;
/// assert_eq!(back, v);
/// # Ok::<(), dask_serde::Error>(())
/// ```
///
/// # Errors
///
/// Those of [`merge_frames`] and [`deserialize_any`](crate::deserialize_any).
pub fn merge_and_deserialize(
    header: &Header,
    frames: Vec<Bytes>,
    opts: &DeserializeOptions,
) -> Result<Value> {
    merge_and_deserialize_with(&Registry::global(), header, frames, None, opts)
}

/// [`merge_and_deserialize`] with the families of `registry`; `parent` is
/// the buffer the frames were sliced from, if any (pieces adjacent inside
/// it merge without a copy, see [`merge_frames`]).
///
/// # Errors
///
/// Those of [`merge_frames`] and [`Registry::deserialize_any`].
pub fn merge_and_deserialize_with(
    registry: &Registry,
    header: &Header,
    frames: Vec<Bytes>,
    parent: Option<&Bytes>,
    opts: &DeserializeOptions,
) -> Result<Value> {
    opts.limits.check_frames(frames.len())?;
    let frames = merge_frames(header, frames, parent)?;
    registry.deserialize_any(header, &frames, opts)
}
