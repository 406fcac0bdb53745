//! Typed messages (serde structs with `ToSerialize` leaves) against real
//! Dask, both directions, and their failure modes.

mod common;

use common::python::{to_hex, Harness};
use dask_serde::bytes::Bytes;
use dask_serde::message::typed::{dumps_typed, loads_typed, ToSerialize};
use dask_serde::pack::{pack_frames, unpack_frames};
use dask_serde::{Array, Context, DaskDeserialize, DaskSerialize, Limits, Value};
use dask_serde::{DeserializeOptions, SerializeOptions};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, PartialEq, Clone, DaskSerialize, DaskDeserialize)]
#[dask(python = "dask_serde_test.models.Point")]
struct Point {
    x: i64,
    data: Vec<f64>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Update {
    op: String,
    key: String,
    nbytes: u64,
    data: ToSerialize<Array<f64>>,
    point: ToSerialize<Point>,
    blobs: Vec<ToSerialize<Bytes>>,
    note: Option<String>,
}

fn update() -> Update {
    Update {
        op: "update".into(),
        key: "x-1".into(),
        nbytes: 80,
        data: ToSerialize(Array::from_vec((0..10).map(f64::from).collect())),
        point: ToSerialize(Point {
            x: 3,
            data: vec![0.5, 1.5],
        }),
        blobs: vec![
            ToSerialize(Bytes::from_static(b"a")),
            ToSerialize(Bytes::from_static(b"bc")),
        ],
        note: None,
    }
}

fn f64_hex(v: &[f64]) -> String {
    to_hex(&v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
}

/// The canonical JSON of the equivalent Python message.
fn update_json(u: &Update) -> serde_json::Value {
    json!({"dict": [
        [{"str": "op"}, {"str": u.op}],
        [{"str": "key"}, {"str": u.key}],
        [{"str": "nbytes"}, {"int": u.nbytes}],
        [{"str": "data"}, {"serialized": {"ndarray": {"dtype": "<f8", "shape": [u.data.0.len()], "data": f64_hex(&u.data.0.to_vec())}}}],
        [{"str": "point"}, {"serialized": {"object": {"type": "dask_serde_test.models.Point", "fields": {
            "x": {"int": u.point.0.x},
            "data": {"ndarray": {"dtype": "<f8", "shape": [u.point.0.data.len()], "data": f64_hex(&u.point.0.data)}}}}}}],
        [{"str": "blobs"}, {"list": u.blobs.iter().map(|b| json!({"serialized": {"bytes": to_hex(&b.0)}})).collect::<Vec<_>>()}],
        [{"str": "note"}, null],
    ]})
}

fn case(value: serde_json::Value) -> serde_json::Value {
    json!({"level": "message", "description": "typed message", "value": value, "params": {"context": {"compression": null}}})
}

#[test]
fn typed_round_trip_in_rust() {
    let u = update();
    let frames = dumps_typed(&u, &SerializeOptions::new()).unwrap();
    // 1 message + (sub-header + frame) for data, point and each blob
    assert_eq!(frames.len(), 1 + 2 + 2 + 2 + 2);
    let back: Update = loads_typed(&frames, &DeserializeOptions::new()).unwrap();
    assert_eq!(back, u);
    // the dynamic decoder agrees
    let v = dask_serde::message::loads(&frames, &DeserializeOptions::new()).unwrap();
    let Value::Dict(entries) = v else { panic!() };
    assert_eq!(entries[0], (Value::from("op"), Value::from("update")));
    assert!(matches!(&entries[4].1, Value::Object(o) if o.class.name() == "Point"));
}

#[test]
fn python_decodes_typed_messages() {
    let mut py = Harness::start();
    let u = update();
    let ctx = Context::new().with("compression", Value::None);
    let frames = dumps_typed(&u, &SerializeOptions::new().context(ctx)).unwrap();
    let blob = pack_frames(&frames);
    py.check(&case(update_json(&u)), &blob).expect("Python agrees");
}

#[test]
fn python_messages_decode_into_typed_structs() {
    let mut py = Harness::start();
    let u = update();
    let blob = py.encode(&case(update_json(&u))).unwrap();
    let frames = unpack_frames(&Bytes::from(blob), &Limits::default()).unwrap();
    let back: Update = loads_typed(&frames, &DeserializeOptions::new()).unwrap();
    assert_eq!(back, u);
    // the allow-list applies to typed payloads
    let strict = DeserializeOptions::new().deserializers(["msgpack"]);
    assert!(loads_typed::<Update>(&frames, &strict).is_err());
}

#[test]
fn compressed_and_split_payloads() {
    let big = Update {
        data: ToSerialize(Array::from_vec(vec![0.0; 100_000])),
        ..update()
    };
    let opts = SerializeOptions::new().frame_split_size(200_000); // "auto" compression: lz4
    let frames = dumps_typed(&big, &opts).unwrap();
    let sub = dask_serde::Header::decode(&frames[1], &Limits::default()).unwrap();
    assert_eq!(
        sub.get("split-num-sub-frames").unwrap().as_array().unwrap()[0].as_int(),
        Some(4)
    );
    assert!(sub
        .compression()
        .unwrap()
        .unwrap()
        .iter()
        .all(|c| c.as_deref() == Some("lz4")));
    let back: Update = loads_typed(&frames, &DeserializeOptions::new()).unwrap();
    assert_eq!(back, big);
}

#[test]
fn misuse_and_bad_input_are_errors() {
    // ToSerialize outside dumps_typed
    let r = rmp_serde_to_vec(&ToSerialize(Bytes::from_static(b"x")));
    assert!(r.is_err());
    // references past the end
    let frames = dumps_typed(&update(), &SerializeOptions::new()).unwrap();
    let truncated = &frames[..3];
    assert!(loads_typed::<Update>(truncated, &DeserializeOptions::new()).is_err());
    // a message of another shape
    let other = dask_serde::message::dumps(&Value::from(5), &SerializeOptions::new()).unwrap();
    assert!(loads_typed::<Update>(&other, &DeserializeOptions::new()).is_err());
    // deep nesting is refused before serde recurses
    let deep = Bytes::from([vec![0x91u8; 1000], vec![0x90]].concat());
    let err = loads_typed::<Vec<u8>>(&[deep], &DeserializeOptions::new()).unwrap_err();
    assert!(matches!(err, dask_serde::Error::Limit { .. }), "{err}");
}

fn rmp_serde_to_vec<T: Serialize>(v: &T) -> Result<Vec<u8>, String> {
    // serialize through a plain serde serializer (serde_json), outside dumps_typed
    serde_json::to_vec(v).map_err(|e| e.to_string())
}
