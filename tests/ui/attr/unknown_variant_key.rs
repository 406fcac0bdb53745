use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
enum Color {
    #[dask(skip)]
    Red,
    Green,
}

fn main() {}
