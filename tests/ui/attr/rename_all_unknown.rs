use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
#[dask(python = "pkg.mod.S", rename_all = "nope")]
struct S {
    x: i64,
}

fn main() {}
