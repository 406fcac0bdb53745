//! `bytes` and `bytearray` on the typed path: [`Bytes`], `[u8]`, `Vec<u8>`
//! and [`ByteArray`], one frame each, never copied.

use std::hash::Hash;

use bytes::Bytes;

use crate::error::Result;
use crate::frame::{join, Frame};
use crate::header::Header;
use crate::limits::Limits;
use crate::msgpack::MsgValue;
use crate::msgpack::RawCursor;
use crate::pytype::{dask_header, PyType};

use super::expect::expect_dask;
use crate::traits::{DaskDeserialize, DaskSerialize};

fn bytes_header(class: PyType) -> Header {
    dask_header(MsgValue::Map(vec![]), &class)
}

/// The msgpack of [`bytes_header`] for `bytes` (`false`) or `bytearray`
/// (`true`), encoded once from the tree itself (empty if that failed, which
/// disables the direct paths).
fn bytes_header_msgpack(bytearray: bool) -> &'static [u8] {
    use std::sync::OnceLock;
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    static BYTEARRAY: OnceLock<Vec<u8>> = OnceLock::new();
    let (cell, class): (_, fn() -> PyType) = if bytearray {
        (&BYTEARRAY, PyType::bytearray)
    } else {
        (&BYTES, PyType::bytes)
    };
    cell.get_or_init(|| bytes_header(class()).encode().unwrap_or_default())
}

/// A bytes-like item of a collection: its constant header, written as is.
fn serialize_bytes_raw<'a>(
    frame: Frame<'a>,
    bytearray: bool,
    frames: &mut Vec<Frame<'a>>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let header = bytes_header_msgpack(bytearray);
    if header.is_empty() {
        bytes_header(if bytearray {
            PyType::bytearray()
        } else {
            PyType::bytes()
        })
        .write(out)?;
    } else {
        out.extend_from_slice(header);
    }
    frames.push(frame);
    Ok(())
}

/// The fast path of bytes-like items: a header that is exactly the
/// `bytes` or `bytearray` header (what Dask writes); `None` otherwise.
fn read_bytes_header(c: &mut RawCursor<'_>) -> Option<()> {
    let (b, ba) = (bytes_header_msgpack(false), bytes_header_msgpack(true));
    (!b.is_empty() && !ba.is_empty() && (c.eat(b) || c.eat(ba))).then_some(())
}

impl DaskSerialize for Bytes {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        frames.push(Frame::Shared(self.clone()));
        Ok(bytes_header(PyType::bytes()))
    }
    fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
        serialize_bytes_raw(Frame::SharedRef(self), false, frames, out)
    }
}

impl DaskSerialize for [u8] {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        frames.push(Frame::Borrowed(self));
        Ok(bytes_header(PyType::bytes()))
    }
    fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
        serialize_bytes_raw(Frame::Borrowed(self), false, frames, out)
    }
}

impl DaskSerialize for Vec<u8> {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        frames.push(Frame::Borrowed(self));
        Ok(bytes_header(PyType::bytes()))
    }
    fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
        serialize_bytes_raw(Frame::Borrowed(self), false, frames, out)
    }
}

const BYTES_LIKE: &str = "bytes or bytearray";

impl DaskDeserialize for Bytes {
    /// Zero-copy when the data arrived as one frame.
    fn deserialize_from(header: &Header, frames: &[Bytes], _limits: &Limits) -> Result<Self> {
        expect_dask(header, &[PyType::bytes(), PyType::bytearray()], BYTES_LIKE)?;
        Ok(join(frames))
    }
    fn __deserialize_one_frame_into(
        c: &mut RawCursor<'_>,
        frame: &Bytes,
        _: &Limits,
        out: &mut Vec<Self>,
    ) -> bool {
        read_bytes_header(c).map(|()| out.push(frame.clone())).is_some()
    }
}

impl DaskDeserialize for Vec<u8> {
    /// Always copies; use [`Bytes`] to avoid the copy.
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        Ok(Bytes::deserialize_from(header, frames, limits)?.to_vec())
    }
    fn __deserialize_one_frame_into(
        c: &mut RawCursor<'_>,
        frame: &Bytes,
        _: &Limits,
        out: &mut Vec<Self>,
    ) -> bool {
        read_bytes_header(c).map(|()| out.push(frame.to_vec())).is_some()
    }
}

/// A Python `bytearray` (the same bytes as `bytes`, but Python rebuilds a
/// mutable `bytearray`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ByteArray(pub Bytes);

impl DaskSerialize for ByteArray {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        frames.push(Frame::Shared(self.0.clone()));
        Ok(bytes_header(PyType::bytearray()))
    }
    fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
        serialize_bytes_raw(Frame::SharedRef(&self.0), true, frames, out)
    }
}

impl DaskDeserialize for ByteArray {
    fn deserialize_from(header: &Header, frames: &[Bytes], _limits: &Limits) -> Result<Self> {
        expect_dask(header, &[PyType::bytes(), PyType::bytearray()], BYTES_LIKE)?;
        Ok(ByteArray(join(frames)))
    }
    fn __deserialize_one_frame_into(
        c: &mut RawCursor<'_>,
        frame: &Bytes,
        _: &Limits,
        out: &mut Vec<Self>,
    ) -> bool {
        read_bytes_header(c)
            .map(|()| out.push(ByteArray(frame.clone())))
            .is_some()
    }
}
