//! Built-in `dask`-family types beyond plain bytes.

pub mod dtype;
pub mod ndarray;
#[cfg(feature = "ndarray")]
pub mod ndarray_crate;
pub mod typed;
