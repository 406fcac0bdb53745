//! The sans-IO core of a comm: Dask's protocol over whole messages, with no
//! socket, buffer, thread or timer in it.
//!
//! A comm has two layers. *Framing* turns bytes into messages (the frames
//! of one `protocol.dumps` output) and back: [`framing`](super::framing)
//! for blocking streams, `codec` for tokio (feature `tokio`); sockets,
//! buffers and timeouts live there and in the drivers. *This module* is
//! the layer above, what the messages mean; it is written once, and every
//! type here takes and returns frames (`Vec<Bytes>`) or [`Value`]s. The
//! drivers ([`Comm`](super::comm::Comm), [`Rpc`](super::rpc::Rpc),
//! [`Server`](super::server::Server) and, with feature `tokio`,
//! `AsyncComm` / `AsyncRpc`) move frames between a socket and these types
//! and add nothing to the protocol, so the blocking and the async comm
//! cannot drift apart, and the protocol is tested without sockets.
//!
//! # The states of a comm
//!
//! * [`Handshaking`]: created with this side's [`CommOptions`], it yields
//!   this side's handshake message ([`poll_transmit`]), then takes the
//!   peer's ([`handle`]) and becomes
//! * a [`Connection`]: the negotiated [`Handshake`] (pickle protocol,
//!   compression) and the encoding context; [`encode`] and [`decode`]
//!   turn messages into frames and back.
//!
//! The states are types: a connection that has not finished its handshake
//! cannot encode anything, and nothing needs checking at run time.
//!
//! # Protocols on a connection
//!
//! * [`Call`]: one RPC (`distributed.core.rpc`): [`Call::start`] gives the
//!   frames of the request, [`Call::finish`] checks the reply (an
//!   `uncaught-error` reply is [`Error::RemoteCall`](crate::Error::RemoteCall)).
//!   [`rpc_request`], [`rpc_reply`] and [`close_request`] are its pure parts.
//! * [`respond`]: the server side (`distributed.core.Server`): one request
//!   and the [`Handler`]s → the reply to write and whether to close.
//!
//! # Driving
//!
//! A driver owns the socket and, for each state, does only this:
//!
//! ```text
//! let mut hs = Handshaking::new(&opts, local, peer)?;
//! while let Some(frames) = hs.poll_transmit() { write(frames)? }  // write first
//! let conn = hs.handle(&read()?)?;                                 // then read
//! let (call, frames) = Call::start(&conn, "identity", vec![], false)?;
//! write(frames)?;
//! let reply = call.finish(&conn, &read()?)?;
//! ```
//!
//! # Adding a machine
//!
//! A further protocol is one more type over an open [`Connection`], in the
//! same style. A batched stream (Dask's `BatchedSend`, what a client and
//! the scheduler exchange after `register-client`) would own a buffer of
//! `Value`s and a deadline and offer `send(msg)` (buffer it),
//! `poll_timeout() -> Option<Instant>` (when the driver must wake it),
//! `poll_transmit(now) -> Option<Vec<Bytes>>` (the buffered messages as
//! one list message, through [`Connection::encode`], once the interval has
//! passed) and `handle(frames) -> Vec<Value>` ([`Connection::decode`], the
//! list split into messages). Time comes in as an argument, so such a
//! machine is tested like these, without clocks or sockets; a driver
//! sleeps until `poll_timeout` or until the socket is readable.
//!
//! [`CommOptions`]: super::options::CommOptions
//! [`poll_transmit`]: Handshaking::poll_transmit
//! [`handle`]: Handshaking::handle
//! [`encode`]: Connection::encode
//! [`decode`]: Connection::decode

mod connection;
mod handshake;
mod rpc;
mod serve;

pub(crate) use connection::peer_closed;
pub use connection::{Connection, Handshake};
pub use handshake::{handshake_message, negotiate, Handshaking};
pub use rpc::{close_request, rpc_reply, rpc_request, Call};
pub use serve::{error_reply, respond, Handler, Response};

use crate::value::Value;

/// Looks up a string key of a message map (`None` when `msg` is not a map
/// or has no such key).
///
/// # Examples
///
/// ```
/// use dask_serde::transport::proto::get;
/// use dask_serde::Value;
///
/// let msg = Value::Dict(vec![(Value::from("op"), Value::from("echo"))]);
/// assert_eq!(get(&msg, "op"), Some(&Value::from("echo")));
/// assert_eq!(get(&msg, "reply"), None);
/// assert_eq!(get(&Value::from(1), "op"), None);
/// ```
pub fn get<'v>(msg: &'v Value, key: &str) -> Option<&'v Value> {
    match msg {
        Value::Dict(e) => e
            .iter()
            .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
            .map(|(_, v)| v),
        _ => None,
    }
}
