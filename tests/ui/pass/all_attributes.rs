//! Every attribute used correctly, on the shapes the derive supports:
//! named, generic, tuple and unit structs, unit enums. `main` round-trips
//! one value of each so the generated code is run, not only compiled.

use std::collections::BTreeMap;

use dask_serde::bytes::Bytes;
use dask_serde::field::{FieldValue, FieldWriter};
use dask_serde::{DaskDeserialize, DaskSerialize};

mod reexport {
    pub use dask_serde as ds;
}

#[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(rename_all = "SCREAMING-KEBAB-CASE")]
enum Mode {
    FastPath,
    #[dask(rename = "slow")]
    SlowPath,
}

#[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "pkg.models.Inner", deny_unknown_fields)]
struct Inner {
    id: u32,
}

#[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "pkg.models.Everything", rename_all = "camelCase")]
#[dask(crate = "crate::reexport::ds")]
struct Everything {
    plain_int: i64,
    #[dask(rename = "Label")]
    label: String,
    #[dask(frame)]
    raw_frame: Vec<u8>,
    #[dask(header)]
    raw_header: Vec<u8>,
    payload: Bytes,
    values: Vec<f64>,
    maybe: Option<String>,
    table: BTreeMap<String, Inner>,
    inner: Inner,
    mode: Mode,
    #[dask(skip)]
    cache: Vec<String>,
    #[dask(skip, default = "seven")]
    skipped_with_path: u8,
    #[dask(default)]
    defaulted: u16,
    #[dask(default = "seven")]
    default_path: u8,
    #[dask(with = "celsius")]
    temperature: Celsius,
}

fn seven() -> u8 {
    7
}

#[derive(Debug, PartialEq)]
struct Celsius(f64);

mod celsius {
    use super::*;

    pub fn serialize_field<'a>(
        v: &'a Celsius,
        name: &str,
        w: &mut FieldWriter<'a, '_>,
    ) -> dask_serde::Result<()> {
        w.simple(name, dask_serde::MsgValue::Float(v.0));
        Ok(())
    }

    pub fn deserialize_field(v: FieldValue<'_>) -> dask_serde::Result<Celsius> {
        let f = v.simple()?.as_float().unwrap_or_default();
        Ok(Celsius(f))
    }
}

/// Inferred bounds.
#[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "pkg.models.Series")]
struct Series<T> {
    items: Vec<T>,
    first: Option<T>,
}

/// Explicit bounds.
#[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "pkg.models.Boxed", bound = "T: dask_serde::DaskSerialize + dask_serde::DaskDeserialize")]
struct Boxed<T> {
    #[dask(frame)]
    value: T,
}

#[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "pkg.models.Pair")]
struct Pair(i32, #[dask(rename = "second")] String);

#[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "pkg.models.Marker")]
struct Marker;

fn round_trip<T: DaskSerialize + DaskDeserialize + PartialEq + std::fmt::Debug>(value: &T) -> T {
    let s = value.dask_serialize().unwrap();
    let frames = s.frame_bytes();
    T::dask_deserialize(&s.header, &frames).unwrap()
}

fn main() {
    let e = Everything {
        plain_int: -1,
        label: "x".into(),
        raw_frame: vec![1, 2],
        raw_header: vec![3],
        payload: Bytes::from_static(b"abc"),
        values: vec![0.5, 1.5],
        maybe: None,
        table: BTreeMap::from([("k".to_string(), Inner { id: 1 })]),
        inner: Inner { id: 2 },
        mode: Mode::SlowPath,
        cache: vec!["dropped".into()],
        skipped_with_path: 7,
        defaulted: 4,
        default_path: 5,
        temperature: Celsius(21.5),
    };
    let back = round_trip(&e);
    assert_eq!(back, Everything { cache: Vec::new(), ..e });

    let s = Series { items: vec![1.0f64, 2.0], first: Some(1.0) };
    assert_eq!(round_trip(&s), s);
    let b = Boxed { value: Bytes::from_static(b"zz") };
    assert_eq!(round_trip(&b), b);
    let p = Pair(3, "three".into());
    assert_eq!(round_trip(&p), p);
    assert_eq!(round_trip(&Marker), Marker);
    let _ = Mode::FastPath;
}
