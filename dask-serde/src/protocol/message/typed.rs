//! Typed messages: ordinary serde types as Dask messages (feature `serde`).
//!
//! Any `#[derive(Serialize, Deserialize)]` struct is a message; a field of
//! type [`ToSerialize<T>`] is a "serialize me" leaf: its value (any
//! [`DaskSerialize`] type: `Bytes`, `Array<T>`, `NdArray`, derived structs,
//! collections of those) travels out of band as a `{"__Serialized__": k}`
//! reference, exactly as Python's `to_serialize(x)`. Frame 0 is written
//! with [`rmp_serde`] (structs as maps, names as keys).
//!
//! ```
//! use dask_serde::message::typed::{dumps_typed, loads_typed, ToSerialize};
//! use dask_serde::{DeserializeOptions, SerializeOptions};
//! use dask_serde::Array;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Update {
//!     op: String,
//!     key: String,
//!     data: ToSerialize<Array<f64>>,
//! }
//!
//! let msg = Update { op: "update".into(), key: "x".into(), data: ToSerialize(Array::from_vec(vec![1.0, 2.0])) };
//! let frames = dumps_typed(&msg, &SerializeOptions::new())?;
//! assert_eq!(frames.len(), 3); // message, sub-header, the array
//! let back: Update = loads_typed(&frames, &DeserializeOptions::new())?;
//! assert_eq!(back, msg);
//! # Ok::<(), dask_serde::Error>(())
//! ```
//!
//! Serialization state travels in a thread-local set up by
//! [`dumps_typed`] / [`loads_typed`]; a [`ToSerialize`] serialized or
//! deserialized outside them is an error, not a panic. Payload frames are
//! owned `Bytes`: `Bytes`-backed values (`Bytes`, [`Array`](crate::Array),
//! [`NdArray`](crate::NdArray)) are shared, borrowed buffers (`Vec<f64>`)
//! are copied once.

use std::cell::RefCell;
use std::fmt;

use bytes::Bytes;
use serde::de::{DeserializeOwned, Error as _, MapAccess, Visitor};
use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::push_serialized;
use crate::compression::CompressionOptions;
use crate::error::{Error, Result};
use crate::opaque::{read_payload, unpack_payload};
use crate::options::{resolve_compression, DeserializeOptions, SerializeOptions};
use crate::traits::{DaskDeserialize, DaskSerialize};

/// A "serialize me" leaf of a typed message (Python's `to_serialize`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ToSerialize<T>(pub T);

/// What a [`ToSerialize`] needs while [`dumps_typed`] runs: the payload
/// frames so far and the few options payloads use (nothing is cloned
/// from the options unless the context names a codec).
struct EncodeState {
    /// `[placeholder for frame 0, payload frames...]`, empty until the
    /// first payload
    frames: Vec<Bytes>,
    /// [`SerializeOptions::compression`].
    /// (boxed: the state is moved into a thread-local on every call, and
    /// explicit compression options are rare)
    explicit: Option<Box<CompressionOptions>>,
    /// The context's `compression` entry (see [`SerializeOptions::context`]).
    codec: Option<Option<String>>,
    frame_split_size: Option<usize>,
}

/// What a [`ToSerialize`] needs while [`loads_typed`] runs. A message of
/// frame 0 alone can hold no valid reference, so nothing is copied then.
struct DecodeState {
    /// The frames and options, when there are payload frames.
    payloads: Option<(Vec<Bytes>, DeserializeOptions)>,
}

thread_local! {
    static ENCODE: RefCell<Option<EncodeState>> = const { RefCell::new(None) };
    static DECODE: RefCell<Option<DecodeState>> = const { RefCell::new(None) };
}

/// Restores the previous state when dropped (so nested or failed calls
/// leave the thread clean).
struct Restore<T: 'static> {
    key: &'static std::thread::LocalKey<RefCell<Option<T>>>,
    previous: Option<T>,
}

impl<T: 'static> Drop for Restore<T> {
    fn drop(&mut self) {
        let prev = self.previous.take();
        self.key.with(|c| *c.borrow_mut() = prev);
    }
}

/// Encodes a serde value as a Dask message.
///
/// # Errors
///
/// serde errors, payload serialization errors, and everything [`dumps`](super::dumps) reports.
pub fn dumps_typed<T: Serialize + ?Sized>(msg: &T, opts: &SerializeOptions) -> Result<Vec<Bytes>> {
    let state = EncodeState {
        frames: Vec::new(),
        codec: opts
            .context
            .as_ref()
            .and_then(crate::context::Context::compression)
            .map(|c| c.map(str::to_owned)),
        explicit: opts.compression.clone().map(Box::new),
        frame_split_size: opts.frame_split_size,
    };
    let previous = ENCODE.with(|c| c.borrow_mut().replace(state));
    let guard = Restore {
        key: &ENCODE,
        previous,
    };
    let (written, frame0) = super::write_frame0(|out| rmp_serde::encode::write_named(out, msg));
    let state = ENCODE.with(|c| c.borrow_mut().take());
    drop(guard);
    written.map_err(|e| Error::Encode(format!("message: {e}")))?;
    let mut frames = state.map(|s| s.frames).unwrap_or_default();
    match frames.first_mut() {
        Some(f) => *f = frame0,
        None => frames = vec![frame0],
    }
    Ok(frames)
}

/// Decodes a Dask message into a serde type.
///
/// # Errors
///
/// Malformed frames, a message that does not match `T`, and everything
/// [`loads`](super::loads) reports for the payloads.
pub fn loads_typed<T: DeserializeOwned>(frames: &[Bytes], opts: &DeserializeOptions) -> Result<T> {
    let limits = &opts.limits;
    limits.check_frames(frames.len())?;
    let first = frames
        .first()
        .ok_or_else(|| Error::frames("a message needs at least frame 0"))?;
    // reject hostile nesting before serde recurses (a scan, no tree built)
    crate::msgpack::check_depth(first, limits.max_nesting)?;
    let state = DecodeState {
        payloads: (frames.len() > 1).then(|| (frames.to_vec(), opts.clone())),
    };
    let previous = DECODE.with(|c| c.borrow_mut().replace(state));
    let _guard = Restore {
        key: &DECODE,
        previous,
    };
    rmp_serde::from_slice(first).map_err(|e| Error::Header {
        path: "message".into(),
        message: e.to_string(),
    })
}

impl<T: DaskSerialize> Serialize for ToSerialize<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let offset = ENCODE
            .with(|c| -> Result<usize> {
                let mut guard = c.borrow_mut();
                let state = guard.as_mut().ok_or_else(|| {
                    Error::Encode("ToSerialize can only be encoded by message::typed::dumps_typed".into())
                })?;
                let s = self.0.dask_serialize()?;
                let compression = resolve_compression(
                    state.explicit.as_deref(),
                    state.codec.as_ref().map(|c| c.as_deref()),
                );
                if state.frames.is_empty() {
                    // frame 0's place
                    state.frames.push(Bytes::new());
                }
                push_serialized(&mut state.frames, s, state.frame_split_size, &compression)
            })
            .map_err(S::Error::custom)?;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("__Serialized__", &offset)?;
        map.end()
    }
}

impl<'de, T: DaskDeserialize> Deserialize<'de> for ToSerialize<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct RefVisitor;
        impl<'de> Visitor<'de> for RefVisitor {
            type Value = usize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a {\"__Serialized__\": k} reference")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<usize, A::Error> {
                let mut offset = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "__Serialized__" {
                        offset = Some(map.next_value::<u64>()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                match offset {
                    Some(k) if k > 0 => usize::try_from(k).map_err(A::Error::custom),
                    _ => Err(A::Error::custom("missing or zero __Serialized__ offset")),
                }
            }
        }
        let k = deserializer.deserialize_map(RefVisitor)?;
        DECODE
            .with(|c| -> Result<T> {
                let guard = c.borrow();
                let state = guard.as_ref().ok_or_else(|| {
                    Error::Encode("ToSerialize can only be decoded by message::typed::loads_typed".into())
                })?;
                decode_payload(state, k)
            })
            .map(ToSerialize)
            .map_err(D::Error::custom)
    }
}

fn decode_payload<T: DaskDeserialize>(state: &DecodeState, k: usize) -> Result<T> {
    let Some((frames, opts)) = &state.payloads else {
        // frame 0 alone: every reference (k > 0) points past the end
        let only = [Bytes::new()];
        read_payload(&only, k, &DeserializeOptions::default().limits, "__Serialized__")?;
        return Err(Error::frames(format!(
            "__Serialized__ {k} points past the 1 frames"
        )));
    };
    let limits = &opts.limits;
    let (header, frames) = read_payload(frames, k, limits, "__Serialized__")?;
    let frames = unpack_payload(&header, frames, limits)?;
    // the family allow-list applies to typed payloads too
    if !opts.allows(header.serializer()) && !header.is_collection() {
        return Err(Error::NotAllowed {
            serializer: header.serializer().map(str::to_owned),
            allowed: opts.deserializers.clone().unwrap_or_default(),
        });
    }
    T::deserialize_from(&header, &frames, limits)
}
