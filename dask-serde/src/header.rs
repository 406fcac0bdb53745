//! The header: an insertion-ordered msgpack map.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::msgpack::MsgValue;

/// A Dask header: a msgpack map whose key order is part of the bytes
/// (spec §1a), so it is kept in insertion order.
///
/// Keys the framework owns have typed accessors ([`Header::serializer`],
/// [`Header::compression`], ...); everything else is reached with
/// [`Header::get`].
///
/// # Examples
///
/// ```
/// use dask_serde::{Header, MsgValue};
///
/// let mut h = Header::new();
/// h.insert("serializer", "msgpack");
/// assert_eq!(h.serializer(), Some("msgpack"));
/// let bytes = h.to_msgpack()?;
/// assert_eq!(bytes[0], 0x81); // a one-entry map
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Header {
    entries: Vec<(MsgValue, MsgValue)>,
}

impl Header {
    /// An empty header.
    pub fn new() -> Self {
        Header::default()
    }

    /// A header from entries in order.
    pub fn from_entries(entries: Vec<(MsgValue, MsgValue)>) -> Self {
        Header { entries }
    }

    /// The entries in order.
    pub fn entries(&self) -> &[(MsgValue, MsgValue)] {
        &self.entries
    }

    /// Consumes the header, returning its entries.
    pub fn into_entries(self) -> Vec<(MsgValue, MsgValue)> {
        self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when the header has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of a string key.
    pub fn get(&self, key: &str) -> Option<&MsgValue> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// `true` if the string key is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets a string key. Like a Python dict, an existing key keeps its
    /// position and a new key is appended at the end.
    pub fn insert(&mut self, key: &str, value: impl Into<MsgValue>) {
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| k.as_str() == Some(key)) {
            Some((_, v)) => *v = value,
            None => self.entries.push((MsgValue::Str(key.to_owned()), value)),
        }
    }

    /// Removes a string key, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<MsgValue> {
        let i = self.entries.iter().position(|(k, _)| k.as_str() == Some(key))?;
        Some(self.entries.remove(i).1)
    }

    /// The `serializer` key (the family name), if present and a string.
    pub fn serializer(&self) -> Option<&str> {
        self.get("serializer").and_then(MsgValue::as_str)
    }

    /// The per-frame `compression` list (`None` entries are uncompressed
    /// frames), if present.
    ///
    /// # Errors
    ///
    /// The key is present but is not an array of strings and nils.
    pub fn compression(&self) -> Result<Option<Vec<Option<String>>>> {
        let Some(v) = self.get("compression") else {
            return Ok(None);
        };
        if v.is_nil() {
            return Ok(None);
        }
        let items = v
            .as_array()
            .ok_or_else(|| Error::header("compression", format!("expected an array, found {}", v.kind())))?;
        items
            .iter()
            .enumerate()
            .map(|(i, c)| match c {
                MsgValue::Nil => Ok(None),
                MsgValue::Str(s) => Ok(Some(s.clone())),
                other => Err(Error::header(
                    format!("compression[{i}]"),
                    format!("expected a codec name or nil, found {}", other.kind()),
                )),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// `true` for a collection header (key `is-collection`, spec §6).
    pub fn is_collection(&self) -> bool {
        self.contains_key("is-collection")
    }

    /// Converts the header into a msgpack map value.
    pub fn into_value(self) -> MsgValue {
        MsgValue::Map(self.entries)
    }

    /// A header from a msgpack value, which must be a map.
    ///
    /// # Errors
    ///
    /// The value is not a map.
    pub fn from_value(v: MsgValue) -> Result<Self> {
        match v {
            MsgValue::Map(entries) => Ok(Header { entries }),
            other => Err(Error::header(
                "<root>",
                format!("expected a map, found {}", other.kind()),
            )),
        }
    }

    /// Encodes the header as msgpack (`use_bin_type=True`), the form it
    /// has as frame 0 of a serialized value.
    ///
    /// # Errors
    ///
    /// A value msgpack cannot carry (see [`MsgValue::encode`]).
    pub fn to_msgpack(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(64);
        crate::msgpack::write_map_len(&mut out, self.entries.len())?;
        for (k, v) in &self.entries {
            k.write(&mut out)?;
            v.write(&mut out)?;
        }
        Ok(out)
    }

    /// Decodes a msgpack header (Dask's decoding options). `bin` values
    /// share `bytes`' memory.
    ///
    /// # Errors
    ///
    /// Malformed msgpack, or a value that is not a map.
    pub fn from_msgpack(bytes: &Bytes, limits: &Limits) -> Result<Self> {
        Header::from_value(MsgValue::decode(bytes, limits)?)
    }
}

impl From<Header> for MsgValue {
    fn from(h: Header) -> Self {
        h.into_value()
    }
}

/// Typed access to header fields with precise error paths.
pub(crate) trait MsgExt {
    fn req<'a>(&'a self, key: &str, path: &str) -> Result<&'a MsgValue>;
}

impl MsgExt for MsgValue {
    fn req<'a>(&'a self, key: &str, path: &str) -> Result<&'a MsgValue> {
        self.get(key)
            .ok_or_else(|| Error::header(path, format!("missing key {key:?}")))
    }
}

impl MsgExt for Header {
    fn req<'a>(&'a self, key: &str, path: &str) -> Result<&'a MsgValue> {
        self.get(key)
            .ok_or_else(|| Error::header(path, format!("missing key {key:?}")))
    }
}

/// Reads a non-negative integer that indexes or counts something.
pub(crate) fn as_index(v: &MsgValue, path: &str) -> Result<usize> {
    as_index_with(v, || path.to_owned())
}

/// [`as_index`] with the error path built only when there is an error
/// (hot decode paths call this once per dimension or item).
pub(crate) fn as_index_with(v: &MsgValue, path: impl FnOnce() -> String) -> Result<usize> {
    match v {
        MsgValue::Int(i) if *i >= 0 => {
            usize::try_from(*i).map_err(|_| Error::header(path(), format!("{i} is too large")))
        }
        MsgValue::Int(i) => Err(Error::header(
            path(),
            format!("expected a non-negative integer, found {i}"),
        )),
        other => Err(Error::header(
            path(),
            format!("expected an integer, found {}", other.kind()),
        )),
    }
}

pub(crate) fn as_str<'a>(v: &'a MsgValue, path: &str) -> Result<&'a str> {
    v.as_str()
        .ok_or_else(|| Error::header(path, format!("expected a string, found {}", v.kind())))
}

pub(crate) fn as_array<'a>(v: &'a MsgValue, path: &str) -> Result<&'a [MsgValue]> {
    v.as_array()
        .ok_or_else(|| Error::header(path, format!("expected an array, found {}", v.kind())))
}

pub(crate) fn as_map<'a>(v: &'a MsgValue, path: &str) -> Result<&'a [(MsgValue, MsgValue)]> {
    v.as_map()
        .ok_or_else(|| Error::header(path, format!("expected a map, found {}", v.kind())))
}
