//! Frame splitting (spec §8): `serialize_and_split` / `merge_and_deserialize`.
//!
//! Large frames are cut into pieces of at most `size` bytes (64 MiB by
//! default, Dask's `distributed.comm.shard`) so that no single buffer is
//! huge on the wire; the header records how to glue them back:
//!
//! | key (appended in this order) | value |
//! |---|---|
//! | `split-num-sub-frames` | pieces per original frame |
//! | `split-offsets` | index of each original frame's first piece |
//! | `compression` | one entry per output frame (nil, or a codec a serializer already applied) |
//!
//! Python cuts in whole **items** of the buffer it holds (a numpy frame is
//! viewed with the dtype's item size, spec §5.5), so where the cuts fall
//! depends on the header: [`frame_itemsizes`] reproduces Dask's item sizes
//! from the header alone, and [`split_frames`] reproduces Dask's pieces
//! byte for byte, including the multi-dimensional `memoryview` quirk.
//!
//! Splitting never copies: pieces of a borrowed frame stay borrowed, pieces
//! of a shared frame are [`Bytes::slice`]s. Merging copies only when pieces
//! are not already adjacent in one buffer.
//!
//! # Examples
//!
//! ```
//! use bytes::Bytes;
//! use dask_serde::split::{merge_and_deserialize, serialize_and_split};
//! use dask_serde::{DeserializeOptions, SerializeOptions, Value};
//!
//! let v = Value::Bytes(Bytes::from(vec![1u8; 10]));
//! let s = serialize_and_split(&v, &SerializeOptions::new(), Some(4))?;
//! assert_eq!(s.frames.iter().map(|f| f.len()).collect::<Vec<_>>(), [4, 4, 2]);
//! let back = merge_and_deserialize(&s.header, s.frame_bytes(), &DeserializeOptions::new())?;
//! assert_eq!(back, v);
//! # Ok::<(), dask_serde::Error>(())
//! ```

use bytes::{Bytes, BytesMut};

use crate::builtins::dtype::DType;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::header::{as_array, as_index, Header};
use crate::msgpack::MsgValue;
use crate::pytype::PyType;
use crate::serialized::Serialized;
use crate::value::PyArray;

/// Dask's default split size, `distributed.comm.shard` = 64 MiB.
pub const DEFAULT_SPLIT_SIZE: usize = 64 << 20;

/// How Python's buffer for one frame is sliced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cut {
    /// `memoryview.itemsize`.
    itemsize: usize,
    /// For a memoryview of two or more dimensions, the length of its first
    /// axis: slicing cuts rows, not items (spec §8's quirk).
    rows: Option<usize>,
}

const BYTES: Cut = Cut {
    itemsize: 1,
    rows: None,
};

/// Deepest header nesting walked; deeper parts count as item size 1.
const MAX_WALK_DEPTH: usize = 256;

/// The item size Dask's buffer has for each of the `nframes` frames of a
/// `serialize()` header: where [`split_frames`] may cut.
///
/// Derived from the header alone:
///
/// * collections: each `sub-headers[i]` covers the next `frame-lengths[i]`
///   frames;
/// * `dask` family — `numpy.ndarray` (and `numpy.matrix`): the dtype's
///   [`DType::frame_itemsize`] (`[0, str]` parsed; `[1, pickle]` read with
///   the safe dtype reader, else recognised from the pickle's `V<n>`
///   argument, else 1); `{"pickle": true}` arrays: 1 for the pickle and
///   its buffers; `numpy.ma.MaskedArray`: its data and mask headers;
///   `memoryview`: the item size of its `struct` format (and, for two or
///   more dimensions, Python's slicing along the first axis — see
///   [`split_frames`]); `array.array`: the typecode's item size (Dask sends
///   `memoryview(array)`, so `'d'` frames are cut at multiples of 8);
///   `bytes`/`bytearray`: 1; `register_generic` objects (and `nested-dict`):
///   recursively, each `complex` attribute's header over its
///   `start..stop` frames;
/// * `pickle` family: 1 for the pickle **and** for out-of-band buffers
///   (Python keeps the exporter's item size, e.g. 4 for an `<i4` array,
///   which is unknown without running the pickle);
/// * `msgpack`, `error`, other families and unknown classes: 1.
///
/// When the header does not account for exactly `nframes` frames (an
/// inconsistent or already split header), every frame gets 1.
///
/// # Examples
///
/// ```
/// use dask_serde::split::frame_itemsizes;
/// use dask_serde::{serialize, NdArray, SerializeOptions, Value};
///
/// let a = NdArray::from_c_order("<c16", vec![2], vec![0u8; 32].into())?;
/// let v = Value::Tuple(vec![Value::from(a), Value::Bytes(vec![1, 2].into())]);
/// let s = serialize(&v, &SerializeOptions::new())?;
/// // complex128 is viewed as u8 (gcd(16, 8)), bytes as bytes
/// assert_eq!(frame_itemsizes(&s.header, s.frames.len()), [8, 1]);
/// # Ok::<(), dask_serde::Error>(())
/// ```
pub fn frame_itemsizes(header: &Header, nframes: usize) -> Vec<usize> {
    frame_cuts(header, nframes)
        .into_iter()
        .map(|c| c.itemsize)
        .collect()
}

fn frame_cuts(header: &Header, nframes: usize) -> Vec<Cut> {
    let mut out = Vec::with_capacity(nframes);
    if walk_header(Node::Root(header), nframes, &mut out, 0).is_none() || out.len() != nframes {
        return vec![BYTES; nframes];
    }
    out
}

/// A header being walked: the root [`Header`] or a nested msgpack map.
#[derive(Clone, Copy)]
enum Node<'a> {
    Root(&'a Header),
    Map(&'a MsgValue),
}

impl<'a> Node<'a> {
    fn get(self, key: &str) -> Option<&'a MsgValue> {
        match self {
            Node::Root(h) => h.get(key),
            Node::Map(v) => v.get(key),
        }
    }
}

/// Appends the cuts of the `n` frames `h` covers. `None` when the header
/// is inconsistent.
fn walk_header(h: Node<'_>, n: usize, out: &mut Vec<Cut>, depth: usize) -> Option<()> {
    if depth > MAX_WALK_DEPTH {
        return None;
    }
    if h.get("is-collection").is_some() {
        let subs = h.get("sub-headers")?.as_array()?;
        let lengths = h.get("frame-lengths")?.as_array()?;
        if subs.len() != lengths.len() {
            return None;
        }
        let mut total = 0usize;
        for (sub, len) in subs.iter().zip(lengths) {
            let len = usize::try_from(len.as_int()?).ok()?;
            total = total.checked_add(len)?;
            if total > n {
                return None;
            }
            walk_header(Node::Map(sub), len, out, depth + 1)?;
        }
        return (total == n).then_some(());
    }
    if h.get("serializer").and_then(MsgValue::as_str) != Some("dask") {
        out.extend(std::iter::repeat_n(BYTES, n));
        return Some(());
    }
    let class = h
        .get("type-serialized")
        .and_then(MsgValue::as_bin)
        .and_then(|ts| PyType::from_type_serialized(ts).ok());
    let sub = h.get("sub-header");
    match (class.as_ref().map(|c| (c.module(), c.qualname())), sub) {
        (Some(("numpy", "ndarray" | "matrix")), Some(sub)) => ndarray_cuts(sub, n, out),
        (Some(("numpy.ma.core", "MaskedArray")), Some(sub)) => {
            let data_n = usize::try_from(sub.get("nframes")?.as_int()?).ok()?;
            if data_n > n {
                return None;
            }
            ndarray_cuts(sub.get("data-header")?, data_n, out)?;
            match sub.get("mask-header") {
                Some(mask) => ndarray_cuts(mask, n - data_n, out),
                None if data_n == n => Some(()),
                None => None,
            }
        }
        (Some(("builtins", "memoryview")), Some(sub)) => {
            let cut = memoryview_cut(sub);
            out.extend(std::iter::repeat_n(cut, n));
            Some(())
        }
        (Some(("array", "array")), Some(sub)) => {
            let tc = sub.get("typecode").and_then(MsgValue::as_str).unwrap_or("");
            let mut chars = tc.chars();
            let itemsize = match (chars.next(), chars.next()) {
                (Some(c), None) => PyArray::itemsize(c).unwrap_or(1),
                _ => 1,
            };
            out.extend(std::iter::repeat_n(Cut { itemsize, rows: None }, n));
            Some(())
        }
        (_, Some(sub)) if sub.get("simple").is_some() && sub.get("complex").is_some() => {
            generic_cuts(sub, n, out, depth)
        }
        _ => {
            out.extend(std::iter::repeat_n(BYTES, n));
            Some(())
        }
    }
}

/// A `register_generic` sub-header: each complex attribute's frames
/// `start..stop`, the rest as bytes.
fn generic_cuts(sub: &MsgValue, n: usize, out: &mut Vec<Cut>, depth: usize) -> Option<()> {
    let base = out.len();
    out.extend(std::iter::repeat_n(BYTES, n));
    for (_, entry) in sub.get("complex")?.as_map()? {
        let start = usize::try_from(entry.get("start")?.as_int()?).ok()?;
        let stop = usize::try_from(entry.get("stop")?.as_int()?).ok()?;
        if start > stop || stop > n {
            return None;
        }
        let h = entry.get("header")?;
        let mut cuts = Vec::with_capacity(stop - start);
        match h.get("nested-dict") {
            Some(nd) if !nd.is_nil() && nd.as_bool() != Some(false) => {
                generic_cuts(nd, stop - start, &mut cuts, depth + 1)?
            }
            _ => walk_header(Node::Map(h), stop - start, &mut cuts, depth + 1)?,
        }
        out[base + start..base + stop].copy_from_slice(&cuts);
    }
    Some(())
}

/// Dask's numpy serializer: the array frame is a 1-d view with the dtype's
/// frame item size; a pickled array's frames are bytes.
fn ndarray_cuts(sub: &MsgValue, n: usize, out: &mut Vec<Cut>) -> Option<()> {
    if sub.get("pickle").is_some_and(|p| p.as_bool() == Some(true)) {
        out.extend(std::iter::repeat_n(BYTES, n));
        return Some(());
    }
    let itemsize = match sub.get("dtype").and_then(MsgValue::as_array) {
        Some([MsgValue::Int(0), MsgValue::Str(s)]) => {
            DType::parse(s).map(|d| d.frame_itemsize()).unwrap_or(1)
        }
        Some([MsgValue::Int(1), MsgValue::Bin(p)]) => pickled_dtype_itemsize(p),
        _ => 1,
    };
    out.extend(std::iter::repeat_n(Cut { itemsize, rows: None }, n));
    Some(())
}

/// The frame item size of a pickled (kind `V`) dtype: from the safe dtype
/// reader when it can read it; else from the pickle's opening
/// `numpy.dtype("V<n>", False, True)` call and whether its state names
/// fields; else 1 (cutting anywhere is always decodable, just not where
/// Python would have cut).
fn pickled_dtype_itemsize(p: &Bytes) -> usize {
    if let Ok(d) = crate::pickle::load_dtype(p, &crate::limits::Limits::default()) {
        return d.frame_itemsize();
    }
    match recognise_void_dtype_pickle(p) {
        // structured: u{gcd(itemsize, 8)}; plain void: its itemsize if <= 8
        Some((size, true)) => gcd(size, 8).max(1),
        Some((size, false)) if size > 8 => gcd(size, 8).max(1),
        Some((size, false)) => size.max(1),
        None => 1,
    }
}

/// Recognises the fixed opening of CPython's pickle of a void dtype
/// (protocols 4 and 5): `PROTO, FRAME, "numpy" "dtype" STACK_GLOBAL,
/// "V<n>" False True TUPLE3 REDUCE, MARK 3 "|" None <names>`. Returns the
/// item size and whether `names` is not None (a structured dtype). Nothing
/// is executed; anything else is not recognised.
fn recognise_void_dtype_pickle(p: &[u8]) -> Option<(usize, bool)> {
    let rest = p.strip_prefix(&[0x80])?;
    let (&proto, rest) = rest.split_first()?;
    if !(4..=5).contains(&proto) {
        return None;
    }
    let rest = rest.strip_prefix(&[0x95]).map_or(Some(rest), |r| r.get(8..))?;
    let rest = rest.strip_prefix(b"\x8c\x05numpy\x94\x8c\x05dtype\x94\x93\x94\x8c".as_slice())?;
    let (&len, rest) = rest.split_first()?;
    let name = rest.get(..len as usize)?;
    let rest = rest.get(len as usize..)?;
    let digits = name.strip_prefix(b"V")?;
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let rest = rest.strip_prefix(b"\x94\x89\x88\x87\x94R\x94(K\x03\x8c\x01|\x94N".as_slice())?;
    Some((size, *rest.first()? != b'N'))
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// A memoryview frame: the item size of its format and, for two or more
/// dimensions, its first axis.
fn memoryview_cut(sub: &MsgValue) -> Cut {
    let itemsize = sub
        .get("format")
        .and_then(MsgValue::as_str)
        .and_then(struct_itemsize)
        .unwrap_or(1);
    let rows = match sub.get("shape").and_then(MsgValue::as_array) {
        Some(shape) if shape.len() >= 2 => shape
            .first()
            .and_then(MsgValue::as_int)
            .and_then(|r| usize::try_from(r).ok()),
        _ => None,
    };
    Cut { itemsize, rows }
}

/// `struct.calcsize(format)` for the formats memoryviews carry: an optional
/// byte-order prefix, then `[count]code` items (native sizes and alignment
/// with `@` or no prefix, standard sizes otherwise), plus numpy's `Z`
/// complex prefix. `None` for anything else.
fn struct_itemsize(format: &str) -> Option<usize> {
    let (native, body) = match format.as_bytes().first() {
        Some(b'@') => (true, &format[1..]),
        Some(b'=' | b'<' | b'>' | b'!') => (false, &format[1..]),
        _ => (true, format),
    };
    let b = body.as_bytes();
    let mut i = 0;
    let mut total = 0usize;
    let mut any = false;
    while i < b.len() {
        let mut count: Option<usize> = None;
        while i < b.len() && b[i].is_ascii_digit() {
            count = Some(
                count
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add((b[i] - b'0') as usize)?,
            );
            i += 1;
        }
        let mut code = *b.get(i)?;
        i += 1;
        let complex = code == b'Z';
        if complex {
            code = *b.get(i)?;
            i += 1;
        }
        let size = match code {
            b'x' | b'c' | b'b' | b'B' | b'?' | b's' | b'p' => 1,
            b'h' | b'H' | b'e' => 2,
            b'i' | b'I' | b'f' => 4,
            b'l' | b'L' => {
                if native {
                    8
                } else {
                    4
                }
            }
            b'q' | b'Q' | b'd' => 8,
            b'n' | b'N' | b'P' if native => 8,
            b'g' => 16,
            b'w' => 4,
            _ => return None,
        };
        let size = if complex {
            if !matches!(code, b'f' | b'd' | b'g') {
                return None;
            }
            size * 2
        } else {
            size
        };
        let align = if native { size.min(16) } else { 1 };
        let count = count.unwrap_or(1);
        if native && align > 1 && count > 0 && !matches!(code, b's' | b'p') {
            total = total.checked_add(align - 1)? / align * align;
        }
        total = total.checked_add(size.checked_mul(count)?)?;
        any = true;
    }
    (any && total > 0).then_some(total)
}

/// Python's `frame_split_size(frame, n)` given the buffer's cut: the byte
/// ranges of the pieces.
fn piece_ranges(len: usize, cut: Cut, size: usize) -> Vec<std::ops::Range<usize>> {
    if len <= size {
        return std::iter::once(0..len).collect();
    }
    let mut itemsize = cut.itemsize.max(1);
    if len % itemsize != 0 {
        // not a whole number of items: the header's view does not fit this
        // frame, cut anywhere rather than drop the tail
        itemsize = 1;
    }
    let nitems = len / itemsize;
    // Python raises (range() step 0) when one item is larger than `size`;
    // we send one item per piece instead
    let per_piece = (size / itemsize).max(1);
    match cut.rows {
        Some(rows) if rows > 0 && len % rows == 0 && itemsize == cut.itemsize.max(1) => {
            // a multi-dimensional memoryview: `frame[i:i+per_piece]` slices
            // rows although `i` counts items, so the first pieces take all
            // the rows and the rest are empty
            let row_bytes = len / rows;
            (0..nitems)
                .step_by(per_piece)
                .map(|i| {
                    let a = i.min(rows);
                    let b = i.saturating_add(per_piece).min(rows);
                    a * row_bytes..b * row_bytes
                })
                .collect()
        }
        _ => (0..nitems)
            .step_by(per_piece)
            .map(|i| i * itemsize..i.saturating_add(per_piece).min(nitems) * itemsize)
            .collect(),
    }
}

fn slice_frame<'a>(f: &Frame<'a>, r: std::ops::Range<usize>) -> Frame<'a> {
    match f {
        Frame::Borrowed(b) => Frame::Borrowed(&b[r]),
        Frame::Shared(b) => Frame::Shared(b.slice(r)),
        Frame::SharedRef(b) => Frame::Shared(b.slice(r)),
    }
}

/// The part of Dask's `serialize_and_split` after `serialize`: cuts every
/// frame whose `compression` entry is nil into pieces of
/// `(size / itemsize) * itemsize` bytes (the item sizes of
/// [`frame_itemsizes`]; `size` defaults to [`DEFAULT_SPLIT_SIZE`], and
/// `Some(0)` means the default as in Python), keeps the others whole, and
/// appends `split-num-sub-frames`, `split-offsets` and `compression` to the
/// header. Frames no larger than `size` stay whole and untouched.
///
/// Zero-copy: pieces of a [`Frame::Borrowed`] frame borrow the same memory,
/// pieces of a [`Frame::Shared`] frame are [`Bytes::slice`]s of it.
///
/// Byte-compatible with Python, including its quirk for memoryviews of two
/// or more dimensions (sliced along the first axis, so with `k` items per
/// piece the first `ceil(rows / k)` pieces hold `k` rows each and the
/// remaining pieces are empty). Differences, none of which Python can
/// produce or decode differently:
///
/// * when one item is larger than `size`, Python raises `ValueError`; here
///   each piece is one item;
/// * a frame whose length is not a multiple of the item size the header
///   implies is cut at byte granularity instead of losing its tail;
/// * an already split header (a `Serialized` forwarded as is) is split
///   further with its `split-*` keys composed, so each original frame is
///   still the concatenation of its pieces (Python overwrites them);
/// * a `compression` list of the wrong length is an error (Python's `zip`
///   drops frames).
///
/// # Examples
///
/// ```
/// use dask_serde::split::split_frames;
/// use dask_serde::{serialize, MsgValue, NdArray, SerializeOptions, Value};
///
/// // ten <i4 items, size 18: pieces of 4 items (16 bytes)
/// let a = NdArray::from_c_order("<i4", vec![10], vec![0u8; 40].into())?;
/// let v = Value::from(a);
/// let s = split_frames(serialize(&v, &SerializeOptions::new())?, Some(18))?;
/// assert_eq!(s.frames.iter().map(|f| f.len()).collect::<Vec<_>>(), [16, 16, 8]);
/// assert_eq!(s.header.get("split-num-sub-frames"), Some(&MsgValue::Array(vec![3.into()])));
/// assert_eq!(s.header.get("split-offsets"), Some(&MsgValue::Array(vec![0.into()])));
/// # Ok::<(), dask_serde::Error>(())
/// ```
///
/// # Errors
///
/// A malformed `compression` list or `split-*` keys already in the header.
pub fn split_frames<'a>(serialized: Serialized<'a>, size: Option<usize>) -> Result<Serialized<'a>> {
    let size = match size {
        None | Some(0) => DEFAULT_SPLIT_SIZE,
        Some(n) => n,
    };
    let Serialized { mut header, frames } = serialized;
    let n = frames.len();
    let codecs = match header.compression()? {
        Some(c) if !c.is_empty() => {
            if c.len() != n {
                return Err(Error::header(
                    "compression",
                    format!("{} entries for {n} frames", c.len()),
                ));
            }
            c
        }
        _ => vec![None; n],
    };
    // an already split payload: groups of pieces per original frame
    let groups = split_groups(&header, n)?;
    let cuts = match &groups {
        None => frame_cuts(&header, n),
        Some(g) => {
            // the header describes the original frames; each piece keeps
            // its frame's item size (as a 1-d buffer)
            let orig = frame_cuts(&header, g.len());
            g.iter()
                .zip(orig)
                .flat_map(|((_, count), c)| {
                    std::iter::repeat_n(
                        Cut {
                            itemsize: c.itemsize,
                            rows: None,
                        },
                        *count,
                    )
                })
                .collect()
        }
    };
    let groups = groups.unwrap_or_else(|| (0..n).map(|i| (i, 1)).collect());

    let mut out_frames: Vec<Frame<'a>> = Vec::with_capacity(n);
    let mut out_codecs: Vec<MsgValue> = Vec::with_capacity(n);
    let mut per_frame = vec![0usize; n];
    for (i, f) in frames.into_iter().enumerate() {
        let before = out_frames.len();
        match &codecs[i] {
            None => {
                let ranges = piece_ranges(f.len(), cuts[i], size);
                if ranges.len() == 1 {
                    out_frames.push(f);
                } else {
                    out_frames.extend(ranges.into_iter().map(|r| slice_frame(&f, r)));
                }
                out_codecs.extend(std::iter::repeat_n(MsgValue::Nil, out_frames.len() - before));
            }
            Some(c) => {
                out_frames.push(f);
                out_codecs.push(MsgValue::Str(c.clone()));
            }
        }
        per_frame[i] = out_frames.len() - before;
    }
    let mut nums = Vec::with_capacity(groups.len());
    let mut offsets = Vec::with_capacity(groups.len());
    let mut pos = 0usize;
    for (first, count) in groups {
        let pieces: usize = per_frame[first..first + count].iter().sum();
        nums.push(MsgValue::from(pieces));
        offsets.push(MsgValue::from(pos));
        pos += pieces;
    }
    header.insert("split-num-sub-frames", MsgValue::Array(nums));
    header.insert("split-offsets", MsgValue::Array(offsets));
    header.insert("compression", MsgValue::Array(out_codecs));
    Ok(Serialized::new(header, out_frames))
}

/// Parses and checks `split-num-sub-frames` / `split-offsets` against
/// `nframes` frames: `(offset, count)` per original frame, `None` when the
/// header has no split keys.
fn split_groups(header: &Header, nframes: usize) -> Result<Option<Vec<(usize, usize)>>> {
    let Some(nums) = header.get("split-num-sub-frames") else {
        return Ok(None);
    };
    let nums = as_array(nums, "split-num-sub-frames")?;
    let offsets = as_array(
        header
            .get("split-offsets")
            .ok_or_else(|| Error::header("<root>", "split-num-sub-frames without split-offsets"))?,
        "split-offsets",
    )?;
    if nums.len() != offsets.len() {
        return Err(Error::header(
            "split-offsets",
            format!(
                "{} offsets for {} entries of split-num-sub-frames",
                offsets.len(),
                nums.len()
            ),
        ));
    }
    let mut groups = Vec::with_capacity(nums.len());
    let mut expected = 0usize;
    for (i, (n, off)) in nums.iter().zip(offsets).enumerate() {
        let n = as_index(n, &format!("split-num-sub-frames[{i}]"))?;
        let off = as_index(off, &format!("split-offsets[{i}]"))?;
        let end = off.checked_add(n).filter(|e| *e <= nframes).ok_or_else(|| {
            Error::frames(format!(
                "split frame {i} claims pieces {off}..{} but there are {nframes} frames",
                off as u128 + n as u128
            ))
        })?;
        if off != expected {
            return Err(Error::frames(format!(
                "split-offsets[{i}] is {off} but the pieces before it number {expected}"
            )));
        }
        expected = end;
        groups.push((off, n));
    }
    if expected != nframes {
        return Err(Error::frames(format!(
            "split-num-sub-frames accounts for {expected} pieces but there are {nframes} frames"
        )));
    }
    Ok(Some(groups))
}

/// The merge part of Dask's `merge_and_deserialize`: when the header has
/// `split-num-sub-frames`, each original frame is the concatenation of its
/// pieces `frames[offset .. offset + n]`; otherwise `frames` is returned as
/// is.
///
/// Unlike Python (which slices silently), every range must lie inside
/// `frames`, the offsets must follow each other and the counts must add up
/// to the number of frames.
///
/// No copy is made for a frame of one piece, for pieces of which at most
/// one is non-empty, or for pieces adjacent in memory inside `parent` (the
/// buffer they were sliced from, e.g. a received `pack_frames` blob): the
/// result is then a slice of `parent`. Otherwise the pieces are copied once
/// into a new buffer.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use dask_serde::split::merge_frames;
/// use dask_serde::{Header, MsgValue};
///
/// let mut h = Header::new();
/// h.insert("split-num-sub-frames", MsgValue::Array(vec![2.into()]));
/// h.insert("split-offsets", MsgValue::Array(vec![0.into()]));
/// let blob = Bytes::from_static(b"hello world");
/// let pieces = vec![blob.slice(0..5), blob.slice(5..11)];
/// let merged = merge_frames(&h, pieces, Some(&blob))?;
/// assert_eq!(&merged[0][..], b"hello world");
/// assert_eq!(merged[0].as_ptr(), blob.as_ptr()); // a slice of the blob, no copy
/// # Ok::<(), dask_serde::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Header`] for malformed split keys, [`Error::Frames`] for ranges
/// outside the frames or counts that do not add up.
pub fn merge_frames(header: &Header, frames: Vec<Bytes>, parent: Option<&Bytes>) -> Result<Vec<Bytes>> {
    let Some(groups) = split_groups(header, frames.len())? else {
        return Ok(frames);
    };
    let mut out = Vec::with_capacity(groups.len());
    for (off, n) in groups {
        out.push(merge_pieces(&frames[off..off + n], parent));
    }
    Ok(out)
}

fn merge_pieces(pieces: &[Bytes], parent: Option<&Bytes>) -> Bytes {
    if let [one] = pieces {
        return one.clone();
    }
    let non_empty: Vec<&Bytes> = pieces.iter().filter(|p| !p.is_empty()).collect();
    match non_empty.as_slice() {
        [] => return pieces.first().cloned().unwrap_or_default(),
        [one] => return (*one).clone(),
        _ => {}
    }
    let total: usize = non_empty.iter().map(|p| p.len()).sum();
    if let Some(parent) = parent {
        // plain address arithmetic, no unsafe: the pieces must follow each
        // other and all lie inside `parent`
        let base = parent.as_ptr() as usize;
        let first = non_empty[0].as_ptr() as usize;
        let adjacent = non_empty
            .windows(2)
            .all(|w| w[0].as_ptr() as usize + w[0].len() == w[1].as_ptr() as usize);
        if adjacent && first >= base && first - base + total <= parent.len() {
            let start = first - base;
            return parent.slice(start..start + total);
        }
    }
    let mut buf = BytesMut::with_capacity(total);
    for p in non_empty {
        buf.extend_from_slice(p);
    }
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens(r: &[std::ops::Range<usize>]) -> Vec<usize> {
        r.iter().map(|r| r.len()).collect()
    }

    #[test]
    fn pieces_follow_items() {
        let c = |itemsize| Cut { itemsize, rows: None };
        assert_eq!(lens(&piece_ranges(40, c(4), 16)), [16, 16, 8]);
        assert_eq!(lens(&piece_ranges(40, c(8), 20)), [16, 16, 8]);
        assert_eq!(lens(&piece_ranges(40, c(8), 40)), [40]);
        assert_eq!(lens(&piece_ranges(0, c(8), 1)), [0]);
        // one item larger than size: one item per piece (Python raises)
        assert_eq!(lens(&piece_ranges(32, c(16), 8)), [16, 16]);
        // not a multiple of the item size: bytes
        assert_eq!(lens(&piece_ranges(10, c(4), 4)), [4, 4, 2]);
    }

    #[test]
    fn multidimensional_memoryview_quirk() {
        // shape (2, 3) of 'i': 6 items, size 16 → 4 items per piece:
        // frame[0:4] is both rows, frame[4:8] is empty
        let cut = Cut {
            itemsize: 4,
            rows: Some(2),
        };
        assert_eq!(lens(&piece_ranges(24, cut, 16)), [24, 0]);
        // shape (10, 2) of 'B', size 4: rows 0-3, 4-7, 8-9, then 2 empties
        let cut = Cut {
            itemsize: 1,
            rows: Some(10),
        };
        assert_eq!(lens(&piece_ranges(20, cut, 4)), [8, 8, 4, 0, 0]);
    }

    #[test]
    fn struct_sizes() {
        for (f, n) in [
            ("B", 1),
            ("@i", 4),
            ("<i", 4),
            ("l", 8),
            ("<l", 4),
            ("d", 8),
            ("Zd", 16),
            ("Zf", 8),
            ("3w", 12),
            ("5s", 5),
            ("bi", 8),
            ("<bi", 5),
            ("e", 2),
            ("?", 1),
        ] {
            assert_eq!(struct_itemsize(f), Some(n), "{f}");
        }
        for f in ["", "T{i:a:}", "O", "<n", "Zi", "3", "i9999999999999999999999"] {
            assert_eq!(struct_itemsize(f), None, "{f}");
        }
    }

    #[test]
    fn void_dtype_pickles_are_recognised() {
        // pickle.dumps(np.dtype('V3'), protocol=4)
        let v3 = hex("80049531000000000000008c056e756d7079948c0564747970659493948c02563394898887945294284b038c017c944e4e4e4b034b014b007494622e");
        assert_eq!(recognise_void_dtype_pickle(&v3), Some((3, false)));
        assert_eq!(pickled_dtype_itemsize(&Bytes::from(v3.clone())), 3);
        // np.dtype([('a', '<i2'), ('b', 'u1')]): structured, 3 bytes → u1
        let s3 = hex("80049593000000000000008c056e756d7079948c0564747970659493948c02563394898887945294284b038c017c944e8c0161948c01629486947d9428680768028c02693294898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624b008694680868028c02753194898887945294284b0368064e4e4e4affffffff4affffffff4b007494624b028694754b034b014b107494622e");
        assert_eq!(recognise_void_dtype_pickle(&s3), Some((3, true)));
        assert_eq!(pickled_dtype_itemsize(&Bytes::from(s3)), 1);
        for cut in 0..v3.len() - 1 {
            let _ = recognise_void_dtype_pickle(&v3[..cut]);
        }
        assert_eq!(recognise_void_dtype_pickle(b"\x80\x04junk"), None);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn merge_checks_ranges() {
        let frames = || {
            vec![
                Bytes::from_static(b"ab"),
                Bytes::from_static(b"cd"),
                Bytes::from_static(b"e"),
            ]
        };
        let h = |nums: Vec<i64>, offs: Vec<i64>| {
            let mut h = Header::new();
            h.insert(
                "split-num-sub-frames",
                MsgValue::Array(nums.into_iter().map(MsgValue::from).collect()),
            );
            h.insert(
                "split-offsets",
                MsgValue::Array(offs.into_iter().map(MsgValue::from).collect()),
            );
            h
        };
        let ok = merge_frames(&h(vec![2, 1], vec![0, 2]), frames(), None).unwrap();
        assert_eq!(ok, vec![Bytes::from_static(b"abcd"), Bytes::from_static(b"e")]);
        for (nums, offs) in [
            (vec![2, 2], vec![0, 2]),  // past the end
            (vec![1, 1], vec![0, 1]),  // does not cover all frames
            (vec![2, 1], vec![0, 1]),  // overlapping
            (vec![3], vec![0, 3]),     // lengths differ
            (vec![-1, 4], vec![0, 0]), // negative
            (vec![1, 2], vec![2, 0]),  // out of order
        ] {
            assert!(
                merge_frames(&h(nums.clone(), offs.clone()), frames(), None).is_err(),
                "{nums:?} {offs:?}"
            );
        }
        let mut missing = Header::new();
        missing.insert("split-num-sub-frames", MsgValue::Array(vec![3.into()]));
        assert!(merge_frames(&missing, frames(), None).is_err());
        // a zero count is an empty frame, as in Python
        let z = merge_frames(&h(vec![0, 3], vec![0, 0]), frames(), None).unwrap();
        assert_eq!(z, vec![Bytes::new(), Bytes::from_static(b"abcde")]);
    }
}
