//! The public golden vectors made by real Dask, decoded and re-encoded by
//! Rust (no Python needed here; see `interop.rs` for the other direction).

mod common;

use common::{check_decoded, serialize_options, vectors, Vector};
use dask_serde::{deserialize_any, DeserializeOptions, Limits, OwnedSerialized};

/// Vectors handled by the message/split/compression layer (issue 6) or by
/// numpy features that are not built yet (issue 4). Listed explicitly so
/// nothing is skipped silently; `scope_is_complete` checks the list.
const LATER: &[&str] = &[
    "ser_ndarray_structured",
    "ser_ndarray_object",
    "ser_split_ndarray",
    "ser_split_bytes",
    "ser_bytes_lz4",
    "ser_bytes_zstd",
    "ser_pickle_oob_buffer",
];

fn in_scope(v: &Vector) -> bool {
    v.level() == "serialize" && !LATER.contains(&v.name.as_str())
}

fn decode(v: &Vector) -> Result<dask_serde::Value, dask_serde::Error> {
    let s = OwnedSerialized::from_packed(&v.blob, &Limits::default())?;
    let mut opts = DeserializeOptions::new();
    opts.deserializers = v.deserializers();
    deserialize_any(&s.header, &s.frame_bytes(), &opts)
}

#[test]
fn scope_is_complete() {
    let all = vectors();
    let n = all.iter().filter(|v| in_scope(v)).count();
    // 43 public vectors: 8 messages and the 7 listed above are out of scope
    assert_eq!(n, 28, "in-scope serialize vectors");
}

#[test]
fn rust_decodes_every_vector_to_its_value() {
    let mut failures = Vec::new();
    let mut passed = 0;
    for v in vectors().iter().filter(|v| in_scope(v)) {
        let result = decode(v);
        if v.expects_error() {
            match result {
                Ok(val) => failures.push(format!("{}: decoded to {val:?} but must fail", v.name)),
                Err(e) => {
                    if let Some(t) = v.doc["error_type"].as_str() {
                        if e.python_type() != t {
                            failures.push(format!("{}: error type {} != {t}", v.name, e.python_type()));
                            continue;
                        }
                    }
                    if let Some(m) = v.doc["error_message"].as_str() {
                        if e.to_string() != m {
                            failures.push(format!("{}: error {:?} != {m:?}", v.name, e.to_string()));
                            continue;
                        }
                    }
                    passed += 1;
                }
            }
            continue;
        }
        match result {
            Err(e) => failures.push(format!("{}: {e}", v.name)),
            Ok(val) => {
                let s = OwnedSerialized::from_packed(&v.blob, &Limits::default()).unwrap();
                match check_decoded(&val, &v.value(), &s.header) {
                    Ok(()) => passed += 1,
                    Err(e) => failures.push(format!("{}: {e}", v.name)),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} passed, failures:\n{}",
        passed,
        failures.join("\n")
    );
    assert_eq!(passed, 28);
}

#[test]
fn rust_reencodes_reproducible_vectors_byte_for_byte() {
    let mut failures = Vec::new();
    let mut passed = 0;
    for v in vectors().iter().filter(|v| in_scope(v) && v.reproducible()) {
        let value = v.value();
        let opts = serialize_options(&v.doc);
        match dask_serde::serialize(&value, &opts).and_then(|s| s.to_packed()) {
            Ok(bytes) if bytes == v.blob[..] => passed += 1,
            Ok(bytes) => {
                let ours = OwnedSerialized::from_packed(&bytes.into(), &Limits::default()).unwrap();
                let theirs = OwnedSerialized::from_packed(&v.blob, &Limits::default()).unwrap();
                failures.push(format!(
                    "{}: bytes differ\n ours:   {:?}\n theirs: {:?}",
                    v.name, ours, theirs
                ));
            }
            Err(e) => failures.push(format!("{}: {e}", v.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{passed} passed, failures:\n{}",
        failures.join("\n")
    );
    assert!(passed >= 20, "only {passed} reproducible vectors");
}

#[test]
fn frames_are_zero_copy_slices_of_the_input() {
    let v = common::vector("ser_bytes_hello");
    let s = OwnedSerialized::from_packed(&v.blob, &Limits::default()).unwrap();
    let frames = s.frame_bytes();
    let val = deserialize_any(&s.header, &frames, &DeserializeOptions::new()).unwrap();
    let dask_serde::Value::Bytes(b) = val else {
        panic!("not bytes")
    };
    assert_eq!(&b[..], b"hello");
    let range = v.blob.as_ptr_range();
    assert!(
        range.contains(&b.as_ptr()),
        "decoded bytes must point into the received blob"
    );
}
