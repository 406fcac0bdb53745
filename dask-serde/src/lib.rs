//! Dask's serialization model in Rust, byte-compatible with Python's
//! `distributed` (2026.8.0).
//!
//! Dask moves data as a **header** (a small msgpack map) plus a list of
//! **frames** (raw byte buffers that travel without copies). Which encoder
//! produced them is the **serialization family**: `dask` (per-type
//! serializers), `pickle`, `msgpack`, `error`, or one you register. A
//! receiver only decodes families on its allow-list, and this crate never
//! executes pickle: its `pickle` family is a safe reader of plain data.
//!
//! ```
//! use bytes::Bytes;
//! use dask_serde::{deserialize_any, serialize, DeserializeOptions, SerializeOptions, Value};
//!
//! // A dynamic value, as Python would see it: {"x": b"payload", "n": 3}
//! let v = Value::Dict(vec![
//!     (Value::from("x"), Value::Bytes(Bytes::from_static(b"payload"))),
//!     (Value::from("n"), Value::from(3)),
//! ]);
//! let s = serialize(&v, &SerializeOptions::new())?;
//! // the dict is iterated: b"payload" travels as its own frame
//! assert_eq!(s.header.get("type-serialized").and_then(|t| t.as_str()), Some("dict"));
//! assert_eq!(&s.frames[0][..], b"payload");
//!
//! // The receiver refuses pickle; the int 3 was pickled, so decoding fails
//! let strict = DeserializeOptions::new().deserializers(["dask", "msgpack"]);
//! let err = deserialize_any(&s.header, &s.frame_bytes(), &strict).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "Data serialized with pickle but only able to deserialize data with ['dask', 'msgpack']"
//! );
//! // ...while the default allow-list reads it with the safe pickle reader
//! assert_eq!(deserialize_any(&s.header, &s.frame_bytes(), &DeserializeOptions::new())?, v);
//! # Ok::<(), dask_serde::Error>(())
//! ```
//!
//! Typed values skip the dynamic model entirely and serialize without
//! copying their buffers:
//!
//! ```
//! use bytes::Bytes;
//! use dask_serde::{DaskDeserialize, DaskSerialize};
//!
//! let data = vec![7u8; 1 << 20];
//! let s = data.dask_serialize()?;
//! assert_eq!(s.frames[0].as_ptr(), data.as_ptr()); // borrowed, not copied
//! let owned = s.into_owned();
//! let back = Bytes::dask_deserialize(&owned.header, &owned.frame_bytes())?;
//! assert_eq!(back.len(), 1 << 20);
//! # Ok::<(), dask_serde::Error>(())
//! ```
//!
//! # Deriving
//!
//! `#[derive(DaskSerialize, DaskDeserialize)]` (feature `derive`, on by
//! default) generates exactly the header Python's `register_generic`
//! produces for the same object: small fields in the header's `simple`
//! map, buffers and arrays as zero-copy frames in `complex`. Every
//! attribute:
//!
//! ```
//! use std::collections::{BTreeMap, HashMap};
//! use dask_serde::bytes::Bytes;
//! use dask_serde::{DaskDeserialize, DaskSerialize};
//!
//! #[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
//! #[dask(rename_all = "snake_case")]
//! enum Status { InMemory, Released }         // sent as the str "in_memory" / "released"
//!
//! #[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
//! #[dask(python = "mylab.models.Chunk")]     // the Python class (default: Rust module path + name)
//! #[dask(crate = "::dask_serde")]            // path of this crate, for re-exports
//! struct Chunk {
//!     name: String,                          // header ("simple")
//!     index: u32,                            // header
//!     status: Status,                        // header, as a str
//!     values: Vec<f64>,                      // numpy frame, zero-copy
//!     payload: Bytes,                        // bytes frame, zero-copy
//!     #[dask(header)]
//!     tag: Vec<u8>,                          // kept in the header as msgpack bin
//!     #[dask(frame)]
//!     parts: Vec<Bytes>,                     // its own dask value (a list collection)
//!     #[dask(rename = "meta-data")]
//!     meta: BTreeMap<String, i64>,           // attribute name on the wire
//!     note: Option<String>,                  // None when absent
//!     #[dask(default)]
//!     labels: Vec<String>,                   // Default::default() when absent
//!     #[dask(skip)]
//!     cache: HashMap<String, f64>,           // not sent; Default::default() on decode
//! }
//!
//! #[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
//! #[dask(python = "mylab.models.Strict", deny_unknown_fields, rename_all = "camelCase")]
//! #[dask(bound = "T: std::fmt::Display + std::str::FromStr")] // replaces the inferred bounds
//! struct Strict<T> {
//!     chunk_id: u64,                         // sent as "chunkId"
//!     #[dask(with = "as_text")]
//!     value: T,                              // placement decided by a module
//! }
//!
//! mod as_text {
//!     use dask_serde::field::{FieldValue, FieldWriter};
//!     use dask_serde::MsgValue;
//!     pub fn serialize_field<'a, T: std::fmt::Display>(v: &'a T, name: &str, w: &mut FieldWriter<'a, '_>) -> dask_serde::Result<()> {
//!         w.simple(name, MsgValue::Str(v.to_string()));
//!         Ok(())
//!     }
//!     pub fn deserialize_field<T: std::str::FromStr>(v: FieldValue<'_>) -> dask_serde::Result<T> {
//!         let s = v.simple()?.as_str().unwrap_or_default();
//!         s.parse().map_err(|_| dask_serde::Error::Encode(format!("bad value {s:?}")))
//!     }
//! }
//!
//! let chunk = Chunk {
//!     name: "c0".into(), index: 7, status: Status::InMemory,
//!     values: vec![1.0, 2.0], payload: Bytes::from_static(b"raw"), tag: b"t".to_vec(),
//!     parts: vec![Bytes::from_static(b"p")], meta: BTreeMap::from([("rows".into(), 2)]),
//!     note: None, labels: vec![], cache: HashMap::new(),
//! };
//! let s = chunk.dask_serialize()?;                 // frames borrow `chunk`'s buffers
//! assert_eq!(s.frames[0].as_ptr(), chunk.values.as_ptr().cast());
//! let back = Chunk::dask_deserialize(&s.header, &s.frame_bytes())?;
//! assert_eq!(back, chunk);
//!
//! let strict = Strict { chunk_id: 1, value: 2.5f64 };
//! let s = strict.dask_serialize()?;
//! assert_eq!(Strict::<f64>::dask_deserialize(&s.header, &s.frame_bytes())?, strict);
//! # Ok::<(), dask_serde::Error>(())
//! ```
//!
//! On the Python side the matching class only needs registering:
//!
//! ```python
//! # mylab/models.py
//! from distributed.protocol.serialize import register_generic
//!
//! class Chunk:
//!     pass
//!
//! register_generic(Chunk)
//! ```
//!
//! `distributed.protocol.deserialize(header, frames)` then returns a
//! `Chunk` whose `values` is a `numpy.ndarray`, and a `Chunk` built in
//! Python decodes into the Rust struct. Python's `register_generic` keeps
//! `bytes` attributes in the header; the derive sends `Bytes`/`Vec<u8>` as
//! frames instead (no copy, no 2 GiB msgpack limit) unless the field is
//! marked `#[dask(header)]` — Python decodes both forms to the same object.
//!
//! See `docs/ARCHITECTURE.md` in the repository for how the modules fit
//! together, and the wire-format specification for the exact bytes.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
pub mod builtins;
mod collection;
pub mod compression;
mod context;
mod error;
pub mod family;
pub mod field;
mod frame;
mod generic;
mod header;
#[cfg(feature = "json")]
pub mod json;
mod limits;
pub mod msgpack;
mod opaque;
mod options;
pub mod pack;
pub mod pickle;
pub mod protocol;
mod pytype;
mod registry;
mod serialized;
pub mod split;
mod traits;
pub mod transport;
mod value;

pub use bytes;

#[cfg(feature = "derive")]
pub use dask_serde_derive::{DaskDeserialize, DaskSerialize};

pub use builtins::bytes::ByteArray;
pub use builtins::keys::MsgpackKey;
pub use builtins::typed::{Array, Element};
pub use compression::{maybe_compress, Codec, CompressionOptions};
pub use context::Context;
pub use error::{Error, IoError, Result};
pub use frame::Frame;
pub use header::Header;
pub use limits::Limits;
pub use msgpack::MsgValue;
pub use opaque::{Opaque, PayloadKind};
pub use options::{DeserializeOptions, OnError, SerializeOptions, DEFAULT_SERIALIZERS};
pub use protocol::{deserialize_bytes, merge_and_deserialize, message, serialize_and_split, serialize_bytes};
pub use pytype::PyType;
pub use registry::{deserialize_any, register_family, serialize, DaskTypeLoader, Registry};
pub use serialized::{OwnedSerialized, Serialized};
pub use split::{merge_frames, split_frames};
pub use traits::{DaskDeserialize, DaskSerialize};
pub use value::dtype::{DType, DTypeField, IntoDType, Layout};
pub use value::ndarray::NdArray;
pub use value::{EnumMember, MemoryView, Object, PyArray, Value};
