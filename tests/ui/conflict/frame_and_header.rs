use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
#[dask(python = "pkg.mod.S")]
struct S {
    #[dask(frame, header)]
    x: Vec<u8>,
}

fn main() {}
