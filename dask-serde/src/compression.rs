//! Frame compression (PROTOCOL.md §9): Dask's codecs, `maybe_compress`, and the
//! self-contained `serialize_bytes` / `deserialize_bytes` blobs (PROTOCOL.md §9.5).
//!
//! | name | wire format | crate feature |
//! |---|---|---|
//! | `lz4` | LZ4 **block** with a 4-byte little-endian size prefix (Python's `lz4.block.compress(store_size=True)`) | `lz4` |
//! | `zstd` | a standard zstd frame with the content size in its header | `zstd` |
//! | `zlib` | a zlib stream (RFC 1950) | `zlib` |
//! | `snappy` | a raw snappy block (varint length, no stream framing) | `snappy` |
//!
//! All four are enabled by the default feature `compression`. `"auto"`
//! resolves as in Dask: `lz4` when available, else `snappy`, else no
//! compression. Compressed bytes need not equal Python's (a different
//! implementation of the same format); what travels is always decodable by
//! the other side.
//!
//! Decompression treats its input as hostile: a size declared by the data
//! (lz4's prefix, snappy's varint, zstd's frame header) is checked against
//! [`Limits::max_frame_bytes`] **and** against the most that the format can
//! expand the given input to, before anything is allocated; zlib and zstd
//! frames without a declared size are streamed with a hard output cap.
//! Corrupt input gives an error, never a panic.
//!
//! # Examples
//!
//! ```
//! use bytes::Bytes;
//! use dask_serde::compression::{compress, decompress, CompressionOptions};
//! use dask_serde::Limits;
//!
//! let data = vec![7u8; 50_000];
//! let packed = compress("lz4", &data, &CompressionOptions::default())?;
//! assert_eq!(&packed[..4], &50_000u32.to_le_bytes()); // the size prefix
//! let back = decompress("lz4", &packed, &Limits::default())?;
//! assert_eq!(back, data);
//! # Ok::<(), dask_serde::Error>(())
//! ```

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::limits::Limits;

/// Frames smaller than this are never compressed (Dask's `min_size`).
pub const MIN_COMPRESS_SIZE: usize = 10_000;
/// Frames larger than this are never compressed (Dask's `2**31`).
pub const MAX_COMPRESS_SIZE: usize = 1 << 31;
/// Size of each sample slice of the compressibility pre-check (Dask's
/// `sample_size`).
pub const SAMPLE_SIZE: usize = 10_000;
/// Number of sample slices of the pre-check (Dask's `nsamples`).
pub const NSAMPLES: usize = 5;
/// A sample, then the whole frame, must compress to at most this fraction
/// of its size (Dask's `min_ratio`).
pub const MIN_RATIO: f64 = 0.7;
/// Dask's default zstd level (`distributed.comm.zstd.level`).
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// A compression codec Dask knows.
///
/// # Examples
///
/// ```
/// use dask_serde::compression::Codec;
///
/// assert_eq!(Codec::from_name("zstd")?, Some(Codec::Zstd));
/// assert_eq!(Codec::from_name("auto")?, Some(Codec::Lz4)); // with the `lz4` feature
/// assert!(Codec::from_name("brotli").is_err()); // Python: KeyError
/// assert_eq!(Codec::Snappy.name(), "snappy");
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// `lz4`: LZ4 block format with a 4-byte little-endian size prefix.
    Lz4,
    /// `zstd`: a zstd frame.
    Zstd,
    /// `zlib`: a zlib stream.
    Zlib,
    /// `snappy`: a raw snappy block.
    Snappy,
}

impl Codec {
    /// Every codec, in the order of [`Codec::name`]s Dask registers them.
    pub const ALL: [Codec; 4] = [Codec::Zlib, Codec::Snappy, Codec::Lz4, Codec::Zstd];

    /// The name used on the wire (`header["compression"]` entries and the
    /// handshake).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
            Codec::Zlib => "zlib",
            Codec::Snappy => "snappy",
        }
    }

    /// `true` if this build can use the codec (its crate feature is on).
    pub fn is_available(self) -> bool {
        match self {
            Codec::Lz4 => cfg!(feature = "lz4"),
            Codec::Zstd => cfg!(feature = "zstd"),
            Codec::Zlib => cfg!(feature = "zlib"),
            Codec::Snappy => cfg!(feature = "snappy"),
        }
    }

    /// The codecs this build can use.
    pub fn available() -> Vec<Codec> {
        Codec::ALL.into_iter().filter(|c| c.is_available()).collect()
    }

    /// Resolves a name as Dask's `compressions[name]` does: a codec name,
    /// or `"auto"`, which is `lz4` if available, else `snappy` if available,
    /// else `None` (no compression).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownCodec`] for any other name, or for a codec whose
    /// crate feature is off (Python raises `KeyError` for codecs that are
    /// not installed).
    pub fn from_name(name: &str) -> Result<Option<Codec>> {
        let codec = match name {
            "auto" => return Ok([Codec::Lz4, Codec::Snappy].into_iter().find(|c| c.is_available())),
            "lz4" => Codec::Lz4,
            "zstd" => Codec::Zstd,
            "zlib" => Codec::Zlib,
            "snappy" => Codec::Snappy,
            _ => return Err(Error::UnknownCodec(name.to_owned())),
        };
        if !codec.is_available() {
            return Err(Error::UnknownCodec(name.to_owned()));
        }
        Ok(Some(codec))
    }

    /// Compresses `data` (`zstd_level` is used by zstd only).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownCodec`] when the codec is not compiled in;
    /// [`Error::Encode`] for input the format cannot represent (lz4 and
    /// snappy store sizes in 32 bits) or a zstd level it refuses.
    pub fn compress(self, data: &[u8], zstd_level: i32) -> Result<Vec<u8>> {
        let _ = (data, zstd_level);
        match self {
            #[cfg(feature = "lz4")]
            Codec::Lz4 => {
                if u32::try_from(data.len()).is_err() {
                    return Err(too_big(self, data.len()));
                }
                Ok(lz4_flex::block::compress_prepend_size(data))
            }
            #[cfg(feature = "zstd")]
            Codec::Zstd => zstd::bulk::compress(data, zstd_level)
                .map_err(|e| Error::Encode(format!("zstd compression failed: {e}"))),
            #[cfg(feature = "zlib")]
            Codec::Zlib => {
                use std::io::Write;
                let mut enc = flate2::write::ZlibEncoder::new(
                    Vec::with_capacity(data.len() / 2 + 64),
                    flate2::Compression::default(),
                );
                enc.write_all(data)
                    .and_then(|()| enc.finish())
                    .map_err(|e| Error::Encode(format!("zlib compression failed: {e}")))
            }
            #[cfg(feature = "snappy")]
            Codec::Snappy => snap::raw::Encoder::new()
                .compress_vec(data)
                .map_err(|_| too_big(self, data.len())),
            #[allow(unreachable_patterns)]
            _ => Err(Error::UnknownCodec(self.name().to_owned())),
        }
    }

    /// Decompresses one frame, treating it as untrusted (see the
    /// [module documentation](self)).
    ///
    /// # Errors
    ///
    /// [`Error::Limit`] when the declared or produced size exceeds
    /// `limits.max_frame_bytes`; [`Error::Frames`] for corrupt input, a
    /// declared size the input cannot possibly expand to, or a size
    /// mismatch; [`Error::UnknownCodec`] when the codec is not compiled in.
    pub fn decompress(self, data: &Bytes, limits: &Limits) -> Result<Bytes> {
        let _ = (data, limits);
        match self {
            #[cfg(feature = "lz4")]
            Codec::Lz4 => lz4_decompress(data, limits),
            #[cfg(feature = "zstd")]
            Codec::Zstd => zstd_decompress(data, limits),
            #[cfg(feature = "zlib")]
            Codec::Zlib => zlib_decompress(data, limits),
            #[cfg(feature = "snappy")]
            Codec::Snappy => snappy_decompress(data, limits),
            #[allow(unreachable_patterns)]
            _ => Err(Error::UnknownCodec(self.name().to_owned())),
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[allow(dead_code)]
fn too_big(codec: Codec, len: usize) -> Error {
    Error::Encode(format!(
        "{codec} cannot compress {len} bytes (its size field is 32 bits)"
    ))
}

#[allow(dead_code)]
fn corrupt(codec: Codec, detail: impl std::fmt::Display) -> Error {
    Error::Frames(format!("corrupt {codec}-compressed frame: {detail}"))
}

/// Refuses a declared size above the limit or above what `input_len`
/// bytes of this format can possibly expand to.
#[allow(dead_code)]
fn check_declared(codec: Codec, declared: u64, max_possible: u64, limits: &Limits) -> Result<usize> {
    if declared > limits.max_frame_bytes {
        return Err(Error::Limit {
            what: "decompressed frame size",
            limit: limits.max_frame_bytes,
            got: declared,
        });
    }
    if declared > max_possible {
        return Err(corrupt(
            codec,
            format!("declares {declared} bytes, more than its input can expand to ({max_possible})"),
        ));
    }
    usize::try_from(declared).map_err(|_| corrupt(codec, "declared size does not fit in memory"))
}

/// lz4: each input byte expands to at most 255 output bytes (a match
/// length extension byte), plus a small constant.
#[cfg(feature = "lz4")]
fn lz4_decompress(data: &Bytes, limits: &Limits) -> Result<Bytes> {
    let codec = Codec::Lz4;
    let Some((prefix, block)) = data.split_first_chunk::<4>() else {
        return Err(corrupt(
            codec,
            format!("{} bytes, shorter than the 4-byte size prefix", data.len()),
        ));
    };
    let declared = u32::from_le_bytes(*prefix) as u64;
    let max_possible = (block.len() as u64).saturating_mul(255).saturating_add(64);
    let n = check_declared(codec, declared, max_possible, limits)?;
    if n == 0 && block.is_empty() {
        return Ok(Bytes::new());
    }
    let mut out = vec![0u8; n];
    let got = lz4_flex::block::decompress_into(block, &mut out).map_err(|e| corrupt(codec, e))?;
    if got != n {
        return Err(corrupt(
            codec,
            format!("decompressed to {got} bytes, but {n} bytes expected from header"),
        ));
    }
    Ok(Bytes::from(out))
}

/// zstd: a block of at most 128 KiB output needs at least 4 input bytes
/// (3-byte block header + 1 RLE byte).
#[cfg(feature = "zstd")]
fn zstd_decompress(data: &Bytes, limits: &Limits) -> Result<Bytes> {
    use std::io::Read;
    let codec = Codec::Zstd;
    // Python's ZstdDecompressor.decompress reads exactly one frame and
    // ignores what follows; so does this.
    let frame_len = zstd::zstd_safe::find_frame_compressed_size(data)
        .map_err(|code| corrupt(codec, zstd::zstd_safe::get_error_name(code)))?;
    let frame = data
        .get(..frame_len)
        .ok_or_else(|| corrupt(codec, "truncated frame"))?;
    let max_possible = (frame.len() as u64 / 4 + 1).saturating_mul(128 << 10);
    let declared =
        zstd::zstd_safe::get_frame_content_size(frame).map_err(|_| corrupt(codec, "invalid frame header"))?;
    match declared {
        Some(declared) => {
            let n = check_declared(codec, declared, max_possible, limits)?;
            let out = zstd::bulk::decompress(frame, n).map_err(|e| corrupt(codec, e))?;
            if out.len() != n {
                return Err(corrupt(
                    codec,
                    format!(
                        "decompressed to {} bytes, but the frame header declares {n}",
                        out.len()
                    ),
                ));
            }
            Ok(Bytes::from(out))
        }
        None => {
            // no content size (Python refuses these): stream with a hard cap
            let cap = limits.max_frame_bytes.min(max_possible);
            let dec = zstd::stream::read::Decoder::with_buffer(frame)
                .map_err(|e| corrupt(codec, e))?
                .single_frame();
            let mut out = Vec::new();
            dec.take(cap.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|e| corrupt(codec, e))?;
            if out.len() as u64 > cap {
                return Err(if cap == limits.max_frame_bytes {
                    Error::Limit {
                        what: "decompressed frame size",
                        limit: limits.max_frame_bytes,
                        got: out.len() as u64,
                    }
                } else {
                    corrupt(codec, "expands beyond what the format allows")
                });
            }
            Ok(Bytes::from(out))
        }
    }
}

/// zlib: no declared size; decompressed with a hard output cap. Like
/// Python's `zlib.decompress`, bytes after the end of the stream are
/// ignored, and a stream without its end is an error.
#[cfg(feature = "zlib")]
fn zlib_decompress(data: &Bytes, limits: &Limits) -> Result<Bytes> {
    use flate2::{Decompress, FlushDecompress, Status};
    let codec = Codec::Zlib;
    // deflate expands at most 1032:1
    let cap = limits
        .max_frame_bytes
        .min((data.len() as u64).saturating_mul(1032).saturating_add(64));
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let mut d = Decompress::new(true);
    let mut out: Vec<u8> = Vec::with_capacity(
        data.len()
            .saturating_mul(3)
            .clamp(64, 1 << 20)
            .min(cap.saturating_add(1)),
    );
    loop {
        if out.len() == out.capacity() {
            if out.len() > cap {
                return Err(Error::Limit {
                    what: "decompressed frame size",
                    limit: limits.max_frame_bytes,
                    got: out.len() as u64,
                });
            }
            let room = cap.saturating_add(1) - out.len();
            out.reserve_exact(out.capacity().clamp(4096, 64 << 20).min(room));
        }
        let consumed = d.total_in() as usize;
        let produced = out.len();
        let input = data.get(consumed..).unwrap_or_default();
        let status = d
            .decompress_vec(input, &mut out, FlushDecompress::None)
            .map_err(|e| corrupt(codec, e))?;
        if out.len() > cap {
            return Err(if cap as u64 == limits.max_frame_bytes {
                Error::Limit {
                    what: "decompressed frame size",
                    limit: limits.max_frame_bytes,
                    got: out.len() as u64,
                }
            } else {
                corrupt(codec, "expands beyond what deflate allows")
            });
        }
        match status {
            Status::StreamEnd => return Ok(Bytes::from(out)),
            Status::Ok | Status::BufError => {
                let progressed = d.total_in() as usize != consumed || out.len() != produced;
                if !progressed && out.len() < out.capacity() {
                    return Err(corrupt(codec, "incomplete or truncated stream"));
                }
            }
        }
    }
}

/// snappy: a copy element of up to 64 bytes takes at least 3 input bytes
/// (literals 1:1), so output is below 22× the input.
#[cfg(feature = "snappy")]
fn snappy_decompress(data: &Bytes, limits: &Limits) -> Result<Bytes> {
    let codec = Codec::Snappy;
    if data.is_empty() {
        return Err(corrupt(codec, "empty input"));
    }
    let declared = snap::raw::decompress_len(data).map_err(|e| corrupt(codec, e))? as u64;
    let max_possible = (data.len() as u64).saturating_mul(22).saturating_add(64);
    let n = check_declared(codec, declared, max_possible, limits)?;
    let mut out = vec![0u8; n];
    let got = snap::raw::Decoder::new()
        .decompress(data, &mut out)
        .map_err(|e| corrupt(codec, e))?;
    if got != n {
        return Err(corrupt(
            codec,
            format!("decompressed to {got} bytes, {n} declared"),
        ));
    }
    Ok(Bytes::from(out))
}

/// Options of [`maybe_compress`], [`compress`] and [`serialize_bytes`](crate::serialize_bytes):
/// the codec and Dask's thresholds (the keyword arguments of Python's
/// `maybe_compress`).
///
/// The default is **no compression** (`codec: None`), what a TCP comm uses
/// unless both peers configured a codec; Python's `serialize_bytes` and a
/// bare `protocol.dumps` default to [`CompressionOptions::auto`].
///
/// # Examples
///
/// ```
/// use dask_serde::compression::CompressionOptions;
///
/// let off = CompressionOptions::default();
/// assert_eq!(off.codec, None);
/// let zstd = CompressionOptions::with_codec("zstd").zstd_level(9);
/// assert_eq!((zstd.codec.as_deref(), zstd.zstd_level), (Some("zstd"), 9));
/// assert_eq!(CompressionOptions::auto().codec.as_deref(), Some("auto"));
/// assert_eq!(off.min_size, 10_000);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CompressionOptions {
    /// Codec name (`"lz4"`, `"zstd"`, `"zlib"`, `"snappy"`, or `"auto"` →
    /// lz4); `None` disables compression (Python's `None`/`False`).
    pub codec: Option<String>,
    /// zstd compression level (`distributed.comm.zstd.level`, default 3).
    /// Dask's `zstd.threads` is not modelled: it does not change the format.
    pub zstd_level: i32,
    /// Smallest frame that is compressed ([`MIN_COMPRESS_SIZE`]).
    pub min_size: usize,
    /// Largest frame that is compressed ([`MAX_COMPRESS_SIZE`]).
    pub max_size: usize,
    /// Size of each pre-check sample slice ([`SAMPLE_SIZE`]).
    pub sample_size: usize,
    /// Number of pre-check sample slices ([`NSAMPLES`]).
    pub nsamples: usize,
    /// Required compression ratio ([`MIN_RATIO`]).
    pub min_ratio: f64,
}

impl Default for CompressionOptions {
    fn default() -> Self {
        CompressionOptions {
            codec: None,
            zstd_level: DEFAULT_ZSTD_LEVEL,
            min_size: MIN_COMPRESS_SIZE,
            max_size: MAX_COMPRESS_SIZE,
            sample_size: SAMPLE_SIZE,
            nsamples: NSAMPLES,
            min_ratio: MIN_RATIO,
        }
    }
}

impl CompressionOptions {
    /// No compression (the default).
    pub fn new() -> Self {
        Self::default()
    }

    /// Compression with the named codec and Dask's thresholds.
    pub fn with_codec(codec: impl Into<String>) -> Self {
        CompressionOptions {
            codec: Some(codec.into()),
            ..Self::default()
        }
    }

    /// `"auto"`: lz4 (Dask's default argument of `serialize_bytes` and of a
    /// context-less `protocol.dumps`).
    pub fn auto() -> Self {
        Self::with_codec("auto")
    }

    /// Sets the zstd level.
    pub fn zstd_level(mut self, level: i32) -> Self {
        self.zstd_level = level;
        self
    }

    /// The codec these options select, `"auto"` resolved; `None` when
    /// compression is off.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownCodec`], see [`Codec::from_name`].
    pub fn resolve(&self) -> Result<Option<Codec>> {
        match &self.codec {
            None => Ok(None),
            Some(name) => Codec::from_name(name),
        }
    }
}

/// Compresses `data` with the named codec (Python's
/// `compressions[codec].compress`). A name that resolves to no codec
/// (`"auto"` in a build without lz4 and snappy) returns the data unchanged,
/// as Python's identity entry does.
///
/// # Examples
///
/// ```
/// use dask_serde::compression::{compress, CompressionOptions};
///
/// let z = compress("zstd", &[0u8; 1000], &CompressionOptions::default().zstd_level(1))?;
/// assert_eq!(&z[..4], &[0x28, 0xb5, 0x2f, 0xfd]); // zstd magic
/// let z = compress("zlib", b"hello", &CompressionOptions::default())?;
/// assert_eq!(&z[..2], &[0x78, 0x9c]);
/// # Ok::<(), dask_serde::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::UnknownCodec`] for an unknown or unavailable codec (Python:
/// `KeyError`); [`Error::Encode`] when the codec cannot compress the input.
pub fn compress(codec: &str, data: &[u8], opts: &CompressionOptions) -> Result<Bytes> {
    match Codec::from_name(codec)? {
        Some(c) => c.compress(data, opts.zstd_level).map(Bytes::from),
        None => Ok(Bytes::copy_from_slice(data)),
    }
}

/// Decompresses one frame compressed with the named codec (Python's
/// `compressions[codec].decompress`), bounded by `limits.max_frame_bytes`.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use dask_serde::compression::decompress;
/// use dask_serde::Limits;
///
/// // Python: snappy.compress(b"a" * 20) == b"\x14\x00a\x4a\x01\x00"
/// let frame = Bytes::from_static(b"\x14\x00a\x4a\x01\x00");
/// assert_eq!(decompress("snappy", &frame, &Limits::default())?, vec![b'a'; 20]);
///
/// // an lz4 prefix declaring 1 GiB for a 5-byte block is refused before allocating
/// let bomb = Bytes::from_static(b"\x00\x00\x00\x40\x00\x00\x00\x00\x00");
/// assert!(decompress("lz4", &bomb, &Limits::default()).is_err());
/// assert!(decompress("brotli", &frame, &Limits::default()).is_err());
/// # Ok::<(), dask_serde::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::UnknownCodec`] for an unknown codec (Python: `KeyError`),
/// [`Error::Limit`] when the output would exceed the limit,
/// [`Error::Frames`] for corrupt data.
pub fn decompress(codec: &str, data: &Bytes, limits: &Limits) -> Result<Bytes> {
    match Codec::from_name(codec)? {
        Some(c) => c.decompress(data, limits),
        None => Ok(data.clone()),
    }
}

/// Decompresses the frames of a payload according to its per-frame
/// `compression` list (Python's `decompress(header, frames)`); `None`
/// entries and a `None` list leave frames untouched (zero-copy).
///
/// Unlike Python, which `zip`s the two and silently drops the excess, the
/// list must have exactly one entry per frame. The total size of the
/// resulting frames is bounded by `limits.max_total_bytes`, checked before
/// each allocation.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use dask_serde::compression::{compress, decompress_frames, CompressionOptions};
/// use dask_serde::Limits;
///
/// let raw = Bytes::from_static(b"as is");
/// let packed = compress("zlib", b"packed", &CompressionOptions::default())?;
/// let codecs = [None, Some("zlib".to_string())];
/// let out = decompress_frames(Some(&codecs), vec![raw.clone(), packed], &Limits::default())?;
/// assert_eq!(out[0].as_ptr(), raw.as_ptr()); // untouched
/// assert_eq!(&out[1][..], b"packed");
/// # Ok::<(), dask_serde::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Frames`] when the list and the frames differ in length or a
/// frame is corrupt, [`Error::UnknownCodec`], [`Error::Limit`].
pub fn decompress_frames(
    compression: Option<&[Option<String>]>,
    frames: Vec<Bytes>,
    limits: &Limits,
) -> Result<Vec<Bytes>> {
    limits.check_frames(frames.len())?;
    let Some(codecs) = compression else {
        return Ok(frames);
    };
    if codecs.len() != frames.len() {
        return Err(Error::frames(format!(
            "the compression list has {} entries for {} frames",
            codecs.len(),
            frames.len()
        )));
    }
    let mut total: u64 = 0;
    let mut out = Vec::with_capacity(frames.len());
    for (i, (frame, codec)) in frames.into_iter().zip(codecs).enumerate() {
        let frame = match codec {
            None => frame,
            Some(name) => {
                let budget = Limits {
                    max_frame_bytes: limits
                        .max_frame_bytes
                        .min(limits.max_total_bytes.saturating_sub(total)),
                    ..*limits
                };
                decompress(name, &frame, &budget).map_err(|e| match e {
                    Error::Frames(m) => Error::Frames(format!("frame {i}: {m}")),
                    other => other,
                })?
            }
        };
        total = total.saturating_add(frame.len() as u64);
        if total > limits.max_total_bytes {
            return Err(Error::Limit {
                what: "total frame bytes",
                limit: limits.max_total_bytes,
                got: total,
            });
        }
        out.push(frame);
    }
    Ok(out)
}

/// Dask's `maybe_compress`: compresses `frame` only if the codec resolves,
/// `min_size <= len <= max_size`, a sample compresses to at most
/// `min_ratio` of its size, and so does the whole frame. Otherwise the
/// frame comes back unchanged and un-copied, with codec `None`.
///
/// **The sample is deterministic**, where Python takes its up to
/// `nsamples` slices of `sample_size` bytes at random offsets: here the
/// slice starts are spread evenly over the frame (`i * (len - size) /
/// (n - 1)`), each slice cut where the next begins, exactly as Python joins
/// them. The decision is therefore reproducible. A consequence: a frame of
/// at most `nsamples * sample_size` bytes is sampled whole, so it is
/// compressed only once.
///
/// # Examples
///
/// ```
/// use dask_serde::compression::{maybe_compress, CompressionOptions};
/// use dask_serde::Frame;
///
/// let lz4 = CompressionOptions::with_codec("lz4");
/// let zeros = vec![0u8; 100_000];
/// let (codec, out) = maybe_compress(Frame::from(&zeros[..]), &lz4)?;
/// assert_eq!(codec, Some("lz4"));
/// assert!(out.len() < 1_000);
///
/// // too small: untouched, still borrowed
/// let (codec, out) = maybe_compress(Frame::from(&zeros[..9_999]), &lz4)?;
/// assert_eq!((codec, out.as_ptr()), (None, zeros.as_ptr()));
/// # Ok::<(), dask_serde::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::UnknownCodec`] (Python: `KeyError`), or a codec failure.
pub fn maybe_compress<'a>(
    frame: Frame<'a>,
    opts: &CompressionOptions,
) -> Result<(Option<&'static str>, Frame<'a>)> {
    let Some(codec) = opts.resolve()? else {
        return Ok((None, frame));
    };
    let data = frame.as_slice();
    if !(opts.min_size <= data.len() && data.len() <= opts.max_size) {
        return Ok((None, frame));
    }
    let ratio_ok = |compressed: usize, original: usize| compressed as f64 <= opts.min_ratio * original as f64;
    let sample = byte_sample(data, opts.sample_size, opts.nsamples);
    if sample.len() < data.len() {
        let c = codec.compress(&sample, opts.zstd_level)?;
        if !ratio_ok(c.len(), sample.len()) {
            return Ok((None, frame));
        }
    }
    let c = codec.compress(data, opts.zstd_level)?;
    if ratio_ok(c.len(), data.len()) {
        Ok((Some(codec.name()), Frame::Shared(Bytes::from(c))))
    } else {
        Ok((None, frame))
    }
}

/// Python's `byte_sample(b, size, n)` with evenly spread instead of random
/// starts. Returns the joined sample (possibly the whole input).
fn byte_sample(b: &[u8], size: usize, n: usize) -> Vec<u8> {
    if size == 0 || n == 0 {
        return Vec::new();
    }
    let max_start = b.len().saturating_sub(size);
    let starts: Vec<usize> = (0..n)
        .map(|i| {
            if n == 1 {
                0
            } else {
                (max_start as u128 * i as u128 / (n - 1) as u128) as usize
            }
        })
        .collect();
    let mut out = Vec::with_capacity(size.saturating_mul(n).min(b.len()));
    for (i, &start) in starts.iter().enumerate() {
        let mut end = start.saturating_add(size).min(b.len());
        if let Some(&next) = starts.get(i + 1) {
            end = end.min(next);
        }
        if end > start {
            out.extend_from_slice(&b[start..end]);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// serialize_bytes / deserialize_bytes (PROTOCOL.md §9.5)

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_spread_and_covers_small_frames() {
        let data: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
        // 30 000 <= 5 × 10 000: the sample is the whole frame
        assert_eq!(byte_sample(&data, 10_000, 5), data);
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let s = byte_sample(&big, 10_000, 5);
        assert_eq!(s.len(), 50_000);
        assert_eq!(&s[..10_000], &big[..10_000]);
        assert_eq!(&s[40_000..], &big[990_000..]);
        assert!(byte_sample(&big, 0, 5).is_empty());
        assert_eq!(byte_sample(&big, 10, 1), &big[..10]);
    }

    #[test]
    fn unknown_codec_is_a_key_error() {
        let e = Codec::from_name("brotli").unwrap_err();
        assert_eq!(e, Error::UnknownCodec("brotli".into()));
        assert_eq!(e.python_type(), "KeyError");
        assert!(maybe_compress(
            Frame::from(&[0u8; 20_000][..]),
            &CompressionOptions::with_codec("nope")
        )
        .is_err());
    }

    #[cfg(feature = "compression")]
    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i / 7 % 13) as u8).collect();
        for c in Codec::ALL {
            let packed = Bytes::from(c.compress(&data, 3).unwrap());
            assert!(packed.len() < data.len() / 2, "{c}");
            assert_eq!(c.decompress(&packed, &Limits::default()).unwrap(), data, "{c}");
            let empty = Bytes::from(c.compress(b"", 3).unwrap());
            assert_eq!(
                c.decompress(&empty, &Limits::default()).unwrap(),
                Bytes::new(),
                "{c}"
            );
        }
    }

    #[cfg(feature = "compression")]
    #[test]
    fn declared_sizes_are_checked_before_allocating() {
        let data = vec![1u8; 100_000];
        let small = Limits {
            max_frame_bytes: 50_000,
            ..Limits::default()
        };
        for c in Codec::ALL {
            let packed = Bytes::from(c.compress(&data, 3).unwrap());
            let e = c.decompress(&packed, &small).unwrap_err();
            assert!(matches!(e, Error::Limit { .. }), "{c}: {e}");
        }
        // lz4 and snappy sizes no input can back
        let lz4 = Bytes::from_static(&[0xff, 0xff, 0xff, 0x7f, 0x00]);
        assert!(matches!(
            Codec::Lz4.decompress(&lz4, &Limits::unbounded()),
            Err(Error::Frames(_))
        ));
        let snappy = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
        assert!(matches!(
            Codec::Snappy.decompress(&snappy, &Limits::unbounded()),
            Err(Error::Frames(_))
        ));
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_output_declares_its_content_size_and_frames_without_it_stream() {
        let data = vec![5u8; 30_000];
        let z = Codec::Zstd.compress(&data, 3).unwrap();
        assert_eq!(zstd::zstd_safe::get_frame_content_size(&z).unwrap(), Some(30_000));
        // a frame without the content size (Python refuses it, we stream it)
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut enc, &data).unwrap();
        let z = Bytes::from(enc.finish().unwrap());
        assert_eq!(zstd::zstd_safe::get_frame_content_size(&z).unwrap(), None);
        assert_eq!(Codec::Zstd.decompress(&z, &Limits::default()).unwrap(), data);
        let tight = Limits {
            max_frame_bytes: 29_999,
            ..Limits::default()
        };
        assert!(matches!(
            Codec::Zstd.decompress(&z, &tight),
            Err(Error::Limit { .. })
        ));
        // like Python, bytes after the first frame are ignored
        let mut two = z.to_vec();
        two.extend_from_slice(b"junk");
        assert_eq!(
            Codec::Zstd
                .decompress(&Bytes::from(two), &Limits::default())
                .unwrap(),
            data
        );
    }

    #[cfg(feature = "zlib")]
    #[test]
    fn zlib_truncation_and_trailing_data() {
        let data = vec![9u8; 20_000];
        let z = Codec::Zlib.compress(&data, 3).unwrap();
        for cut in [0, 1, 2, z.len() / 2, z.len() - 1] {
            assert!(
                Codec::Zlib
                    .decompress(&Bytes::copy_from_slice(&z[..cut]), &Limits::default())
                    .is_err(),
                "{cut}"
            );
        }
        let mut trailing = z.clone();
        trailing.extend_from_slice(b"junk");
        assert_eq!(
            Codec::Zlib
                .decompress(&Bytes::from(trailing), &Limits::default())
                .unwrap(),
            data
        );
        let exact = Limits {
            max_frame_bytes: 20_000,
            ..Limits::default()
        };
        assert_eq!(
            Codec::Zlib
                .decompress(&Bytes::from(z.clone()), &exact)
                .unwrap()
                .len(),
            20_000
        );
        let tight = Limits {
            max_frame_bytes: 19_999,
            ..Limits::default()
        };
        assert!(matches!(
            Codec::Zlib.decompress(&Bytes::from(z), &tight),
            Err(Error::Limit { .. })
        ));
    }

    #[cfg(feature = "compression")]
    #[test]
    fn maybe_compress_thresholds() {
        let lz4 = CompressionOptions::with_codec("lz4");
        let zeros = vec![0u8; 10_000];
        let (c, _) = maybe_compress(Frame::from(&zeros[..9_999]), &lz4).unwrap();
        assert_eq!(c, None);
        let (c, _) = maybe_compress(Frame::from(&zeros[..]), &lz4).unwrap();
        assert_eq!(c, Some("lz4"));
        let (c, f) = maybe_compress(Frame::from(&zeros[..]), &CompressionOptions::default()).unwrap();
        assert_eq!((c, f.as_ptr()), (None, zeros.as_ptr()));
        // incompressible (xorshift noise): unchanged and not copied
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Bytes = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>()
            .into();
        for codec in ["lz4", "zstd", "zlib", "snappy", "auto"] {
            let (c, f) = maybe_compress(
                Frame::Shared(noise.clone()),
                &CompressionOptions::with_codec(codec),
            )
            .unwrap();
            assert_eq!(c, None, "{codec}");
            assert_eq!(f.as_ptr(), noise.as_ptr());
        }
        // compressible samples but an incompressible middle: the whole-frame test decides
        let mut mixed = vec![0u8; 1_000_000];
        mixed[100_000..900_000].copy_from_slice(&noise.repeat(4)[..800_000]);
        let (c, _) = maybe_compress(Frame::from(&mixed[..]), &lz4).unwrap();
        assert_eq!(c, None);
    }
}
