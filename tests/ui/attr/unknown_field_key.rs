use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
#[dask(python = "pkg.mod.S")]
struct S {
    #[dask(frames)]
    x: Vec<f64>,
}

fn main() {}
