//! Interop against real Python Dask (distributed 2026.8.0), both
//! directions. Needs the venv made by `scripts/setup-python.sh`; without it
//! these tests fail with instructions (they never pass silently).

mod common;

use common::python::Harness;
use common::{serialize_options, vectors, Vector};
use dask_serde::bytes::Bytes;
use dask_serde::{Limits, OwnedSerialized, Value};
use serde_json::Value as Json;

fn in_scope(_v: &Vector) -> bool {
    true
}

/// Decodes `blob` in Rust and checks it against the document (value, or
/// expected error).
fn rust_check(doc: &Json, blob: &[u8]) -> Result<(), String> {
    common::check_doc(doc, common::decode_doc(doc, blob))
}

fn decode(doc: &Json, blob: &[u8]) -> Result<(Value, Option<dask_serde::Header>), dask_serde::Error> {
    common::decode_doc(doc, blob)
}

#[test]
fn python_encodes_rust_decodes() {
    let mut py = Harness::start();
    let mut passed = Vec::new();
    let mut failures = Vec::new();
    for v in vectors().iter().filter(|v| in_scope(v)) {
        if v.doc.get("value").is_none() {
            continue;
        }
        let blob = match py.encode(&v.doc) {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("{}: Python could not encode: {e}", v.name));
                continue;
            }
        };
        if v.reproducible() && blob != v.blob[..] {
            failures.push(format!(
                "{}: Python's fresh encoding differs from the fixture",
                v.name
            ));
        }
        match rust_check(&v.doc, &blob) {
            Ok(()) => passed.push(v.name.clone()),
            Err(e) => failures.push(format!("{}: {e}", v.name)),
        }
    }
    eprintln!(
        "Python -> Rust: {} vectors passed: {}",
        passed.len(),
        passed.join(", ")
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    assert_eq!(passed.len(), 43, "{passed:?}");
}

#[test]
fn rust_encodes_python_decodes() {
    let mut py = Harness::start();
    let mut passed = Vec::new();
    let mut failures = Vec::new();
    for v in vectors().iter().filter(|v| in_scope(v)) {
        if v.doc.get("value").is_none() {
            continue;
        }
        let blob = match common::encode_doc(&v.doc) {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("{}: Rust could not encode: {e}", v.name));
                continue;
            }
        };
        match py.check(&v.doc, &blob) {
            Ok(()) => passed.push(v.name.clone()),
            Err(e) => failures.push(format!("{}: Python says: {e}", v.name)),
        }
    }
    eprintln!(
        "Rust -> Python: {} vectors passed: {}",
        passed.len(),
        passed.join(", ")
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    assert_eq!(passed.len(), 43, "{passed:?}");
}

#[test]
fn python_checks_the_fixtures_themselves() {
    // guards the harness: real Dask accepts every in-scope fixture
    let mut py = Harness::start();
    for v in vectors().iter().filter(|v| in_scope(v)) {
        py.check(&v.doc, &v.blob)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
    }
}

#[test]
fn the_checker_rejects_wrong_values() {
    // a checker that accepts anything would make the Rust -> Python test
    // meaningless: feed it a mismatching value
    let mut py = Harness::start();
    let v = common::vector("ser_bytes_hello");
    let mut wrong = v.doc.clone();
    wrong["value"] = serde_json::json!({"bytes": "68656c6c6f21"});
    assert!(py.check(&wrong, &v.blob).is_err());
    wrong["value"] = serde_json::json!({"bytearray": "68656c6c6f"});
    assert!(
        py.check(&wrong, &v.blob).is_err(),
        "bytes vs bytearray must differ on the dask path"
    );
}

/// Python generates random values and encodes them with real Dask; Rust
/// decodes and compares, re-encodes with the same parameters, and Python
/// decodes Rust's bytes and compares again.
fn random_round_trip(kind: &str, seed: u64, count: usize) {
    let mut py = Harness::start();
    let cases = py.random(seed, count, kind);
    assert_eq!(cases.len(), count);
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let blob = match py.encode(case) {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("case {i}: Python could not encode: {e}"));
                continue;
            }
        };
        if let Err(e) = rust_check(case, &blob) {
            failures.push(format!("case {i} ({}) Python -> Rust: {e}", case["value"]));
            continue;
        }
        // re-encode what Rust decoded (not the JSON): the value as Rust holds it
        let (decoded, _) = decode(case, &blob).expect("decoded above");
        let ours = match dask_serde::serialize(&decoded, &serialize_options(case)).and_then(|s| s.to_packed())
        {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("case {i}: Rust could not re-encode: {e}"));
                continue;
            }
        };
        if let Err(e) = py.check(case, &ours) {
            failures.push(format!("case {i} ({}) Rust -> Python: {e}", case["value"]));
        }
    }
    assert!(
        failures.is_empty(),
        "kind {kind}, seed {seed}: {} of {count} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn seed() -> u64 {
    let s = std::env::var("DASK_SERDE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(1)
        });
    eprintln!("random interop seed: {s} (rerun with DASK_SERDE_SEED={s})");
    s
}

#[test]
fn random_plain_values_round_trip() {
    random_round_trip("plain", seed(), 150);
}

#[test]
fn random_collections_round_trip() {
    random_round_trip("collections", seed(), 100);
}

#[test]
fn random_generic_objects_round_trip() {
    random_round_trip("generic", seed(), 100);
}

/// numpy generates random arrays (random dtype, 0–4 dimensions, sizes
/// including zero, C/F order, sliced, reversed and broadcast views,
/// read-only flags) that make the trip Python → Rust → Python unchanged.
#[test]
fn random_numpy_arrays_round_trip() {
    random_round_trip("ndarray", seed(), 300);
}

/// Every typed element type produces the header real numpy produces: Python
/// decodes Rust's `Vec<T>` into an array of the same dtype (checked with
/// the reference check: Dask's own encoding of the same array decodes to the
/// same object), and Python's encoding decodes into `Vec<T>`.
#[test]
fn typed_arrays_match_numpy_both_ways() {
    use dask_serde::{DaskDeserialize, DaskSerialize};
    use serde_json::json;

    fn one<T>(py: &mut Harness, v: Vec<T>, dtype: &str)
    where
        T: dask_serde::Element,
        Vec<T>: DaskSerialize + DaskDeserialize,
    {
        let bytes: Vec<u8> = T::as_bytes(&v).to_vec();
        let case = json!({"level": "serialize", "description": format!("typed {dtype}"), "value":
            {"ndarray": {"dtype": dtype, "shape": [v.len()], "data": common::python::to_hex(&bytes)}}});
        let ours = v.dask_serialize().unwrap().to_packed().unwrap();
        py.check(&case, &ours)
            .unwrap_or_else(|e| panic!("{dtype}: Python says {e}"));
        let theirs = py.encode(&case).unwrap();
        assert_eq!(ours, theirs, "{dtype}: Rust's bytes equal numpy's");
        let s = OwnedSerialized::from_packed(&Bytes::from(theirs), &Limits::default()).unwrap();
        assert_eq!(
            Vec::<T>::dask_deserialize(&s.header, &s.frame_bytes()).unwrap(),
            v,
            "{dtype}"
        );
    }
    let mut py = Harness::start();
    one(&mut py, vec![true, false, true], "|b1");
    one(&mut py, vec![-1i8, 5], "|i1");
    one(&mut py, vec![-300i16, 7], "<i2");
    one(&mut py, vec![-70000i32, 1], "<i4");
    one(&mut py, vec![i64::MIN, i64::MAX], "<i8");
    one(&mut py, vec![65535u16], "<u2");
    one(&mut py, vec![u32::MAX], "<u4");
    one(&mut py, vec![u64::MAX, 3], "<u8");
    one(&mut py, vec![1.5f32, -2.0], "<f4");
    one(&mut py, vec![0.1f64, f64::INFINITY], "<f8");
    one(&mut py, vec![half::f16::from_f32(0.5)], "<f2");
    one(&mut py, vec![num_complex::Complex::new(1.0f32, 2.0)], "<c8");
    one(&mut py, vec![num_complex::Complex::new(-1.0f64, 0.25)], "<c16");
    one(&mut py, Vec::<f64>::new(), "<f8");
}

/// Collections of typed values take the direct msgpack writer and the
/// in-place reader: real Dask must produce and accept the same bytes.
#[test]
fn typed_collections_match_dask_both_ways() {
    use dask_serde::{Array, DaskDeserialize, DaskSerialize};
    use serde_json::{json, Value as Json};

    fn nd(dtype: &str, bytes: &[u8], n: usize) -> Json {
        json!({"ndarray": {"dtype": dtype, "shape": [n], "data": common::python::to_hex(bytes)}})
    }
    fn f64s(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }
    let mut py = Harness::start();
    /// Dask accepts Rust's bytes, writes the same bytes itself, and Rust
    /// decodes Dask's bytes to `value`. Returns the decoded form.
    fn both_ways<T>(py: &mut Harness, what: &str, value: &Json, v: &T) -> (T, Vec<Bytes>)
    where
        T: DaskSerialize + DaskDeserialize + PartialEq + std::fmt::Debug,
    {
        let case = json!({"level": "serialize", "description": what, "value": value});
        let ours = v.dask_serialize().unwrap().to_packed().unwrap();
        py.check(&case, &ours)
            .unwrap_or_else(|e| panic!("{what}: Python says {e}"));
        let theirs = py.encode(&case).unwrap();
        assert_eq!(ours, theirs, "{what}: Rust's bytes equal Dask's");
        let s = OwnedSerialized::from_packed(&Bytes::from(theirs), &Limits::default()).unwrap();
        let frames = s.frame_bytes();
        let back = T::dask_deserialize(&s.header, &frames).unwrap();
        assert_eq!(&back, v, "{what}");
        (back, frames)
    }

    // a list of f64 arrays (W4's shape), lengths 0..40
    let arrays: Vec<Array<f64>> = (0..40)
        .map(|n| Array::from_vec((0..n).map(|i| i as f64 * 0.5).collect()))
        .collect();
    let items: Vec<Json> = arrays
        .iter()
        .map(|a| nd("<f8", &f64s(&a.to_vec()), a.len()))
        .collect();
    let (back, frames) = both_ways(&mut py, "typed list", &json!({"list": items}), &arrays);
    // frames in a packed blob sit wherever the prelude puts them: aligned
    // ones are viewed, misaligned ones copied once
    for (a, f) in back.iter().zip(&frames) {
        assert!(a.is_empty() || a.shares_frame(f) == (f.as_ptr() as usize % 8 == 0));
    }

    // a tuple of mixed element types
    let tuple = (vec![1i32, -2, 3], Array::from_vec(vec![0.25f32]), vec![7u16]);
    let value = json!({"tuple": [
        nd("<i4", &[1i32, -2, 3].iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>(), 3),
        nd("<f4", &0.25f32.to_le_bytes(), 1),
        nd("<u2", &7u16.to_le_bytes(), 1),
    ]});
    both_ways(&mut py, "typed tuple", &value, &tuple);

    // a list of bytes (the constant header written and read as is)
    let blobs: Vec<Bytes> = vec![
        Bytes::from_static(b"a"),
        Bytes::new(),
        Bytes::from(vec![7u8; 300]),
    ];
    let value = json!({"list": blobs
        .iter()
        .map(|b| json!({"bytes": common::python::to_hex(b)}))
        .collect::<Vec<_>>()});
    both_ways(&mut py, "typed bytes list", &value, &blobs);

    // nested lists of int vectors
    let nested: Vec<Vec<Vec<i64>>> = vec![vec![vec![1, 2], vec![]], vec![vec![3]]];
    let enc = |v: &Vec<i64>| {
        nd(
            "<i8",
            &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>(),
            v.len(),
        )
    };
    let value = json!({"list": nested
        .iter()
        .map(|inner| json!({"list": inner.iter().map(enc).collect::<Vec<_>>()}))
        .collect::<Vec<_>>()});
    both_ways(&mut py, "nested typed lists", &value, &nested);
}
