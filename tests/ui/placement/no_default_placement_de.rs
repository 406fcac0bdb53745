use dask_serde::DaskDeserialize;

#[derive(DaskDeserialize)]
#[dask(python = "pkg.mod.S")]
struct S {
    timeout: std::time::Duration,
}

fn main() {}
