use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
#[dask(python = "pkg.mod.S")]
struct S {
    a: i64,
    #[dask(rename = "a")]
    b: i64,
}

fn main() {}
