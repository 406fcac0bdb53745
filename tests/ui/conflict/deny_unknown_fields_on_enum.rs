use dask_serde::DaskDeserialize;

#[derive(DaskDeserialize)]
#[dask(deny_unknown_fields)]
enum Color {
    Red,
    Green,
}

fn main() {}
