use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
#[dask(python = "pkg.mod.S")]
struct S {
    timeout: std::time::Duration,
}

fn main() {}
