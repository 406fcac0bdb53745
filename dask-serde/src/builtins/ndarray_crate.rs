//! Conversions between [`ndarray`] arrays and numpy arrays on the wire
//! (feature `ndarray`).
//!
//! Any `ArrayBase` of a numpy [`Element`] serializes as `numpy.ndarray`: C-
//! and Fortran-contiguous arrays borrow their memory as the frame (no
//! copy), other layouts are made C-contiguous first, as Dask does.
//! Decoding into an owned `ndarray::Array` copies; [`Array::view`] gives a
//! zero-copy `ArrayView` of a received frame.

use bytes::Bytes;
use ndarray::{ArrayBase, ArrayView, Data, Dimension, IxDyn, ShapeBuilder};

use crate::builtins::typed::{Array, Element};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::header::Header;
use crate::limits::Limits;
use crate::msgpack::MsgValue;
use crate::pytype::dask_header;
use crate::pytype::PyType;
use crate::traits::{DaskDeserialize, DaskSerialize};

fn sub_header<T: Element>(shape: &[usize], strides: &[usize]) -> MsgValue {
    let ints = |v: &[usize]| MsgValue::Array(v.iter().map(|d| MsgValue::from(*d)).collect());
    let mut sub = vec![
        (
            "dtype".into(),
            MsgValue::Array(vec![MsgValue::Int(0), MsgValue::from(T::DTYPE)]),
        ),
        ("shape".into(), ints(shape)),
        ("strides".into(), ints(strides)),
        ("writeable".into(), MsgValue::Array(vec![MsgValue::Bool(true)])),
    ];
    if shape.contains(&0) && !shape.is_empty() {
        // numpy 2 gives zero-size arrays all-zero strides, which Dask sends
        // through its broadcast path
        let small: Vec<usize> = shape.iter().map(|d| (*d).min(1)).collect();
        sub[1].1 = ints(&small);
        sub[2].1 = ints(&vec![0; shape.len()]);
        sub.push(("broadcast_to".into(), ints(shape)));
    }
    MsgValue::Map(sub)
}

fn c_strides(shape: &[usize], size: usize) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = size;
    for (i, d) in shape.iter().enumerate().rev() {
        strides[i] = acc;
        acc *= (*d).max(1);
    }
    strides
}

/// `ndarray` arrays of numpy element types serialize as `numpy.ndarray`;
/// contiguous ones (C or Fortran order) without copying.
impl<S, D, T> DaskSerialize for ArrayBase<S, D>
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Element,
{
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        let shape = self.shape().to_vec();
        let strides = if self.is_standard_layout() {
            let slice = self.as_slice_memory_order().unwrap_or(&[]);
            frames.push(Frame::Borrowed(T::as_bytes(slice)));
            c_strides(&shape, T::SIZE)
        } else if self.t().is_standard_layout() {
            let slice = self.as_slice_memory_order().unwrap_or(&[]);
            frames.push(Frame::Borrowed(T::as_bytes(slice)));
            let mut rev = shape.clone();
            rev.reverse();
            let mut s = c_strides(&rev, T::SIZE);
            s.reverse();
            s
        } else {
            // non-contiguous (sliced, negative strides): one C-order copy
            let v: Vec<T> = self.iter().copied().collect();
            frames.push(Frame::Shared(Bytes::copy_from_slice(T::as_bytes(&v))));
            c_strides(&shape, T::SIZE)
        };
        Ok(dask_header(sub_header::<T>(&shape, &strides), &PyType::ndarray()))
    }
}

/// Decodes into an owned `ndarray::Array` (one copy, any source layout;
/// the result is in C order). The dimensionality must match `D`.
impl<T, D> DaskDeserialize for ndarray::Array<T, D>
where
    T: Element,
    D: Dimension,
{
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        let a = Array::<T>::deserialize_from(header, frames, limits)?;
        let shape = a.shape().to_vec();
        let dyn_arr = ndarray::Array::from_shape_vec(IxDyn(&shape), a.to_vec())
            .map_err(|e| Error::frames(format!("cannot build the array: {e}")))?;
        dyn_arr.into_dimensionality::<D>().map_err(|_| {
            Error::mismatch(
                format!("a {}-d array", D::NDIM.map_or("n".into(), |n| n.to_string())),
                format!("shape {shape:?}"),
            )
        })
    }
}

impl<T: Element> Array<T> {
    /// A zero-copy `ndarray` view of this array (of a received frame, when
    /// it was decoded without copying). Broadcast axes have stride 0.
    ///
    /// # Errors
    ///
    /// A layout `ndarray` cannot express (strides that are not multiples
    /// of the element size).
    pub fn view(&self) -> Result<ArrayView<'_, T, IxDyn>> {
        let nd = self.as_ndarray();
        let size = T::SIZE as isize;
        let bad = || Error::frames("array layout cannot be viewed by ndarray".to_string());
        // element strides, and the small (non-broadcast) shape
        let mut strides = Vec::with_capacity(nd.shape().len());
        let mut small = Vec::with_capacity(nd.shape().len());
        for (d, s) in nd.shape().iter().zip(nd.strides()) {
            if s % size != 0 || *s < 0 {
                return Err(bad());
            }
            strides.push((s / size) as usize);
            small.push(if *s == 0 { (*d).min(1) } else { *d });
        }
        // the extent the small view covers, in elements
        let count: usize = if small.contains(&0) {
            0
        } else {
            small
                .iter()
                .zip(&strides)
                .map(|(d, s)| (d - 1) * s)
                .sum::<usize>()
                + 1
        };
        let start = nd.offset();
        let bytes = nd.buffer().get(start..start + count * T::SIZE).ok_or_else(bad)?;
        let slice = T::cast(bytes).ok_or_else(bad)?;
        ArrayView::from_shape(IxDyn(nd.shape()).strides(IxDyn(&strides)), slice).map_err(|_| bad())
    }
}

/// `ndarray` fields of derived structs are numpy frames (borrowed when
/// contiguous).
impl<S, D, T> crate::field::SerializeField for ArrayBase<S, D>
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Element,
{
    fn serialize_field<'a>(&'a self, name: &str, w: &mut crate::field::FieldWriter<'a, '_>) -> Result<()> {
        w.complex(name, self)
    }
}

impl<T, D> crate::field::DeserializeField for ndarray::Array<T, D>
where
    T: Element,
    D: Dimension,
{
    fn deserialize_field(value: crate::field::FieldValue<'_>) -> Result<Self> {
        value.decode()
    }
}
