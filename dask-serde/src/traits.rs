//! The typed path's traits: [`DaskSerialize`] and [`DaskDeserialize`].
//!
//! They speak only headers, frames and limits, so they sit at the bottom of
//! the crate; their implementations for bytes, collections, arrays and
//! derived structs live in `builtins/` and the generated code.

use bytes::Bytes;

use crate::error::Result;
use crate::frame::Frame;
use crate::header::Header;
use crate::limits::Limits;
use crate::msgpack::MsgValue;
use crate::msgpack::RawCursor;
use crate::serialized::Serialized;

/// A Rust type with a `dask`-family (or collection) encoding.
///
/// `serialize_into` borrows buffer fields instead of copying them: the
/// frames it appends may point into `self`.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use dask_serde::{DaskDeserialize, DaskSerialize};
///
/// let payload = Bytes::from_static(b"hello");
/// let s = payload.dask_serialize()?;
/// assert_eq!(s.frames[0].as_ptr(), payload.as_ptr()); // zero-copy
/// let back = Bytes::dask_deserialize(&s.header, &s.frame_bytes())?;
/// assert_eq!(back, payload);
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be serialized as its own dask value",
    label = "no DaskSerialize implementation",
    note = "bytes, numeric Vec/Array/NdArray, collections of those and #[derive(DaskSerialize)] types are; a field marked #[dask(frame)] must be one of them"
)]
pub trait DaskSerialize {
    /// Produces the header and appends the frames to `frames`.
    ///
    /// # Errors
    ///
    /// A value that cannot be encoded.
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header>;

    /// Like [`DaskSerialize::serialize_into`], but appends the header's
    /// msgpack encoding to `out` instead of returning it. Collections call
    /// this for every item; types that know their header's bytes (typed
    /// arrays, bytes) write them without building a tree. Not meant to be
    /// implemented outside this crate: the default is always correct.
    ///
    /// # Errors
    ///
    /// A value that cannot be encoded.
    #[doc(hidden)]
    fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
        self.serialize_into(frames)?.write(out)
    }

    /// Serializes into a header and frames, as Python's
    /// `serialize(x, serializers=["dask"])` would.
    ///
    /// # Errors
    ///
    /// A value that cannot be encoded.
    fn dask_serialize(&self) -> Result<Serialized<'_>> {
        let mut frames = Vec::new();
        let header = self.serialize_into(&mut frames)?;
        Ok(Serialized::new(header, frames))
    }
}

/// A Rust type that can be rebuilt from a `dask`-family header and frames.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be deserialized from a dask value",
    label = "no DaskDeserialize implementation"
)]
pub trait DaskDeserialize: Sized {
    /// Decodes `header` and `frames`, bounded by `limits`.
    ///
    /// # Errors
    ///
    /// The header is not of this type, or is malformed.
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self>;

    /// Decodes from a header given as a msgpack map value (a sub-header
    /// inside a derived struct's header), as [`DaskDeserialize::deserialize_from`]
    /// would from that map as a [`Header`]. Types that can read the map in
    /// place skip copying it into a `Header`. Not meant to be implemented
    /// outside this crate.
    ///
    /// # Errors
    ///
    /// As [`DaskDeserialize::deserialize_from`]; a value that is not a map.
    #[doc(hidden)]
    fn __deserialize_value(header: &MsgValue, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        Self::deserialize_from(&Header::from_value(header.clone())?, frames, limits)
    }

    /// The allocation-free path of collections: decodes a value that
    /// travels as exactly one frame from its encoded header at `cur`,
    /// pushes it onto `out` (built in place: no moves of large values) and
    /// leaves `cur` after it. `false` when the fast path does not apply;
    /// the collection then decodes its header as a tree, which reports any
    /// error precisely. Not meant to be implemented outside this crate.
    #[doc(hidden)]
    fn __deserialize_one_frame_into(
        cur: &mut RawCursor<'_>,
        frame: &Bytes,
        limits: &Limits,
        out: &mut Vec<Self>,
    ) -> bool {
        let _ = (cur, frame, limits, out);
        false
    }

    /// The next item of a collection has exactly the header bytes of the
    /// last item in `out` (which [`DaskDeserialize::__deserialize_one_frame_into`]
    /// pushed): pushes the same value over `frame` without reading the
    /// header again. `false` when not supported or when `frame` does not
    /// fit; the header is then read. Not meant to be implemented outside
    /// this crate.
    #[doc(hidden)]
    fn __deserialize_like_last_into(frame: &Bytes, out: &mut Vec<Self>) -> bool {
        let _ = (frame, out);
        false
    }

    /// Decodes with default [`Limits`].
    ///
    /// # Errors
    ///
    /// As [`DaskDeserialize::deserialize_from`].
    fn dask_deserialize(header: &Header, frames: &[Bytes]) -> Result<Self> {
        Self::deserialize_from(header, frames, &Limits::default())
    }
}

impl<T: DaskSerialize + ?Sized> DaskSerialize for &T {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        (**self).serialize_into(frames)
    }
    fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
        (**self).__serialize_raw(frames, out)
    }
}
