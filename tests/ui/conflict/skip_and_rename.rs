use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
#[dask(python = "pkg.mod.S")]
struct S {
    #[dask(skip, rename = "y")]
    x: i64,
}

fn main() {}
