use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
#[dask(pyhton = "pkg.mod.S")]
struct S {
    x: i64,
}

fn main() {}
