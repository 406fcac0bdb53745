//! Test and example host package of the dask-serde workspace (not
//! published). It holds the logic of the examples so the test suite can run
//! it against real Dask processes.

pub mod cluster_demo;
