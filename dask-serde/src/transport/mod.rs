//! Byte-level framing shared by files and sockets.

pub mod pack;
