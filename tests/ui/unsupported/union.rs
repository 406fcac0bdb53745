use dask_serde::DaskSerialize;

#[derive(DaskSerialize)]
union U {
    a: u32,
    b: f32,
}

fn main() {}
