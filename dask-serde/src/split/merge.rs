//! Merging split pieces back into frames (the merge half of Dask's
//! `merge_and_deserialize`); depends on nothing but headers and bytes, so
//! opaque payloads and the protocol layer can use it.

use bytes::{Bytes, BytesMut};

use crate::error::{Error, Result};
use crate::header::{as_array, as_index, Header};

/// Parses and checks `split-num-sub-frames` / `split-offsets` against
/// `nframes` frames: `(offset, count)` per original frame, `None` when the
/// header has no split keys.
pub(super) fn split_groups(header: &Header, nframes: usize) -> Result<Option<Vec<(usize, usize)>>> {
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

pub(super) fn merge_pieces(pieces: &[Bytes], parent: Option<&Bytes>) -> Bytes {
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
