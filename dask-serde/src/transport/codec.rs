//! Dask's TCP message framing (PROTOCOL.md §11.2) as a [`tokio_util::codec`]
//! [`Decoder`] and [`Encoder`] (feature `tokio`).
//!
//! One item is one message: the frames of `protocol.dumps` output, as
//! [`Bytes`]. The decoder is incremental and zero-copy: it returns
//! `Ok(None)` until a whole message is in the buffer, reserves buffer space
//! only for what the already validated prelude announces (bounded by
//! [`Limits`]), and hands out every frame as a slice of the read buffer
//! (`split_to(..).freeze()`): a large frame is read from the socket straight
//! into the space reserved for it and frozen there, never copied. `F`, the
//! frame count and the frame lengths are checked exactly as the blocking
//! [`read_message`](super::framing::read_message) checks them, before
//! anything is reserved.
//!
//! [`AsyncComm`](super::async_comm::AsyncComm) uses this codec for reading;
//! use it directly with [`tokio_util::codec::Framed`] for streams of raw
//! messages (for example after [`AsyncComm::into_framed`]).
//!
//! [`AsyncComm::into_framed`]: super::async_comm::AsyncComm::into_framed
//!
//! # Examples
//!
//! ```
//! use dask_serde::bytes::{Bytes, BytesMut};
//! use dask_serde::transport::codec::DaskCodec;
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = DaskCodec::default();
//! let mut wire = BytesMut::new();
//! codec.encode(vec![Bytes::from_static(b"\x80"), Bytes::from(vec![7u8; 100_000])], &mut wire)?;
//!
//! // the bytes arrive in pieces: nothing until the message is complete
//! let mut buf = BytesMut::new();
//! let tail = wire.split_off(50);
//! buf.extend_from_slice(&wire);
//! assert!(codec.decode(&mut buf)?.is_none());
//! buf.extend_from_slice(&tail);
//! let frames = codec.decode(&mut buf)?.expect("a whole message");
//! assert_eq!(frames.len(), 2);
//! assert_eq!(frames[1].len(), 100_000);
//! # Ok::<(), dask_serde::Error>(())
//! ```

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::framing::{check_first, message_prefix, Head};
use crate::error::{Error, Result};
use crate::limits::Limits;

/// What the decoder asks for when it knows nothing about the next bytes
/// (before a message's size is known, or for the small frames of a
/// message): enough for typical small messages in one read.
const READ_CHUNK: usize = 8 * 1024;

/// The `F` + frame-count header of a message.
const HEAD: usize = 16;

/// Where the decoder is within the current message.
#[derive(Debug, Default)]
enum State {
    /// Waiting for `F` and the frame count.
    #[default]
    Head,
    /// `F` and the count are valid; waiting for the frame lengths.
    Prelude(Head),
    /// The prelude is valid; collecting frames.
    Frames {
        /// Every frame's length.
        lens: Vec<usize>,
        /// The frames complete so far (`frames.len()` is the next index).
        frames: Vec<Bytes>,
        /// Bytes of the frames not yet complete.
        remaining: usize,
    },
    /// A framing error happened: the stream cannot be resynchronized.
    Failed,
}

/// A [`Decoder`] / [`Encoder`] of Dask TCP messages (PROTOCOL.md §11.2): `F`, the
/// `pack_frames` prelude, the frames.
///
/// Decoding yields `Vec<Bytes>` (the frames of one message, slices of the
/// read buffer). Every size read from the wire is checked against the
/// codec's [`Limits`] before buffer space is reserved; after an error the
/// codec refuses every further call (a byte stream cannot be
/// resynchronized). Encoding accepts `Vec<B>` or `&[B]` for any
/// `B: AsRef<[u8]>` and writes the same bytes as
/// [`write_message`](super::framing::write_message) (copying the frames
/// into the write buffer, as every `Encoder` does; [`AsyncComm`] writes
/// frames without copies instead).
///
/// [`AsyncComm`]: super::async_comm::AsyncComm
///
/// # Examples
///
/// A stream of messages over any `AsyncRead + AsyncWrite`:
///
/// ```no_run
/// use dask_serde::transport::codec::DaskCodec;
/// use dask_serde::Limits;
/// use tokio_util::codec::Framed;
///
/// # async fn run() -> std::io::Result<()> {
/// let stream = tokio::net::TcpStream::connect("127.0.0.1:8786").await?;
/// let framed = Framed::new(stream, DaskCodec::new(Limits::default()));
/// // `framed` is a Stream of Result<Vec<Bytes>, dask_serde::Error> and a
/// // Sink of Vec<Bytes> (use futures' StreamExt / SinkExt)
/// # drop(framed);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct DaskCodec {
    limits: Limits,
    state: State,
}

impl DaskCodec {
    /// A codec that refuses messages beyond `limits` (frame count, frame
    /// size, message size).
    ///
    /// # Examples
    ///
    /// ```
    /// use dask_serde::transport::codec::DaskCodec;
    /// use dask_serde::Limits;
    ///
    /// let codec = DaskCodec::new(Limits { max_frame_bytes: 1 << 20, ..Limits::default() });
    /// assert_eq!(codec.limits().max_frame_bytes, 1 << 20);
    /// ```
    pub fn new(limits: Limits) -> DaskCodec {
        DaskCodec {
            limits,
            state: State::Head,
        }
    }

    /// The limits applied to decoded messages.
    ///
    /// # Examples
    ///
    /// ```
    /// use dask_serde::transport::codec::DaskCodec;
    /// use dask_serde::Limits;
    ///
    /// assert_eq!(DaskCodec::default().limits(), &Limits::default());
    /// ```
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the codec holds part of a message (its prelude or some of
    /// its frames have been consumed from the buffer). A connection that
    /// ends now ends in the middle of a message.
    ///
    /// # Examples
    ///
    /// ```
    /// use dask_serde::bytes::BytesMut;
    /// use dask_serde::transport::codec::DaskCodec;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = DaskCodec::default();
    /// assert!(!codec.in_message());
    /// // F = 16 (the prelude only), one frame of 5 bytes: the prelude is
    /// // consumed, the codec waits for the frame
    /// let mut buf = BytesMut::new();
    /// for x in [16u64, 1, 5] {
    ///     buf.extend_from_slice(&x.to_le_bytes());
    /// }
    /// assert!(codec.decode(&mut buf)?.is_none());
    /// assert!(codec.in_message());
    /// # Ok::<(), dask_serde::Error>(())
    /// ```
    pub fn in_message(&self) -> bool {
        !matches!(self.state, State::Head)
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>> {
        loop {
            match &mut self.state {
                State::Failed => {
                    return Err(Error::frames(
                        "the stream is out of sync after an earlier framing error",
                    ))
                }
                State::Head => {
                    if buf.len() < HEAD {
                        reserve_total(buf, READ_CHUNK);
                        return Ok(None);
                    }
                    let first = check_first(read_u64(buf, 0), &self.limits)?;
                    self.state = State::Prelude(Head::new(first, read_u64(buf, 8), &self.limits)?);
                }
                State::Prelude(head) => {
                    let head = *head;
                    // `prelude <= first`, and `first` was checked against
                    // the limits: this reservation is bounded by them
                    let need = head.prelude.saturating_add(8);
                    if buf.len() < need {
                        reserve_total(buf, need.max(READ_CHUNK.min(8 + head.first)));
                        return Ok(None);
                    }
                    let lens = head.lengths(&buf[HEAD..need], &self.limits)?;
                    buf.advance(need);
                    // the lengths' total is bounded by max_total_bytes
                    let remaining = lens.iter().sum();
                    self.state = State::Frames {
                        frames: Vec::with_capacity(lens.len()),
                        lens,
                        remaining,
                    };
                }
                State::Frames {
                    lens,
                    frames,
                    remaining,
                } => {
                    while let Some(&len) = lens.get(frames.len()) {
                        if buf.len() < len {
                            // room for this frame (all of it: it is read in
                            // place and frozen, never copied), or for the
                            // rest of a message of small frames
                            // (up to max_eager_frame_bytes ahead of what
                            // has arrived; beyond, the buffer grows with it)
                            let want = len.max(READ_CHUNK.min(*remaining));
                            let ahead = buf.len().saturating_add(self.limits.eager(want).max(READ_CHUNK));
                            reserve_total(buf, want.min(ahead));
                            return Ok(None);
                        }
                        frames.push(if len == 0 {
                            Bytes::new()
                        } else {
                            buf.split_to(len).freeze()
                        });
                        *remaining -= len;
                    }
                    let frames = std::mem::take(frames);
                    self.state = State::Head;
                    return Ok(Some(frames));
                }
            }
        }
    }
}

/// Makes sure `buf` can hold `total` bytes without growing again (a no-op
/// when it already can).
fn reserve_total(buf: &mut BytesMut, total: usize) {
    if total > buf.len() {
        buf.reserve(total - buf.len());
    }
}

fn read_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl Decoder for DaskCodec {
    type Item = Vec<Bytes>;
    type Error = Error;

    /// Decodes one message if the buffer holds all of it; `Ok(None)` (after
    /// reserving room for what is missing) otherwise.
    ///
    /// # Errors
    ///
    /// [`Error::Frames`] for an invalid `F` or prelude, [`Error::Limit`]
    /// for sizes beyond the limits, and an error for every call after one.
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>> {
        let r = self.step(buf);
        if r.is_err() {
            self.state = State::Failed;
            // the rest is unusable
            buf.clear();
        }
        r
    }

    /// As [`decode`](Decoder::decode) at the end of the stream: `Ok(None)`
    /// when the stream ended between messages.
    ///
    /// # Errors
    ///
    /// [`Error::CommClosed`] when it ended in the middle of a message.
    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>> {
        match self.decode(buf)? {
            Some(frames) => Ok(Some(frames)),
            None if buf.is_empty() && !self.in_message() => Ok(None),
            None => {
                self.state = State::Failed;
                buf.clear();
                Err(Error::CommClosed("closed in the middle of a message".into()))
            }
        }
    }
}

fn encode_frames<B: AsRef<[u8]>>(frames: &[B], dst: &mut BytesMut) {
    let prefix = message_prefix(frames);
    let total: usize = frames.iter().map(|f| f.as_ref().len()).sum();
    dst.reserve(prefix.len() + total);
    dst.extend_from_slice(&prefix);
    for f in frames {
        dst.extend_from_slice(f.as_ref());
    }
}

impl<B: AsRef<[u8]>> Encoder<Vec<B>> for DaskCodec {
    type Error = Error;

    /// Appends the prefix (`F` and the prelude, as
    /// [`super::framing::message_prefix`]) and the frames.
    fn encode(&mut self, frames: Vec<B>, dst: &mut BytesMut) -> Result<()> {
        encode_frames(&frames, dst);
        Ok(())
    }
}

impl<B: AsRef<[u8]>> Encoder<&[B]> for DaskCodec {
    type Error = Error;

    /// Appends the prefix (`F` and the prelude, as
    /// [`super::framing::message_prefix`]) and the frames.
    fn encode(&mut self, frames: &[B], dst: &mut BytesMut) -> Result<()> {
        encode_frames(frames, dst);
        Ok(())
    }
}

/// I/O errors of a stream under a [`DaskCodec`] (`tokio_util`'s codecs
/// need this conversion): a connection reset, aborted, broken or ended
/// early becomes [`Error::CommClosed`], anything else [`Error::Io`].
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io("io", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::framing::{read_message, write_message};
    use proptest::prelude::*;

    fn wire<B: AsRef<[u8]>>(frames: &[B]) -> Vec<u8> {
        let mut w = Vec::new();
        write_message(&mut w, frames).unwrap();
        w
    }

    /// A message with an explicit first-read size.
    fn wire_with_first(first: u64, frames: &[&[u8]]) -> Vec<u8> {
        let mut w = first.to_le_bytes().to_vec();
        w.extend_from_slice(&(frames.len() as u64).to_le_bytes());
        for f in frames {
            w.extend_from_slice(&(f.len() as u64).to_le_bytes());
        }
        for f in frames {
            w.extend_from_slice(f);
        }
        w
    }

    fn vecs(frames: &[Bytes]) -> Vec<Vec<u8>> {
        frames.iter().map(|b| b.to_vec()).collect()
    }

    fn decode_all(codec: &mut DaskCodec, bytes: &[u8]) -> Result<Vec<Vec<Bytes>>> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(m) = codec.decode(&mut buf)? {
            out.push(m);
        }
        assert!(buf.is_empty(), "bytes left over");
        Ok(out)
    }

    #[test]
    fn byte_at_a_time() {
        let big = vec![9u8; 70_000];
        let messages: Vec<Vec<&[u8]>> = vec![
            vec![b"msg", b"", b"sub", &big, b"tail"],
            vec![],
            vec![b"\x80"],
            vec![&big[..1000], b"", b""],
        ];
        let mut stream = Vec::new();
        let mut ends = Vec::new();
        for m in &messages {
            stream.extend(wire(m));
            ends.push(stream.len());
        }
        let mut codec = DaskCodec::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for (i, b) in stream.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            match codec.decode(&mut buf).unwrap() {
                Some(m) => {
                    assert_eq!(i + 1, ends[got.len()], "a message completes at its last byte");
                    got.push(m);
                }
                None => assert!(
                    !ends.contains(&(i + 1)),
                    "message ending at {} not decoded",
                    i + 1
                ),
            }
        }
        assert_eq!(got.len(), messages.len());
        for (g, m) in got.iter().zip(&messages) {
            assert_eq!(vecs(g), m.iter().map(|f| f.to_vec()).collect::<Vec<_>>());
        }
        assert!(buf.is_empty() && !codec.in_message());
        assert!(codec.decode_eof(&mut buf).unwrap().is_none());
    }

    #[test]
    fn every_valid_first_size_is_accepted_and_others_refused() {
        let frames: [&[u8]; 3] = [b"ab", b"", b"cde"];
        let prelude = 8 + 24;
        let valid = [prelude, prelude + 2, prelude + 5];
        for first in (0..48u64).chain([u64::MAX, 1 << 63, 16 << 30]) {
            let w = wire_with_first(first, &frames);
            let ok = valid.contains(&(first as usize));
            // whole, and byte at a time: the same verdict
            let whole = decode_all(&mut DaskCodec::default(), &w);
            assert_eq!(whole.is_ok(), ok, "F = {first}: {whole:?}");
            let mut codec = DaskCodec::default();
            let mut buf = BytesMut::new();
            let mut verdict = None;
            for b in &w {
                buf.extend_from_slice(&[*b]);
                match codec.decode(&mut buf) {
                    Ok(None) => {}
                    Ok(Some(m)) => {
                        assert_eq!(vecs(&m), frames.iter().map(|f| f.to_vec()).collect::<Vec<_>>());
                        verdict = Some(true);
                    }
                    Err(e) => {
                        assert!(matches!(e, Error::Frames(_) | Error::Limit { .. }), "{e}");
                        verdict = Some(false);
                        break;
                    }
                }
            }
            assert_eq!(verdict, Some(ok), "F = {first}");
            // the blocking reader agrees
            assert_eq!(read_message(&mut &w[..], &Limits::default()).is_ok(), ok);
        }
    }

    /// Default limits except frame and total sizes (to reach the overflow
    /// check).
    fn unbounded_sizes() -> Limits {
        Limits {
            max_frame_bytes: u64::MAX,
            max_total_bytes: u64::MAX,
            ..Limits::default()
        }
    }

    #[test]
    fn hostile_sizes_are_refused_before_reserving() {
        let small = |b: &BytesMut| assert!(b.capacity() <= 64 * 1024, "capacity {}", b.capacity());
        let refuse = |limits: Limits, w: Vec<u8>| {
            let mut codec = DaskCodec::new(limits);
            let mut buf = BytesMut::new();
            buf.extend_from_slice(&w);
            let cap = buf.capacity();
            let e = codec.decode(&mut buf).unwrap_err();
            small(&buf);
            assert!(buf.capacity() <= cap);
            // and the codec stays failed
            let mut more = BytesMut::from(&wire(&[b"ok"])[..]);
            assert!(codec.decode(&mut more).is_err());
            e
        };
        let u = |xs: &[u64]| xs.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        // F beyond any message the limits allow
        assert!(matches!(
            refuse(Limits::default(), u(&[1 << 60, 0])),
            Error::Frames(_)
        ));
        // a frame count beyond the limit
        let e = refuse(Limits::default(), u(&[1000, 1 << 40]));
        assert!(
            matches!(
                e,
                Error::Limit {
                    what: "frame count",
                    ..
                }
            ),
            "{e}"
        );
        let e = refuse(Limits::default(), u(&[1000, u64::MAX]));
        assert!(matches!(e, Error::Limit { .. }), "{e}");
        // F shorter than the prelude it would have to cover
        assert!(matches!(
            refuse(Limits::default(), u(&[24, 100])),
            Error::Frames(_)
        ));
        // a frame above the frame limit
        let l = Limits {
            max_frame_bytes: 1 << 20,
            ..Limits::default()
        };
        let e = refuse(l, u(&[16, 1, 2 << 20]));
        assert!(
            matches!(
                e,
                Error::Limit {
                    what: "frame size",
                    ..
                }
            ),
            "{e}"
        );
        // frames each within the limit but too much together
        let l = Limits {
            max_frame_bytes: 1 << 20,
            max_total_bytes: 3 << 19,
            ..Limits::default()
        };
        assert!(matches!(
            refuse(l, u(&[24, 2, 1 << 20, 1 << 20])),
            Error::Limit { .. }
        ));
        // lengths that overflow
        let e = refuse(unbounded_sizes(), u(&[24, 2, u64::MAX, 2]));
        assert!(matches!(e, Error::Frames(_)), "{e}");
        // a huge frame that the limits allow is only reserved once the
        // prelude is complete and valid: an incomplete prelude reserves
        // no more than the prelude
        let mut codec = DaskCodec::default();
        let mut buf = BytesMut::from(&u(&[8 + 8 * 1000, 1000])[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() <= 16 + 8 * 1000 + READ_CHUNK, "{}", buf.capacity());
        // a prelude whose F does not end on a frame boundary
        let e = refuse(Limits::default(), u(&[16 + 3, 1, 5]));
        assert!(matches!(e, Error::Frames(_)), "{e}");
    }

    #[test]
    fn a_large_frame_is_read_in_place_and_not_copied() {
        let mut codec = DaskCodec::default();
        let big = vec![5u8; 3 << 20];
        let w = wire(&[&b"head"[..], &big]);
        let split = w.len() - big.len() + 1000; // prefix, frame 0 and part of frame 1
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&w[..split]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(codec.in_message());
        // the codec reserved room for the rest of the frame, no more than it
        let missing = w.len() - split;
        assert!(buf.capacity() - buf.len() >= missing);
        assert!(buf.capacity() <= big.len() + READ_CHUNK);
        let start = buf.as_ptr() as usize;
        // the socket writes into the reserved space
        for chunk in w[split..].chunks(64 * 1024) {
            buf.extend_from_slice(chunk);
        }
        assert_eq!(buf.as_ptr() as usize, start, "no reallocation");
        let frames = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(frames[1].as_ptr() as usize, start, "frozen in place");
        assert_eq!(frames[1], big);
        assert_eq!(&frames[0][..], b"head");

        // a whole message in the buffer: every frame is a slice of it
        let w = wire(&[&b"a"[..], b"bc", &big[..100_000]]);
        let mut buf = BytesMut::from(&w[..]);
        let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        let frames = codec.decode(&mut buf).unwrap().unwrap();
        for f in &frames {
            assert!(range.contains(&(f.as_ptr() as usize)));
        }
    }

    #[test]
    fn encoder_matches_write_message_and_round_trips() {
        let big = vec![3u8; 70_000];
        let frames = vec![
            Bytes::from_static(b"msg"),
            Bytes::new(),
            Bytes::from(big.clone()),
            Bytes::from_static(b"tail"),
        ];
        let mut codec = DaskCodec::default();
        let mut dst = BytesMut::new();
        codec.encode(frames.clone(), &mut dst).unwrap();
        assert_eq!(&dst[..], &wire(&frames)[..]);
        let mut dst2 = BytesMut::new();
        codec.encode(&frames[..], &mut dst2).unwrap();
        codec.encode(&[&b"x"[..]][..], &mut dst2).unwrap();
        assert_eq!(&dst2[..dst.len()], &dst[..]);
        // the blocking reader reads what the encoder wrote
        let back = read_message(&mut &dst[..], &Limits::default()).unwrap().unwrap();
        assert_eq!(back, frames);
        // the decoder reads what write_message wrote
        let msgs = decode_all(&mut codec, &dst2).unwrap();
        assert_eq!(msgs, vec![frames, vec![Bytes::from_static(b"x")]]);
        // no frames at all
        let mut dst = BytesMut::new();
        codec.encode(Vec::<Bytes>::new(), &mut dst).unwrap();
        assert_eq!(&dst[..], &[8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(decode_all(&mut codec, &dst).unwrap(), vec![Vec::<Bytes>::new()]);
    }

    #[test]
    fn end_of_stream() {
        let w = wire(&[&b"hello"[..], b"world"]);
        // a clean end between messages
        let mut codec = DaskCodec::default();
        let mut buf = BytesMut::from(&w[..]);
        assert!(codec.decode_eof(&mut buf).unwrap().is_some());
        assert!(codec.decode_eof(&mut buf).unwrap().is_none());
        // cut anywhere, including right after a frame (the buffer is empty
        // then, but the codec holds part of the message)
        for cut in 1..w.len() {
            let mut codec = DaskCodec::default();
            let mut buf = BytesMut::from(&w[..cut]);
            assert!(codec.decode(&mut buf).unwrap().is_none());
            let e = codec.decode_eof(&mut buf).unwrap_err();
            assert!(matches!(e, Error::CommClosed(_)), "cut {cut}: {e}");
        }
        let mut codec = DaskCodec::default();
        let mut buf = BytesMut::from(&w[..w.len() - 5]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.is_empty() && codec.in_message());
        assert!(codec.decode_eof(&mut buf).is_err());
    }

    #[test]
    fn io_errors_convert() {
        let e: Error = std::io::Error::from(std::io::ErrorKind::ConnectionReset).into();
        assert!(matches!(e, Error::CommClosed(_)));
        let e: Error = std::io::Error::other("boom").into();
        assert!(matches!(e, Error::Io { .. }));
    }

    fn message() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let frame = prop_oneof![
            4 => proptest::collection::vec(any::<u8>(), 0..40),
            1 => (0usize..70_000).prop_map(|n| vec![(n % 251) as u8; n]),
        ];
        proptest::collection::vec(frame, 0..6)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Several messages, each with a random valid `F`, delivered in
        /// random pieces, decode to the same frames.
        #[test]
        fn random_splits_of_a_stream(
            msgs in proptest::collection::vec((message(), any::<prop::sample::Index>()), 1..5),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let mut stream = Vec::new();
            for (frames, pick) in &msgs {
                // any F that ends on a frame boundary is valid
                let mut boundaries = vec![8 + 8 * frames.len()];
                for f in frames {
                    boundaries.push(boundaries.last().unwrap() + f.len());
                }
                let first = boundaries[pick.index(boundaries.len())] as u64;
                let refs: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
                stream.extend(wire_with_first(first, &refs));
            }
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            cuts.push(0);
            cuts.push(stream.len());
            cuts.sort_unstable();
            let mut codec = DaskCodec::default();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for w in cuts.windows(2) {
                buf.extend_from_slice(&stream[w[0]..w[1]]);
                while let Some(m) = codec.decode(&mut buf).unwrap() {
                    got.push(vecs(&m));
                }
            }
            prop_assert!(codec.decode_eof(&mut buf).unwrap().is_none());
            let want: Vec<Vec<Vec<u8>>> = msgs.into_iter().map(|(m, _)| m).collect();
            prop_assert_eq!(got, want);
        }
    }
}
