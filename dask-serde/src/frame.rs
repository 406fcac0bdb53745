//! Frames: the out-of-band byte buffers of a serialized value.

use std::ops::Deref;

use bytes::Bytes;

/// One frame on the send side: borrowed from the value being serialized
/// (no copy at all), a borrowed [`Bytes`] the value holds (no copy, and no
/// reference count taken until the frame must own its data), or a shared
/// [`Bytes`] buffer.
///
/// Receive-side frames are always plain [`Bytes`].
///
/// # Examples
///
/// ```
/// use dask_serde::Frame;
///
/// let data = vec![1u8, 2, 3];
/// let f = Frame::from(&data[..]);
/// assert_eq!(f.as_ptr(), data.as_ptr()); // borrowed, not copied
/// let owned = f.into_bytes(); // the one copy, when it must outlive `data`
/// assert_eq!(&owned[..], &[1, 2, 3]);
/// ```
#[derive(Clone, Debug)]
pub enum Frame<'a> {
    /// Borrowed from the serialized value.
    Borrowed(&'a [u8]),
    /// Reference-counted shared buffer.
    Shared(Bytes),
    /// A shared buffer borrowed from the serialized value: becomes
    /// [`Frame::Shared`] by cloning the handle (a reference count, never a
    /// copy of the data).
    SharedRef(&'a Bytes),
}

impl Frame<'_> {
    /// Converts into [`Bytes`]: free for `Shared`, a reference count for
    /// `SharedRef`, one copy for `Borrowed`.
    pub fn into_bytes(self) -> Bytes {
        match self {
            Frame::Borrowed(b) => Bytes::copy_from_slice(b),
            Frame::Shared(b) => b,
            Frame::SharedRef(b) => b.clone(),
        }
    }

    /// Converts into a frame that owns its data (`'static`).
    pub fn into_owned(self) -> Frame<'static> {
        Frame::Shared(self.into_bytes())
    }

    /// The frame's bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Frame::Borrowed(b) => b,
            Frame::Shared(b) => b,
            Frame::SharedRef(b) => b,
        }
    }
}

impl Deref for Frame<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Frame<'_> {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl<'a> From<&'a [u8]> for Frame<'a> {
    fn from(b: &'a [u8]) -> Self {
        Frame::Borrowed(b)
    }
}

impl From<Bytes> for Frame<'_> {
    fn from(b: Bytes) -> Self {
        Frame::Shared(b)
    }
}

impl From<Vec<u8>> for Frame<'_> {
    fn from(v: Vec<u8>) -> Self {
        Frame::Shared(Bytes::from(v))
    }
}

impl PartialEq for Frame<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

/// Joins frames into one buffer, without copying when there is only one.
pub(crate) fn join(frames: &[Bytes]) -> Bytes {
    match frames {
        [] => Bytes::new(),
        [one] => one.clone(),
        many => {
            let mut v = Vec::with_capacity(many.iter().map(Bytes::len).sum());
            for f in many {
                v.extend_from_slice(f);
            }
            Bytes::from(v)
        }
    }
}
