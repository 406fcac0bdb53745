//! The built-in types of the typed path: bytes, collections, dict keys,
//! numpy arrays (`Vec<T>`, `Array<T>`, `ndarray`) and Dask's numpy
//! serializer for [`NdArray`](crate::NdArray).

pub(crate) mod bytes;
pub(crate) mod collections;
pub(crate) mod expect;
pub(crate) mod keys;
#[cfg(feature = "ndarray")]
pub mod ndarray_crate;
pub(crate) mod numpy_header;
pub mod typed;
