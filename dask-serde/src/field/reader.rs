//! [`GenericReader`] and [`FieldValue`]: a received `register_generic`
//! header read attribute by attribute.

use bytes::Bytes;

use super::header_values::{expected, FromMsgpack};
use crate::error::{Error, Result};
use crate::header::{as_index, Header, MsgExt};
use crate::limits::Limits;
use crate::msgpack::MsgValue;
use crate::pytype::PyType;
use crate::traits::DaskDeserialize;

// Reading fields

/// One attribute of a received `register_generic` header.
#[derive(Clone, Copy, Debug)]
pub enum FieldValue<'h> {
    /// From `simple`.
    Simple(&'h MsgValue),
    /// From `complex`: its header and its frames.
    Complex {
        /// The attribute's header (`{"nested-dict": ...}` for dicts).
        header: &'h MsgValue,
        /// Its frames.
        frames: &'h [Bytes],
        /// Decode limits.
        limits: &'h Limits,
    },
}

impl<'h> FieldValue<'h> {
    /// Decodes a complex attribute with `T`'s [`DaskDeserialize`].
    ///
    /// # Errors
    ///
    /// A `simple` attribute, or `T`'s decoding error.
    pub fn decode<T: DaskDeserialize>(self) -> Result<T> {
        match self {
            FieldValue::Complex {
                header,
                frames,
                limits,
            } => T::__deserialize_value(header, frames, &limits.descend()?),
            FieldValue::Simple(m) => Err(Error::mismatch(
                "a serialized value",
                format!("header value ({})", m.kind()),
            )),
        }
    }

    /// The msgpack value of a simple attribute.
    ///
    /// # Errors
    ///
    /// A complex attribute.
    pub fn simple(self) -> Result<&'h MsgValue> {
        match self {
            FieldValue::Simple(m) => Ok(m),
            FieldValue::Complex { header, .. } => Err(Error::mismatch(
                "a header value",
                format!(
                    "a serialized {}",
                    header.get("type").and_then(MsgValue::as_str).unwrap_or("value")
                ),
            )),
        }
    }

    /// The entries of a `nested-dict` attribute (or of a simple dict).
    ///
    /// # Errors
    ///
    /// Neither a nested dict nor a simple dict.
    pub fn dict_entries(self) -> Result<Vec<(String, FieldValue<'h>)>> {
        match self {
            FieldValue::Simple(m) => m
                .as_map()
                .ok_or_else(|| expected("a dict", m))?
                .iter()
                .map(|(k, v)| Ok((String::from_msgpack(k)?, FieldValue::Simple(v))))
                .collect(),
            FieldValue::Complex {
                header,
                frames,
                limits,
            } => {
                let nested = header.get("nested-dict").ok_or_else(|| {
                    Error::mismatch("a dict", "a serialized value that is not a nested dict")
                })?;
                let reader = GenericReader::from_sub(nested, frames, limits)?;
                reader
                    .fields()
                    .map(|r| r.map(|(k, v)| (k.to_owned(), v)))
                    .collect()
            }
        }
    }
}

/// Reads the attributes of a received `register_generic` sub-header.
#[derive(Debug)]
pub struct GenericReader<'h> {
    simple: &'h [(MsgValue, MsgValue)],
    complex: &'h [(MsgValue, MsgValue)],
    frames: &'h [Bytes],
    limits: &'h Limits,
}

impl<'h> GenericReader<'h> {
    /// Checks that `header` is a `dask`-family generic object of `class`
    /// (its `type-serialized` names exactly that class) and opens its
    /// attributes.
    ///
    /// # Errors
    ///
    /// Another family, another class, or a malformed header.
    pub fn new(header: &'h Header, class: &PyType, frames: &'h [Bytes], limits: &'h Limits) -> Result<Self> {
        limits.check_frames(frames.len())?;
        let (found, sub) = crate::builtins::expect::expect_dask_any(header, &class.path())?;
        if &found != class {
            return Err(Error::mismatch(class.path(), found.path()));
        }
        Self::from_sub(sub, frames, limits)
    }

    /// Opens a generic sub-header (`{serializer, type-serialized, simple,
    /// complex}`) without checking its class.
    ///
    /// # Errors
    ///
    /// A malformed sub-header.
    pub fn from_sub(sub: &'h MsgValue, frames: &'h [Bytes], limits: &'h Limits) -> Result<Self> {
        let simple = sub.req("simple", "sub-header")?;
        let complex = sub.req("complex", "sub-header")?;
        Ok(GenericReader {
            simple: simple
                .as_map()
                .ok_or_else(|| Error::header("sub-header.simple", "expected a map"))?,
            complex: complex
                .as_map()
                .ok_or_else(|| Error::header("sub-header.complex", "expected a map"))?,
            frames,
            limits,
        })
    }

    /// Every attribute, simple ones first (Python's order), with complex
    /// frame ranges checked.
    pub fn fields(&self) -> impl Iterator<Item = Result<(&'h str, FieldValue<'h>)>> + '_ {
        let simple = self.simple.iter().map(|(k, v)| {
            let name = k
                .as_str()
                .ok_or_else(|| Error::header("sub-header.simple", "attribute names must be str"))?;
            Ok((name, FieldValue::Simple(v)))
        });
        let frames = self.frames;
        let limits = self.limits;
        let complex = self.complex.iter().map(move |(k, d)| {
            let name = k
                .as_str()
                .ok_or_else(|| Error::header("sub-header.complex", "attribute names must be str"))?;
            let path = format!("sub-header.complex.{name}");
            let header = d.req("header", &path)?;
            let start = as_index(d.req("start", &path)?, &path)?;
            let stop = as_index(d.req("stop", &path)?, &path)?;
            if start > stop || stop > frames.len() {
                return Err(Error::frames(format!(
                    "attribute {name:?} claims frames {start}..{stop} of {}",
                    frames.len()
                )));
            }
            Ok((
                name,
                FieldValue::Complex {
                    header,
                    frames: &frames[start..stop],
                    limits,
                },
            ))
        });
        simple.chain(complex)
    }
}
