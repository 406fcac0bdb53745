//! Typed numeric arrays: `Vec<T>`, `[T]` and the Bytes-backed [`Array<T>`]
//! travel as numpy arrays (PROTOCOL.md §5.5) without copying.

use std::marker::PhantomData;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::builtins::expect::expect_dask_class;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::header::Header;
use crate::limits::Limits;
use crate::msgpack::MsgValue;
use crate::msgpack::RawCursor;
use crate::pytype::dask_header;
use crate::pytype::PyType;
use crate::traits::{DaskDeserialize, DaskSerialize};
use crate::value::dtype::DType;
use crate::value::ndarray::{Dims, NdArray};

/// `numpy.ndarray`, built once.
fn ndarray_class() -> &'static PyType {
    static C: std::sync::OnceLock<PyType> = std::sync::OnceLock::new();
    C.get_or_init(PyType::ndarray)
}

mod sealed {
    pub trait Sealed {}
}

/// A numpy scalar type: `bool`, `i8`–`i64`, `u8`–`u64`, `f32`, `f64`, and
/// with features `half::f16` and `num_complex::Complex<f32 | f64>`.
///
/// `DTYPE` is numpy's `dtype.str` in this machine's byte order (`"<f8"` on
/// little-endian hosts). This trait is sealed.
pub trait Element: Copy + Send + Sync + PartialEq + std::fmt::Debug + 'static + sealed::Sealed {
    /// numpy `dtype.str` in native byte order.
    const DTYPE: &'static str;
    /// Size in bytes.
    const SIZE: usize = std::mem::size_of::<Self>();
    /// Unit of byte swapping (half the size for complex numbers).
    const SWAP_UNIT: usize = std::mem::size_of::<Self>();

    /// The elements' bytes (no copy).
    fn as_bytes(items: &[Self]) -> &[u8];
    /// The bytes as elements when aligned and valid (no copy).
    fn cast(bytes: &[u8]) -> Option<&[Self]>;
    /// Copies native-order bytes into elements (any alignment).
    fn collect(bytes: &[u8]) -> Vec<Self>;

    /// `DTYPE` parsed once (typed decoding then allocates no dtype).
    #[doc(hidden)]
    fn __dtype() -> Option<&'static DType>;
}

/// The body of [`Element::__dtype`] (one static per element type).
macro_rules! cached_dtype {
    () => {
        fn __dtype() -> Option<&'static DType> {
            static D: std::sync::OnceLock<Option<DType>> = std::sync::OnceLock::new();
            D.get_or_init(|| DType::parse_static(Self::DTYPE).ok())
                .as_ref()
        }
    };
}

macro_rules! pod_element {
    ($t:ty, $le:expr, $be:expr) => {
        pod_element!($t, $le, $be, std::mem::size_of::<$t>());
    };
    ($t:ty, $le:expr, $be:expr, $unit:expr) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            #[cfg(target_endian = "little")]
            const DTYPE: &'static str = $le;
            #[cfg(target_endian = "big")]
            const DTYPE: &'static str = $be;
            const SWAP_UNIT: usize = $unit;
            fn as_bytes(items: &[Self]) -> &[u8] {
                bytemuck::cast_slice(items)
            }
            fn cast(bytes: &[u8]) -> Option<&[Self]> {
                bytemuck::try_cast_slice(bytes).ok()
            }
            fn collect(bytes: &[u8]) -> Vec<Self> {
                bytemuck::pod_collect_to_vec(bytes)
            }
            cached_dtype!();
        }
    };
}

pod_element!(i8, "|i1", "|i1");
pod_element!(u8, "|u1", "|u1");
pod_element!(i16, "<i2", ">i2");
pod_element!(u16, "<u2", ">u2");
pod_element!(i32, "<i4", ">i4");
pod_element!(u32, "<u4", ">u4");
pod_element!(i64, "<i8", ">i8");
pod_element!(u64, "<u8", ">u8");
pod_element!(f32, "<f4", ">f4");
pod_element!(f64, "<f8", ">f8");
#[cfg(feature = "half")]
pod_element!(half::f16, "<f2", ">f2");
#[cfg(feature = "num-complex")]
pod_element!(num_complex::Complex<f32>, "<c8", ">c8", 4);
#[cfg(feature = "num-complex")]
pod_element!(num_complex::Complex<f64>, "<c16", ">c16", 8);

impl sealed::Sealed for bool {}
impl Element for bool {
    const DTYPE: &'static str = "|b1";
    cached_dtype!();
    fn as_bytes(items: &[Self]) -> &[u8] {
        bytemuck::cast_slice(items)
    }
    fn cast(bytes: &[u8]) -> Option<&[Self]> {
        bytemuck::checked::try_cast_slice(bytes).ok()
    }
    fn collect(bytes: &[u8]) -> Vec<Self> {
        // numpy reads any non-zero byte as True
        bytes.iter().map(|b| *b != 0).collect()
    }
}

/// Bytes in `from` byte order → native order, for elements of `unit`-byte
/// components.
fn swapped(bytes: &[u8], unit: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    if unit > 1 {
        for chunk in v.chunks_exact_mut(unit) {
            chunk.reverse();
        }
    }
    v
}

/// Does `descr` denote the same numpy type as `T::DTYPE`, and must the bytes
/// be swapped?
fn dtype_matches<T: Element>(descr: &str) -> Option<bool> {
    let (want_order, want_rest) = T::DTYPE.split_at(1);
    if descr.len() < 2 || descr[1..] != *want_rest {
        return None;
    }
    let order = &descr[..1];
    if want_order == "|" || order == "|" {
        return (order == want_order).then_some(false);
    }
    let native = if cfg!(target_endian = "little") { "<" } else { ">" };
    match order {
        "=" => Some(false),
        o if o == native => Some(false),
        _ => Some(true),
    }
}

/// The numpy sub-header of a contiguous 1-d array of `n` elements.
fn vec_sub_header<T: Element>(n: usize) -> MsgValue {
    let mut sub = vec![
        (
            "dtype".into(),
            MsgValue::Array(vec![MsgValue::Int(0), MsgValue::from(T::DTYPE)]),
        ),
        ("shape".into(), MsgValue::Array(vec![MsgValue::from(n)])),
        (
            "strides".into(),
            MsgValue::Array(vec![MsgValue::from(if n == 0 { 0 } else { T::SIZE })]),
        ),
        ("writeable".into(), MsgValue::Array(vec![MsgValue::Bool(true)])),
    ];
    if n == 0 {
        // an empty array as numpy 2's constructors make it (zero strides),
        // which Dask sends through its broadcast path, like NdArray does
        sub.push((
            "broadcast_to".into(),
            MsgValue::Array(vec![MsgValue::from(0usize)]),
        ));
    }
    MsgValue::Map(sub)
}

fn serialize_slice<'a, T: Element>(items: &'a [T], frames: &mut Vec<Frame<'a>>) -> Header {
    frames.push(Frame::Borrowed(T::as_bytes(items)));
    dask_header(vec_sub_header::<T>(items.len()), ndarray_class())
}

/// [`serialize_slice`] writing the header's msgpack directly.
fn serialize_slice_raw<'a, T: Element>(
    items: &'a [T],
    frames: &mut Vec<Frame<'a>>,
    out: &mut Vec<u8>,
) -> Result<()> {
    if items.is_empty()
        || !crate::builtins::numpy_header::write_dask_header(
            out,
            T::DTYPE,
            &[items.len()],
            &[T::SIZE as isize],
            true,
        )?
    {
        return serialize_slice(items, frames).write(out);
    }
    frames.push(Frame::Borrowed(T::as_bytes(items)));
    Ok(())
}

/// Decodes a numpy value of element type `T` (any layout, either byte
/// order), validated.
fn decode_nd<T: Element>(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<(NdArray, bool)> {
    limits.check_frames(frames.len())?;
    let sub = expect_dask_class(header, ndarray_class(), "numpy.ndarray")?;
    decode_nd_sub::<T>(sub, frames, limits)
}

/// [`decode_nd`] from a header given as a msgpack map, read in place when
/// it is a `dask`-family `numpy.ndarray` header (`None`: take the
/// [`Header`] path, which reports errors).
fn decode_nd_value<T: Element>(
    header: &MsgValue,
    frames: &[Bytes],
    limits: &Limits,
) -> Option<Result<(NdArray, bool)>> {
    let sub = crate::builtins::expect::dask_class_sub_header(header, ndarray_class())?;
    Some(
        limits
            .check_frames(frames.len())
            .and_then(|()| decode_nd_sub::<T>(sub, frames, limits)),
    )
}

/// The numpy sub-header of [`decode_nd`]: the array, and whether its bytes
/// must be swapped for `T`.
fn decode_nd_sub<T: Element>(sub: &MsgValue, frames: &[Bytes], limits: &Limits) -> Result<(NdArray, bool)> {
    let nd = crate::builtins::numpy_header::decode(sub, frames, limits)?;
    let swap = dtype_matches::<T>(nd.dtype().descr()).ok_or_else(|| {
        Error::mismatch(
            format!("an array of {}", T::DTYPE),
            format!("dtype {}", nd.dtype().descr()),
        )
    })?;
    Ok((nd, swap))
}

/// A decoded 1-d array as a vector (one copy).
fn vec_of_nd<T: Element>((nd, swap): (NdArray, bool)) -> Result<Vec<T>> {
    if nd.shape().len() != 1 {
        return Err(Error::mismatch("a 1-d array", format!("shape {:?}", nd.shape())));
    }
    Ok(to_vec(&nd, swap))
}

fn to_vec<T: Element>(nd: &NdArray, swap: bool) -> Vec<T> {
    let c = nd.to_c_bytes();
    if swap {
        T::collect(&swapped(&c, T::SWAP_UNIT))
    } else {
        T::collect(&c)
    }
}

/// The fast path of typed decoding inside collections: a `dask`-family
/// `numpy.ndarray` header of element type `T` in native byte order, read
/// in place at `c`. Returns its shape, strides and writeable flag, which
/// the caller checks against the frame exactly as the tree path does
/// ([`NdArray::view_fits`]). `None` for anything else (other dtypes,
/// broadcasting, pickled arrays, extra keys), which the tree path then
/// handles.
#[inline(always)]
fn read_array_header_fast<T: Element>(c: &mut RawCursor<'_>) -> Option<(Dims<usize>, Dims<isize>, bool)> {
    let start = c.clone();
    if let Some(parts) = read_canonical_header::<T>(c) {
        return Some(parts);
    }
    // the same header with other key orders or encodings
    *c = start;
    let entries = c.map_len()?;
    let mut sub = None;
    let (mut ty, mut ts, mut ser) = (false, false, false);
    for _ in 0..entries {
        match c.str_bytes()? {
            b"sub-header" if sub.is_none() => sub = Some(read_sub_header_fast::<T>(c)?),
            b"type" if !ty => {
                // any string (the tree path does not read it); anything
                // else is left to the tree path
                c.str()?;
                ty = true;
            }
            b"type-serialized" if !ts => {
                ts = c.bin()? == &crate::pytype::cached_type_serialized_ref(ndarray_class())?[..];
            }
            b"serializer" if !ser => ser = c.str_bytes()? == b"dask",
            _ => return None,
        }
    }
    (ts && ser).then_some(sub?)
}

/// An array of integers that fit `I` (a shape or strides).
#[inline(always)]
fn read_dims<I: TryFrom<i64>>(c: &mut RawCursor<'_>) -> Option<SmallVec<[I; 4]>> {
    let n = c.array_len()?;
    let mut v = SmallVec::new();
    for _ in 0..n {
        v.push(I::try_from(c.i64()?).ok()?);
    }
    Some(v)
}

/// The header exactly as Dask (and this crate) write it: constant bytes
/// around the shape, strides and writeable flag, matched by comparing
/// bytes instead of reading keys.
#[inline(always)]
fn read_canonical_header<T: Element>(c: &mut RawCursor<'_>) -> Option<(Dims<usize>, Dims<isize>, bool)> {
    if !(c.eat(b"\x84\xaasub-header\x84\xa5dtype\x92\x00")
        && c.str_bytes()? == T::DTYPE.as_bytes()
        && c.eat(b"\xa5shape"))
    {
        return None;
    }
    let shape = read_dims::<usize>(c)?;
    if !c.eat(b"\xa7strides") {
        return None;
    }
    let strides = read_dims::<isize>(c)?;
    if !c.eat(b"\xa9writeable\x91") {
        return None;
    }
    let writeable = c.bool()?;
    let tail = crate::builtins::numpy_header::ndarray_header_tail();
    (!tail.is_empty() && c.eat(tail)).then_some((shape, strides, writeable))
}

/// The sub-header `{dtype, shape, strides, writeable}` of
/// [`read_array_header_fast`].
#[inline]
fn read_sub_header_fast<T: Element>(c: &mut RawCursor<'_>) -> Option<(Dims<usize>, Dims<isize>, bool)> {
    if c.map_len()? != 4 {
        return None;
    }
    let (mut dtype, mut shape, mut strides, mut writeable) = (false, None, None, None);
    for _ in 0..4 {
        match c.str_bytes()? {
            b"dtype" if !dtype => {
                dtype = c.array_len()? == 2 && c.int()? == 0 && c.str_bytes()? == T::DTYPE.as_bytes();
                if !dtype {
                    return None;
                }
            }
            b"shape" if shape.is_none() => shape = Some(read_dims::<usize>(c)?),
            b"strides" if strides.is_none() => strides = Some(read_dims::<isize>(c)?),
            b"writeable" if writeable.is_none() => {
                if c.array_len()? != 1 {
                    return None;
                }
                writeable = Some(c.bool()?);
            }
            _ => return None,
        }
    }
    Some((shape?, strides?, writeable?))
}

macro_rules! vec_impls {
    ($($t:ty),* $(,)?) => {$(
        /// A 1-d numpy array; the frame borrows the elements.
        impl DaskSerialize for [$t] {
            fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
                Ok(serialize_slice(self, frames))
            }
            fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
                serialize_slice_raw(self, frames, out)
            }
        }
        /// A 1-d numpy array; the frame borrows the elements.
        impl DaskSerialize for Vec<$t> {
            fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
                Ok(serialize_slice(self, frames))
            }
            fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
                serialize_slice_raw(self, frames, out)
            }
        }
        /// From a 1-d numpy array (one copy; use [`Array`] to share the frame).
        impl DaskDeserialize for Vec<$t> {
            fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
                vec_of_nd(decode_nd::<$t>(header, frames, limits)?)
            }
            fn __deserialize_value(header: &MsgValue, frames: &[Bytes], limits: &Limits) -> Result<Self> {
                match decode_nd_value::<$t>(header, frames, limits) {
                    Some(r) => vec_of_nd(r?),
                    None => Self::deserialize_from(&Header::from_value(header.clone())?, frames, limits),
                }
            }
            fn __deserialize_one_frame_into(
                c: &mut RawCursor<'_>,
                frame: &Bytes,
                _: &Limits,
                out: &mut Vec<Self>,
            ) -> bool {
                let Some((shape, strides, _)) = read_array_header_fast::<$t>(c) else {
                    return false;
                };
                if shape.len() != 1 || !NdArray::view_fits(<$t>::SIZE, &shape, &strides, frame.len()) {
                    return false;
                }
                if strides[0] == <$t>::SIZE as isize {
                    // contiguous: one copy straight out of the frame
                    out.push(<$t>::collect(&frame[..shape[0] * <$t>::SIZE]));
                    return true;
                }
                let Some(dtype) = <$t>::__dtype() else {
                    return false;
                };
                let nd = NdArray::view_parts(dtype.clone(), shape, strides, frame.clone(), true);
                out.push(to_vec(&nd, false));
                true
            }
        }
    )*};
}

vec_impls!(bool, i8, i16, i32, i64, u16, u32, u64, f32, f64);
#[cfg(feature = "half")]
vec_impls!(half::f16);
#[cfg(feature = "num-complex")]
vec_impls!(num_complex::Complex<f32>, num_complex::Complex<f64>);

/// Owner that lets a `Vec<T>` back a [`Bytes`] without copying.
struct VecOwner<T: Element>(Vec<T>);

impl<T: Element> AsRef<[u8]> for VecOwner<T> {
    fn as_ref(&self) -> &[u8] {
        T::as_bytes(&self.0)
    }
}

fn bytes_of_vec<T: Element>(v: Vec<T>) -> Bytes {
    Bytes::from_owner(VecOwner(v))
}

/// A typed n-dimensional numpy array over shared [`Bytes`].
///
/// Serializing sends the buffer as the frame without copying; decoding
/// shares the received frame when it is in native byte order and aligned
/// for `T` (a misaligned or byte-swapped frame costs exactly one copy,
/// see [`Array::shares_frame`]). Fortran order, broadcasting and other
/// strides are kept as views.
///
/// # Examples
///
/// ```
/// use dask_serde::{Array, DaskDeserialize, DaskSerialize};
///
/// let a = Array::from_shape_vec(vec![2, 3], vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0])?;
/// let s = a.dask_serialize()?;
/// assert_eq!(s.frames[0].as_ptr(), a.as_slice().unwrap().as_ptr().cast());
/// let frames = s.frame_bytes();
/// let back = Array::<f64>::dask_deserialize(&s.header, &frames)?;
/// assert_eq!(back.shape(), &[2, 3]);
/// assert_eq!(back.get(&[1, 2]), Some(6.0));
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Array<T: Element> {
    nd: NdArray,
    _t: PhantomData<T>,
}

impl<T: Element> PartialEq for Array<T> {
    fn eq(&self, other: &Self) -> bool {
        self.nd == other.nd
    }
}

impl<T: Element> Array<T> {
    /// A 1-d array owning `v` (no copy).
    pub fn from_vec(v: Vec<T>) -> Self {
        let n = v.len();
        // a contiguous vector always fits its own shape
        Self::from_shape_vec(vec![n], v).unwrap_or_else(|_| unreachable!("length matches"))
    }

    /// A C-ordered array of `shape` owning `v` (no copy).
    ///
    /// # Errors
    ///
    /// `v.len()` is not the product of `shape`.
    pub fn from_shape_vec(shape: Vec<usize>, v: Vec<T>) -> Result<Self> {
        Self::wrap(NdArray::from_c_order(T::DTYPE, shape, bytes_of_vec(v))?)
    }

    /// A Fortran-ordered array of `shape` whose elements `v` are in
    /// column-major order (no copy).
    ///
    /// # Errors
    ///
    /// `v.len()` is not the product of `shape`.
    pub fn from_shape_vec_f(shape: Vec<usize>, v: Vec<T>) -> Result<Self> {
        Self::wrap(NdArray::from_f_order(T::DTYPE, shape, bytes_of_vec(v))?)
    }

    /// Views an [`NdArray`] of dtype `T::DTYPE` as typed, copying once if
    /// it is byte-swapped or misaligned for `T`.
    ///
    /// # Errors
    ///
    /// The dtype is not `T`'s.
    pub fn from_ndarray(nd: NdArray) -> Result<Self> {
        let swap = dtype_matches::<T>(nd.dtype().descr()).ok_or_else(|| {
            Error::mismatch(
                format!("an array of {}", T::DTYPE),
                format!("dtype {}", nd.dtype().descr()),
            )
        })?;
        if !swap && Self::aligned(&nd) {
            return Self::wrap(nd);
        }
        let w = nd.is_writeable();
        let v = to_vec::<T>(&nd, swap);
        Ok(Self::from_shape_vec(nd.shape().to_vec(), v)?.with_writeable(w))
    }

    fn aligned(nd: &NdArray) -> bool {
        Self::aligned_at(nd.buffer().as_ptr() as usize + nd.offset(), nd.strides())
    }

    /// Can elements of `T` at byte address `base` with these strides be
    /// read in place?
    fn aligned_at(base: usize, strides: &[isize]) -> bool {
        let align = std::mem::align_of::<T>();
        base % align == 0 && strides.iter().all(|s| s.unsigned_abs() % align == 0)
    }

    fn wrap(nd: NdArray) -> Result<Self> {
        if nd.dtype().descr() != T::DTYPE {
            return Err(Error::mismatch(T::DTYPE, nd.dtype().descr().to_owned()));
        }
        Ok(Array { nd, _t: PhantomData })
    }

    fn with_writeable(mut self, w: bool) -> Self {
        self.nd.set_writeable(w);
        self
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        self.nd.shape()
    }
    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.nd.shape().len()
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.nd.size()
    }
    /// `true` when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The untyped array.
    pub fn as_ndarray(&self) -> &NdArray {
        &self.nd
    }
    /// Converts into the untyped array.
    pub fn into_ndarray(self) -> NdArray {
        self.nd
    }
    /// `true` if this array's memory lies inside `frame` (it was decoded
    /// without copying).
    pub fn shares_frame(&self, frame: &Bytes) -> bool {
        let r = frame.as_ptr_range();
        let p = self.nd.buffer().as_ptr();
        self.nd.buffer().is_empty() || (r.start <= p && p < r.end)
    }

    /// The elements in memory order when the array is C-contiguous (a
    /// borrow, no copy); `None` for other layouts.
    pub fn as_slice(&self) -> Option<&[T]> {
        if !self.nd.is_c_contiguous() {
            return None;
        }
        let start = self.nd.offset();
        let end = start + self.len() * T::SIZE;
        T::cast(self.nd.buffer().get(start..end)?)
    }

    /// The elements in C order (copied).
    pub fn to_vec(&self) -> Vec<T> {
        match self.as_slice() {
            Some(s) => s.to_vec(),
            None => T::collect(&self.nd.to_c_bytes()),
        }
    }

    /// The element at a multi-index, or `None` when out of bounds.
    pub fn get(&self, index: &[usize]) -> Option<T> {
        if index.len() != self.ndim() || index.iter().zip(self.shape()).any(|(i, d)| i >= d) {
            return None;
        }
        let off = index
            .iter()
            .zip(self.nd.strides())
            .fold(self.nd.offset() as isize, |acc, (i, s)| acc + *i as isize * s);
        let off = usize::try_from(off).ok()?;
        let bytes = self.nd.buffer().get(off..off + T::SIZE)?;
        T::cast(bytes)
            .and_then(|s| s.first().copied())
            .or_else(|| T::collect(bytes).first().copied())
    }
}

impl<T: Element> DaskSerialize for Array<T> {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        self.nd.serialize_into(frames)
    }
    fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
        self.nd.__serialize_raw(frames, out)
    }
}

impl<T: Element> DaskDeserialize for Array<T> {
    /// Shares the frame when it is aligned and in native byte order.
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        let (nd, _) = decode_nd::<T>(header, frames, limits)?;
        Array::from_ndarray(nd)
    }
    fn __deserialize_value(header: &MsgValue, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        match decode_nd_value::<T>(header, frames, limits) {
            Some(r) => Array::from_ndarray(r?.0),
            None => Self::deserialize_from(&Header::from_value(header.clone())?, frames, limits),
        }
    }
    #[inline(always)]
    fn __deserialize_one_frame_into(
        c: &mut RawCursor<'_>,
        frame: &Bytes,
        _: &Limits,
        out: &mut Vec<Self>,
    ) -> bool {
        let Some((shape, strides, writeable)) = read_array_header_fast::<T>(c) else {
            return false;
        };
        let Some(dtype) = T::__dtype() else {
            return false;
        };
        // a misaligned frame is copied by the tree path
        if !Self::aligned_at(frame.as_ptr() as usize, &strides)
            || !NdArray::view_fits(T::SIZE, &shape, &strides, frame.len())
        {
            return false;
        }
        out.push(Array {
            nd: NdArray::view_parts(dtype.clone(), shape, strides, frame.clone(), writeable),
            _t: PhantomData,
        });
        true
    }
    #[inline(always)]
    fn __deserialize_like_last_into(frame: &Bytes, out: &mut Vec<Self>) -> bool {
        let Some(last) = out.last() else {
            return false;
        };
        // the same header: dtype, shape, strides and flag are the last
        // array's; only the frame's own checks remain
        let nd = &last.nd;
        if !Self::aligned_at(frame.as_ptr() as usize, nd.strides())
            || !NdArray::view_fits(T::SIZE, nd.shape(), nd.strides(), frame.len())
        {
            return false;
        }
        let next = NdArray::view_parts(
            nd.dtype().clone(),
            Dims::from_slice(nd.shape()),
            Dims::from_slice(nd.strides()),
            frame.clone(),
            nd.is_writeable(),
        );
        out.push(Array {
            nd: next,
            _t: PhantomData,
        });
        true
    }
}

impl DaskSerialize for NdArray {
    /// Contiguous arrays are sent without copying.
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        let (sub, frame) = crate::builtins::numpy_header::encode(self)?;
        frames.extend(frame);
        Ok(dask_header(sub, ndarray_class()))
    }
    fn __serialize_raw<'a>(&'a self, frames: &mut Vec<Frame<'a>>, out: &mut Vec<u8>) -> Result<()> {
        match crate::builtins::numpy_header::header_fast(self, out)? {
            Some(frame) => {
                frames.push(frame);
                Ok(())
            }
            None => self.serialize_into(frames)?.write(out),
        }
    }
}

impl DaskDeserialize for NdArray {
    /// A view of the received frame (no copy).
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        limits.check_frames(frames.len())?;
        let sub = expect_dask_class(header, ndarray_class(), "numpy.ndarray")?;
        crate::builtins::numpy_header::decode(sub, frames, limits)
    }
    fn __deserialize_value(header: &MsgValue, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        match crate::builtins::expect::dask_class_sub_header(header, ndarray_class()) {
            Some(sub) => {
                limits.check_frames(frames.len())?;
                crate::builtins::numpy_header::decode(sub, frames, limits)
            }
            None => Self::deserialize_from(&Header::from_value(header.clone())?, frames, limits),
        }
    }
}

impl<T: Element> From<Vec<T>> for Array<T> {
    fn from(v: Vec<T>) -> Self {
        Array::from_vec(v)
    }
}
