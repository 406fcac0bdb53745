//! `#[derive(DaskSerialize, DaskDeserialize)]`: headers identical to
//! `register_generic`, zero-copy buffer fields, attributes.

mod common;

use std::collections::{BTreeMap, HashMap};

use dask_serde::bytes::Bytes;
use dask_serde::field::{FieldValue, FieldWriter};
use dask_serde::{
    deserialize_any, Array, DaskDeserialize, DaskSerialize, DeserializeOptions, Error, Frame, Limits, Object,
    OwnedSerialized, PyType, Value,
};

/// `dask_serde_test.models.Point` of vector `ser_generic_simple`.
#[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "dask_serde_test.models.Point")]
struct Point {
    x: i64,
    y: f64,
    label: String,
    tags: Vec<String>,
    meta: BTreeMap<String, Option<String>>,
    #[dask(header)]
    raw: Vec<u8>,
}

/// `dask_serde_test.models.Sample` of vector `ser_generic_complex`.
#[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "dask_serde_test.models.Sample")]
struct Sample {
    name: String,
    data: Vec<f64>,
    count: u32,
    mask: Vec<bool>,
}

fn reencode_vector<T: DaskSerialize + DaskDeserialize + std::fmt::Debug + PartialEq>(name: &str) -> T {
    let v = common::vector(name);
    let s = OwnedSerialized::from_packed(&v.blob, &Limits::default()).unwrap();
    let frames = s.frame_bytes();
    let typed = T::dask_deserialize(&s.header, &frames).unwrap_or_else(|e| panic!("{name}: {e}"));
    let again = typed.dask_serialize().unwrap().to_packed().unwrap();
    assert_eq!(
        again,
        v.blob.to_vec(),
        "{name}: re-encoding must reproduce Dask's bytes"
    );
    typed
}

#[test]
fn generic_simple_vector_round_trips_byte_for_byte() {
    let p: Point = reencode_vector("ser_generic_simple");
    assert_eq!(
        p,
        Point {
            x: 1,
            y: 2.5,
            label: "p".into(),
            tags: vec!["a".into(), "b".into()],
            meta: BTreeMap::from([("k".to_string(), None)]),
            raw: vec![0],
        }
    );
}

#[test]
fn generic_complex_vector_round_trips_byte_for_byte() {
    let s: Sample = reencode_vector("ser_generic_complex");
    assert_eq!(s.data, vec![0.0, 1.0, 2.0, 3.0]);
    assert_eq!(s.mask, vec![true, false]);
    assert_eq!(s.count, 3);
}

#[test]
fn serialize_borrows_buffer_fields() {
    #[derive(DaskSerialize, DaskDeserialize)]
    struct Buffers {
        b: Bytes,
        v: Vec<u8>,
        f: Vec<f64>,
        a: Array<i32>,
    }
    let x = Buffers {
        b: Bytes::from(vec![1u8; 64]),
        v: vec![2u8; 64],
        f: vec![3.0; 8],
        a: Array::from_vec(vec![4; 16]),
    };
    let s = x.dask_serialize().unwrap();
    assert_eq!(s.frames.len(), 4);
    assert_eq!(s.frames[0].as_ptr(), x.b.as_ptr());
    assert_eq!(s.frames[1].as_ptr(), x.v.as_ptr());
    assert!(matches!(s.frames[1], Frame::Borrowed(_)));
    assert_eq!(s.frames[2].as_ptr(), x.f.as_ptr().cast());
    assert!(matches!(s.frames[2], Frame::Borrowed(_)));
    assert_eq!(s.frames[3].as_ptr(), x.a.as_slice().unwrap().as_ptr().cast());
    // decoding Bytes fields shares the received frames
    let frames = s.frame_bytes();
    let back = Buffers::dask_deserialize(&s.header, &frames).unwrap();
    assert_eq!(back.b.as_ptr(), frames[0].as_ptr());
    assert!(back.a.shares_frame(&frames[3]));
    assert_eq!(back.f, x.f);
}

#[test]
fn derived_structs_decode_through_the_dynamic_path() {
    let p = Point {
        x: -3,
        y: 0.5,
        label: "q".into(),
        tags: vec![],
        meta: BTreeMap::new(),
        raw: b"zz".to_vec(),
    };
    let s = p.dask_serialize().unwrap();
    let v = deserialize_any(&s.header, &s.frame_bytes(), &DeserializeOptions::new()).unwrap();
    let Value::Object(Object { class, fields }) = v else {
        panic!("not an object")
    };
    assert_eq!(class, PyType::new("dask_serde_test.models", "Point"));
    assert_eq!(fields[0], ("x".to_string(), Value::from(-3)));
    assert_eq!(
        fields[5],
        ("raw".to_string(), Value::Bytes(Bytes::from_static(b"zz")))
    );
}
