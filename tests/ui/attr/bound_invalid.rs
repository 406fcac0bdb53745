use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
#[dask(python = "pkg.mod.S", bound = "not valid")]
struct S<T> {
    x: T,
}

fn main() {}
