//! Decode limits: bounds applied to untrusted input before anything is
//! allocated.

/// Bounds applied while decoding untrusted data.
///
/// Every length, count and nesting depth read from the wire is checked
/// against these limits *and* against the size of the input before memory
/// is reserved, so a hostile peer cannot make the decoder allocate more than
/// the input it actually sent (plus small bookkeeping) or recurse without
/// bound.
///
/// # Examples
///
/// ```
/// use dask_serde::Limits;
///
/// let strict = Limits { max_frames: 16, ..Limits::default() };
/// assert_eq!(strict.max_depth, 1024);
/// assert_eq!(strict.max_nesting, 128);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of frames in one payload or message (default 1 000 000).
    pub max_frames: usize,
    /// Maximum size of a single frame, also the maximum size any
    /// decompressed frame may claim (default 4 GiB).
    pub max_frame_bytes: u64,
    /// Maximum total size of all frames of one payload (default 16 GiB).
    pub max_total_bytes: u64,
    /// Maximum nesting depth of msgpack containers (default 1024,
    /// msgpack-python's own limit). The msgpack reader is iterative, so
    /// this bound does not consume stack.
    pub max_depth: usize,
    /// Maximum nesting of serialized values: collections inside
    /// collections, generic objects inside objects, containers inside a
    /// pickle (default 128). Decoding these recurses, so the bound also
    /// keeps the stack use small (a few KiB per level); raise it only for
    /// threads with large stacks.
    pub max_nesting: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frames: 1_000_000,
            max_frame_bytes: 4 << 30,
            max_total_bytes: 16 << 30,
            max_depth: 1024,
            max_nesting: 128,
        }
    }
}

impl Limits {
    /// Limits with no bound beyond the size of the input itself (the depth
    /// limits keep their defaults because recursion depth is not bounded by
    /// size).
    pub fn unbounded() -> Self {
        Limits {
            max_frames: usize::MAX,
            max_frame_bytes: u64::MAX,
            max_total_bytes: u64::MAX,
            ..Limits::default()
        }
    }

    pub(crate) fn check_frames(&self, n: usize) -> crate::Result<()> {
        if n > self.max_frames {
            return Err(crate::Error::Limit {
                what: "frame count",
                limit: self.max_frames as u64,
                got: n as u64,
            });
        }
        Ok(())
    }

    /// The limits for a value nested one level deeper (the typed decoders
    /// pass these down, so recursive types cannot recurse without bound).
    pub(crate) fn descend(&self) -> crate::Result<Limits> {
        match self.max_nesting.checked_sub(1) {
            Some(n) => Ok(Limits {
                max_nesting: n,
                ..*self
            }),
            None => Err(crate::Error::Limit {
                what: "nesting of serialized values",
                limit: Limits::default().max_nesting as u64,
                got: Limits::default().max_nesting as u64 + 1,
            }),
        }
    }

    pub(crate) fn check_nesting(&self, depth: usize) -> crate::Result<()> {
        if depth > self.max_nesting {
            return Err(crate::Error::Limit {
                what: "nesting of serialized values",
                limit: self.max_nesting as u64,
                got: depth as u64,
            });
        }
        Ok(())
    }
}
