//! Data of the workloads of docs/WORKLOADS.md, shared by the bench
//! binaries: the same values in the form each codec takes.
//!
//! Every workload exists once as "peer" data (plain Rust types that serde,
//! bincode, postcard and rkyv encode) and once in dask-serde's form
//! (`Value`, typed arrays, derived structs), built from the same numbers,
//! and in the same shape as the Python objects `scripts/bench_python.py`
//! measures.

#![allow(dead_code)] // each bench binary uses a part of this module

use std::collections::BTreeMap;

use dask_serde::message::typed::ToSerialize;
use dask_serde::{Array, DaskDeserialize, DaskSerialize, Value};
use serde::{Deserialize, Serialize};

/// The codecs every workload compares, in report order.
pub const PEERS: [&str; 4] = ["rmp-serde", "bincode", "postcard", "rkyv"];

/// bincode's default configuration (varint integers, little endian).
pub const BINCODE: bincode::config::Configuration = bincode::config::standard();

/// rkyv's error type (validation errors carry no context: fastest).
pub type RkyvError = rkyv::rancor::Failure;

/// Deterministic f64 payload: `n` values, none of them repeated.
pub fn f64_data(n: usize, seed: f64) -> Vec<f64> {
    (0..n).map(|i| seed + i as f64 * 0.5).collect()
}

// ---------------------------------------------------------------------------
// W1: small admin message (a map of 8 fields).

/// One entry of `startstops` (what a worker reports for a task).
#[derive(
    Clone,
    Debug,
    PartialEq,
    Serialize,
    Deserialize,
    bincode::Encode,
    bincode::Decode,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct StartStop {
    pub action: String,
    pub start: f64,
    pub stop: f64,
}

/// A `task-finished`-like admin message. Encoded by rmp-serde as a map with
/// field names as keys (`to_vec_named`), the same msgpack Dask writes for
/// the equivalent dict.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Serialize,
    Deserialize,
    bincode::Encode,
    bincode::Decode,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct AdminMsg {
    pub op: String,
    pub key: String,
    pub status: String,
    pub nbytes: u64,
    #[serde(rename = "type")]
    pub typ: String,
    pub startstops: Vec<StartStop>,
    pub worker: String,
    pub metadata: BTreeMap<String, String>,
}

/// The W1 message (same values as `scripts/bench_python.py`).
pub fn w1_msg() -> AdminMsg {
    AdminMsg {
        op: "task-finished".into(),
        key: "('inc-5a3b2e8f0c1d4e6f9a7b8c0d1e2f3a4b', 17)".into(),
        status: "OK".into(),
        nbytes: 8_000_128,
        typ: "numpy.ndarray".into(),
        startstops: vec![
            StartStop {
                action: "transfer".into(),
                start: 1_700_000_000.125,
                stop: 1_700_000_000.25,
            },
            StartStop {
                action: "compute".into(),
                start: 1_700_000_000.5,
                stop: 1_700_000_001.75,
            },
        ],
        worker: "tcp://127.0.0.1:40123".into(),
        metadata: BTreeMap::from([
            ("span_id".into(), "9f2c1e0a-b7d4-4c3e-8e55-0a1b2c3d4e5f".into()),
            ("priority".into(), "high".into()),
        ]),
    }
}

/// The W1 message as a dynamic dask-serde value (a dict in the struct's
/// field order, startstops as a list of dicts).
pub fn w1_value(m: &AdminMsg) -> Value {
    let s = |x: &str| Value::from(x);
    Value::Dict(vec![
        (s("op"), s(&m.op)),
        (s("key"), s(&m.key)),
        (s("status"), s(&m.status)),
        (s("nbytes"), Value::Int(i128::from(m.nbytes))),
        (s("type"), s(&m.typ)),
        (
            s("startstops"),
            Value::List(
                m.startstops
                    .iter()
                    .map(|ss| {
                        Value::Dict(vec![
                            (s("action"), s(&ss.action)),
                            (s("start"), Value::Float(ss.start)),
                            (s("stop"), Value::Float(ss.stop)),
                        ])
                    })
                    .collect(),
            ),
        ),
        (s("worker"), s(&m.worker)),
        (
            s("metadata"),
            Value::Dict(m.metadata.iter().map(|(k, v)| (s(k), s(v))).collect()),
        ),
    ])
}

// ---------------------------------------------------------------------------
// W2: one f64 array; the sizes of the plot.

/// Payload sizes of W2 in bytes with their labels (64 KiB and 64 MiB get
/// every operation; the two between only serialize, for the plot).
pub const W2_SIZES: [(usize, &str); 4] = [
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
    (16 << 20, "16MiB"),
    (64 << 20, "64MiB"),
];

// ---------------------------------------------------------------------------
// W3: a derived struct with 3 MiB of arrays and 10 small fields.

/// Elements of each W3 array (3 arrays of 1 MiB).
pub const W3_LEN: usize = (1 << 20) / 8;

/// The dask-serde W3 struct with Bytes-backed arrays (zero-copy both ways).
#[derive(Clone, Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "dask_serde_bench.Chunk")]
pub struct ChunkArrays {
    pub name: String,
    pub index: u32,
    pub offset: i64,
    pub scale: f64,
    pub valid: bool,
    pub tag: Option<String>,
    pub dims: Vec<String>,
    pub units: String,
    pub version: u64,
    pub attrs: BTreeMap<String, i64>,
    pub x: Array<f64>,
    pub y: Array<f64>,
    pub z: Array<f64>,
}

/// The same struct with `Vec<f64>` arrays (serialize borrows, decoding
/// copies into owned vectors).
#[derive(Clone, Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "dask_serde_bench.Chunk")]
pub struct ChunkVecs {
    pub name: String,
    pub index: u32,
    pub offset: i64,
    pub scale: f64,
    pub valid: bool,
    pub tag: Option<String>,
    pub dims: Vec<String>,
    pub units: String,
    pub version: u64,
    pub attrs: BTreeMap<String, i64>,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub z: Vec<f64>,
}

/// The same struct for the peers.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Serialize,
    Deserialize,
    bincode::Encode,
    bincode::Decode,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct ChunkPeer {
    pub name: String,
    pub index: u32,
    pub offset: i64,
    pub scale: f64,
    pub valid: bool,
    pub tag: Option<String>,
    pub dims: Vec<String>,
    pub units: String,
    pub version: u64,
    pub attrs: BTreeMap<String, i64>,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub z: Vec<f64>,
}

/// The W3 value in the peers' form.
pub fn w3_peer() -> ChunkPeer {
    ChunkPeer {
        name: "chunk-0042".into(),
        index: 42,
        offset: -1_048_576,
        scale: 0.001,
        valid: true,
        tag: Some("calibrated".into()),
        dims: vec!["time".into(), "channel".into()],
        units: "mV".into(),
        version: 3,
        attrs: BTreeMap::from([("rows".into(), 131_072), ("cols".into(), 3)]),
        x: f64_data(W3_LEN, 1.0),
        y: f64_data(W3_LEN, 2.0),
        z: f64_data(W3_LEN, 3.0),
    }
}

/// The W3 value with `Vec<f64>` fields.
pub fn w3_vecs(p: &ChunkPeer) -> ChunkVecs {
    ChunkVecs {
        name: p.name.clone(),
        index: p.index,
        offset: p.offset,
        scale: p.scale,
        valid: p.valid,
        tag: p.tag.clone(),
        dims: p.dims.clone(),
        units: p.units.clone(),
        version: p.version,
        attrs: p.attrs.clone(),
        x: p.x.clone(),
        y: p.y.clone(),
        z: p.z.clone(),
    }
}

/// The W3 value with `Array<f64>` fields.
pub fn w3_arrays(p: &ChunkPeer) -> ChunkArrays {
    ChunkArrays {
        name: p.name.clone(),
        index: p.index,
        offset: p.offset,
        scale: p.scale,
        valid: p.valid,
        tag: p.tag.clone(),
        dims: p.dims.clone(),
        units: p.units.clone(),
        version: p.version,
        attrs: p.attrs.clone(),
        x: Array::from_vec(p.x.clone()),
        y: Array::from_vec(p.y.clone()),
        z: Array::from_vec(p.z.clone()),
    }
}

// ---------------------------------------------------------------------------
// W4: 10,000 arrays of 100 f64.

/// Number of W4 arrays.
pub const W4_COUNT: usize = 10_000;
/// Elements per W4 array.
pub const W4_LEN: usize = 100;

/// The W4 arrays as plain vectors.
pub fn w4_vecs() -> Vec<Vec<f64>> {
    (0..W4_COUNT).map(|i| f64_data(W4_LEN, i as f64)).collect()
}

// ---------------------------------------------------------------------------
// W5: the message sent over TCP.

/// A typed message carrying one array out of band (Dask's
/// `{"op": "data", "data": to_serialize(array)}`).
#[derive(Serialize, Deserialize)]
pub struct DataMsg {
    pub op: String,
    pub data: ToSerialize<Array<f64>>,
}

/// Checks that dask-serde's round trip of `v` gives `v` back (run once
/// before measuring, so a benchmark never times a broken path).
pub fn check_round_trip<T: DaskSerialize + DaskDeserialize + PartialEq + std::fmt::Debug>(v: &T) {
    let s = v.dask_serialize().expect("serialize");
    let frames = s.frame_bytes();
    let back = T::dask_deserialize(&s.header, &frames).expect("deserialize");
    assert_eq!(&back, v, "round trip changed the value");
}
