//! Dask's TCP message framing (PROTOCOL.md §11.2): a u64 `F` (size of the first
//! read, ending on a frame boundary), then the `pack_frames` prelude and the
//! frames.

use std::io::{IoSlice, Read, Write};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::pack;

/// The bytes written before the frames of one message: `F`, the frame
/// count and the frame lengths.
///
/// `F` covers the prelude plus the leading frames up to (not including) the
/// first frame of at least 64 KiB, so that a Python reader fetches the
/// message and sub-headers in one read and every large buffer into a buffer
/// of its own (any `F` that ends on a frame boundary is valid, PROTOCOL.md §11.2).
pub fn message_prefix<B: AsRef<[u8]>>(frames: &[B]) -> Vec<u8> {
    let prelude = 8 + 8 * frames.len();
    let mut first = prelude;
    for f in frames {
        let n = f.as_ref().len();
        if n >= 1 << 16 {
            break;
        }
        first += n;
    }
    let mut out = Vec::with_capacity(8 + prelude);
    out.extend_from_slice(&(first as u64).to_le_bytes());
    out.extend_from_slice(&(frames.len() as u64).to_le_bytes());
    for f in frames {
        out.extend_from_slice(&(f.as_ref().len() as u64).to_le_bytes());
    }
    out
}

/// The buffers of one message for a vectored write: the prefix, then every
/// non-empty frame (shared by the blocking and the async writer).
pub(crate) fn io_slices<'a, B: AsRef<[u8]>>(prefix: &'a [u8], frames: &'a [B]) -> Vec<IoSlice<'a>> {
    let mut slices = Vec::with_capacity(frames.len() + 1);
    slices.push(IoSlice::new(prefix));
    slices.extend(
        frames
            .iter()
            .map(|f| f.as_ref())
            .filter(|f| !f.is_empty())
            .map(IoSlice::new),
    );
    slices
}

/// Writes one message (prefix and frames) with vectored writes: frames are
/// written straight from their buffers, never copied into one.
///
/// # Errors
///
/// [`Error::Io`] (keeping the I/O error) or [`Error::CommClosed`] from
/// the socket.
pub fn write_message<W: Write, B: AsRef<[u8]>>(w: &mut W, frames: &[B]) -> Result<usize> {
    let prefix = message_prefix(frames);
    let mut slices = io_slices(&prefix, frames);
    let total: usize = slices.iter().map(|s| s.len()).sum();
    let mut bufs: &mut [IoSlice<'_>] = &mut slices;
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(Error::CommClosed("the peer stopped reading".into())),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("write", e)),
        }
    }
    w.flush().map_err(|e| Error::io("flush", e))?;
    Ok(total)
}

/// The first-read size `F` of a message, checked against the limits before
/// anything else is read: it can be no smaller than an empty prelude and no
/// larger than the largest prelude plus the largest message.
///
/// # Errors
///
/// [`Error::Frames`] for an impossible `F`.
pub(crate) fn check_first(first: u64, limits: &Limits) -> Result<usize> {
    let prelude_max = (limits.max_frames as u64).saturating_mul(8).saturating_add(8);
    let max = limits.max_total_bytes.saturating_add(prelude_max);
    if first < 8 || first > max {
        return Err(Error::frames(format!(
            "first-read size {first} is impossible (8 ..= {max})"
        )));
    }
    usize::try_from(first).map_err(|_| Error::frames("first-read size too large"))
}

/// `F` and the frame count of a message, checked: what both readers (the
/// blocking [`read_message`] and the incremental `DaskCodec`) know once
/// they have the first 16 bytes. The frame lengths are then checked with
/// [`Head::lengths`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    /// The first-read size.
    pub first: usize,
    /// Size of the `pack_frames` prelude (the count and the lengths).
    pub prelude: usize,
}

impl Head {
    /// Checks the frame count against the limits
    /// ([`pack::prelude_len`]) and that `first` (already checked by
    /// [`check_first`]) covers the prelude it announces.
    pub(crate) fn new(first: usize, count: u64, limits: &Limits) -> Result<Head> {
        let prelude = pack::prelude_len(count, limits)?;
        if first < prelude {
            return Err(Error::frames(format!(
                "first-read size {first} does not cover the {prelude}-byte prelude of {count} frames"
            )));
        }
        Ok(Head { first, prelude })
    }

    /// Checks the frame lengths (`self.prelude - 8` bytes after the count)
    /// against the limits ([`pack::frame_lengths`]) and that `F` ends on a
    /// frame boundary; returns the lengths.
    pub(crate) fn lengths(&self, lengths: &[u8], limits: &Limits) -> Result<Vec<usize>> {
        if lengths.len() != self.prelude - 8 {
            return Err(Error::frames("short prelude"));
        }
        let lens = pack::frame_lengths(lengths, limits)?;
        let mut pos = self.prelude;
        let mut ok = pos == self.first;
        for l in &lens {
            if ok {
                break;
            }
            pos += l;
            ok = pos == self.first;
        }
        if !ok {
            return Err(Error::frames(format!(
                "first-read size {} does not end on a frame boundary",
                self.first
            )));
        }
        Ok(lens)
    }
}

/// A pool of receive buffers for large frames.
///
/// A frame read through a pool lives in a buffer taken from the pool; when
/// the last [`Bytes`] referring to it is dropped the buffer goes back, so a
/// stream of large messages reuses memory that is already mapped instead of
/// mapping, zero-filling and unmapping a fresh buffer per frame (which costs
/// more than the socket copy itself). Clones share the pool.
///
/// # Examples
///
/// ```
/// use dask_serde::transport::framing::{read_message_pooled, write_message, BufferPool};
/// use dask_serde::Limits;
///
/// let pool = BufferPool::new(4);
/// let big = vec![1u8; 1 << 20];
/// let mut wire = Vec::new();
/// write_message(&mut wire, &[&b"header"[..], &big])?;
/// let frames = read_message_pooled(&mut &wire[..], &Limits::default(), &pool)?.unwrap();
/// assert_eq!(frames[1].len(), 1 << 20);
/// drop(frames);
/// assert_eq!(pool.len(), 1); // the large buffer came back
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct BufferPool {
    buffers: Arc<Mutex<Vec<Vec<u8>>>>,
    max_buffers: usize,
}

impl BufferPool {
    /// Frames smaller than this are not worth pooling.
    pub const MIN_POOLED: usize = 1 << 16;

    /// A pool keeping at most `max_buffers` idle buffers.
    pub fn new(max_buffers: usize) -> Self {
        BufferPool {
            buffers: Arc::new(Mutex::new(Vec::new())),
            max_buffers,
        }
    }

    /// Idle buffers in the pool.
    pub fn len(&self) -> usize {
        self.buffers.lock().map(|b| b.len()).unwrap_or(0)
    }

    /// `true` when no buffer is idle.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An empty buffer with room for `n` bytes: the smallest idle one that
    /// fits, else a new one.
    fn take(&self, n: usize) -> Vec<u8> {
        if let Ok(mut idle) = self.buffers.lock() {
            let best = idle
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= n)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            if let Some(i) = best {
                let mut b = idle.swap_remove(i);
                b.clear();
                return b;
            }
        }
        Vec::with_capacity(n)
    }

    fn give(&self, buf: Vec<u8>) {
        if let Ok(mut idle) = self.buffers.lock() {
            if idle.len() < self.max_buffers {
                idle.push(buf);
            }
        }
    }
}

/// A pooled buffer owned by a `Bytes`; returns to its pool when dropped.
struct Pooled {
    buf: Vec<u8>,
    pool: BufferPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

/// Reads exactly `n` bytes into a new, exactly sized buffer. The buffer is
/// filled straight from the socket (`read_to_end` on a `take` reader reads
/// into the reserved capacity without zeroing it first), so a large frame
/// costs one pass over its memory. Frames above
/// [`Limits::max_eager_frame_bytes`] start smaller and grow as they arrive.
fn read_exact_into<R: Read>(r: &mut R, n: usize, what: &str, limits: &Limits) -> Result<Vec<u8>> {
    // beyond `max_eager_frame_bytes` the buffer grows as the bytes arrive
    let mut buf = Vec::with_capacity(limits.eager(n));
    let got = r
        .by_ref()
        .take(n as u64)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(what, e))?;
    if got != n {
        return Err(Error::CommClosed(format!(
            "{what}: the peer closed after {got} of {n} bytes"
        )));
    }
    Ok(buf)
}

/// Reads one message: `F`, then the first `F` bytes in one buffer (the
/// prelude and the small leading frames, sliced without copies), then every
/// remaining frame into a buffer of its own (no second copy). All sizes
/// are checked against `limits` before allocating. `Ok(None)` when the peer
/// closed the connection cleanly before a message.
///
/// # Errors
///
/// Invalid framing, limits exceeded, or a connection closed mid-message.
pub fn read_message<R: Read>(r: &mut R, limits: &Limits) -> Result<Option<Vec<Bytes>>> {
    read_message_with(r, limits, None)
}

/// [`read_message`] reading large frames into buffers of `pool`.
///
/// # Errors
///
/// As [`read_message`].
pub fn read_message_pooled<R: Read>(
    r: &mut R,
    limits: &Limits,
    pool: &BufferPool,
) -> Result<Option<Vec<Bytes>>> {
    read_message_with(r, limits, Some(pool))
}

fn read_frame<R: Read>(r: &mut R, len: usize, pool: Option<&BufferPool>, limits: &Limits) -> Result<Bytes> {
    match pool {
        Some(pool) if len >= BufferPool::MIN_POOLED => {
            let mut buf = pool.take(limits.eager(len));
            let got = r
                .by_ref()
                .take(len as u64)
                .read_to_end(&mut buf)
                .map_err(|e| Error::io("read a frame", e))?;
            if got != len {
                pool.give(buf);
                return Err(Error::CommClosed(format!(
                    "read a frame: the peer closed after {got} of {len} bytes"
                )));
            }
            Ok(Bytes::from_owner(Pooled {
                buf,
                pool: pool.clone(),
            }))
        }
        _ => Ok(Bytes::from(read_exact_into(r, len, "read a frame", limits)?)),
    }
}

fn u64_at(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn read_message_with<R: Read>(
    r: &mut R,
    limits: &Limits,
    pool: Option<&BufferPool>,
) -> Result<Option<Vec<Bytes>>> {
    let mut f = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        match r.read(&mut f[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(Error::CommClosed(
                    "closed in the middle of a message header".into(),
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("read", e)),
        }
    }
    let first = check_first(u64::from_le_bytes(f), limits)?;
    // read the count before the rest, so the prelude size is known
    let count = read_exact_into(r, 8, "read the frame count", limits)?;
    let head = Head::new(first, u64_at(&count), limits)?;
    let lengths = read_exact_into(r, head.prelude - 8, "read the prelude", limits)?;
    let lens = head.lengths(&lengths, limits)?;
    // the rest of the first read: whole frames, sliced without copies
    let block = Bytes::from(read_exact_into(
        r,
        first - head.prelude,
        "read the first frames",
        limits,
    )?);
    let mut frames = Vec::with_capacity(lens.len());
    let mut pos = 0;
    let mut i = 0;
    while i < lens.len() && pos < block.len() {
        frames.push(block.slice(pos..pos + lens[i]));
        pos += lens[i];
        i += 1;
    }
    for len in &lens[i..] {
        frames.push(read_frame(r, *len, pool, limits)?);
    }
    Ok(Some(frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_first_read_size() {
        let big = vec![7u8; 70_000];
        let frames: Vec<&[u8]> = vec![b"msg", b"sub", &big, b"tail"];
        let mut wire = Vec::new();
        write_message(&mut wire, &frames).unwrap();
        let first = u64::from_le_bytes(wire[..8].try_into().unwrap());
        assert_eq!(first, 8 + 32 + 3 + 3, "stops before the large frame");
        let back = read_message(&mut &wire[..], &Limits::default()).unwrap().unwrap();
        assert_eq!(
            back.iter().map(|b| b.to_vec()).collect::<Vec<_>>(),
            frames.iter().map(|f| f.to_vec()).collect::<Vec<_>>()
        );
        // a clean close between messages
        assert!(read_message(&mut &[][..], &Limits::default()).unwrap().is_none());
    }

    #[test]
    fn every_valid_first_size_is_accepted_and_others_refused() {
        let frames: Vec<&[u8]> = vec![b"ab", b"cde"];
        let prelude = 8 + 16;
        let mut body = Vec::new();
        body.extend_from_slice(&2u64.to_le_bytes());
        body.extend_from_slice(&2u64.to_le_bytes());
        body.extend_from_slice(&3u64.to_le_bytes());
        body.extend_from_slice(b"abcde");
        for first in 0..40u64 {
            let mut wire = first.to_le_bytes().to_vec();
            wire.extend_from_slice(&body);
            let r = read_message(&mut &wire[..], &Limits::default());
            let valid = [prelude, prelude + 2, prelude + 5].contains(&(first as usize));
            assert_eq!(r.is_ok(), valid, "F = {first}: {r:?}");
            if valid {
                let f = r.unwrap().unwrap();
                assert_eq!(f[1], &b"cde"[..]);
            }
        }
        let _ = frames;
    }

    #[test]
    fn unbounded_limits_do_not_overflow() {
        let l = Limits::unbounded();
        let mut wire = u64::MAX.to_le_bytes().to_vec();
        wire.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(read_message(&mut &wire[..], &l).is_err());
        let mut ok = Vec::new();
        write_message(&mut ok, &[&b"x"[..]]).unwrap();
        assert!(read_message(&mut &ok[..], &l).unwrap().is_some());
    }

    #[test]
    fn hostile_sizes_are_refused_before_allocating() {
        let mut wire = (1u64 << 60).to_le_bytes().to_vec();
        wire.extend_from_slice(&[0; 8]);
        assert!(read_message(&mut &wire[..], &Limits::default()).is_err());
        let mut wire = 1000u64.to_le_bytes().to_vec();
        wire.extend_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(matches!(
            read_message(&mut &wire[..], &Limits::default()),
            Err(Error::Limit { .. })
        ));
        // a frame length above the limit
        let small = Limits {
            max_frame_bytes: 10,
            ..Limits::default()
        };
        let mut wire = 16u64.to_le_bytes().to_vec();
        wire.extend_from_slice(&1u64.to_le_bytes());
        wire.extend_from_slice(&100u64.to_le_bytes());
        assert!(matches!(
            read_message(&mut &wire[..], &small),
            Err(Error::Limit { .. })
        ));
        // truncated anywhere
        let mut good = Vec::new();
        write_message(&mut good, &[&b"hello"[..], b"world"]).unwrap();
        for cut in 1..good.len() {
            assert!(
                read_message(&mut &good[..cut], &Limits::default()).is_err(),
                "cut {cut}"
            );
        }
    }
}
