//! The public golden vectors made by real Dask, decoded and re-encoded by
//! Rust (no Python needed here; see `interop.rs` for the other direction).

mod common;

use common::{vectors, Vector};
use dask_serde::{deserialize_any, DeserializeOptions, Limits, OwnedSerialized};

/// Every public vector is in scope.
fn in_scope(_v: &Vector) -> bool {
    true
}

#[test]
fn scope_is_complete() {
    assert_eq!(vectors().iter().filter(|v| in_scope(v)).count(), 43);
}

#[test]
fn rust_decodes_every_vector_to_its_value() {
    let mut failures = Vec::new();
    let mut passed = Vec::new();
    for v in vectors().iter().filter(|v| in_scope(v)) {
        match common::check_doc(&v.doc, common::decode_doc(&v.doc, &v.blob)) {
            Ok(()) => passed.push(v.name.clone()),
            Err(e) => failures.push(format!("{}: {e}", v.name)),
        }
    }
    eprintln!("decoded: {} vectors: {}", passed.len(), passed.join(", "));
    assert!(
        failures.is_empty(),
        "{} passed, failures:\n{}",
        passed.len(),
        failures.join("\n")
    );
    assert_eq!(passed.len(), 43);
}

#[test]
fn rust_reencodes_reproducible_vectors_byte_for_byte() {
    let mut failures = Vec::new();
    let mut passed = Vec::new();
    for v in vectors().iter().filter(|v| in_scope(v) && v.reproducible()) {
        match common::encode_doc(&v.doc) {
            Ok(bytes) if bytes == v.blob[..] => passed.push(v.name.clone()),
            Ok(bytes) => {
                let ours = dask_serde::pack::unpack_frames(&bytes.into(), &Limits::default()).unwrap();
                let theirs = dask_serde::pack::unpack_frames(&v.blob, &Limits::default()).unwrap();
                failures.push(format!(
                    "{}: bytes differ\n ours:   {:?}\n theirs: {:?}",
                    v.name, ours, theirs
                ));
            }
            Err(e) => failures.push(format!("{}: {e}", v.name)),
        }
    }
    eprintln!(
        "re-encoded byte for byte: {} vectors: {}",
        passed.len(),
        passed.join(", ")
    );
    assert!(
        failures.is_empty(),
        "{} passed, failures:\n{}",
        passed.len(),
        failures.join("\n")
    );
    let reproducible = vectors().iter().filter(|v| v.reproducible()).count();
    assert_eq!(passed.len(), reproducible);
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
