//! The item size Dask cuts each frame at, read from the header alone
//! (numpy dtypes, `array.array` typecodes, memoryview formats, generic
//! objects and collections walked recursively).

use bytes::Bytes;

use crate::header::Header;
use crate::msgpack::MsgValue;
use crate::pytype::PyType;
use crate::value::dtype::DType;
use crate::value::PyArray;

/// Dask's default split size, `distributed.comm.shard` = 64 MiB.
pub const DEFAULT_SPLIT_SIZE: usize = 64 << 20;

/// How Python's buffer for one frame is sliced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Cut {
    /// `memoryview.itemsize`.
    pub(super) itemsize: usize,
    /// For a memoryview of two or more dimensions, the length of its first
    /// axis: slicing cuts rows, not items (PROTOCOL.md §8's quirk).
    pub(super) rows: Option<usize>,
}

pub(super) const BYTES: Cut = Cut {
    itemsize: 1,
    rows: None,
};

/// Deepest header nesting walked; deeper parts count as item size 1.
pub(super) const MAX_WALK_DEPTH: usize = 256;

/// The item size Dask's buffer has for each of the `nframes` frames of a
/// `serialize()` header: where [`split_frames`](super::split_frames) may cut.
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
///   [`split_frames`](super::split_frames)); `array.array`: the typecode's item size (Dask sends
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

pub(super) fn frame_cuts(header: &Header, nframes: usize) -> Vec<Cut> {
    let mut out = Vec::with_capacity(nframes);
    if walk_header(Node::Root(header), nframes, &mut out, 0).is_none() || out.len() != nframes {
        return vec![BYTES; nframes];
    }
    out
}

/// A header being walked: the root [`Header`] or a nested msgpack map.
#[derive(Clone, Copy)]
pub(super) enum Node<'a> {
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
pub(super) fn walk_header(h: Node<'_>, n: usize, out: &mut Vec<Cut>, depth: usize) -> Option<()> {
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
pub(super) fn generic_cuts(sub: &MsgValue, n: usize, out: &mut Vec<Cut>, depth: usize) -> Option<()> {
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
pub(super) fn ndarray_cuts(sub: &MsgValue, n: usize, out: &mut Vec<Cut>) -> Option<()> {
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
pub(super) fn pickled_dtype_itemsize(p: &Bytes) -> usize {
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
pub(super) fn recognise_void_dtype_pickle(p: &[u8]) -> Option<(usize, bool)> {
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

pub(super) fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// A memoryview frame: the item size of its format and, for two or more
/// dimensions, its first axis.
pub(super) fn memoryview_cut(sub: &MsgValue) -> Cut {
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
pub(super) fn struct_itemsize(format: &str) -> Option<usize> {
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
