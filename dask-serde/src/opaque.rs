//! Opaque payloads: a message's `__Serialized__`/`__Pickled__` payload kept
//! undecoded (`keep_serialized`), with the helpers that locate a payload in a
//! message's frames and undo its compression and splitting.
//!
//! An opaque payload is a [`Serialized`](crate::Serialized) value with its
//! kind. It sits in the value layer, beside the
//! [`Value::Opaque`](crate::Value::Opaque) that holds it; decoding one into
//! a typed value needs only the typed traits, [`decompress_frames`] and
//! [`merge_frames`], all below it.

use bytes::Bytes;

use crate::compression::decompress_frames;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::header::{as_index, Header};
use crate::limits::Limits;
use crate::serialized::OwnedSerialized;
use crate::split::merge::merge_frames;
use crate::traits::DaskDeserialize;

/// The kind of an opaque payload kept by `loads` with `keep_serialized`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadKind {
    /// A `__Serialized__` payload (Python's `Serialized`).
    Serialized,
    /// A `__Pickled__` payload (Python's `Pickled`), never unpickled.
    Pickled,
}

/// An undecoded payload of a message: its sub-header (including
/// `num-sub-frames`) and frames, as received.
#[derive(Clone, Debug, PartialEq)]
pub struct Opaque {
    /// `__Serialized__` or `__Pickled__`.
    pub kind: PayloadKind,
    /// The sub-header.
    pub header: Header,
    /// The payload frames.
    pub frames: Vec<Bytes>,
}

impl Opaque {
    /// Decodes a `__Serialized__` payload into a typed value
    /// (decompressing and merging split frames first).
    ///
    /// # Errors
    ///
    /// A `__Pickled__` payload, corrupt frames, or data of another type.
    pub fn decode<T: DaskDeserialize>(&self, limits: &Limits) -> Result<T> {
        if self.kind != PayloadKind::Serialized {
            return Err(Error::mismatch(
                "a __Serialized__ payload",
                "a __Pickled__ payload",
            ));
        }
        let frames = unpack_payload(&self.header, self.frames.clone(), limits)?;
        T::deserialize_from(&self.header, &frames, limits)
    }

    /// The payload as a serialized value (sub-header and frames).
    pub fn into_serialized(self) -> OwnedSerialized {
        OwnedSerialized::new(self.header, self.frames.into_iter().map(Frame::Shared).collect())
    }
}

/// The sub-header at `k` and the `num-sub-frames` frames after it, with
/// every index checked against the frame list.
pub(crate) fn read_payload(
    frames: &[Bytes],
    k: usize,
    limits: &Limits,
    what: &str,
) -> Result<(Header, Vec<Bytes>)> {
    let sub = frames
        .get(k)
        .ok_or_else(|| Error::frames(format!("{what} {k} points past the {} frames", frames.len())))?;
    let header = Header::decode(sub, limits)?;
    let n = match header.get("num-sub-frames") {
        Some(v) => as_index(v, "num-sub-frames")?,
        None => {
            return Err(Error::header(
                "num-sub-frames",
                format!("missing in the sub-header of {what} {k}"),
            ))
        }
    };
    let start = k + 1;
    let end = start
        .checked_add(n)
        .filter(|e| *e <= frames.len())
        .ok_or_else(|| {
            Error::frames(format!(
                "{what} {k} claims {n} frames after it but the message has {}",
                frames.len()
            ))
        })?;
    Ok((header, frames[start..end].to_vec()))
}

/// Decompresses a payload's frames and merges split pieces.
pub(crate) fn unpack_payload(header: &Header, frames: Vec<Bytes>, limits: &Limits) -> Result<Vec<Bytes>> {
    let frames = decompress_frames(header.compression()?.as_deref(), frames, limits)?;
    merge_frames(header, frames, None)
}
