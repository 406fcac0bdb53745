//! Test and example host package of the dask-serde workspace (not
//! published). Its library is empty: the package exists to own `tests/`,
//! `examples/` and `benches/`, which use the crates exactly as a user would.
//! (Cargo needs a target here; the examples' own logic lives next to them,
//! e.g. `examples/dask_cluster/demo.rs`, which `tests/cluster.rs` includes.)
