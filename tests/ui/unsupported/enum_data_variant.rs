use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
enum Shape {
    Empty,
    Circle(f64),
}

fn main() {}
