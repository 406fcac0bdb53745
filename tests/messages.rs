//! The message layer (PROTOCOL.md §10): nested references, sets, enums, opaque
//! forwarding, Dask's pickle fallback with orphan frames, the allow-list
//! on `__Pickled__`, and bounds checks.

mod common;

use common::python::Harness;
use dask_serde::bytes::Bytes;
use dask_serde::message::{dumps, loads};
use dask_serde::pack::pack_frames;
use dask_serde::{Context, EnumMember, Error, NdArray, PyType, Value};
use dask_serde::{DeserializeOptions, SerializeOptions};
use serde_json::json;

fn no_compression() -> SerializeOptions {
    SerializeOptions::new().context(Context::new().with("compression", Value::None))
}

fn ser(v: Value) -> Value {
    Value::Serialize(Box::new(v))
}

fn arr(n: usize) -> Value {
    let data: Vec<u8> = (0..n).flat_map(|i| (i as f64).to_le_bytes()).collect();
    Value::from(NdArray::from_c_order("<f8", vec![n], Bytes::from(data)).unwrap())
}

fn case(value: serde_json::Value) -> serde_json::Value {
    json!({"level": "message", "description": "message", "value": value, "params": {"context": {"compression": null}}})
}

#[test]
fn nested_references_sets_and_enums_against_python() {
    let msg = Value::Dict(vec![
        (Value::from("op"), Value::from("compute")),
        (
            Value::from("tasks"),
            Value::List(vec![
                Value::Dict(vec![(Value::from("data"), ser(arr(3)))]),
                Value::Dict(vec![(Value::from("blob"), ser(Value::from(vec![1u8, 2])))]),
            ]),
        ),
        (
            Value::from("keys"),
            Value::Set(vec![Value::from("a"), Value::from("b")]),
        ),
        (
            Value::from("status"),
            Value::from(EnumMember {
                class: PyType::new("distributed.core", "Status"),
                name: "running".into(),
            }),
        ),
        (
            Value::from("nested"),
            Value::Dict(vec![(
                Value::from("deep"),
                ser(Value::List(vec![arr(2), arr(1)])),
            )]),
        ),
    ]);
    let frames = dumps(&msg, &no_compression()).unwrap();
    // references are numbered in msgpack order: 1, 3, 5 (the collection has 2 frames)
    let frame0 = dask_serde::MsgValue::decode(&frames[0], &Default::default()).unwrap();
    let tasks = frame0.get("tasks").unwrap().as_array().unwrap();
    assert_eq!(
        tasks[0].get("data").unwrap().get("__Serialized__"),
        Some(&1.into())
    );
    assert_eq!(
        tasks[1].get("blob").unwrap().get("__Serialized__"),
        Some(&3.into())
    );
    assert_eq!(
        frame0
            .get("nested")
            .unwrap()
            .get("deep")
            .unwrap()
            .get("__Serialized__"),
        Some(&5.into())
    );
    assert_eq!(frames.len(), 1 + 2 + 2 + 3);
    // Rust reads it back
    let back = loads(&frames, &DeserializeOptions::new()).unwrap();
    let Value::Dict(entries) = &back else { panic!() };
    assert!(matches!(&entries[2].1, Value::Set(s) if s.len() == 2));
    assert!(matches!(&entries[3].1, Value::Enum(e) if e.name == "running"));
    // and real Dask agrees with the JSON description of the message
    let mut py = Harness::start();
    py.check(&case(msg.to_json()), &pack_frames(&frames))
        .expect("Python agrees");
    // Python's own encoding of the same message is read by Rust
    let theirs = py.encode(&case(msg.to_json())).unwrap();
    let theirs = dask_serde::pack::unpack_frames(&Bytes::from(theirs), &Default::default()).unwrap();
    assert_eq!(theirs, frames, "byte-identical to Dask's dumps");
}

#[test]
fn opaque_payloads_forward_byte_for_byte() {
    let msg = Value::Dict(vec![
        (Value::from("op"), Value::from("update")),
        (Value::from("data"), ser(arr(5000))),
        (
            Value::from("p"),
            Value::ToPickle(Box::new(Value::Tuple(vec![Value::from(1), Value::from("a")]))),
        ),
    ]);
    let frames = dumps(&msg, &SerializeOptions::new()).unwrap(); // auto: lz4
    let kept = loads(&frames, &DeserializeOptions::new().keep_serialized(true)).unwrap();
    let Value::Dict(entries) = &kept else { panic!() };
    assert!(matches!(&entries[1].1, Value::Opaque(_)));
    assert!(matches!(&entries[2].1, Value::Opaque(_)));
    // a scheduler forwards it: identical frames
    let again = dumps(&kept, &SerializeOptions::new()).unwrap();
    assert_eq!(again, frames);
    // the payload frames are shared, not copied
    let Value::Opaque(o) = &entries[1].1 else { panic!() };
    assert_eq!(o.frames[0].as_ptr(), frames[2].as_ptr());
}

#[test]
fn unencodable_values_fall_back_to_pickle_with_orphan_frames_like_dask() {
    // {"a": to_serialize(b"x"), "b": <array, not wrapped>}: Dask's first
    // attempt appends a's frames, fails on b, and re-encodes everything
    let msg = Value::Dict(vec![
        (Value::from("a"), ser(Value::from(vec![b'x']))),
        (Value::from("b"), arr(2)),
    ]);
    let frames = dumps(&msg, &no_compression()).unwrap();
    assert_eq!(
        frames.len(),
        7,
        "2 orphan frames + a's 2 + b's pickle sub-header and buffer"
    );
    let frame0 = dask_serde::MsgValue::decode(&frames[0], &Default::default()).unwrap();
    assert_eq!(frame0.get("a").unwrap().get("__Serialized__"), Some(&3.into()));
    assert_eq!(frame0.get("b").unwrap().get("__Pickled__"), Some(&5.into()));
    let back = loads(&frames, &DeserializeOptions::new()).unwrap();
    let Value::Dict(entries) = back else { panic!() };
    assert_eq!(entries[1].1, arr(2));
    // same layout as Dask's
    let mut py = Harness::start();
    let json_msg =
        json!({"dict": [[{"str": "a"}, {"serialized": {"bytes": "78"}}], [{"str": "b"}, arr(2).to_json()]]});
    let theirs = py.encode(&case(json_msg)).unwrap();
    let theirs = dask_serde::pack::unpack_frames(&Bytes::from(theirs), &Default::default()).unwrap();
    assert_eq!(theirs.len(), frames.len());
    assert_eq!(theirs[0], frames[0]);
    assert_eq!(theirs[3], frames[3]);
}

#[test]
fn pickled_payloads_need_pickle_on_the_allow_list() {
    let msg = Value::Dict(vec![(
        Value::from("task"),
        Value::ToPickle(Box::new(Value::from(7))),
    )]);
    let frames = dumps(&msg, &no_compression()).unwrap();
    let err = loads(
        &frames,
        &DeserializeOptions::new().deserializers(["dask", "msgpack"]),
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotAllowed { .. }), "{err}");
    let ok = loads(&frames, &DeserializeOptions::new()).unwrap();
    assert_eq!(ok, Value::Dict(vec![(Value::from("task"), Value::from(7))]));
}

#[test]
fn references_are_bounds_checked() {
    let ref_to = |k: u8| {
        Bytes::from(vec![
            0x81, 0xae, b'_', b'_', b'S', b'e', b'r', b'i', b'a', b'l', b'i', b'z', b'e', b'd', b'_', b'_', k,
        ])
    };
    for frames in [
        vec![ref_to(1)],                                                    // past the end
        vec![ref_to(1), Bytes::from_static(b"\xc1")],                       // sub-header not msgpack
        vec![ref_to(1), Bytes::from_static(b"\x80")],                       // no num-sub-frames
        vec![ref_to(1), Bytes::from_static(b"\x81\xaenum-sub-frames\x05")], // frames missing
    ] {
        assert!(loads(&frames, &DeserializeOptions::new()).is_err());
    }
    // offset 0 and negative offsets are not references (Python's `> 0`)
    let zero = vec![Bytes::from_static(b"\x81\xae__Serialized__\x00")];
    assert!(matches!(
        loads(&zero, &DeserializeOptions::new()).unwrap(),
        Value::Dict(_)
    ));
    // orphan frames are tolerated
    let frames = vec![Bytes::from_static(b"\x01"), Bytes::from_static(b"orphan")];
    assert_eq!(
        loads(&frames, &DeserializeOptions::new()).unwrap(),
        Value::from(1)
    );
    // integers msgpack cannot carry are an error, as in Python
    let big = Value::Dict(vec![(
        Value::from("n"),
        Value::int("100000000000000000000000".parse().unwrap()),
    )]);
    assert!(dumps(&big, &no_compression()).is_err());
}
