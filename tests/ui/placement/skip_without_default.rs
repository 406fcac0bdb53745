use dask_serde::DaskDeserialize;

struct NoDefault;

#[derive(DaskDeserialize)]
#[dask(python = "pkg.mod.S")]
struct S {
    x: i64,
    #[dask(skip)]
    cache: NoDefault,
}

fn main() {}
