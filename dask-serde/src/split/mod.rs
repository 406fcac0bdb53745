//! Frame splitting (PROTOCOL.md §8): pure functions over headers and frames.
//!
//! `items` finds the item size Dask cuts each frame at, [`split_frames`]
//! cuts, `merge` glues pieces back. The compositions with serialization,
//! `serialize_and_split` / `merge_and_deserialize`, are in the
//! [`protocol`](crate::protocol) layer.
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
//! viewed with the dtype's item size, PROTOCOL.md §5.5), so where the cuts fall
//! depends on the header: [`frame_itemsizes`] reproduces Dask's item sizes
//! from the header alone, and [`split_frames`] reproduces Dask's pieces
//! byte for byte, including the multi-dimensional `memoryview` quirk.
//!
//! Splitting never copies: pieces of a borrowed frame stay borrowed, pieces
//! of a shared frame are [`Bytes::slice`](bytes::Bytes::slice)s. Merging copies only when pieces
//! are not already adjacent in one buffer.
//!
//! # Examples
//!
//! ```
//! use bytes::Bytes;
//! use dask_serde::{merge_and_deserialize, serialize_and_split, DeserializeOptions, SerializeOptions, Value};
//!
//! let v = Value::Bytes(Bytes::from(vec![1u8; 10]));
//! let s = serialize_and_split(&v, &SerializeOptions::new().frame_split_size(4))?;
//! assert_eq!(s.frames.iter().map(|f| f.len()).collect::<Vec<_>>(), [4, 4, 2]);
//! let back = merge_and_deserialize(&s.header, s.frame_bytes(), &DeserializeOptions::new())?;
//! assert_eq!(back, v);
//! # Ok::<(), dask_serde::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::msgpack::MsgValue;
use crate::serialized::Serialized;

mod items;
pub mod merge;

use items::{frame_cuts, Cut};
pub use items::{frame_itemsizes, DEFAULT_SPLIT_SIZE};
pub use merge::merge_frames;
use merge::split_groups;

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
/// pieces of a [`Frame::Shared`] frame are [`Bytes::slice`](bytes::Bytes::slice)s of it.
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

#[cfg(test)]
mod tests {
    use super::items::*;
    use super::merge::*;
    use super::*;
    use crate::header::Header;
    use bytes::Bytes;

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
