//! A serialized value: header plus frames.

use bytes::Bytes;

use crate::error::Result;
use crate::frame::Frame;
use crate::header::Header;
use crate::limits::Limits;
use crate::pack;

/// The result of serialization: a [`Header`] and its frames, exactly what
/// Python's `serialize()` returns.
///
/// Frames may borrow from the serialized value (lifetime `'a`); call
/// [`Serialized::into_owned`] when they must outlive it.
#[derive(Clone, Debug, PartialEq)]
pub struct Serialized<'a> {
    /// The header.
    pub header: Header,
    /// The out-of-band frames.
    pub frames: Vec<Frame<'a>>,
}

/// A [`Serialized`] whose frames own their data.
pub type OwnedSerialized = Serialized<'static>;

impl<'a> Serialized<'a> {
    /// A serialized value from its parts.
    pub fn new(header: Header, frames: Vec<Frame<'a>>) -> Self {
        Serialized { header, frames }
    }

    /// Frames become owned [`Bytes`]; only borrowed frames are copied.
    pub fn into_owned(self) -> OwnedSerialized {
        Serialized {
            header: self.header,
            frames: self.frames.into_iter().map(Frame::into_owned).collect(),
        }
    }

    /// The frames as [`Bytes`] (borrowed ones copied), for handing to a
    /// deserializer.
    pub fn frame_bytes(&self) -> Vec<Bytes> {
        self.frames.iter().cloned().map(Frame::into_bytes).collect()
    }

    /// Total size of the frames in bytes.
    pub fn frames_len(&self) -> usize {
        self.frames.iter().map(|f| f.len()).sum()
    }

    /// The `pack_frames` blob of `[msgpack(header), *frames]`, the layout of
    /// the project's `.frames` files (PROTOCOL.md §13.1).
    ///
    /// # Errors
    ///
    /// The header cannot be encoded as msgpack.
    pub fn to_packed(&self) -> Result<Vec<u8>> {
        let header = self.header.encode()?;
        let mut parts: Vec<&[u8]> = Vec::with_capacity(self.frames.len() + 1);
        parts.push(&header);
        parts.extend(self.frames.iter().map(|f| f.as_slice()));
        Ok(pack::pack_frames(&parts))
    }
}

impl OwnedSerialized {
    /// Parses a `pack_frames` blob whose frame 0 is the msgpack header
    /// (the inverse of [`Serialized::to_packed`]). Frames are zero-copy
    /// slices of `blob`.
    ///
    /// # Errors
    ///
    /// A malformed prelude, a missing or malformed header, or limits
    /// exceeded.
    pub fn from_packed(blob: &Bytes, limits: &Limits) -> Result<OwnedSerialized> {
        let mut frames = pack::unpack_frames(blob, limits)?;
        if frames.is_empty() {
            return Err(crate::Error::frames("no header frame"));
        }
        let rest = frames.split_off(1);
        let header = Header::decode(&frames[0], limits)?;
        Ok(Serialized {
            header,
            frames: rest.into_iter().map(Frame::Shared).collect(),
        })
    }
}
