use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
#[dask(python = "pkg.mod.S")]
#[dask(python = "pkg.mod.T")]
struct S {
    x: i64,
}

fn main() {}
