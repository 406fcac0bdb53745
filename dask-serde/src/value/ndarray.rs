//! `numpy.ndarray` (PROTOCOL.md §5.5): the dynamic n-dimensional array and its
//! `dask`-family sub-header.

use std::sync::Arc;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::error::{Error, Result};
use crate::value::Value;

use super::dtype::{DType, IntoDType};

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
    pub(crate) dtype: DType,
    pub(crate) shape: Dims<usize>,
    pub(crate) strides: Dims<isize>,
    pub(crate) offset: usize,
    pub(crate) data: Bytes,
    pub(crate) writeable: bool,
    /// The elements of an object array (dtype `|O`), in C order.
    pub(crate) objects: Option<Arc<Vec<Value>>>,
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
    /// Number of elements (never overflows: every constructor checks that
    /// the elements' bytes fit `isize`, numpy's limit).
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
        check_extent(
            self.dtype.itemsize(),
            shape,
            &strides,
            self.offset,
            self.data.len(),
        )?;
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

    /// A view of `frame` from parts whose extent was checked against it
    /// ([`NdArray::view_fits`] or `check_extent`).
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
    pub(crate) fn min_offset(&self) -> usize {
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
    pub(crate) fn compacted(&self) -> Result<NdArray> {
        let data = self.to_c_bytes();
        let mut a = NdArray::from_c_order(self.dtype.clone(), self.shape.to_vec(), data)?;
        a.writeable = self.writeable;
        Ok(a)
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
pub(crate) fn check_extent(
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
    // numpy's own bound: the bytes of all elements must fit `npy_intp`
    // (`isize`), whatever the strides. Zero-stride (broadcast) views of
    // larger shapes are refused, so `size()` and `size() * itemsize` never
    // overflow for any array that exists.
    if size
        .checked_mul(itemsize as u128)
        .is_none_or(|n| n > isize::MAX as u128)
    {
        return Err(Error::frames(format!(
            "array is too big: shape {shape:?} holds {size} items of {itemsize} bytes, more than \
             numpy's maximum of {} bytes",
            isize::MAX
        )));
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
