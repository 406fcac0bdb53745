//! The header: an insertion-ordered msgpack map.

use std::sync::OnceLock;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::msgpack::MsgValue;

/// A Dask header: a msgpack map whose key order is part of the bytes
/// (PROTOCOL.md §1a), so it is kept in insertion order.
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
/// let bytes = h.encode()?;
/// assert_eq!(bytes[0], 0x81); // a one-entry map
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Header {
    repr: Repr,
}

type Entry = (MsgValue, MsgValue);

/// A header is a tree of entries, or its msgpack encoding with the tree
/// built on first use. Collections of typed values are written straight to
/// msgpack (one buffer instead of a tree per item) and read back in place
/// by typed decoders (see [`crate::msgpack::RawCursor`]).
#[derive(Clone)]
enum Repr {
    Tree(Vec<Entry>),
    Encoded {
        /// One msgpack map, known to be well-formed.
        bytes: Bytes,
        /// The bytes are exactly what encoding the tree would write (made
        /// by this crate's writers), so they can be sent as they are.
        canonical: bool,
        tree: OnceLock<Vec<Entry>>,
    },
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Tree(Vec::new())
    }
}

impl PartialEq for Header {
    fn eq(&self, other: &Self) -> bool {
        self.entries() == other.entries()
    }
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Header")
            .field("entries", &self.entries())
            .finish()
    }
}

/// Decodes bytes that were checked when the header was made
/// ([`crate::msgpack::is_valid_map`], or this crate's own writers).
fn decode_checked(bytes: &Bytes) -> Vec<Entry> {
    match MsgValue::decode(bytes, &Limits::unbounded()) {
        Ok(MsgValue::Map(entries)) => entries,
        // unreachable: `Repr::Encoded` only holds maps that decoded (or
        // that this crate's writers produced)
        _ => Vec::new(),
    }
}

impl Header {
    /// An empty header.
    pub fn new() -> Self {
        Header::default()
    }

    /// A header from entries in order.
    pub fn from_entries(entries: Vec<(MsgValue, MsgValue)>) -> Self {
        Header {
            repr: Repr::Tree(entries),
        }
    }

    /// A header from msgpack this crate wrote (a well-formed map in the
    /// canonical encoding of its entries).
    pub(crate) fn from_canonical(bytes: Bytes) -> Self {
        Header {
            repr: Repr::Encoded {
                bytes,
                canonical: true,
                tree: OnceLock::new(),
            },
        }
    }

    /// The encoded map, when the header has one (built by a typed writer or
    /// received as msgpack): typed decoders read it in place.
    pub(crate) fn encoded(&self) -> Option<&[u8]> {
        match &self.repr {
            Repr::Encoded { bytes, .. } => Some(bytes),
            Repr::Tree(_) => None,
        }
    }

    /// The entries in order.
    pub fn entries(&self) -> &[(MsgValue, MsgValue)] {
        match &self.repr {
            Repr::Tree(entries) => entries,
            Repr::Encoded { bytes, tree, .. } => tree.get_or_init(|| decode_checked(bytes)),
        }
    }

    /// The entries as a tree that may be changed (the encoded form, if any,
    /// is dropped).
    fn entries_mut(&mut self) -> &mut Vec<Entry> {
        if let Repr::Encoded { bytes, tree, .. } = &mut self.repr {
            let entries = tree.take().unwrap_or_else(|| decode_checked(bytes));
            self.repr = Repr::Tree(entries);
        }
        match &mut self.repr {
            Repr::Tree(entries) => entries,
            Repr::Encoded { .. } => unreachable!("converted to a tree above"),
        }
    }

    /// Consumes the header, returning its entries.
    pub fn into_entries(self) -> Vec<(MsgValue, MsgValue)> {
        match self.repr {
            Repr::Tree(entries) => entries,
            Repr::Encoded { bytes, tree, .. } => tree.into_inner().unwrap_or_else(|| decode_checked(&bytes)),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// `true` when the header has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    /// The value of a string key.
    pub fn get(&self, key: &str) -> Option<&MsgValue> {
        self.entries()
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
        let entries = self.entries_mut();
        match entries.iter_mut().find(|(k, _)| k.as_str() == Some(key)) {
            Some((_, v)) => *v = value,
            None => entries.push((MsgValue::Str(key.to_owned()), value)),
        }
    }

    /// Removes a string key, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<MsgValue> {
        let entries = self.entries_mut();
        let i = entries.iter().position(|(k, _)| k.as_str() == Some(key))?;
        Some(entries.remove(i).1)
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

    /// `true` for a collection header (key `is-collection`, PROTOCOL.md §6).
    pub fn is_collection(&self) -> bool {
        self.contains_key("is-collection")
    }

    /// Converts the header into a msgpack map value.
    pub fn into_value(self) -> MsgValue {
        MsgValue::Map(self.into_entries())
    }

    /// A header from a msgpack value, which must be a map.
    ///
    /// # Errors
    ///
    /// The value is not a map.
    pub fn from_value(v: MsgValue) -> Result<Self> {
        match v {
            MsgValue::Map(entries) => Ok(Header::from_entries(entries)),
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
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write(&mut out)?;
        Ok(out)
    }

    /// Appends the header's msgpack encoding to `out` (what
    /// [`Header::encode`] returns).
    ///
    /// # Errors
    ///
    /// A value msgpack cannot carry (see [`MsgValue::encode`]).
    pub fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        if let Repr::Encoded {
            bytes,
            canonical: true,
            ..
        } = &self.repr
        {
            out.extend_from_slice(bytes);
            return Ok(());
        }
        let entries = self.entries();
        out.reserve(64);
        crate::msgpack::write_map_len(out, entries.len())?;
        for (k, v) in entries {
            k.write(out)?;
            v.write(out)?;
        }
        Ok(())
    }

    /// Decodes a msgpack header (Dask's decoding options). `bin` values
    /// share `bytes`' memory.
    ///
    /// The bytes are checked completely here (every error is reported now),
    /// but the tree of entries is built only when something asks for it:
    /// typed decoders of collections read the bytes in place, so a header
    /// of 10,000 sub-headers is never turned into 10,000 trees.
    ///
    /// # Errors
    ///
    /// Malformed msgpack, nesting beyond `limits`, or a value that is not a
    /// map.
    pub fn decode(bytes: &Bytes, limits: &Limits) -> Result<Self> {
        if crate::msgpack::is_valid_map(bytes, limits.max_depth) {
            return Ok(Header {
                repr: Repr::Encoded {
                    bytes: bytes.clone(),
                    canonical: false,
                    tree: OnceLock::new(),
                },
            });
        }
        // the decoder reports what is wrong
        match MsgValue::decode(bytes, limits)? {
            MsgValue::Map(entries) => Ok(Header {
                repr: Repr::Encoded {
                    bytes: bytes.clone(),
                    canonical: false,
                    tree: OnceLock::from(entries),
                },
            }),
            other => Err(Error::header(
                "<root>",
                format!("expected a map, found {}", other.kind()),
            )),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Header {
        Header::from_entries(vec![
            ("serializer".into(), "dask".into()),
            ("n".into(), MsgValue::Int(300)),
            ("b".into(), MsgValue::Bin(Bytes::from_static(b"xy"))),
        ])
    }

    #[test]
    fn an_encoded_header_behaves_like_its_tree() {
        let t = tree();
        let e = Header::from_canonical(Bytes::from(t.encode().unwrap()));
        assert_eq!(e, t);
        assert_eq!(e.get("n"), Some(&MsgValue::Int(300)));
        assert_eq!(e.serializer(), Some("dask"));
        assert!(e.contains_key("b") && !e.contains_key("zz"));
        assert_eq!(e.len(), 3);
        assert_eq!(e.encode().unwrap(), t.encode().unwrap());
        assert_eq!(e.clone().into_entries(), t.clone().into_entries());
        // changing it drops the encoding: the bytes follow the change
        let mut m = e.clone();
        m.insert("n", 1);
        m.insert("new", "v");
        assert_eq!(m.remove("b"), Some(MsgValue::Bin(Bytes::from_static(b"xy"))));
        let mut want = t.clone();
        want.insert("n", 1);
        want.insert("new", "v");
        want.remove("b");
        assert_eq!(m, want);
        assert_eq!(m.encode().unwrap(), want.encode().unwrap());
        assert!(m.encoded().is_none());
    }

    #[test]
    fn received_bytes_are_kept_but_written_canonically() {
        // {"k": 1} with the key as str8 and the value as uint16: valid but
        // not what Python's msgpack writes
        let odd = Bytes::from_static(&[0x81, 0xd9, 0x01, b'k', 0xcd, 0x00, 0x01]);
        let h = Header::decode(&odd, &Limits::default()).unwrap();
        assert_eq!(h.encoded(), Some(&odd[..]));
        assert_eq!(h.get("k"), Some(&MsgValue::Int(1)));
        assert_eq!(h.encode().unwrap(), vec![0x81, 0xa1, b'k', 0x01]);
        assert!(Header::decode(&Bytes::from_static(&[0x91, 0x01]), &Limits::default()).is_err());
    }
}
