//! Byte-level framing shared by files and sockets, and the TCP comm.

pub mod comm;
pub mod framing;
pub mod pack;
