use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
#[dask(python = "not a path")]
struct S {
    x: i64,
}

fn main() {}
