use dask_serde::DaskSerialize;

struct Opaque;

#[derive(DaskSerialize)]
#[dask(python = "pkg.mod.S")]
struct S {
    #[dask(header)]
    x: Opaque,
}

fn main() {}
