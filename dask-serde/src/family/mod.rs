//! Serialization families: `dask`, `msgpack`, `pickle` (safe subset),
//! `error`, and user families registered by name.

use bytes::Bytes;

use crate::context::Context;
use crate::error::Result;
use crate::header::Header;
use crate::options::DeserializeOptions;
use crate::registry::Registry;
use crate::serialized::Serialized;
use crate::value::Value;

pub mod dask;
pub mod error;
pub mod msgpack;
pub mod pickle;

/// What a family's encoder is given besides the value.
#[derive(Clone, Copy, Debug)]
pub struct EncodeCx<'r> {
    /// The registry doing the serialization (for nested values).
    pub registry: &'r Registry,
    /// The sender's context, if any.
    pub context: Option<&'r Context>,
    /// Nesting depth so far (recursion guard).
    pub depth: usize,
}

/// What a family's decoder is given besides header and frames.
#[derive(Clone, Copy, Debug)]
pub struct DecodeCx<'r> {
    /// The registry doing the deserialization (for nested values).
    pub registry: &'r Registry,
    /// The allow-list and limits.
    pub options: &'r DeserializeOptions,
    /// Nesting depth so far.
    pub depth: usize,
}

impl DecodeCx<'_> {
    /// Decodes a nested serialized value (allow-list applied).
    ///
    /// # Errors
    ///
    /// As [`Registry::deserialize_any`].
    pub fn deserialize(&self, header: &Header, frames: &[Bytes]) -> Result<Value> {
        self.registry
            .deserialize_at(header, frames, self.options, self.depth + 1)
    }
}

/// A serialization family (Python: `register_serialization_family(name,
/// dumps, loads)`).
///
/// `encode` returns `Ok(None)` to decline ("not me", Python's
/// `NotImplementedError`), which makes [`serialize`](crate::serialize) try
/// the next family; an `Err` stops the search (Dask's behaviour: later
/// families are not tried) and, with `on_error = Message`, its text becomes
/// the error frame's traceback. The header returned by `encode` does not
/// need a `serializer` key: `serialize` sets it to the family's name.
///
/// # Examples
///
/// A family that sends strings as raw UTF-8:
///
/// ```
/// use bytes::Bytes;
/// use dask_serde::family::{DecodeCx, EncodeCx, Family};
/// use dask_serde::{Error, Frame, Header, Registry, Serialized, SerializeOptions, Value};
/// use std::sync::Arc;
///
/// struct Utf8;
/// impl Family for Utf8 {
///     fn name(&self) -> &str { "utf8" }
///     fn encode<'a>(&self, v: &'a Value, _: &EncodeCx<'_>) -> Result<Option<Serialized<'a>>, Error> {
///         Ok(match v {
///             Value::Str(s) => Some(Serialized::new(Header::new(), vec![Frame::from(s.as_bytes())])),
///             _ => None,
///         })
///     }
///     fn decode(&self, _: &Header, frames: &[Bytes], _: &DecodeCx<'_>) -> Result<Value, Error> {
///         let text = frames.iter().map(|f| String::from_utf8_lossy(f)).collect::<String>();
///         Ok(Value::Str(text))
///     }
/// }
///
/// let mut reg = Registry::new();
/// reg.register_family(Arc::new(Utf8));
/// let v = Value::from("héllo");
/// let s = reg.serialize(&v, &SerializeOptions::new().serializers(["utf8", "pickle"]))?;
/// assert_eq!(s.header.serializer(), Some("utf8"));
/// assert_eq!(reg.deserialize_any(&s.header, &s.frame_bytes(), &Default::default())?, v);
/// # Ok::<(), Error>(())
/// ```
pub trait Family: Send + Sync {
    /// The family's name, as written to `header["serializer"]`.
    fn name(&self) -> &str;

    /// Encodes `value`, or declines with `Ok(None)`.
    ///
    /// # Errors
    ///
    /// A failure that should stop the search.
    fn encode<'a>(&self, value: &'a Value, cx: &EncodeCx<'_>) -> Result<Option<Serialized<'a>>>;

    /// Decodes a header and its frames. Only called after the allow-list
    /// accepted this family.
    ///
    /// # Errors
    ///
    /// Malformed input, or data this family refuses.
    fn decode(&self, header: &Header, frames: &[Bytes], cx: &DecodeCx<'_>) -> Result<Value>;
}
