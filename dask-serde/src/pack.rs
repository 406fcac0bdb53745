//! `pack_frames` / `unpack_frames` (PROTOCOL.md §11.1), and the checks of the
//! frames prelude (a u64 frame count, then one u64 length per frame) that
//! every reader of that prelude applies: this module for `.frames` blobs,
//! [`transport::framing`](crate::transport::framing) and
//! `transport::codec` for TCP messages (whose prelude is this one, preceded
//! by the first-read size).

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::limits::Limits;

/// Concatenates frames into Dask's `pack_frames` layout: a u64 LE frame
/// count, one u64 LE length per frame, then the frames back to back.
///
/// # Examples
///
/// ```
/// use dask_serde::pack::{pack_frames, unpack_frames};
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
    let data_start = prelude_len(n, limits)?;
    let lens = frame_lengths(&blob[8..data_start], limits)?;
    let total: u64 = lens.iter().map(|&l| l as u64).sum();
    let rest = (blob.len() - data_start) as u64;
    if total != rest {
        return Err(Error::frames(format!(
            "frame lengths add up to {total} bytes but {rest} bytes follow the prelude"
        )));
    }
    let mut frames = Vec::with_capacity(lens.len());
    let mut pos = data_start;
    for len in lens {
        frames.push(blob.slice(pos..pos + len));
        pos += len;
    }
    Ok(frames)
}

/// Checks the frame count of a prelude against [`Limits::max_frames`] and
/// returns the size of the prelude it announces (`8 + 8 * count`: the count
/// and the lengths), before anything is allocated for it.
///
/// # Errors
///
/// [`Error::Limit`] (`"frame count"`) above the limit, [`Error::Frames`]
/// when the prelude size does not fit in `usize` (possible only with
/// unbounded limits).
pub(crate) fn prelude_len(count: u64, limits: &Limits) -> Result<usize> {
    if count > limits.max_frames as u64 {
        return Err(Error::Limit {
            what: "frame count",
            limit: limits.max_frames as u64,
            got: count,
        });
    }
    usize::try_from(count)
        .ok()
        .and_then(|n| n.checked_mul(8))
        .and_then(|b| b.checked_add(8))
        .ok_or_else(|| Error::frames("frame count overflows"))
}

/// Reads the frame lengths of a prelude (`lengths` holds the u64 LE lengths
/// that follow the count, 8 bytes each) and checks each against
/// [`Limits::max_frame_bytes`] and their sum against
/// [`Limits::max_total_bytes`].
///
/// # Errors
///
/// [`Error::Limit`] (`"frame size"`, `"total frame bytes"`),
/// [`Error::Frames`] when the lengths overflow or `lengths` is not a whole
/// number of u64s.
pub(crate) fn frame_lengths(lengths: &[u8], limits: &Limits) -> Result<Vec<usize>> {
    if lengths.len() % 8 != 0 {
        return Err(Error::frames("short prelude"));
    }
    let mut lens = Vec::with_capacity(lengths.len() / 8);
    let mut total: u64 = 0;
    for chunk in lengths.chunks_exact(8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(chunk);
        let len = u64::from_le_bytes(a);
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
        let len = usize::try_from(len).map_err(|_| Error::frames("frame length overflows"))?;
        lens.push(len);
    }
    if total > limits.max_total_bytes {
        return Err(Error::Limit {
            what: "total frame bytes",
            limit: limits.max_total_bytes,
            got: total,
        });
    }
    Ok(lens)
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
    fn prelude_checks() {
        let l = Limits {
            max_frames: 3,
            max_frame_bytes: 10,
            max_total_bytes: 15,
            ..Limits::default()
        };
        assert_eq!(prelude_len(3, &l).unwrap(), 32);
        assert!(matches!(
            prelude_len(4, &l),
            Err(Error::Limit {
                what: "frame count",
                ..
            })
        ));
        assert!(matches!(
            prelude_len(u64::MAX, &Limits::unbounded()),
            Err(Error::Frames(_))
        ));
        let u = |xs: &[u64]| xs.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        assert_eq!(frame_lengths(&u(&[10, 5]), &l).unwrap(), vec![10, 5]);
        assert!(matches!(
            frame_lengths(&u(&[11]), &l),
            Err(Error::Limit {
                what: "frame size",
                ..
            })
        ));
        assert!(matches!(
            frame_lengths(&u(&[10, 6]), &l),
            Err(Error::Limit {
                what: "total frame bytes",
                ..
            })
        ));
        assert!(matches!(
            frame_lengths(&u(&[u64::MAX, 1]), &Limits::unbounded()),
            Err(Error::Frames(_))
        ));
        assert!(frame_lengths(&[0; 7], &l).is_err());
    }

    #[test]
    fn frames_are_zero_copy() {
        let blob = Bytes::from(pack_frames(&[b"abc".as_slice()]));
        let f = unpack_frames(&blob, &Limits::default()).unwrap();
        assert_eq!(f[0].as_ptr(), blob[16..].as_ptr());
    }
}
