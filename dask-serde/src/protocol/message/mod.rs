//! Messages: `protocol.dumps` / `protocol.loads` (PROTOCOL.md §10).
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

//!
//! The module is split by direction: `encode` walks a message in msgpack
//! order and appends payload frames, `decode` is the reference decoder
//! (a msgpack tree, then special maps), and `one_pass` decodes frame 0
//! straight into a [`Value`] and hands anything unusual back to the
//! reference decoder, which then decides the value or the error.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::options::{DeserializeOptions, SerializeOptions};
use crate::registry::Registry;
use crate::value::Value;

mod decode;
mod encode;
mod one_pass;
#[cfg(feature = "serde")]
pub mod typed;

use decode::Decoder;
#[cfg(feature = "serde")]
pub(crate) use encode::push_serialized;
pub(crate) use encode::write_frame0;
use encode::{EncErr, Encoder};
use one_pass::Fallback;

/// Encodes a message with the process-wide registry (Python's
/// `distributed.protocol.dumps`). Returns the frames: frame 0 is the
/// msgpack message, the rest are sub-headers and payload frames.
///
/// # Examples
///
/// ```
/// use dask_serde::message::{dumps, loads};
/// use dask_serde::{DeserializeOptions, SerializeOptions};
/// use dask_serde::{Context, Value};
///
/// let msg = Value::Dict(vec![
///     (Value::from("op"), Value::from("update")),
///     (Value::from("data"), Value::Serialize(Box::new(Value::from(vec![1u8, 2, 3])))),
/// ]);
/// let opts = SerializeOptions::new().context(Context::new().with("compression", Value::None));
/// let frames = dumps(&msg, &opts)?;
/// assert_eq!(frames.len(), 3); // message, sub-header, payload
/// let back = loads(&frames, &DeserializeOptions::new())?;
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
pub fn dumps(msg: &Value, opts: &SerializeOptions) -> Result<Vec<Bytes>> {
    dumps_with(&Registry::global(), msg, opts)
}

/// Decodes a message with the process-wide registry (Python's
/// `distributed.protocol.loads`).
///
/// # Errors
///
/// Malformed frame 0 or sub-headers, references outside the frame list,
/// refused families (allow-list), `__Pickled__` without `pickle` allowed.
pub fn loads(frames: &[Bytes], opts: &DeserializeOptions) -> Result<Value> {
    loads_with(&Registry::global(), frames, opts)
}

/// [`dumps`] with the families of `registry`.
///
/// # Errors
///
/// See [`dumps`].
pub fn dumps_with(registry: &Registry, msg: &Value, opts: &SerializeOptions) -> Result<Vec<Bytes>> {
    let mut enc = Encoder {
        registry,
        opts,
        compression: None,
        leaf_opts: None,
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

/// [`loads`] with the families of `registry`.
///
/// # Errors
///
/// See [`loads`].
pub fn loads_with(registry: &Registry, frames: &[Bytes], opts: &DeserializeOptions) -> Result<Value> {
    let limits = &opts.limits;
    limits.check_frames(frames.len())?;
    let first = frames
        .first()
        .ok_or_else(|| Error::frames("a message needs at least frame 0"))?;
    let dec = Decoder {
        registry,
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
