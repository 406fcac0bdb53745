//! Decode limits: bounds applied to untrusted input before anything is
//! allocated.

/// Bounds applied while decoding untrusted data.
///
/// Every length, count and nesting depth read from the wire is checked
/// against these limits *and* against the size of the input before memory
/// is reserved: nothing is allocated from a number the input merely
/// claims, and nothing recurses without bound.
///
/// What a decode can cost, as a function of its input:
///
/// | what | memory |
/// |---|---|
/// | frames (received, unpacked, split pieces) | slices of the input: no copy; pieces that are not adjacent are merged with one copy |
/// | a frame being received over TCP | its length, reserved up front up to [`max_eager_frame_bytes`](Self::max_eager_frame_bytes); beyond, it grows with the bytes that arrive |
/// | decompressed frames | at most [`max_frame_bytes`](Self::max_frame_bytes) each and [`max_total_bytes`](Self::max_total_bytes) in all, checked before decompressing |
/// | a decoded msgpack tree (a header, a message, `msgpack`-family data) | at most about 50 bytes per input byte: every value takes at least one byte and becomes one 48-byte node plus its own bytes (`tests/receive_memory.rs` measures it) |
/// | typed decoders, arrays | views into the frames (one copy for a misaligned array), plus the decoded Rust values themselves |
///
/// Outputs that expand data (a broadcast array written out, an int written
/// as text) are not bounded by these limits: measure them first (e.g.
/// `Value::to_json_bounded`, feature `json`).
///
/// Two presets: [`Limits::default`] for trusted peers (large frames read
/// into one buffer each, the fastest receive) and [`Limits::untrusted`]
/// for a server open to anyone.
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
    /// Largest frame whose receive buffer is reserved in full before its
    /// bytes arrive (default: [`max_frame_bytes`](Self::max_frame_bytes),
    /// so every frame is read into one exactly sized buffer, never copied).
    /// A larger frame's buffer starts at this size and grows as its bytes
    /// come, so a peer that announces large frames and sends nothing costs
    /// no more than this per frame. Applies to the TCP readers
    /// (`transport::framing`, `DaskCodec`).
    pub max_eager_frame_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frames: 1_000_000,
            max_frame_bytes: 4 << 30,
            max_total_bytes: 16 << 30,
            max_depth: 1024,
            max_nesting: 128,
            max_eager_frame_bytes: 4 << 30,
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

    /// Limits for peers you do not trust (a server open to anyone): 10,000
    /// frames, 256 MiB per frame, 1 GiB per message or payload, msgpack
    /// depth 256, nesting 64, and receive buffers that grow with the bytes
    /// that arrive beyond 1 MiB per frame (a claimed frame costs nothing
    /// until it is sent). Dask's own messages fit them: it splits frames at
    /// 64 MiB.
    ///
    /// # Examples
    ///
    /// ```
    /// use dask_serde::Limits;
    ///
    /// let l = Limits::untrusted();
    /// assert!(l.max_frame_bytes < Limits::default().max_frame_bytes);
    /// assert_eq!(l.max_eager_frame_bytes, 1 << 20);
    /// ```
    pub fn untrusted() -> Self {
        Limits {
            max_frames: 10_000,
            max_frame_bytes: 256 << 20,
            max_total_bytes: 1 << 30,
            max_depth: 256,
            max_nesting: 64,
            max_eager_frame_bytes: 1 << 20,
        }
    }

    /// The capacity to reserve for a frame of `len` bytes before reading it
    /// (see [`max_eager_frame_bytes`](Self::max_eager_frame_bytes)).
    pub(crate) fn eager(&self, len: usize) -> usize {
        usize::try_from(self.max_eager_frame_bytes).map_or(len, |cap| len.min(cap))
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
