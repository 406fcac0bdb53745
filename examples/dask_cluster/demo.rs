//! The cluster demo's logic (the `dask_cluster` example, `main.rs` next to
//! this file): scatter a large `f64` array and a derived struct onto a
//! running Dask cluster, let a Python client compute on them, gather the
//! results and check them. `tests/cluster.rs` includes this file (`#[path]`)
//! and runs it against a real cluster.

use std::time::{Duration, Instant};

use dask_serde::bytes::Bytes;
use dask_serde::transport::options::CommOptions;
use dask_serde::transport::proto::get;
use dask_serde::transport::rpc::Rpc;
use dask_serde::{Array, DaskDeserialize, DaskSerialize, Limits, Value};
use dask_serde::{Opaque, PayloadKind};

/// What can make the demo fail: the library reported an error, or the
/// cluster's answer is not what the demo expects.
#[derive(Debug)]
pub enum DemoError {
    /// A dask-serde error (connecting, encoding, decoding, a remote error).
    Dask(dask_serde::Error),
    /// The cluster answered, but not what the demo checks for.
    Check(String),
}

impl std::fmt::Display for DemoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DemoError::Dask(e) => write!(f, "{e}"),
            DemoError::Check(m) => write!(f, "check failed: {m}"),
        }
    }
}

impl std::error::Error for DemoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // transparent: the library error's text is this one's
            DemoError::Dask(e) => e.source(),
            DemoError::Check(_) => None,
        }
    }
}

impl From<dask_serde::Error> for DemoError {
    fn from(e: dask_serde::Error) -> Self {
        DemoError::Dask(e)
    }
}

fn check(message: String) -> DemoError {
    DemoError::Check(message)
}

/// The struct Python knows as `dask_serde_demo_models.Chunk`.
#[derive(Debug, Clone, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "dask_serde_demo_models.Chunk")]
pub struct Chunk {
    /// A name (header).
    pub name: String,
    /// An index (header).
    pub index: u32,
    /// The numbers (a numpy frame).
    pub values: Vec<f64>,
    /// Raw bytes (a bytes frame).
    pub payload: Bytes,
}

/// What the demo found.
#[derive(Debug)]
pub struct Report {
    /// The sum the cluster computed over the scattered array.
    pub sum: f64,
    /// The struct the cluster computed from the scattered one.
    pub scaled: Chunk,
}

/// A derived struct as a ready-made `to_serialize` payload.
fn payload<T: DaskSerialize>(v: &T) -> Result<Value, DemoError> {
    let s = v.dask_serialize()?.into_owned();
    let frames = s.frame_bytes();
    Ok(Value::Opaque(Box::new(Opaque {
        kind: PayloadKind::Serialized,
        header: s.header,
        frames,
    })))
}

fn scatter(rpc: &mut Rpc, data: Vec<(&str, Value)>) -> Result<Value, DemoError> {
    let data = data.into_iter().map(|(k, v)| (Value::from(k), v)).collect();
    Ok(rpc.call(
        "scatter",
        vec![
            ("data", Value::Dict(data)),
            ("workers", Value::None),
            ("client", Value::from("dask-serde-demo")),
            ("broadcast", Value::Bool(false)),
            ("timeout", Value::from(30)),
        ],
    )?)
}

/// Gathers `keys`, retrying until they exist or `timeout` passes.
fn gather(rpc: &mut Rpc, keys: &[&str], timeout: Duration) -> Result<Value, DemoError> {
    let deadline = Instant::now() + timeout;
    loop {
        // payloads stay opaque: each is decoded with its Rust type below
        let reply = rpc.call_opaque(
            "gather",
            vec![(
                "keys",
                Value::List(keys.iter().map(|k| Value::from(*k)).collect()),
            )],
        )?;
        if get(&reply, "status") == Some(&Value::from("OK")) {
            return get(&reply, "data")
                .cloned()
                .ok_or_else(|| check("gather reply without data".into()));
        }
        if Instant::now() > deadline {
            return Err(check(format!(
                "keys {keys:?} did not appear within {timeout:?}: {reply:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The array the demo scatters: `n` values `0, 1, 2, ...`.
pub fn demo_array(n: usize) -> Array<f64> {
    Array::from_vec((0..n).map(|i| i as f64).collect())
}

/// The struct the demo scatters.
pub fn demo_chunk() -> Chunk {
    Chunk {
        name: "chunk-0".into(),
        index: 7,
        values: vec![1.0, 2.5, -4.0],
        payload: Bytes::from_static(b"rust"),
    }
}

/// Scatters the demo data to the cluster at `address`.
///
/// # Errors
///
/// Connection, encoding or scheduler errors.
pub fn scatter_inputs(address: &str, n: usize) -> Result<Value, DemoError> {
    let mut rpc = Rpc::connect(address, &CommOptions::default())?;
    let array = Value::from(demo_array(n).into_ndarray());
    let keys = scatter(
        &mut rpc,
        vec![
            ("demo-array", Value::Serialize(Box::new(array))),
            ("demo-chunk", payload(&demo_chunk())?),
        ],
    )?;
    rpc.close();
    Ok(keys)
}

/// Gathers what the Python client computed (waiting up to `timeout`) and
/// checks it against what Rust expects.
///
/// # Errors
///
/// Missing keys, results of the wrong type, or wrong values.
pub fn gather_results(address: &str, n: usize, timeout: Duration) -> Result<Report, DemoError> {
    let mut rpc = Rpc::connect(address, &CommOptions::default())?;
    let data = gather(&mut rpc, &["demo-sum", "demo-scaled"], timeout)?;
    rpc.close();
    let opaque = |key: &str| match get(&data, key) {
        Some(Value::Opaque(o)) => Ok(o.clone()),
        other => Err(check(format!("{key}: expected a payload, found {other:?}"))),
    };
    let limits = Limits::default();
    // the sum is a Python float, pickled by the worker: read by the safe reader
    let sum = match dask_serde::deserialize_any(
        &opaque("demo-sum")?.header,
        &opaque("demo-sum")?.frames,
        &Default::default(),
    )? {
        Value::Float(f) => f,
        other => return Err(check(format!("expected a float sum, found {other:?}"))),
    };
    let expected: f64 = demo_array(n).to_vec().iter().sum();
    if sum != expected {
        return Err(check(format!("the cluster computed {sum}, expected {expected}")));
    }
    // the struct decodes straight into the derived type
    let scaled: Chunk = opaque("demo-scaled")?.decode(&limits)?;
    let want = demo_chunk();
    if scaled.values != want.values.iter().map(|v| v * 3.0).collect::<Vec<_>>()
        || scaled.index != want.index + 1
    {
        return Err(check(format!("unexpected scaled chunk {scaled:?}")));
    }
    Ok(Report { sum, scaled })
}
