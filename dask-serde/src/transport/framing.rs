//! Dask's TCP message framing (spec §11.2): a u64 `F` (size of the first
//! read, ending on a frame boundary), then the `pack_frames` prelude and the
//! frames.

use std::io::{IoSlice, Read, Write};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::limits::Limits;

/// The bytes written before the frames of one message: `F`, the frame
/// count and the frame lengths.
///
/// `F` covers the prelude plus the leading frames up to (not including) the
/// first frame of at least 64 KiB, so that a Python reader fetches the
/// message and sub-headers in one read and every large buffer into a buffer
/// of its own (any `F` that ends on a frame boundary is valid, spec §11.2).
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

/// Writes one message (prefix and frames) with vectored writes: frames are
/// written straight from their buffers, never copied into one.
///
/// # Errors
///
/// [`Error::Io`] / [`Error::CommClosed`] from the socket.
pub fn write_message<W: Write, B: AsRef<[u8]>>(w: &mut W, frames: &[B]) -> Result<usize> {
    let prefix = message_prefix(frames);
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(frames.len() + 1);
    slices.push(IoSlice::new(&prefix));
    slices.extend(
        frames
            .iter()
            .map(|f| f.as_ref())
            .filter(|f| !f.is_empty())
            .map(IoSlice::new),
    );
    let total: usize = slices.iter().map(|s| s.len()).sum();
    let mut bufs: &mut [IoSlice<'_>] = &mut slices;
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(Error::CommClosed("the peer stopped reading".into())),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error("write", e)),
        }
    }
    w.flush().map_err(|e| io_error("flush", e))?;
    Ok(total)
}

pub(crate) fn io_error(what: &str, e: std::io::Error) -> Error {
    use std::io::ErrorKind::*;
    match e.kind() {
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe => {
            Error::CommClosed(format!("{what}: {e}"))
        }
        _ => Error::Io(format!("{what}: {e}")),
    }
}

/// Parsed `F` + prelude of a message.
#[derive(Debug)]
pub(crate) struct Prelude {
    pub first: usize,
    pub lens: Vec<usize>,
}

/// Checks `F` and the prelude against the limits and each other before
/// anything is allocated. `head` holds at least the 8-byte count.
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

pub(crate) fn parse_prelude(first: usize, head: &[u8], limits: &Limits) -> Result<Prelude> {
    let n = u64::from_le_bytes(head[..8].try_into().map_err(|_| Error::frames("short prelude"))?);
    if n > limits.max_frames as u64 {
        return Err(Error::Limit {
            what: "frame count",
            limit: limits.max_frames as u64,
            got: n,
        });
    }
    let n = usize::try_from(n).map_err(|_| Error::frames("frame count overflows"))?;
    let prelude = n
        .checked_mul(8)
        .and_then(|b| b.checked_add(8))
        .ok_or_else(|| Error::frames("frame count overflows"))?;
    if first < prelude {
        return Err(Error::frames(format!(
            "first-read size {first} does not cover the {prelude}-byte prelude of {n} frames"
        )));
    }
    if head.len() < prelude {
        return Err(Error::frames("short prelude"));
    }
    let mut lens = Vec::with_capacity(n);
    let mut total: u64 = 0;
    for i in 0..n {
        let len = u64::from_le_bytes(
            head[8 + 8 * i..16 + 8 * i]
                .try_into()
                .map_err(|_| Error::frames("short prelude"))?,
        );
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
            what: "message size",
            limit: limits.max_total_bytes,
            got: total,
        });
    }
    // F must end on a frame boundary
    let mut pos = prelude;
    let mut ok = pos == first;
    for l in &lens {
        if ok {
            break;
        }
        pos += l;
        ok = pos == first;
    }
    if !ok {
        return Err(Error::frames(format!(
            "first-read size {first} does not end on a frame boundary"
        )));
    }
    Ok(Prelude { first, lens })
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
/// costs one pass over its memory.
fn read_exact_into<R: Read>(r: &mut R, n: usize, what: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    let got = r
        .by_ref()
        .take(n as u64)
        .read_to_end(&mut buf)
        .map_err(|e| io_error(what, e))?;
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

fn read_frame<R: Read>(r: &mut R, len: usize, pool: Option<&BufferPool>) -> Result<Bytes> {
    match pool {
        Some(pool) if len >= BufferPool::MIN_POOLED => {
            let mut buf = pool.take(len);
            let got = r
                .by_ref()
                .take(len as u64)
                .read_to_end(&mut buf)
                .map_err(|e| io_error("read a frame", e))?;
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
        _ => Ok(Bytes::from(read_exact_into(r, len, "read a frame")?)),
    }
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
            Err(e) => return Err(io_error("read", e)),
        }
    }
    let first = check_first(u64::from_le_bytes(f), limits)?;
    // read the count before the rest, so the prelude size is known
    let head = read_exact_into(r, 8, "read the frame count")?;
    let n = u64::from_le_bytes(head[..8].try_into().map_err(|_| Error::frames("short prelude"))?);
    if n > limits.max_frames as u64 {
        return Err(Error::Limit {
            what: "frame count",
            limit: limits.max_frames as u64,
            got: n,
        });
    }
    // n ≤ max_frames was checked above, but max_frames may be unbounded
    let prelude_len = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_mul(8))
        .and_then(|b| b.checked_add(8))
        .ok_or_else(|| Error::frames("frame count overflows"))?;
    if first < prelude_len {
        return Err(Error::frames(format!(
            "first-read size {first} does not cover the {prelude_len}-byte prelude of {n} frames"
        )));
    }
    let mut block = head;
    block.extend(read_exact_into(r, prelude_len - 8, "read the prelude")?);
    let p = parse_prelude(first, &block, limits)?;
    // the rest of the first read: whole frames
    block.reserve_exact(first - prelude_len);
    let rest = read_exact_into(r, first - prelude_len, "read the first frames")?;
    block.extend(rest);
    let block = Bytes::from(block);
    let mut frames = Vec::with_capacity(p.lens.len());
    let mut pos = prelude_len;
    let mut i = 0;
    while i < p.lens.len() && pos < p.first {
        frames.push(block.slice(pos..pos + p.lens[i]));
        pos += p.lens[i];
        i += 1;
    }
    for len in &p.lens[i..] {
        frames.push(read_frame(r, *len, pool)?);
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
