//! Built-in `dask`-family types beyond plain bytes.

pub mod ndarray;
pub mod typed;
