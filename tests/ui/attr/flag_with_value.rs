use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
#[dask(python = "m.S")]
struct S {
    #[dask(frame = true)]
    data: Vec<f64>,
}

fn main() {}
