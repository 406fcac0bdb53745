//! Byte-level framing shared by files and sockets, and the TCP comm.

#[cfg(feature = "tokio")]
pub mod async_comm;
#[cfg(feature = "tokio")]
pub mod codec;
pub mod comm;
pub mod framing;
pub use crate::pack;
