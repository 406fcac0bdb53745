//! An async TCP comm on tokio (feature `tokio`): the same protocol and API
//! as the blocking [`Comm`](super::comm::Comm) and [`Rpc`](super::rpc::Rpc)
//! (framing, handshake, messages, RPC), for use inside a tokio runtime.
//!
//! [`AsyncComm`] and [`AsyncRpc`](super::async_rpc::AsyncRpc) are drivers of the same sans-IO core as
//! the blocking ones ([`proto`](super::proto): [`Handshaking`],
//! [`Connection`], [`Call`](super::proto::Call)); they only move frames.
//! Reading goes through [`DaskCodec`]: every size is checked against
//! [`CommOptions::limits`] before buffer space is reserved and frames are
//! slices of the read buffer (a large frame is read in place, never
//! copied). Writing is vectored straight from the frames' buffers, as the
//! blocking comm does.
//!
//! [`CommOptions::timeout`] bounds connecting and every single socket read
//! or write (an idle timeout: a long message that keeps arriving is not cut
//! off); an expired one is [`Error::Timeout`]. It uses tokio's timer, so
//! the runtime needs its time driver (`#[tokio::main]` has it); with
//! `timeout: None` no timer is used.
//!
//! Encoding and decoding (including compression of large payloads) run on
//! the calling task; move very large messages to
//! `tokio::task::spawn_blocking` if that matters to your runtime.
//!
//! # Examples
//!
//! ```no_run
//! use dask_serde::transport::async_rpc::AsyncRpc;
//! use dask_serde::transport::options::CommOptions;
//! use dask_serde::transport::proto::get;
//! use dask_serde::Value;
//!
//! # async fn run() -> dask_serde::Result<()> {
//! let mut rpc = AsyncRpc::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
//! let id = rpc.call("identity", vec![]).await?;
//! assert_eq!(get(&id, "type"), Some(&Value::from("Scheduler")));
//! let echo = rpc.call("echo", vec![("data", Value::from("hello"))]).await?;
//! assert_eq!(echo, Value::from("hello"));
//! rpc.close().await;
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::io::IoSlice;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Framed, FramedParts};

use super::address::{parse_address, tcp_address};
use super::codec::DaskCodec;
use super::framing::{io_slices, message_prefix};
use super::options::CommOptions;
use super::proto::{peer_closed, Connection, Handshake, Handshaking};
use crate::error::{Error, Result};
use crate::value::Value;

/// Read-buffer growth when the codec has not asked for anything specific.
const READ_CHUNK: usize = 8 * 1024;

/// A connection to a Dask peer (scheduler, worker, client or another Rust
/// process) over TCP, driven by tokio: the async counterpart of
/// [`Comm`](super::comm::Comm), with the same methods.
///
/// Reads are cancel-safe: a [`read`](AsyncComm::read) or
/// [`read_frames`](AsyncComm::read_frames) future dropped before it
/// completes (in `tokio::select!` or `tokio::time::timeout`) loses nothing,
/// and the next read continues the same message. Writes are not: a write
/// dropped part-way leaves a partial message on the wire, so drop the comm
/// then.
///
/// # Examples
///
/// ```no_run
/// use dask_serde::transport::async_comm::AsyncComm;
/// use dask_serde::transport::options::CommOptions;
/// use dask_serde::Value;
///
/// # async fn run() -> dask_serde::Result<()> {
/// let mut comm = AsyncComm::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
/// comm.write(&Value::Dict(vec![
///     (Value::from("op"), Value::from("identity")),
///     (Value::from("reply"), Value::Bool(true)),
/// ]))
/// .await?;
/// println!("{:?}", comm.read().await?);
/// comm.close().await;
/// # Ok(())
/// # }
/// ```
pub struct AsyncComm {
    stream: TcpStream,
    reader: Reader,
    conn: Connection,
}

/// The read side of an [`AsyncComm`]: the codec, its buffer and the idle
/// timeout (also used before the handshake made a [`Connection`]).
struct Reader {
    buf: BytesMut,
    codec: DaskCodec,
    timeout: Option<Duration>,
}

impl Reader {
    /// Reads the frames of one message; `Ok(None)` when the peer closed
    /// the connection between messages. Cancel-safe: what was read stays
    /// in the buffer and the codec.
    async fn read_frames(&mut self, stream: &mut TcpStream) -> Result<Option<Vec<Bytes>>> {
        loop {
            if let Some(frames) = self.codec.decode(&mut self.buf)? {
                return Ok(Some(frames));
            }
            // the codec reserved room for what it waits for; this only
            // guards against a read into a full buffer (which reads 0)
            if self.buf.len() == self.buf.capacity() {
                self.buf.reserve(READ_CHUNK);
            }
            let n = timed(self.timeout, "read", stream.read_buf(&mut self.buf)).await?;
            if n == 0 {
                return self.codec.decode_eof(&mut self.buf);
            }
        }
    }
}

impl std::fmt::Debug for AsyncComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncComm")
            .field("local", &self.conn.local_address())
            .field("peer", &self.conn.peer_address())
            .field("handshake", self.conn.handshake())
            .field("buffered", &self.reader.buf.len())
            .finish_non_exhaustive()
    }
}

/// Runs one socket operation under the comm's timeout.
async fn timed<T>(
    timeout: Option<Duration>,
    what: &str,
    op: impl Future<Output = std::io::Result<T>>,
) -> Result<T> {
    let r = match timeout {
        Some(t) => tokio::time::timeout(t, op).await.map_err(|_| Error::Timeout {
            what: what.to_owned(),
            after: t,
        })?,
        None => op.await,
    };
    r.map_err(|e| Error::io(what, e))
}

/// Writes one message with vectored writes straight from the frames.
async fn write_message<B: AsRef<[u8]>>(
    stream: &mut TcpStream,
    frames: &[B],
    timeout: Option<Duration>,
) -> Result<usize> {
    let prefix = message_prefix(frames);
    let mut slices = io_slices(&prefix, frames);
    let total: usize = slices.iter().map(|s| s.len()).sum();
    let mut bufs: &mut [IoSlice<'_>] = &mut slices;
    while !bufs.is_empty() {
        let n = timed(timeout, "write", stream.write_vectored(bufs)).await?;
        if n == 0 {
            return Err(Error::CommClosed("the peer stopped reading".into()));
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(total)
}

impl AsyncComm {
    /// Connects to `addr` (`tcp://host:port` or `host:port`) and performs
    /// the handshake.
    ///
    /// # Errors
    ///
    /// Connection failures and timeouts, a peer whose handshake lacks
    /// `compression` or `pickle-protocol`, invalid framing from the peer.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use dask_serde::transport::async_comm::AsyncComm;
    /// use dask_serde::transport::options::CommOptions;
    ///
    /// # async fn run() -> dask_serde::Result<()> {
    /// let opts = CommOptions { compression: Some("lz4".into()), ..CommOptions::default() };
    /// let comm = AsyncComm::connect("tcp://127.0.0.1:8786", &opts).await?;
    /// // lz4 only if the peer advertised lz4 too
    /// println!("{:?}", comm.handshake().compression);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(addr: &str, opts: &CommOptions) -> Result<AsyncComm> {
        let a = parse_address(addr)?;
        let what = format!("connect to {addr}");
        let stream = timed(opts.timeout, &what, TcpStream::connect(a.as_str())).await?;
        AsyncComm::from_stream(stream, opts).await
    }

    /// Wraps a connected stream (for example one accepted by a
    /// `tokio::net::TcpListener`) and performs the handshake: both sides
    /// write theirs, then read the other's.
    ///
    /// # Errors
    ///
    /// As [`AsyncComm::connect`].
    ///
    /// # Examples
    ///
    /// A server that accepts Dask connections:
    ///
    /// ```no_run
    /// use dask_serde::transport::async_comm::AsyncComm;
    /// use dask_serde::transport::options::CommOptions;
    ///
    /// # async fn run() -> dask_serde::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let (stream, _) = listener.accept().await.unwrap();
    /// let mut comm = AsyncComm::from_stream(stream, &CommOptions::default()).await?;
    /// let request = comm.read().await?;
    /// # drop(request);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn from_stream(mut stream: TcpStream, opts: &CommOptions) -> Result<AsyncComm> {
        stream
            .set_nodelay(true)
            .map_err(|e| Error::io("set_nodelay", e))?;
        let local = tcp_address(stream.local_addr());
        let peer = tcp_address(stream.peer_addr());
        let mut reader = Reader {
            buf: BytesMut::new(),
            codec: DaskCodec::new(opts.limits),
            timeout: opts.timeout,
        };
        let mut hs = Handshaking::new(opts, local, peer)?;
        while let Some(frames) = hs.poll_transmit() {
            write_message(&mut stream, &frames, opts.timeout).await?;
        }
        let theirs = reader.read_frames(&mut stream).await?.ok_or_else(peer_closed)?;
        let conn = hs.handle(&theirs)?;
        Ok(AsyncComm { stream, reader, conn })
    }

    /// The negotiated settings and the peer's handshake.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_comm::AsyncComm;
    /// # use dask_serde::transport::options::CommOptions;
    /// # async fn run() -> dask_serde::Result<()> {
    /// let comm = AsyncComm::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// assert_eq!(comm.handshake().pickle_protocol, 5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn handshake(&self) -> &Handshake {
        self.conn.handshake()
    }

    /// `tcp://` address of this end.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_comm::AsyncComm;
    /// # use dask_serde::transport::options::CommOptions;
    /// # async fn run() -> dask_serde::Result<()> {
    /// let comm = AsyncComm::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// assert!(comm.local_address().starts_with("tcp://127.0.0.1:"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn local_address(&self) -> &str {
        self.conn.local_address()
    }

    /// `tcp://` address of the peer.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_comm::AsyncComm;
    /// # use dask_serde::transport::options::CommOptions;
    /// # async fn run() -> dask_serde::Result<()> {
    /// let comm = AsyncComm::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// assert_eq!(comm.peer_address(), "tcp://127.0.0.1:8786");
    /// # Ok(())
    /// # }
    /// ```
    pub fn peer_address(&self) -> &str {
        self.conn.peer_address()
    }

    /// The protocol state this comm drives (encoding and decoding without
    /// the socket).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_comm::AsyncComm;
    /// # use dask_serde::transport::options::CommOptions;
    /// use dask_serde::Value;
    /// # async fn run() -> dask_serde::Result<()> {
    /// let mut comm = AsyncComm::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// // encode once, write the same frames twice
    /// let frames = comm.connection().encode(&Value::from("ping"))?;
    /// comm.write_frames(&frames).await?;
    /// comm.write_frames(&frames).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Writes one message (see [`crate::message::dumps`]) with this comm's
    /// serializers, shard size and context (sender, recipient, negotiated
    /// pickle protocol and compression); returns the bytes written.
    ///
    /// # Errors
    ///
    /// Encoding errors, a closed connection, a timeout.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_comm::AsyncComm;
    /// # use dask_serde::transport::options::CommOptions;
    /// use dask_serde::Value;
    /// # async fn run() -> dask_serde::Result<()> {
    /// # let mut comm = AsyncComm::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// comm.write(&Value::Dict(vec![
    ///     (Value::from("op"), Value::from("echo")),
    ///     (Value::from("data"), Value::Serialize(Box::new(Value::from(vec![0u8; 1 << 20])))),
    /// ]))
    /// .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn write(&mut self, msg: &Value) -> Result<usize> {
        let frames = self.conn.encode(msg)?;
        self.write_frames(&frames).await
    }

    /// Writes already-encoded frames as one message (vectored, no copy);
    /// returns the bytes written.
    ///
    /// # Errors
    ///
    /// A closed connection, a timeout.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_comm::AsyncComm;
    /// # use dask_serde::transport::options::CommOptions;
    /// use dask_serde::message::dumps;
    /// use dask_serde::SerializeOptions;
    /// use dask_serde::Value;
    /// # async fn run() -> dask_serde::Result<()> {
    /// # let mut comm = AsyncComm::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// let frames = dumps(&Value::from("ping"), &SerializeOptions::new())?;
    /// comm.write_frames(&frames).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn write_frames<B: AsRef<[u8]>>(&mut self, frames: &[B]) -> Result<usize> {
        write_message(&mut self.stream, frames, self.conn.options().timeout).await
    }

    /// Reads the frames of one message; `Ok(None)` when the peer closed the
    /// connection between messages. Cancel-safe.
    ///
    /// # Errors
    ///
    /// Invalid framing, limits, a connection closed mid-message, a timeout
    /// (after which reading may be retried: nothing was lost).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_comm::AsyncComm;
    /// # use dask_serde::transport::options::CommOptions;
    /// # async fn run() -> dask_serde::Result<()> {
    /// # let mut comm = AsyncComm::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// while let Some(frames) = comm.read_frames().await? {
    ///     println!("a message of {} frames", frames.len());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn read_frames(&mut self) -> Result<Option<Vec<Bytes>>> {
        self.reader.read_frames(&mut self.stream).await
    }

    /// Reads and decodes one message (with this comm's allow-list and
    /// limits). Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`Error::CommClosed`] when the peer closed the connection, and the
    /// errors of [`AsyncComm::read_frames`] and [`crate::message::loads`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_comm::AsyncComm;
    /// # use dask_serde::transport::options::CommOptions;
    /// # async fn run() -> dask_serde::Result<()> {
    /// # let mut comm = AsyncComm::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// let msg = comm.read().await?;
    /// println!("{msg:?}");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn read(&mut self) -> Result<Value> {
        self.read_with(false).await
    }

    /// Reads one message keeping its payloads as [`Value::Opaque`] (decode
    /// them with [`Opaque::decode`](crate::Opaque::decode) into
    /// typed values, or forward them untouched). Cancel-safe.
    ///
    /// # Errors
    ///
    /// As [`AsyncComm::read`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_comm::AsyncComm;
    /// # use dask_serde::transport::options::CommOptions;
    /// use dask_serde::Value;
    /// # async fn run() -> dask_serde::Result<()> {
    /// # let mut comm = AsyncComm::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// if let Value::Opaque(payload) = comm.read_opaque().await? {
    ///     let bytes: Vec<u8> = payload.decode(&dask_serde::Limits::default())?;
    ///     # drop(bytes);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn read_opaque(&mut self) -> Result<Value> {
        self.read_with(true).await
    }

    async fn read_with(&mut self, keep_serialized: bool) -> Result<Value> {
        let frames = self.read_frames().await?.ok_or_else(peer_closed)?;
        self.conn.decode(&frames, keep_serialized)
    }

    /// Shuts the connection down.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_comm::AsyncComm;
    /// # use dask_serde::transport::options::CommOptions;
    /// # async fn run() -> dask_serde::Result<()> {
    /// let comm = AsyncComm::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// comm.close().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn close(mut self) {
        let _ = timed(self.conn.options().timeout, "shutdown", self.stream.shutdown()).await;
    }

    /// The connection as a [`Framed`] stream of raw messages (a `Stream` of
    /// `Result<Vec<Bytes>>` and a `Sink` of `Vec<Bytes>`), keeping what was
    /// already read and the decoder's state: for protocols that are plain
    /// message streams after the handshake.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_comm::AsyncComm;
    /// # use dask_serde::transport::options::CommOptions;
    /// # async fn run() -> dask_serde::Result<()> {
    /// let comm = AsyncComm::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// let framed = comm.into_framed();
    /// // use futures' StreamExt::next / SinkExt::send on `framed`
    /// # drop(framed);
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_framed(self) -> Framed<TcpStream, DaskCodec> {
        let mut parts = FramedParts::new::<Vec<Bytes>>(self.stream, self.reader.codec);
        parts.read_buf = self.reader.buf;
        Framed::from_parts(parts)
    }
}
