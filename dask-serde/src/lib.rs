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
//! See `docs/ARCHITECTURE.md` in the repository for how the modules fit
//! together, and the wire-format specification for the exact bytes.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
pub mod builtins;
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
mod options;
mod pickle;
mod pytype;
mod registry;
mod serialized;
mod traits;
pub mod transport;
mod value;

pub use bytes;

#[cfg(feature = "derive")]
pub use dask_serde_derive::{DaskDeserialize, DaskSerialize};

pub use builtins::dtype::{DType, DTypeField, IntoDType, Layout};
pub use builtins::ndarray::NdArray;
pub use builtins::typed::{Array, Element};
pub use context::Context;
pub use error::{Error, Result};
pub use frame::Frame;
pub use header::Header;
pub use limits::Limits;
pub use msgpack::MsgValue;
pub use options::{DeserializeOptions, OnError, SerializeOptions};
pub use pytype::PyType;
pub use registry::{deserialize_any, register_family, serialize, DaskTypeLoader, Registry};
pub use serialized::{OwnedSerialized, Serialized};
pub use traits::{ByteArray, DaskDeserialize, DaskSerialize, MsgpackKey};
pub use value::{EnumMember, MemoryView, Object, PyArray, Value};
