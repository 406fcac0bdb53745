use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
#[dask(python = "pkg.mod.S")]
struct S {
    #[dask(with = "my_placement", frame)]
    x: Vec<f64>,
}

fn main() {}
