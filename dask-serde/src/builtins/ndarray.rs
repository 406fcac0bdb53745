//! `numpy.ndarray` (spec §5.5): the dynamic n-dimensional array and its
//! `dask`-family sub-header.

use std::sync::Arc;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::header::{as_array, as_index_with, MsgExt};
use crate::msgpack::MsgValue;
use crate::value::Value;

pub use super::dtype::{DType, DTypeField, IntoDType, Layout};

/// Shapes and strides: up to four dimensions inline (no allocation).
pub(crate) type Dims<T> = SmallVec<[T; 4]>;

/// A numpy array: dtype, shape and byte strides over a shared buffer.
///
/// Arrays decoded from the wire are views of the received frame (no copy);
/// arrays built from Rust data share the given [`Bytes`].
///
/// # Examples
///
/// ```
/// use dask_serde::NdArray;
///
/// let data: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
/// let a = NdArray::from_c_order("<f8", vec![2], data.into())?;
/// assert_eq!(a.strides(), &[8]);
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct NdArray {
    dtype: DType,
    shape: Dims<usize>,
    strides: Dims<isize>,
    offset: usize,
    data: Bytes,
    writeable: bool,
    /// The elements of an object array (dtype `|O`), in C order.
    objects: Option<Arc<Vec<Value>>>,
}

impl NdArray {
    /// An array over `data` with explicit byte `strides` and the byte
    /// `offset` of element `[0, 0, ...]`, validated so that every element
    /// lies inside `data`.
    ///
    /// # Errors
    ///
    /// A bad dtype, mismatched shape/strides lengths, or an extent outside
    /// the buffer (negative and zero strides included).
    pub fn new(
        dtype: impl IntoDType,
        shape: Vec<usize>,
        strides: Vec<isize>,
        offset: usize,
        data: Bytes,
    ) -> Result<Self> {
        let dtype = dtype.into_dtype()?;
        if dtype.has_object() {
            return Err(Error::Encode(
                "an object array holds Python values, not bytes: use NdArray::from_objects".into(),
            ));
        }
        check_extent(dtype.itemsize(), &shape, &strides, offset, data.len())?;
        Ok(NdArray {
            dtype,
            shape: shape.into(),
            strides: strides.into(),
            offset,
            data,
            writeable: true,
            objects: None,
        })
    }

    /// A C-ordered (row-major) array; `data` must hold exactly the elements.
    /// A zero-size array gets all-zero strides, as numpy 2's constructors
    /// (`np.zeros((0, 3))`) give it, so it is sent the way numpy sends it.
    ///
    /// # Errors
    ///
    /// Size mismatch or bad dtype.
    pub fn from_c_order(dtype: impl IntoDType, shape: Vec<usize>, data: Bytes) -> Result<Self> {
        let dt = dtype.into_dtype()?;
        let strides = c_strides(dt.itemsize(), &shape)?;
        check_len(&dt, &shape, data.len())?;
        NdArray::new(dt, shape, strides, 0, data)
    }

    /// A Fortran-ordered (column-major) array; `data` must hold exactly the
    /// elements in column-major order.
    ///
    /// # Errors
    ///
    /// Size mismatch or bad dtype.
    pub fn from_f_order(dtype: impl IntoDType, shape: Vec<usize>, data: Bytes) -> Result<Self> {
        let dt = dtype.into_dtype()?;
        let mut rev = shape.clone();
        rev.reverse();
        let mut strides = c_strides(dt.itemsize(), &rev)?;
        strides.reverse();
        check_len(&dt, &shape, data.len())?;
        NdArray::new(dt, shape, strides, 0, data)
    }

    /// An object array (dtype `|O`) of Python values in C order.
    ///
    /// # Errors
    ///
    /// `items.len()` is not the product of `shape`.
    pub fn from_objects(shape: Vec<usize>, items: Vec<Value>) -> Result<Self> {
        let n = shape
            .iter()
            .try_fold(1usize, |a, d| a.checked_mul(*d))
            .ok_or_else(|| Error::Encode("array size overflows".into()))?;
        if n != items.len() {
            return Err(Error::Encode(format!(
                "shape {shape:?} needs {n} items, got {}",
                items.len()
            )));
        }
        let strides = c_strides(8, &shape)?;
        Ok(NdArray {
            dtype: DType::object(),
            shape: shape.into(),
            strides: strides.into(),
            offset: 0,
            data: Bytes::new(),
            writeable: true,
            objects: Some(Arc::new(items)),
        })
    }

    /// The items of an object array, in C order.
    pub fn objects(&self) -> Option<&[Value]> {
        self.objects.as_deref().map(Vec::as_slice)
    }

    /// The dtype.
    pub fn dtype(&self) -> &DType {
        &self.dtype
    }
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// Byte strides.
    pub fn strides(&self) -> &[isize] {
        &self.strides
    }
    /// The underlying buffer (elements start at [`NdArray::offset`]).
    pub fn buffer(&self) -> &Bytes {
        &self.data
    }
    /// Byte offset of the first element in [`NdArray::buffer`].
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Number of elements.
    pub fn size(&self) -> usize {
        self.shape.iter().product()
    }
    /// numpy's `flags.writeable`.
    pub fn is_writeable(&self) -> bool {
        self.writeable
    }
    /// Sets `flags.writeable` (as sent on the wire).
    pub fn set_writeable(&mut self, w: bool) {
        self.writeable = w;
    }
    /// Same array with `flags.writeable` set.
    pub fn with_writeable(mut self, w: bool) -> Self {
        self.writeable = w;
        self
    }

    /// numpy's `flags.c_contiguous` (axes of length 1 are ignored, empty
    /// arrays are contiguous).
    pub fn is_c_contiguous(&self) -> bool {
        contiguous(
            self.dtype.itemsize(),
            self.shape.iter().rev().zip(self.strides.iter().rev()),
            self.size(),
        )
    }
    /// numpy's `flags.f_contiguous`.
    pub fn is_f_contiguous(&self) -> bool {
        contiguous(
            self.dtype.itemsize(),
            self.shape.iter().zip(self.strides.iter()),
            self.size(),
        )
    }

    /// The elements in C order: a zero-copy slice when the array is
    /// C-contiguous, else one gathered copy.
    ///
    /// Object arrays have no bytes (see [`NdArray::objects`]): empty.
    pub fn to_c_bytes(&self) -> Bytes {
        if self.objects.is_some() {
            return Bytes::new();
        }
        let n = self.size() * self.dtype.itemsize();
        if self.is_c_contiguous() {
            return self.data.slice(self.offset..self.offset + n);
        }
        let mut out = Vec::with_capacity(n);
        self.for_each_c(|off| out.extend_from_slice(&self.data[off..off + self.dtype.itemsize()]));
        Bytes::from(out)
    }

    /// Visits the byte offset of every element in C order.
    fn for_each_c(&self, mut f: impl FnMut(usize)) {
        if self.size() == 0 {
            return;
        }
        let nd = self.shape.len();
        let mut idx = vec![0usize; nd];
        loop {
            let mut off = self.offset as isize;
            for (i, s) in idx.iter().zip(&self.strides) {
                off += *i as isize * s;
            }
            f(off as usize);
            // increment the multi-index
            let mut ax = nd;
            loop {
                if ax == 0 {
                    return;
                }
                ax -= 1;
                idx[ax] += 1;
                if idx[ax] < self.shape[ax] {
                    break;
                }
                idx[ax] = 0;
            }
        }
    }

    /// numpy's `broadcast_to(self, shape)`: a read-only view with zero
    /// strides on the broadcast axes.
    ///
    /// # Errors
    ///
    /// Shapes that do not broadcast.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<NdArray> {
        if self.objects.is_some() {
            return Err(Error::Encode("object arrays cannot be broadcast views".into()));
        }
        if shape.len() < self.shape.len() {
            return Err(Error::Encode(format!(
                "cannot broadcast shape {:?} to {:?}",
                self.shape, shape
            )));
        }
        let lead = shape.len() - self.shape.len();
        let mut strides = vec![0isize; shape.len()];
        for (i, &d) in shape.iter().enumerate() {
            if i < lead {
                continue;
            }
            let (sd, ss) = (self.shape[i - lead], self.strides[i - lead]);
            if sd == d {
                strides[i] = ss;
            } else if sd == 1 {
                strides[i] = 0;
            } else {
                return Err(Error::Encode(format!(
                    "cannot broadcast shape {:?} to {:?}",
                    self.shape, shape
                )));
            }
        }
        Ok(NdArray {
            dtype: self.dtype.clone(),
            shape: shape.into(),
            strides: strides.into(),
            offset: self.offset,
            data: self.data.clone(),
            writeable: false,
            objects: None,
        })
    }

    /// Encodes as Dask's numpy serializer does: the sub-header and one
    /// frame. Contiguous arrays are sent without copying.
    pub(crate) fn dask_encode(&self) -> Result<(MsgValue, Vec<Frame<'static>>)> {
        self.dask_encode_with(None)
    }

    /// [`NdArray::dask_encode`] with the context's `pickle-protocol` (used
    /// for object arrays, default 5, and pickled dtypes, default 4 — the
    /// defaults of Dask on Python 3.11).
    pub(crate) fn dask_encode_with(
        &self,
        pickle_protocol: Option<u8>,
    ) -> Result<(MsgValue, Vec<Frame<'static>>)> {
        if self.objects.is_some() {
            let pickle = crate::pickle::dumps(&Value::from(self.clone()), pickle_protocol.unwrap_or(5))?;
            let sub = MsgValue::Map(vec![("pickle".into(), MsgValue::Bool(true))]);
            return Ok((sub, vec![Frame::from(pickle)]));
        }
        let dtype_header = if self.dtype.needs_pickle() {
            let p = crate::pickle::dump_dtype(&self.dtype, pickle_protocol.unwrap_or(4))?;
            MsgValue::Array(vec![MsgValue::Int(1), MsgValue::Bin(Bytes::from(p))])
        } else {
            MsgValue::Array(vec![MsgValue::Int(0), MsgValue::from(self.dtype.str())])
        };
        let isz = self.dtype.itemsize();
        let mut x = self.clone();
        let mut broadcast_to = None;
        if x.strides.contains(&0) {
            broadcast_to = Some(x.shape.clone());
            let zero_axes: Vec<bool> = x.strides.iter().map(|s| *s == 0).collect();
            for (d, z) in x.shape.iter_mut().zip(&zero_axes) {
                if *z {
                    *d = (*d).min(1);
                }
            }
            if !x.is_c_contiguous() && !x.is_f_contiguous() {
                let w = x.writeable;
                x = x.compacted()?;
                for (s, z) in x.strides.iter_mut().zip(&zero_axes) {
                    if *z {
                        *s = 0;
                    }
                }
                x.writeable = w;
            }
        }
        let (strides, frame): (Dims<isize>, Bytes) = if x.shape.is_empty() {
            (Dims::new(), x.data.slice(x.offset..x.offset + isz))
        } else if x.is_c_contiguous() || x.is_f_contiguous() {
            let n = x.size() * isz;
            let start = x.min_offset();
            (x.strides.clone(), x.data.slice(start..start + n))
        } else {
            let c = x.compacted()?;
            let n = c.size() * isz;
            (c.strides.clone(), c.data.slice(0..n))
        };
        let mut sub = vec![
            (MsgValue::from("dtype"), dtype_header),
            (
                "shape".into(),
                MsgValue::Array(x.shape.iter().map(|d| MsgValue::from(*d)).collect()),
            ),
            (
                "strides".into(),
                MsgValue::Array(strides.iter().map(|s| MsgValue::from(*s)).collect()),
            ),
            (
                "writeable".into(),
                MsgValue::Array(vec![MsgValue::Bool(x.writeable)]),
            ),
        ];
        if let Some(b) = broadcast_to {
            sub.push((
                "broadcast_to".into(),
                MsgValue::Array(b.iter().map(|d| MsgValue::from(*d)).collect()),
            ));
        }
        Ok((MsgValue::Map(sub), vec![Frame::Shared(frame)]))
    }

    /// The common case of [`NdArray::dask_encode_with`] (a contiguous
    /// array of a plain dtype without zero strides) written straight to
    /// msgpack: appends the whole `dask`-family header to `out`, byte for
    /// byte what encoding its tree gives, and returns the frame. `None`
    /// (nothing written) when the general path is needed.
    pub(crate) fn dask_header_fast(&self, out: &mut Vec<u8>) -> Result<Option<Frame<'_>>> {
        if self.objects.is_some()
            || self.dtype.needs_pickle()
            || self.shape.is_empty()
            || self.strides.contains(&0)
            || !(self.is_c_contiguous() || self.is_f_contiguous())
        {
            return Ok(None);
        }
        if !write_dask_header(out, self.dtype.str(), &self.shape, &self.strides, self.writeable)? {
            return Ok(None);
        }
        let start = self.min_offset();
        let n = self.size() * self.dtype.itemsize();
        Ok(Some(if start == 0 && n == self.data.len() {
            // the whole buffer: borrowed, no reference count taken
            Frame::SharedRef(&self.data)
        } else {
            Frame::Shared(self.data.slice(start..start + n))
        }))
    }

    /// Does an array of `shape` and `strides` starting at offset 0 fit a
    /// frame of `len` bytes? The check of [`NdArray::dask_decode`] (a
    /// typed decoder's fast path runs it before [`NdArray::view_parts`]).
    #[inline(always)]
    pub(crate) fn view_fits(itemsize: usize, shape: &[usize], strides: &[isize], len: usize) -> bool {
        match (shape, strides) {
            // the common 1-d contiguous case of check_extent, without its
            // wide arithmetic
            ([d], [s]) if *s == itemsize as isize => d.checked_mul(itemsize).is_some_and(|n| n <= len),
            _ => shape.len() == strides.len() && check_extent(itemsize, shape, strides, 0, len).is_ok(),
        }
    }

    /// A view of `frame` from parts [`NdArray::view_fits`] accepted.
    #[inline(always)]
    pub(crate) fn view_parts(
        dtype: DType,
        shape: Dims<usize>,
        strides: Dims<isize>,
        frame: Bytes,
        writeable: bool,
    ) -> NdArray {
        NdArray {
            dtype,
            shape,
            strides,
            offset: 0,
            data: frame,
            writeable,
            objects: None,
        }
    }

    /// The lowest byte offset any element occupies (with contiguous arrays
    /// and non-negative strides this is `offset`).
    fn min_offset(&self) -> usize {
        let mut off = self.offset as isize;
        if self.size() > 0 {
            for (d, s) in self.shape.iter().zip(&self.strides) {
                if *s < 0 {
                    off += (*d as isize - 1) * s;
                }
            }
        }
        off.max(0) as usize
    }

    /// A C-contiguous copy.
    fn compacted(&self) -> Result<NdArray> {
        let data = self.to_c_bytes();
        let mut a = NdArray::from_c_order(self.dtype.clone(), self.shape.to_vec(), data)?;
        a.writeable = self.writeable;
        Ok(a)
    }

    /// Decodes Dask's numpy sub-header over one frame, validating the
    /// extent against the frame before making the view.
    pub(crate) fn dask_decode(
        sub: &MsgValue,
        frames: &[Bytes],
        limits: &crate::limits::Limits,
    ) -> Result<NdArray> {
        if sub
            .get("pickle")
            .is_some_and(|p| matches!(p, MsgValue::Bool(true)))
        {
            // an object array (or another dtype numpy pickles): read by the
            // safe pickle reader, never executed
            let Some((pickle, buffers)) = frames.split_first() else {
                return Err(Error::frames("a pickled numpy array needs at least one frame"));
            };
            let oob: Vec<crate::pickle::OobBuffer> = buffers
                .iter()
                .map(|b| crate::pickle::OobBuffer {
                    data: b.clone(),
                    writeable: true,
                })
                .collect();
            return match crate::pickle::loads(pickle, &oob, limits)? {
                Value::NdArray(a) => Ok(*a),
                other => Err(Error::mismatch("a pickled numpy array", other.type_name())),
            };
        }
        let frame = match frames {
            [f] => f.clone(),
            _ => {
                return Err(Error::frames(format!(
                    "a numpy array needs exactly one frame, got {}",
                    frames.len()
                )))
            }
        };
        let dt = as_array(sub.req("dtype", "sub-header")?, "sub-header.dtype")?;
        let dtype =
            match dt {
                [MsgValue::Int(0), MsgValue::Str(s)] => {
                    DType::parse(s).map_err(|e| Error::header("sub-header.dtype", e.to_string()))?
                }
                // Dask's fallback for void dtypes that fail to pickle: the descr list
                [MsgValue::Int(0), MsgValue::Array(_)] => return Err(Error::header(
                    "sub-header.dtype",
                    "a [0, descr-list] dtype (Dask's fallback for unpicklable void dtypes) is not supported",
                )),
                [MsgValue::Int(1), MsgValue::Bin(p)] => crate::pickle::load_dtype(p, limits)?,
                _ => {
                    return Err(Error::header(
                        "sub-header.dtype",
                        "expected [0, dtype.str] or [1, <pickle>]",
                    ))
                }
            };
        if dtype.has_object() {
            return Err(Error::header(
                "sub-header.dtype",
                "object dtypes travel as pickles, not as raw frames",
            ));
        }
        let dims = |key: &str| -> Result<Dims<usize>> {
            as_array(sub.req(key, "sub-header")?, key)?
                .iter()
                .enumerate()
                .map(|(i, v)| as_index_with(v, || format!("sub-header.{key}[{i}]")))
                .collect()
        };
        let mut shape = dims("shape")?;
        if let Some(b) = sub.get("broadcast_to") {
            if let Some(items) = b.as_array() {
                if !items.is_empty() {
                    shape = dims("broadcast_to")?;
                }
            }
        }
        let strides: Dims<isize> = as_array(sub.req("strides", "sub-header")?, "sub-header.strides")?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                MsgValue::Int(s) => isize::try_from(*s).map_err(|_| {
                    Error::header(format!("sub-header.strides[{i}]"), format!("{s} is out of range"))
                }),
                other => Err(Error::header(
                    format!("sub-header.strides[{i}]"),
                    format!("expected an integer, found {}", other.kind()),
                )),
            })
            .collect::<Result<_>>()?;
        if strides.len() != shape.len() {
            return Err(Error::header(
                "sub-header.strides",
                format!("{} strides for {} dimensions", strides.len(), shape.len()),
            ));
        }
        let writeable = match sub.get("writeable").and_then(MsgValue::as_array) {
            Some([MsgValue::Bool(w)]) => *w,
            _ => return Err(Error::header("sub-header.writeable", "expected [bool]")),
        };
        check_extent(dtype.itemsize(), &shape, &strides, 0, frame.len())?;
        Ok(NdArray {
            dtype,
            shape,
            strides,
            offset: 0,
            data: frame,
            writeable,
            objects: None,
        })
    }
}

impl PartialEq for NdArray {
    /// Logical equality: dtype, shape and the elements in C order.
    fn eq(&self, other: &Self) -> bool {
        self.dtype == other.dtype
            && self.shape == other.shape
            && self.objects == other.objects
            && (self.objects.is_some() || self.to_c_bytes() == other.to_c_bytes())
    }
}

/// Writes the `dask`-family header of a numpy array sent as one raw frame
/// (`{sub-header: {dtype: [0, str], shape, strides, writeable: [w]}, type,
/// type-serialized, serializer}`, Dask's key order) to `out`. Returns
/// `false`, with nothing written, if the header cannot be written this way.
pub(crate) fn write_dask_header(
    out: &mut Vec<u8>,
    dtype: &str,
    shape: &[usize],
    strides: &[isize],
    writeable: bool,
) -> Result<bool> {
    use crate::raw::{put_array_len, put_int, put_str};
    let tail = ndarray_header_tail();
    if tail.is_empty() {
        return Ok(false);
    }
    let mark = out.len();
    out.reserve(64 + tail.len() + 9 * (shape.len() + strides.len()));
    let write = |out: &mut Vec<u8>| -> Result<()> {
        out.extend_from_slice(b"\x84\xaasub-header\x84\xa5dtype\x92\x00");
        put_str(out, dtype)?;
        out.extend_from_slice(b"\xa5shape");
        put_array_len(out, shape.len())?;
        for d in shape {
            put_int(out, *d as i128)?;
        }
        out.extend_from_slice(b"\xa7strides");
        put_array_len(out, strides.len())?;
        for s in strides {
            put_int(out, *s as i128)?;
        }
        out.extend_from_slice(b"\xa9writeable\x91");
        out.push(if writeable { 0xc3 } else { 0xc2 });
        out.extend_from_slice(tail);
        Ok(())
    };
    match write(out) {
        Ok(()) => Ok(true),
        Err(e) => {
            out.truncate(mark);
            Err(e)
        }
    }
}

/// `type`, `type-serialized` and `serializer` of a numpy header, encoded
/// once (empty if that failed, which disables the direct writer).
pub(crate) fn ndarray_header_tail() -> &'static [u8] {
    static TAIL: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    TAIL.get_or_init(|| {
        let mut t = b"\xa4type\xadnumpy.ndarray\xaftype-serialized".to_vec();
        let ts = crate::family::dask::cached_type_serialized(&crate::pytype::PyType::ndarray());
        if crate::msgpack::write_bin(&mut t, &ts).is_err() {
            return Vec::new();
        }
        t.extend_from_slice(b"\xaaserializer\xa4dask");
        t
    })
}

fn contiguous<'a>(itemsize: usize, axes: impl Iterator<Item = (&'a usize, &'a isize)>, size: usize) -> bool {
    if size == 0 {
        return true;
    }
    let mut expected = itemsize as isize;
    for (d, s) in axes {
        if *d != 1 {
            if *s != expected {
                return false;
            }
            expected *= *d as isize;
        }
    }
    true
}

/// C-order strides as numpy's constructors make them: all zero for a
/// zero-size array (numpy 2.x), else the usual row-major strides.
fn c_strides(itemsize: usize, shape: &[usize]) -> Result<Vec<isize>> {
    let mut strides = vec![0isize; shape.len()];
    if shape.contains(&0) {
        return Ok(strides);
    }
    let mut acc: usize = itemsize;
    for (i, d) in shape.iter().enumerate().rev() {
        strides[i] = isize::try_from(acc).map_err(|_| Error::Encode("array too large".into()))?;
        acc = acc
            .checked_mul((*d).max(1))
            .ok_or_else(|| Error::Encode("array too large".into()))?;
    }
    Ok(strides)
}

fn check_len(dt: &DType, shape: &[usize], len: usize) -> Result<()> {
    let n = shape
        .iter()
        .try_fold(dt.itemsize(), |a, d| a.checked_mul(*d))
        .ok_or_else(|| Error::Encode("array size overflows".into()))?;
    if n != len {
        return Err(Error::Encode(format!(
            "shape {shape:?} of {} needs {n} bytes, got {len}",
            dt.str()
        )));
    }
    Ok(())
}

/// numpy's stride check: every element `[i0, i1, ...]` must lie in
/// `0..buflen` (computed with overflow checks, before any view is made).
fn check_extent(
    itemsize: usize,
    shape: &[usize],
    strides: &[isize],
    offset: usize,
    buflen: usize,
) -> Result<()> {
    if shape.len() != strides.len() {
        return Err(Error::frames(format!(
            "{} strides for {} dimensions",
            strides.len(),
            shape.len()
        )));
    }
    let overflow = || Error::frames("array extent overflows");
    // number of elements (overflow-checked even when zero-size)
    let mut size: u128 = 1;
    for d in shape {
        size = size.checked_mul(*d as u128).ok_or_else(overflow)?;
    }
    if size == 0 {
        // nothing is read, but the offset must still lie in the buffer
        if offset > buflen {
            return Err(Error::frames(format!(
                "array offset {offset} lies past the end of its {buflen}-byte buffer"
            )));
        }
        return Ok(());
    }
    let mut lo: i128 = offset as i128;
    let mut hi: i128 = offset as i128 + itemsize as i128;
    for (d, s) in shape.iter().zip(strides) {
        let span = (*d as i128 - 1).checked_mul(*s as i128).ok_or_else(overflow)?;
        if span < 0 {
            lo += span;
        } else {
            hi += span;
        }
    }
    if lo < 0 || hi > buflen as i128 {
        return Err(Error::frames(format!(
            "array of shape {shape:?}, strides {strides:?} and item size {itemsize} needs bytes {lo}..{hi} but the buffer has {buflen}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extent_checks() {
        assert!(check_extent(8, &[4], &[8], 0, 32).is_ok());
        assert!(check_extent(8, &[4], &[8], 0, 31).is_err());
        assert!(check_extent(8, &[4], &[-8], 0, 32).is_err());
        assert!(check_extent(8, &[4, 3], &[0, 8], 0, 24).is_ok());
        assert!(check_extent(8, &[0, 3], &[0, 0], 0, 0).is_ok());
        assert!(check_extent(8, &[usize::MAX, 2], &[isize::MAX, 8], 0, 0).is_err());
        assert!(check_extent(1, &[], &[], 0, 0).is_err());
        assert!(check_extent(8, &[0], &[8], 9, 8).is_err());
        let a = NdArray::new("<f8", vec![0], vec![8], 8, Bytes::from(vec![0u8; 8])).unwrap();
        assert!(a.to_c_bytes().is_empty());
    }

    #[test]
    fn contiguity_like_numpy() {
        let a = NdArray::from_f_order("<f4", vec![2, 3], Bytes::from(vec![0u8; 24])).unwrap();
        assert!(a.is_f_contiguous() && !a.is_c_contiguous());
        assert_eq!(a.strides(), &[4, 8]);
        let b = NdArray::from_c_order("<f4", vec![1, 3], Bytes::from(vec![0u8; 12])).unwrap();
        assert!(b.is_f_contiguous() && b.is_c_contiguous());
    }
}
