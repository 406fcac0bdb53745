//! `pack_frames` / `unpack_frames` (spec §11.1).

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::limits::Limits;

/// Concatenates frames into Dask's `pack_frames` layout: a u64 LE frame
/// count, one u64 LE length per frame, then the frames back to back.
///
/// # Examples
///
/// ```
/// use dask_serde::transport::pack::{pack_frames, unpack_frames};
/// use dask_serde::Limits;
///
/// let blob = bytes::Bytes::from(pack_frames(&[b"ab".as_slice(), b"c"]));
/// assert_eq!(blob.len(), 8 + 16 + 3);
/// let frames = unpack_frames(&blob, &Limits::default())?;
/// assert_eq!(frames, vec![&b"ab"[..], &b"c"[..]]);
/// # Ok::<(), dask_serde::Error>(())
/// ```
pub fn pack_frames<B: AsRef<[u8]>>(frames: &[B]) -> Vec<u8> {
    let total: usize = frames.iter().map(|f| f.as_ref().len()).sum();
    let mut out = Vec::with_capacity(8 + 8 * frames.len() + total);
    out.extend_from_slice(&(frames.len() as u64).to_le_bytes());
    for f in frames {
        out.extend_from_slice(&(f.as_ref().len() as u64).to_le_bytes());
    }
    for f in frames {
        out.extend_from_slice(f.as_ref());
    }
    out
}

/// Splits a `pack_frames` blob into frames that share `blob`'s memory.
///
/// Unlike Python, every count and length is checked before anything is
/// allocated: the prelude must fit, the lengths must add up to exactly the
/// rest of the blob (trailing bytes are an error), and the count is bounded
/// by [`Limits::max_frames`] and by the blob size.
///
/// # Errors
///
/// [`Error::Frames`] or [`Error::Limit`] describing the inconsistency.
pub fn unpack_frames(blob: &Bytes, limits: &Limits) -> Result<Vec<Bytes>> {
    let n = read_u64(blob, 0)
        .ok_or_else(|| Error::frames(format!("blob of {} bytes has no frame count", blob.len())))?;
    let avail = (blob.len() as u64 - 8) / 8;
    if n > avail {
        return Err(Error::frames(format!(
            "frame count {n} needs a {}-byte prelude but the blob has {} bytes",
            8u128 + 8 * n as u128,
            blob.len()
        )));
    }
    let n = n as usize;
    limits.check_frames(n)?;
    let data_start = 8 + 8 * n;
    let mut lens = Vec::with_capacity(n);
    let mut total: u64 = 0;
    for i in 0..n {
        let len = read_u64(blob, 8 + 8 * i).unwrap_or(u64::MAX);
        if len > limits.max_frame_bytes {
            return Err(Error::Limit {
                what: "frame size",
                limit: limits.max_frame_bytes,
                got: len,
            });
        }
        total = total
            .checked_add(len)
            .ok_or_else(|| Error::frames("frame lengths overflow"))?;
        lens.push(len as usize);
    }
    if total > limits.max_total_bytes {
        return Err(Error::Limit {
            what: "total frame bytes",
            limit: limits.max_total_bytes,
            got: total,
        });
    }
    let rest = (blob.len() - data_start) as u64;
    if total != rest {
        return Err(Error::frames(format!(
            "frame lengths add up to {total} bytes but {rest} bytes follow the prelude"
        )));
    }
    let mut frames = Vec::with_capacity(n);
    let mut pos = data_start;
    for len in lens {
        frames.push(blob.slice(pos..pos + len));
        pos += len;
    }
    Ok(frames)
}

fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_inconsistent_blobs() {
        let l = Limits::default();
        let good = pack_frames(&[b"hello".as_slice(), b""]);
        assert_eq!(unpack_frames(&Bytes::from(good.clone()), &l).unwrap().len(), 2);
        for cut in 0..good.len() {
            assert!(unpack_frames(&Bytes::copy_from_slice(&good[..cut]), &l).is_err());
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(unpack_frames(&Bytes::from(trailing), &l).is_err());
        let mut huge = good.clone();
        huge[..8].copy_from_slice(&(1u64 << 62).to_le_bytes());
        assert!(unpack_frames(&Bytes::from(huge), &l).is_err());
        let mut overflow = pack_frames(&[b"a".as_slice(), b"b"]);
        overflow[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(unpack_frames(&Bytes::from(overflow), &l).is_err());
    }

    #[test]
    fn frames_are_zero_copy() {
        let blob = Bytes::from(pack_frames(&[b"abc".as_slice()]));
        let f = unpack_frames(&blob, &Limits::default()).unwrap();
        assert_eq!(f[0].as_ptr(), blob[16..].as_ptr());
    }
}
