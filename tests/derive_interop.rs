//! Derived structs against real Python Dask: classes registered with
//! `register_generic` (created by the harness) decode Rust-encoded structs
//! to equal objects, and objects built in Python decode into the structs.

mod common;

use std::collections::BTreeMap;

use common::python::{to_hex, Harness};
use dask_serde::bytes::Bytes;
use dask_serde::{DaskDeserialize, DaskSerialize, Limits, OwnedSerialized};
use serde_json::{json, Value as Json};

#[derive(Debug, PartialEq, Clone, DaskSerialize, DaskDeserialize)]
#[dask(python = "dask_serde_test.models.Leaf")]
struct Leaf {
    label: String,
    v: Vec<f64>,
}

#[derive(Debug, PartialEq, Clone, DaskSerialize, DaskDeserialize)]
#[dask(python = "dask_serde_test.models.Chunk")]
struct Chunk {
    name: String,
    index: u32,
    values: Vec<f64>,
    counts: Vec<i32>,
    payload: Bytes,
    #[dask(rename = "meta-data")]
    meta: BTreeMap<String, i64>,
    note: Option<String>,
    tags: Vec<String>,
    leaf: Leaf,
    leaves: Vec<Leaf>,
    by_name: BTreeMap<String, Leaf>,
}

fn f64_hex(v: &[f64]) -> String {
    to_hex(&v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
}

fn leaf_json(l: &Leaf) -> Json {
    json!({"object": {"type": "dask_serde_test.models.Leaf", "fields": {
        "label": {"str": l.label},
        "v": {"ndarray": {"dtype": "<f8", "shape": [l.v.len()], "data": f64_hex(&l.v)}},
    }}})
}

/// The canonical JSON of the Python object equivalent to `c`.
fn chunk_json(c: &Chunk) -> Json {
    let counts: Vec<u8> = c.counts.iter().flat_map(|x| x.to_le_bytes()).collect();
    json!({"object": {"type": "dask_serde_test.models.Chunk", "fields": {
        "name": {"str": c.name},
        "index": {"int": c.index},
        "values": {"ndarray": {"dtype": "<f8", "shape": [c.values.len()], "data": f64_hex(&c.values)}},
        "counts": {"ndarray": {"dtype": "<i4", "shape": [c.counts.len()], "data": to_hex(&counts)}},
        "payload": {"bytes": to_hex(&c.payload)},
        "meta-data": {"dict": c.meta.iter().map(|(k, v)| json!([{"str": k}, {"int": v}])).collect::<Vec<_>>()},
        "note": c.note.as_ref().map_or(Json::Null, |n| json!({"str": n})),
        "tags": {"list": c.tags.iter().map(|t| json!({"str": t})).collect::<Vec<_>>()},
        "leaf": leaf_json(&c.leaf),
        "leaves": {"list": c.leaves.iter().map(leaf_json).collect::<Vec<_>>()},
        "by_name": {"dict": c.by_name.iter().map(|(k, l)| json!([{"str": k}, leaf_json(l)])).collect::<Vec<_>>()},
    }}})
}

/// Deterministic pseudo-random chunks (xorshift), covering empty and
/// non-empty arrays, maps, lists and options.
fn chunks(seed: u64, n: usize) -> Vec<Chunk> {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    (0..n)
        .map(|i| {
            let mut r = || next() % 5;
            let leaf = |r: &mut dyn FnMut() -> u64, tag: &str| Leaf {
                label: format!("{tag}-{}", r()),
                v: (0..r()).map(|k| k as f64 * 0.5 - 1.0).collect(),
            };
            Chunk {
                name: format!("chunk-{i}-é"),
                index: (r() * 1000) as u32,
                values: (0..r() * 3).map(|k| (k as f64).sqrt()).collect(),
                counts: (0..r()).map(|k| k as i32 - 2).collect(),
                payload: Bytes::from((0..r() * 7).map(|k| k as u8).collect::<Vec<u8>>()),
                meta: (0..r()).map(|k| (format!("m{k}"), k as i64 * -3)).collect(),
                note: if r() % 2 == 0 { None } else { Some("note".into()) },
                tags: (0..r()).map(|k| format!("t{k}")).collect(),
                leaf: leaf(&mut r, "one"),
                leaves: (0..r()).map(|_| leaf(&mut r, "many")).collect(),
                by_name: (0..r())
                    .map(|k| (format!("k{k}"), leaf(&mut r, "named")))
                    .collect(),
            }
        })
        .collect()
}

fn case(value: Json) -> Json {
    json!({"level": "serialize", "description": "derived struct", "value": value})
}

#[test]
fn python_decodes_rust_structs_to_equal_objects() {
    let mut py = Harness::start();
    for (i, c) in chunks(0x5eed, 40).iter().enumerate() {
        let blob = c.dask_serialize().unwrap().to_packed().unwrap();
        py.check_any_placement(&case(chunk_json(c)), &blob)
            .unwrap_or_else(|e| panic!("chunk {i} ({c:?}): Python says: {e}"));
    }
}

#[test]
fn python_objects_decode_into_rust_structs() {
    let mut py = Harness::start();
    for (i, c) in chunks(0xfeed, 40).iter().enumerate() {
        let blob = py
            .encode(&case(chunk_json(c)))
            .unwrap_or_else(|e| panic!("Python could not encode: {e}"));
        let s = OwnedSerialized::from_packed(&Bytes::from(blob), &Limits::default()).unwrap();
        // Python put `payload` (bytes) into the header, as register_generic does
        let simple = s.header.get("sub-header").unwrap().get("simple").unwrap();
        assert!(simple.get("payload").is_some());
        let back = Chunk::dask_deserialize(&s.header, &s.frame_bytes())
            .unwrap_or_else(|e| panic!("chunk {i}: Rust could not decode Python's object: {e}"));
        assert_eq!(&back, c, "chunk {i}");
    }
}

#[test]
fn strict_placement_matches_register_generic_with_header_buffers() {
    // with `#[dask(header)]` on the bytes field the output is byte-identical
    // to register_generic's
    #[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
    #[dask(python = "dask_serde_test.models.Blob")]
    struct Blob {
        name: String,
        #[dask(header)]
        raw: Bytes,
        data: Vec<f32>,
    }
    let b = Blob {
        name: "b".into(),
        raw: Bytes::from_static(b"\x00\x01"),
        data: vec![1.0, 2.0],
    };
    let value = json!({"object": {"type": "dask_serde_test.models.Blob", "fields": {
        "name": {"str": "b"},
        "raw": {"bytes": "0001"},
        "data": {"ndarray": {"dtype": "<f4", "shape": [2], "data": "0000803f00000040"}},
    }}});
    let mut py = Harness::start();
    let ours = b.dask_serialize().unwrap().to_packed().unwrap();
    py.check(&case(value.clone()), &ours)
        .expect("strict placement check");
    let theirs = py.encode(&case(value)).unwrap();
    assert_eq!(ours, theirs, "byte-identical to register_generic");
}
