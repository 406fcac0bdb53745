use dask_serde::DaskDeserialize;

#[derive(DaskDeserialize)]
#[dask(python = "pkg.mod.S")]
struct S {
    #[dask(default = "not a path")]
    x: i64,
}

fn main() {}
