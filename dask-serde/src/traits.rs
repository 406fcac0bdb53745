//! The typed path: [`DaskSerialize`] and [`DaskDeserialize`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::family::dask::dask_header;
use crate::family::join;
use crate::frame::Frame;
use crate::header::{as_array, as_index, as_str, Header, MsgExt};
use crate::limits::Limits;
use crate::msgpack::MsgValue;
use crate::pytype::PyType;
use crate::raw::RawCursor;
use crate::serialized::Serialized;

/// A Rust type with a `dask`-family (or collection) encoding.
///
/// `serialize_into` borrows buffer fields instead of copying them: the
/// frames it appends may point into `self`.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use dask_serde::{DaskDeserialize, DaskSerialize};
///
/// let payload = Bytes::from_static(b"hello");
/// let s = payload.dask_serialize()?;
/// assert_eq!(s.frames[0].as_ptr(), payload.as_ptr()); // zero-copy
/// let back = Bytes::dask_deserialize(&s.header, &s.frame_bytes())?;
/// assert_eq!(back, payload);
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be serialized as its own dask value",
    label = "no DaskSerialize implementation",
    note = "bytes, numeric Vec/Array/NdArray, collections of those and #[derive(DaskSerialize)] types are; a field marked #[dask(frame)] must be one of them"
)]
pub trait DaskSerialize {
    /// Produces the header and appends the frames to `frames`.
    ///
    /// # Errors
    ///
    /// A value that cannot be encoded.
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header>;

    /// Like [`DaskSerialize::serialize_into`], but appends the header's
    /// msgpack encoding to `out` instead of returning it. Collections call
    /// this for every item; types that know their header's bytes (typed
    /// arrays, bytes) write them without building a tree. Not meant to be
    /// implemented outside this crate: the default is always correct.
    ///
    /// # Errors
    ///
    /// A value that cannot be encoded.
    #[doc(hidden)]
    fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
        self.serialize_into(frames)?.write_msgpack(out)
    }

    /// Serializes into a header and frames, as Python's
    /// `serialize(x, serializers=["dask"])` would.
    ///
    /// # Errors
    ///
    /// A value that cannot be encoded.
    fn dask_serialize(&self) -> Result<Serialized<'_>> {
        let mut frames = Vec::new();
        let header = self.serialize_into(&mut frames)?;
        Ok(Serialized::new(header, frames))
    }
}

/// A Rust type that can be rebuilt from a `dask`-family header and frames.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be deserialized from a dask value",
    label = "no DaskDeserialize implementation"
)]
pub trait DaskDeserialize: Sized {
    /// Decodes `header` and `frames`, bounded by `limits`.
    ///
    /// # Errors
    ///
    /// The header is not of this type, or is malformed.
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self>;

    /// Decodes from a header given as a msgpack map value (a sub-header
    /// inside a derived struct's header), as [`DaskDeserialize::deserialize_from`]
    /// would from that map as a [`Header`]. Types that can read the map in
    /// place skip copying it into a `Header`. Not meant to be implemented
    /// outside this crate.
    ///
    /// # Errors
    ///
    /// As [`DaskDeserialize::deserialize_from`]; a value that is not a map.
    #[doc(hidden)]
    fn __deserialize_value(header: &MsgValue, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        Self::deserialize_from(&Header::from_value(header.clone())?, frames, limits)
    }

    /// The allocation-free path of collections: decodes a value that
    /// travels as exactly one frame from its encoded header at `cur`,
    /// pushes it onto `out` (built in place: no moves of large values) and
    /// leaves `cur` after it. `false` when the fast path does not apply;
    /// the collection then decodes its header as a tree, which reports any
    /// error precisely. Not meant to be implemented outside this crate.
    #[doc(hidden)]
    fn __deserialize_one_frame_into(
        cur: &mut RawCursor<'_>,
        frame: &Bytes,
        limits: &Limits,
        out: &mut Vec<Self>,
    ) -> bool {
        let _ = (cur, frame, limits, out);
        false
    }

    /// The next item of a collection has exactly the header bytes of the
    /// last item in `out` (which [`DaskDeserialize::__deserialize_one_frame_into`]
    /// pushed): pushes the same value over `frame` without reading the
    /// header again. `false` when not supported or when `frame` does not
    /// fit; the header is then read. Not meant to be implemented outside
    /// this crate.
    #[doc(hidden)]
    fn __deserialize_like_last_into(frame: &Bytes, out: &mut Vec<Self>) -> bool {
        let _ = (frame, out);
        false
    }

    /// Decodes with default [`Limits`].
    ///
    /// # Errors
    ///
    /// As [`DaskDeserialize::deserialize_from`].
    fn dask_deserialize(header: &Header, frames: &[Bytes]) -> Result<Self> {
        Self::deserialize_from(header, frames, &Limits::default())
    }
}

impl<T: DaskSerialize + ?Sized> DaskSerialize for &T {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        (**self).serialize_into(frames)
    }
    fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
        (**self).__serialize_raw(frames, out)
    }
}

/// Checks that `header` is a `dask`-family value of one of `classes`, and
/// returns its class and sub-header.
pub(crate) fn expect_dask<'h>(
    header: &'h Header,
    classes: &[PyType],
    expected: &str,
) -> Result<(PyType, &'h MsgValue)> {
    let (class, sub) = expect_dask_any(header, expected)?;
    if !classes.contains(&class) {
        return Err(Error::mismatch(expected, class.path()));
    }
    Ok((class, sub))
}

/// Checks that `header` is a `dask`-family value and returns its class and
/// sub-header.
pub(crate) fn expect_dask_any<'h>(header: &'h Header, expected: &str) -> Result<(PyType, &'h MsgValue)> {
    match header.serializer() {
        Some("dask") => {}
        Some("error") => {
            return Err(Error::Remote(format!(
                "the sender could not serialize the value (error family); expected {expected}"
            )))
        }
        other => {
            return Err(Error::mismatch(
                expected,
                format!("data of the {:?} family", other.unwrap_or("None")),
            ))
        }
    }
    let ts = header.req("type-serialized", "header")?;
    let ts = ts
        .as_bin()
        .ok_or_else(|| Error::header("type-serialized", "expected bin"))?;
    let class = PyType::from_type_serialized(ts)?;
    Ok((class, header.req("sub-header", "header")?))
}

/// The sub-header of a `dask`-family map of the built-in `class` (compared
/// by its cached `type-serialized` bytes), or `None` for anything else.
pub(crate) fn dask_class_sub_header<'h>(header: &'h MsgValue, class: &PyType) -> Option<&'h MsgValue> {
    let entries = header.as_map()?;
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    };
    let ts = crate::family::dask::cached_type_serialized_ref(class)?;
    match (get("serializer")?, get("type-serialized")?) {
        (MsgValue::Str(s), MsgValue::Bin(b)) if s == "dask" && b[..] == ts[..] => get("sub-header"),
        _ => None,
    }
}

/// [`expect_dask`] for one built-in class: compares the `type-serialized`
/// bytes with the cached reference pickle before parsing anything.
pub(crate) fn expect_dask_class<'h>(
    header: &'h Header,
    class: &PyType,
    expected: &str,
) -> Result<&'h MsgValue> {
    if header.serializer() == Some("dask") {
        if let Some(MsgValue::Bin(ts)) = header.get("type-serialized") {
            if ts[..] == crate::family::dask::cached_type_serialized(class)[..] {
                return header.req("sub-header", "header");
            }
        }
    }
    expect_dask(header, std::slice::from_ref(class), expected).map(|(_, sub)| sub)
}

fn bytes_header(class: PyType) -> Header {
    dask_header(MsgValue::Map(vec![]), &class)
}

/// The msgpack of [`bytes_header`] for `bytes` (`false`) or `bytearray`
/// (`true`), encoded once from the tree itself (empty if that failed, which
/// disables the direct paths).
fn bytes_header_msgpack(bytearray: bool) -> &'static [u8] {
    use std::sync::OnceLock;
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    static BYTEARRAY: OnceLock<Vec<u8>> = OnceLock::new();
    let (cell, class): (_, fn() -> PyType) = if bytearray {
        (&BYTEARRAY, PyType::bytearray)
    } else {
        (&BYTES, PyType::bytes)
    };
    cell.get_or_init(|| bytes_header(class()).to_msgpack().unwrap_or_default())
}

/// A bytes-like item of a collection: its constant header, written as is.
fn serialize_bytes_raw<'a>(
    frame: Frame<'a>,
    bytearray: bool,
    frames: &mut Vec<Frame<'a>>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let header = bytes_header_msgpack(bytearray);
    if header.is_empty() {
        bytes_header(if bytearray {
            PyType::bytearray()
        } else {
            PyType::bytes()
        })
        .write_msgpack(out)?;
    } else {
        out.extend_from_slice(header);
    }
    frames.push(frame);
    Ok(())
}

/// The fast path of bytes-like items: a header that is exactly the
/// `bytes` or `bytearray` header (what Dask writes); `None` otherwise.
fn read_bytes_header(c: &mut RawCursor<'_>) -> Option<()> {
    let (b, ba) = (bytes_header_msgpack(false), bytes_header_msgpack(true));
    (!b.is_empty() && !ba.is_empty() && (c.eat(b) || c.eat(ba))).then_some(())
}

impl DaskSerialize for Bytes {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        frames.push(Frame::Shared(self.clone()));
        Ok(bytes_header(PyType::bytes()))
    }
    fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
        serialize_bytes_raw(Frame::SharedRef(self), false, frames, out)
    }
}

impl DaskSerialize for [u8] {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        frames.push(Frame::Borrowed(self));
        Ok(bytes_header(PyType::bytes()))
    }
    fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
        serialize_bytes_raw(Frame::Borrowed(self), false, frames, out)
    }
}

impl DaskSerialize for Vec<u8> {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        frames.push(Frame::Borrowed(self));
        Ok(bytes_header(PyType::bytes()))
    }
    fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
        serialize_bytes_raw(Frame::Borrowed(self), false, frames, out)
    }
}

const BYTES_LIKE: &str = "bytes or bytearray";

impl DaskDeserialize for Bytes {
    /// Zero-copy when the data arrived as one frame.
    fn deserialize_from(header: &Header, frames: &[Bytes], _limits: &Limits) -> Result<Self> {
        expect_dask(header, &[PyType::bytes(), PyType::bytearray()], BYTES_LIKE)?;
        Ok(join(frames))
    }
    fn __deserialize_one_frame_into(
        c: &mut RawCursor<'_>,
        frame: &Bytes,
        _: &Limits,
        out: &mut Vec<Self>,
    ) -> bool {
        read_bytes_header(c).map(|()| out.push(frame.clone())).is_some()
    }
}

impl DaskDeserialize for Vec<u8> {
    /// Always copies; use [`Bytes`] to avoid the copy.
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        Ok(Bytes::deserialize_from(header, frames, limits)?.to_vec())
    }
    fn __deserialize_one_frame_into(
        c: &mut RawCursor<'_>,
        frame: &Bytes,
        _: &Limits,
        out: &mut Vec<Self>,
    ) -> bool {
        read_bytes_header(c).map(|()| out.push(frame.to_vec())).is_some()
    }
}

/// A Python `bytearray` (the same bytes as `bytes`, but Python rebuilds a
/// mutable `bytearray`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ByteArray(pub Bytes);

impl DaskSerialize for ByteArray {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        frames.push(Frame::Shared(self.0.clone()));
        Ok(bytes_header(PyType::bytearray()))
    }
    fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
        serialize_bytes_raw(Frame::SharedRef(&self.0), true, frames, out)
    }
}

impl DaskDeserialize for ByteArray {
    fn deserialize_from(header: &Header, frames: &[Bytes], _limits: &Limits) -> Result<Self> {
        expect_dask(header, &[PyType::bytes(), PyType::bytearray()], BYTES_LIKE)?;
        Ok(ByteArray(join(frames)))
    }
    fn __deserialize_one_frame_into(
        c: &mut RawCursor<'_>,
        frame: &Bytes,
        _: &Limits,
        out: &mut Vec<Self>,
    ) -> bool {
        read_bytes_header(c)
            .map(|()| out.push(ByteArray(frame.clone())))
            .is_some()
    }
}

// ---------------------------------------------------------------------------
// Collections (spec §6): every element is serialized on its own.

/// A dict key: anything msgpack can carry as a map key that Python hashes.
pub trait MsgpackKey: Sized {
    /// The key as msgpack.
    fn to_key(&self) -> MsgValue;
    /// The key from msgpack.
    ///
    /// # Errors
    ///
    /// A key of another type.
    fn from_key(m: &MsgValue) -> Result<Self>;
}

impl MsgpackKey for String {
    fn to_key(&self) -> MsgValue {
        MsgValue::Str(self.clone())
    }
    fn from_key(m: &MsgValue) -> Result<Self> {
        m.as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::mismatch("a str key", m.kind()))
    }
}

impl MsgpackKey for bool {
    fn to_key(&self) -> MsgValue {
        MsgValue::Bool(*self)
    }
    fn from_key(m: &MsgValue) -> Result<Self> {
        m.as_bool().ok_or_else(|| Error::mismatch("a bool key", m.kind()))
    }
}

macro_rules! int_key {
    ($($t:ty),*) => {$(
        impl MsgpackKey for $t {
            fn to_key(&self) -> MsgValue { MsgValue::Int(*self as i128) }
            fn from_key(m: &MsgValue) -> Result<Self> {
                let i = m.as_int().ok_or_else(|| Error::mismatch("an int key", m.kind()))?;
                <$t>::try_from(i).map_err(|_| Error::mismatch(stringify!($t), format!("{i}")))
            }
        }
    )*};
}
int_key!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

fn collection_header(kind: &str, subs: Vec<MsgValue>, lengths: Vec<MsgValue>) -> Header {
    Header::from_entries(vec![
        ("sub-headers".into(), MsgValue::Array(subs)),
        ("is-collection".into(), MsgValue::Bool(true)),
        ("frame-lengths".into(), MsgValue::Array(lengths)),
        ("type-serialized".into(), MsgValue::Str(kind.into())),
    ])
}

/// Writes a list/tuple/set collection header straight to msgpack, item by
/// item (spec §6): one buffer for the whole collection instead of a tree
/// per item. The bytes are those of [`collection_header`]'s tree.
pub(crate) struct SeqWriter {
    out: Vec<u8>,
    lengths: Vec<u8>,
    expected: usize,
    written: usize,
}

impl SeqWriter {
    /// A writer for `n` items.
    pub(crate) fn new(n: usize) -> Result<Self> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(b"\x84\xabsub-headers");
        crate::msgpack::write_array_len(&mut out, n)?;
        Ok(SeqWriter {
            out,
            lengths: Vec::with_capacity(n),
            expected: n,
            written: 0,
        })
    }

    /// Serializes one item: its header into the buffer, its frames onto
    /// `frames`.
    pub(crate) fn item<'a, T: DaskSerialize + ?Sized>(
        &mut self,
        item: &'a T,
        frames: &mut Vec<Frame<'a>>,
    ) -> Result<()> {
        let before = frames.len();
        let at = self.out.len();
        item.__serialize_raw(frames, &mut self.out)?;
        if self.written == 0 {
            // items of a collection tend to have headers of one size; the
            // frame lengths (1-3 bytes each) and the last keys follow
            let room = (self.out.len() - at).saturating_mul(self.expected.saturating_sub(1));
            self.out
                .reserve(room.saturating_add(self.expected.saturating_mul(3)).min(1 << 28) + 64);
        }
        crate::raw::put_int(&mut self.lengths, (frames.len() - before) as i128)?;
        self.written += 1;
        Ok(())
    }

    /// The collection header of `kind` (`list`, `tuple` or `set`).
    pub(crate) fn finish(mut self, kind: &str) -> Result<Header> {
        if self.written != self.expected {
            return Err(Error::Encode(format!(
                "a collection announced {} items but yielded {}",
                self.expected, self.written
            )));
        }
        self.out
            .extend_from_slice(b"\xadis-collection\xc3\xadframe-lengths");
        crate::msgpack::write_array_len(&mut self.out, self.expected)?;
        self.out.extend_from_slice(&self.lengths);
        self.out.extend_from_slice(b"\xaftype-serialized");
        crate::msgpack::write_str(&mut self.out, kind)?;
        Ok(Header::from_canonical(Bytes::from(self.out)))
    }
}

pub(crate) fn serialize_seq<'a, T: DaskSerialize + 'a>(
    kind: &str,
    items: impl ExactSizeIterator<Item = &'a T>,
    frames: &mut Vec<Frame<'a>>,
) -> Result<Header> {
    let mut w = SeqWriter::new(items.len())?;
    // most items travel as one frame
    frames.reserve(items.len());
    for item in items {
        w.item(item, frames)?;
    }
    w.finish(kind)
}

/// The fast path of list/tuple/set decoding: a header encoded as msgpack
/// whose items each travel as one frame, decoded in one pass over the
/// bytes with no tree and no per-item allocation by the collection. `None`
/// whenever anything differs from that shape; the caller then takes the
/// tree path (which reports errors).
fn seq_one_frame<'h, T: DaskDeserialize>(
    header: &'h Header,
    frames: &[Bytes],
    limits: &Limits,
) -> Option<(&'h str, Vec<T>)> {
    let bytes = header.encoded()?;
    limits.check_frames(frames.len()).ok()?;
    let inner = limits.descend().ok()?;
    let mut c = RawCursor::new(bytes);
    let entries = c.map_len()?;
    if c.str_bytes()? != b"sub-headers" {
        return None;
    }
    let n = c.array_len()?;
    if n != frames.len() {
        return None;
    }
    let mut items = Vec::with_capacity(n);
    // the header bytes of the previous item: lists of like arrays repeat
    // them, and an identical header decodes identically
    let mut previous: &[u8] = &[];
    for f in frames {
        let start = c.pos();
        if !previous.is_empty() && c.eat(previous) {
            if T::__deserialize_like_last_into(f, &mut items) {
                continue;
            }
            c.rewind(start);
        }
        if !T::__deserialize_one_frame_into(&mut c, f, &inner, &mut items) {
            return None;
        }
        previous = bytes.get(start..c.pos())?;
    }
    let (mut collection, mut lengths, mut kind) = (false, false, None);
    for _ in 1..entries {
        match c.str_bytes()? {
            b"is-collection" if !collection => {
                collection = true;
                c.skip_value()?;
            }
            b"frame-lengths" if !lengths => {
                if c.array_len()? != n {
                    return None;
                }
                for _ in 0..n {
                    if c.int()? != 1 {
                        return None;
                    }
                }
                lengths = true;
            }
            b"type-serialized" if kind.is_none() => kind = Some(c.str()?),
            b"sub-headers" | b"is-collection" | b"frame-lengths" | b"type-serialized" => return None,
            _ => c.skip_value()?,
        }
    }
    let kind = kind.filter(|k| matches!(*k, "list" | "tuple" | "set" | "dict"))?;
    (collection && lengths && c.at_end()).then_some((kind, items))
}

/// One collection item: its header and its frames.
pub(crate) type Item<'f> = (Header, &'f [Bytes]);

#[inline(never)]
/// Walks a collection header: `(sub-header, frames)` per item, with every
/// range and count checked. Returns the kind and the items.
pub(crate) fn collection_items<'h, 'f>(
    header: &'h Header,
    frames: &'f [Bytes],
    limits: &Limits,
) -> Result<(&'h str, Vec<Item<'f>>)> {
    if !header.is_collection() {
        return Err(Error::mismatch(
            "a collection",
            format!("data of the {:?} family", header.serializer().unwrap_or("None")),
        ));
    }
    let subs = as_array(header.req("sub-headers", "header")?, "sub-headers")?;
    let lengths = as_array(header.req("frame-lengths", "header")?, "frame-lengths")?;
    let kind = as_str(header.req("type-serialized", "header")?, "type-serialized")?;
    if !matches!(kind, "list" | "tuple" | "set" | "dict") {
        return Err(Error::header(
            "type-serialized",
            format!("unknown collection type {kind:?}"),
        ));
    }
    if subs.len() != lengths.len() {
        return Err(Error::header(
            "frame-lengths",
            "one length per sub-header expected",
        ));
    }
    limits.check_frames(frames.len())?;
    let mut out = Vec::with_capacity(subs.len());
    let mut start = 0usize;
    for (i, (s, l)) in subs.iter().zip(lengths).enumerate() {
        let n = as_index(l, &format!("frame-lengths[{i}]"))?;
        let end = start
            .checked_add(n)
            .filter(|e| *e <= frames.len())
            .ok_or_else(|| {
                Error::frames(format!(
                    "collection item {i} runs past the {} frames",
                    frames.len()
                ))
            })?;
        let h = Header::from_value(s.clone())
            .map_err(|_| Error::header(format!("sub-headers[{i}]"), "expected a map"))?;
        out.push((h, &frames[start..end]));
        start = end;
    }
    if start != frames.len() {
        return Err(Error::frames(format!(
            "frame-lengths add up to {start} but {} frames were given",
            frames.len()
        )));
    }
    Ok((kind, out))
}

fn expect_kind(kind: &str, allowed: &[&str], expected: &str) -> Result<()> {
    if allowed.contains(&kind) {
        Ok(())
    } else {
        Err(Error::mismatch(expected, format!("a {kind} collection")))
    }
}

const SEQ_KINDS: &[&str] = &["list", "tuple", "set"];

/// A list of dask-serializable values.
impl<T: DaskSerialize> DaskSerialize for Vec<T> {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        serialize_seq("list", self.iter(), frames)
    }
}

impl<T: DaskDeserialize> DaskDeserialize for Vec<T> {
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        if let Some((kind, items)) = seq_one_frame(header, frames, limits) {
            expect_kind(kind, SEQ_KINDS, "a list")?;
            return Ok(items);
        }
        let (kind, items) = collection_items(header, frames, limits)?;
        expect_kind(kind, SEQ_KINDS, "a list")?;
        items
            .into_iter()
            .map(|(h, f)| T::deserialize_from(&h, f, &limits.descend()?))
            .collect()
    }
}

impl<T: DaskSerialize, S> DaskSerialize for HashSet<T, S> {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        serialize_seq("set", self.iter(), frames)
    }
}

impl<T: DaskDeserialize + Eq + Hash, S: BuildHasher + Default> DaskDeserialize for HashSet<T, S> {
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        if let Some((kind, items)) = seq_one_frame::<T>(header, frames, limits) {
            expect_kind(kind, SEQ_KINDS, "a set")?;
            return Ok(items.into_iter().collect());
        }
        let (kind, items) = collection_items(header, frames, limits)?;
        expect_kind(kind, SEQ_KINDS, "a set")?;
        items
            .into_iter()
            .map(|(h, f)| T::deserialize_from(&h, f, &limits.descend()?))
            .collect()
    }
}

impl<T: DaskSerialize> DaskSerialize for BTreeSet<T> {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        serialize_seq("set", self.iter(), frames)
    }
}

impl<T: DaskDeserialize + Ord> DaskDeserialize for BTreeSet<T> {
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        if let Some((kind, items)) = seq_one_frame::<T>(header, frames, limits) {
            expect_kind(kind, SEQ_KINDS, "a set")?;
            return Ok(items.into_iter().collect());
        }
        let (kind, items) = collection_items(header, frames, limits)?;
        expect_kind(kind, SEQ_KINDS, "a set")?;
        items
            .into_iter()
            .map(|(h, f)| T::deserialize_from(&h, f, &limits.descend()?))
            .collect()
    }
}

fn serialize_map<'a, K: MsgpackKey + 'a, V: DaskSerialize + 'a>(
    entries: impl Iterator<Item = (&'a K, &'a V)>,
    frames: &mut Vec<Frame<'a>>,
) -> Result<Header> {
    let mut subs = Vec::new();
    let mut lengths = Vec::new();
    for (k, v) in entries {
        let before = frames.len();
        let mut h = v.serialize_into(frames)?;
        h.insert("key", k.to_key());
        subs.push(h.into_value());
        lengths.push(MsgValue::from(frames.len() - before));
    }
    Ok(collection_header("dict", subs, lengths))
}

fn deserialize_map<K: MsgpackKey, V: DaskDeserialize>(
    header: &Header,
    frames: &[Bytes],
    limits: &Limits,
) -> Result<Vec<(K, V)>> {
    let (kind, items) = collection_items(header, frames, limits)?;
    expect_kind(kind, &["dict"], "a dict")?;
    items
        .into_iter()
        .map(|(mut h, f)| {
            let k = h
                .remove("key")
                .ok_or_else(|| Error::header("sub-headers", "dict item without \"key\""))?;
            Ok((K::from_key(&k)?, V::deserialize_from(&h, f, &limits.descend()?)?))
        })
        .collect()
}

impl<K: MsgpackKey, V: DaskSerialize, S> DaskSerialize for HashMap<K, V, S> {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        serialize_map(self.iter(), frames)
    }
}

impl<K: MsgpackKey + Eq + Hash, V: DaskDeserialize, S: BuildHasher + Default> DaskDeserialize
    for HashMap<K, V, S>
{
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        Ok(deserialize_map(header, frames, limits)?.into_iter().collect())
    }
}

impl<K: MsgpackKey, V: DaskSerialize> DaskSerialize for BTreeMap<K, V> {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        serialize_map(self.iter(), frames)
    }
}

impl<K: MsgpackKey + Ord, V: DaskDeserialize> DaskDeserialize for BTreeMap<K, V> {
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        Ok(deserialize_map(header, frames, limits)?.into_iter().collect())
    }
}

macro_rules! tuple_impls {
    ($( ($($name:ident $idx:tt),+) )+) => {$(
        impl<$($name: DaskSerialize),+> DaskSerialize for ($($name,)+) {
            fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
                let mut w = SeqWriter::new([$($idx),+].len())?;
                $( w.item(&self.$idx, frames)?; )+
                w.finish("tuple")
            }
        }

        impl<$($name: DaskDeserialize),+> DaskDeserialize for ($($name,)+) {
            fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
                let (kind, items) = collection_items(header, frames, limits)?;
                expect_kind(kind, &["tuple", "list"], "a tuple")?;
                let n = [$($idx),+].len();
                if items.len() != n {
                    return Err(Error::mismatch(format!("a tuple of {n} items"), format!("{} items", items.len())));
                }
                let mut it = items.into_iter();
                Ok(($(
                    {
                        let _ = $idx;
                        match it.next() {
                            Some((h, f)) => $name::deserialize_from(&h, f, &limits.descend()?)?,
                            None => return Err(Error::frames("tuple item missing")),
                        }
                    },
                )+))
            }
        }
    )+};
}

tuple_impls! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
}
