use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
enum Color {
    Red,
    #[dask(rename = "Red")]
    Green,
}

fn main() {}
