//! The blocking comm: a driver that moves frames between a
//! [`std::net::TcpStream`] and the sans-IO [`proto`](super::proto) core.

use std::net::{TcpStream, ToSocketAddrs};

use bytes::Bytes;

use super::address::parse_address;
use super::address::tcp_address;
use super::framing::{read_message, read_message_pooled, write_message, BufferPool};
use super::options::CommOptions;
use super::proto::{peer_closed, Connection, Handshake, Handshaking};
use crate::error::{Error, Result};
use crate::value::Value;

/// A connection to a Dask peer (scheduler, worker, client or another Rust
/// process) over TCP, blocking.
///
/// The protocol (handshake, encoding context, decoding rules) is the
/// [`Connection`] this comm drives; the comm adds the socket, Dask's
/// framing and the timeouts ([`CommOptions::timeout`] bounds connecting
/// and every socket read and write; an expired one is
/// [`Error::Timeout`], after which the comm is out of step and should be
/// dropped).
///
/// # Examples
///
/// ```no_run
/// use dask_serde::transport::comm::Comm;
/// use dask_serde::transport::options::CommOptions;
/// use dask_serde::Value;
///
/// let mut comm = Comm::connect("tcp://127.0.0.1:8786", &CommOptions::default())?;
/// comm.write(&Value::Dict(vec![
///     (Value::from("op"), Value::from("identity")),
///     (Value::from("reply"), Value::Bool(true)),
/// ]))?;
/// println!("{:?}", comm.read()?);
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[derive(Debug)]
pub struct Comm {
    stream: TcpStream,
    conn: Connection,
    pool: Option<BufferPool>,
}

impl Comm {
    /// Connects to `addr` (`tcp://host:port` or `host:port`) and performs
    /// the handshake.
    ///
    /// # Errors
    ///
    /// [`Error::Address`], connection failures ([`Error::Io`],
    /// [`Error::Timeout`]), a peer whose handshake lacks `compression` or
    /// `pickle-protocol` ([`Error::Protocol`]).
    pub fn connect(addr: &str, opts: &CommOptions) -> Result<Comm> {
        let a = parse_address(addr)?;
        let stream = match opts.timeout {
            Some(t) => {
                let sock = a
                    .to_socket_addrs()
                    .map_err(|e| Error::io(format!("resolve {addr}"), e))?
                    .next()
                    .ok_or_else(|| Error::Address {
                        address: addr.to_owned(),
                        message: "resolves to no socket address".into(),
                    })?;
                TcpStream::connect_timeout(&sock, t)
            }
            None => TcpStream::connect(&a),
        }
        .map_err(|e| Error::io(format!("connect to {addr}"), e).timed_out_after(opts.timeout))?;
        Comm::from_stream(stream, opts)
    }

    /// Wraps an accepted connection and performs the handshake (both sides
    /// write theirs, then read the other's).
    ///
    /// # Errors
    ///
    /// As [`Comm::connect`].
    pub fn from_stream(mut stream: TcpStream, opts: &CommOptions) -> Result<Comm> {
        stream
            .set_nodelay(true)
            .map_err(|e| Error::io("set_nodelay", e))?;
        stream
            .set_read_timeout(opts.timeout)
            .map_err(|e| Error::io("set timeout", e))?;
        stream
            .set_write_timeout(opts.timeout)
            .map_err(|e| Error::io("set timeout", e))?;
        let local = tcp_address(stream.local_addr());
        let peer = tcp_address(stream.peer_addr());
        let mut hs = Handshaking::new(opts, local, peer)?;
        while let Some(frames) = hs.poll_transmit() {
            write_frames(&mut stream, &frames, opts)?;
        }
        let theirs = read_frames(&mut stream, opts, None)?.ok_or_else(peer_closed)?;
        let conn = hs.handle(&theirs)?;
        Ok(Comm {
            stream,
            conn,
            pool: None,
        })
    }

    /// The negotiated settings and the peer's handshake.
    pub fn handshake(&self) -> &Handshake {
        self.conn.handshake()
    }

    /// `tcp://` address of this end.
    pub fn local_address(&self) -> &str {
        self.conn.local_address()
    }

    /// `tcp://` address of the peer.
    pub fn peer_address(&self) -> &str {
        self.conn.peer_address()
    }

    /// The protocol state this comm drives (encoding and decoding without
    /// the socket).
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
    pub fn write(&mut self, msg: &Value) -> Result<usize> {
        let frames = self.conn.encode(msg)?;
        self.write_frames(&frames)
    }

    /// Writes already-encoded frames as one message (vectored, no copy).
    ///
    /// # Errors
    ///
    /// A closed connection, a timeout.
    pub fn write_frames<B: AsRef<[u8]>>(&mut self, frames: &[B]) -> Result<usize> {
        write_frames(&mut self.stream, frames, self.conn.options())
    }

    /// Reads the frames of one message; `Ok(None)` when the peer closed the
    /// connection between messages.
    ///
    /// # Errors
    ///
    /// Invalid framing, limits, a connection closed mid-message, a timeout.
    pub fn read_frames(&mut self) -> Result<Option<Vec<Bytes>>> {
        read_frames(&mut self.stream, self.conn.options(), self.pool.as_ref())
    }

    /// Reads large frames into buffers of `pool` from now on (see
    /// [`BufferPool`]): a steady stream of large messages then reuses
    /// mapped memory instead of allocating per frame.
    pub fn set_buffer_pool(&mut self, pool: BufferPool) {
        self.pool = Some(pool);
    }

    /// Reads and decodes one message (with this comm's allow-list and
    /// limits).
    ///
    /// # Errors
    ///
    /// [`Error::CommClosed`] when the peer closed the connection, and the
    /// errors of [`Comm::read_frames`] and [`crate::message::loads`].
    pub fn read(&mut self) -> Result<Value> {
        self.read_with(false)
    }

    /// Reads one message keeping its payloads as [`Value::Opaque`] (decode
    /// them with [`Opaque::decode`](crate::Opaque::decode) into
    /// typed values, or forward them untouched).
    ///
    /// # Errors
    ///
    /// As [`Comm::read`].
    pub fn read_opaque(&mut self) -> Result<Value> {
        self.read_with(true)
    }

    fn read_with(&mut self, keep_serialized: bool) -> Result<Value> {
        let frames = self.read_frames()?.ok_or_else(peer_closed)?;
        self.conn.decode(&frames, keep_serialized)
    }

    /// Shuts the connection down.
    pub fn close(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Writes one message, a timed out socket write as [`Error::Timeout`].
fn write_frames<B: AsRef<[u8]>>(stream: &mut TcpStream, frames: &[B], opts: &CommOptions) -> Result<usize> {
    write_message(stream, frames).map_err(|e| e.timed_out_after(opts.timeout))
}

/// Reads one message, a timed out socket read as [`Error::Timeout`].
fn read_frames(
    stream: &mut TcpStream,
    opts: &CommOptions,
    pool: Option<&BufferPool>,
) -> Result<Option<Vec<Bytes>>> {
    match pool {
        Some(pool) => read_message_pooled(stream, &opts.limits, pool),
        None => read_message(stream, &opts.limits),
    }
    .map_err(|e| e.timed_out_after(opts.timeout))
}
