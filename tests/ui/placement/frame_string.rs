use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
#[dask(python = "pkg.mod.S")]
struct S {
    #[dask(frame)]
    x: String,
}

fn main() {}
