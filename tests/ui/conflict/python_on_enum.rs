use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
#[dask(python = "pkg.mod.Color")]
enum Color {
    Red,
    Green,
}

fn main() {}
