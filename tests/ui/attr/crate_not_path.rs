use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
#[dask(python = "pkg.mod.S", crate = "::dask serde")]
struct S {
    x: i64,
}

fn main() {}
