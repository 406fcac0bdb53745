//! The collection codec of the typed path (PROTOCOL.md §6): collection
//! headers written straight to msgpack item by item ([`SeqWriter`]) and read
//! back in one pass over the encoded header (`collection_items`, and the
//! one-frame fast path of `seq_one_frame`).

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::header::{as_array, as_index, as_str, Header, MsgExt};
use crate::limits::Limits;
use crate::msgpack::MsgValue;
use crate::msgpack::RawCursor;

use crate::traits::{DaskDeserialize, DaskSerialize};

pub(crate) fn collection_header(kind: &str, subs: Vec<MsgValue>, lengths: Vec<MsgValue>) -> Header {
    Header::from_entries(vec![
        ("sub-headers".into(), MsgValue::Array(subs)),
        ("is-collection".into(), MsgValue::Bool(true)),
        ("frame-lengths".into(), MsgValue::Array(lengths)),
        ("type-serialized".into(), MsgValue::Str(kind.into())),
    ])
}

/// Writes a list/tuple/set collection header straight to msgpack, item by
/// item (PROTOCOL.md §6): one buffer for the whole collection instead of a tree
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
        crate::msgpack::put_int(&mut self.lengths, (frames.len() - before) as i128)?;
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
pub(crate) fn seq_one_frame<'h, T: DaskDeserialize>(
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

pub(crate) fn expect_kind(kind: &str, allowed: &[&str], expected: &str) -> Result<()> {
    if allowed.contains(&kind) {
        Ok(())
    } else {
        Err(Error::mismatch(expected, format!("a {kind} collection")))
    }
}

pub(crate) const SEQ_KINDS: &[&str] = &["list", "tuple", "set"];
