//! Dask's transport: TCP framing (over the wire level's
//! [`pack`](crate::pack) prelude checks), the sans-IO protocol core, and the drivers that put them
//! on sockets.
//!
//! | module | what |
//! |---|---|
//! | [`framing`] | Dask's TCP message framing on blocking streams (`read_message`, `write_message`, [`BufferPool`](framing::BufferPool)) |
//! | `codec` | feature `tokio`: the same framing as an incremental `tokio_util` codec (`DaskCodec`) |
//! | [`proto`] | the sans-IO core: handshake, connection, RPC call, server response, over frames and values |
//! | [`options`] | [`CommOptions`](options::CommOptions) |
//! | [`address`] | `tcp://` addresses |
//! | [`comm`] | [`Comm`](comm::Comm): the blocking driver (std `TcpStream`) |
//! | [`rpc`] | [`Rpc`](rpc::Rpc): the blocking RPC client |
//! | [`server`] | [`Server`](server::Server): a blocking Dask-compatible server |
//! | `async_comm`, `async_rpc` | feature `tokio`: `AsyncComm` and `AsyncRpc`, drivers of the same core on tokio |
//!
//! Everything protocol (what is written when, how a message is encoded on
//! a connection, what a reply means) is in [`proto`], written once; the
//! drivers only move frames between a socket and it. See [`proto`] for
//! the design.

pub mod address;
#[cfg(feature = "tokio")]
pub mod async_comm;
#[cfg(feature = "tokio")]
pub mod async_rpc;
#[cfg(feature = "tokio")]
pub mod codec;
pub mod comm;
pub mod framing;
pub mod options;
pub mod proto;
pub mod rpc;
pub mod server;
