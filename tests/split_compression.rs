//! Frame splitting and compression (PROTOCOL.md §8, §9): the public vectors, Rust
//! against real Dask in both directions, zero-copy, and malformed input.
//! The interop tests need the venv made by `scripts/setup-python.sh`.

mod common;

use common::python::{to_hex, Harness};
use common::{check_decoded, serialize_options, vector};
use dask_serde::bytes::Bytes;
use dask_serde::compression::{
    self, compress, decompress, decompress_frames, maybe_compress, Codec, CompressionOptions,
};
use dask_serde::pack::{pack_frames, unpack_frames};
use dask_serde::protocol::merge_and_deserialize_with;
use dask_serde::split::{frame_itemsizes, merge_frames, split_frames};
use dask_serde::{deserialize_bytes, merge_and_deserialize, serialize_and_split, serialize_bytes, Registry};
use dask_serde::{
    serialize, DaskSerialize, DeserializeOptions, Error, Frame, Header, Limits, MsgValue, OwnedSerialized,
    SerializeOptions, Value,
};
use proptest::prelude::*;
use serde_json::{json, Value as Json};

// ---------------------------------------------------------------------------
// helpers

/// Deterministic noise (xorshift64).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn ser_doc(value: &Json, params: Json) -> Json {
    json!({"level": "serialize", "value": value, "params": params})
}

fn decode_packed_split(blob: &[u8]) -> (Value, OwnedSerialized) {
    let s = OwnedSerialized::from_packed(&Bytes::copy_from_slice(blob), &Limits::default()).unwrap();
    let v = merge_and_deserialize(&s.header, s.frame_bytes(), &DeserializeOptions::new()).unwrap();
    (v, s)
}

fn header_keys(h: &Header) -> Vec<String> {
    h.entries()
        .iter()
        .map(|(k, _)| k.as_str().unwrap_or("?").to_owned())
        .collect()
}

fn split_header(nums: &[i64], offsets: &[i64]) -> Header {
    let mut h = Header::new();
    h.insert(
        "split-num-sub-frames",
        MsgValue::Array(nums.iter().map(|n| MsgValue::from(*n)).collect()),
    );
    h.insert(
        "split-offsets",
        MsgValue::Array(offsets.iter().map(|n| MsgValue::from(*n)).collect()),
    );
    h
}

// ---------------------------------------------------------------------------
// public vectors

#[test]
fn split_vectors_are_reproduced_byte_for_byte_and_decode() {
    for name in ["ser_split_ndarray", "ser_split_bytes"] {
        let v = vector(name);
        assert!(v.reproducible(), "{name}");
        let size = v.doc["params"]["size"].as_u64().map(|s| s as usize);
        let value = v.value();
        let mut opts = serialize_options(&v.doc);
        opts.frame_split_size = size;
        let s = serialize_and_split(&value, &opts).unwrap();
        assert_eq!(
            s.to_packed().unwrap(),
            v.blob[..],
            "{name}: Rust's split differs from Dask's"
        );

        let (decoded, s) = decode_packed_split(&v.blob);
        check_decoded(&decoded, &value, &s.header).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // the spec's example: 3 pieces of 16/16/8 bytes
    let v = vector("ser_split_ndarray");
    let (_, s) = decode_packed_split(&v.blob);
    assert_eq!(s.frames.iter().map(|f| f.len()).collect::<Vec<_>>(), [16, 16, 8]);
    assert_eq!(
        header_keys(&s.header)[4..],
        ["split-num-sub-frames", "split-offsets", "compression"]
    );
}

#[test]
fn serialize_bytes_vectors_decode_and_rust_writes_the_same_header() {
    for (name, codec) in [("ser_bytes_lz4", "lz4"), ("ser_bytes_zstd", "zstd")] {
        let v = vector(name);
        let value = v.value();
        let decoded = deserialize_bytes(&v.blob, &DeserializeOptions::new()).unwrap();
        let frames = unpack_frames(&v.blob, &Limits::default()).unwrap();
        let py_header = Header::decode(&frames[0], &Limits::default()).unwrap();
        check_decoded(&decoded, &value, &py_header).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            header_keys(&py_header)[4..],
            ["split-num-sub-frames", "split-offsets", "compression", "count"],
            "{name}"
        );
        assert_eq!(
            py_header.compression().unwrap(),
            Some(vec![Some(codec.to_owned())])
        );

        // Rust's blob: the same header bytes, a frame that decompresses to the same data
        let opts = CompressionOptions::with_codec(codec);
        let blob = serialize_bytes(&value, &SerializeOptions::new().compression(opts.clone())).unwrap();
        let ours = unpack_frames(&Bytes::from(blob), &Limits::default()).unwrap();
        assert_eq!(ours[0], frames[0], "{name}: header bytes differ");
        assert_eq!(ours.len(), frames.len());
        for (a, b) in ours[1..].iter().zip(&frames[1..]) {
            let l = Limits::default();
            assert_eq!(
                decompress(codec, a, &l).unwrap(),
                decompress(codec, b, &l).unwrap(),
                "{name}"
            );
        }
    }
}

#[test]
fn message_vector_payload_decompresses_and_merges() {
    // msg_serialized_lz4_split: frame 1 is the sub-header of a payload that
    // was split into 16 000-byte pieces, then each big piece lz4-compressed
    let v = vector("msg_serialized_lz4_split");
    let frames = unpack_frames(&v.blob, &Limits::default()).unwrap();
    let sub = Header::decode(&frames[1], &Limits::default()).unwrap();
    let codecs = sub.compression().unwrap().unwrap();
    assert_eq!(codecs, [Some("lz4".to_owned()), Some("lz4".to_owned()), None]);
    let payload = frames[2..2 + codecs.len()].to_vec();
    let raw = decompress_frames(Some(&codecs), payload, &Limits::default()).unwrap();
    assert_eq!(
        raw.iter().map(Bytes::len).collect::<Vec<_>>(),
        [16_000, 16_000, 8_000]
    );
    let decoded = merge_and_deserialize(&sub, raw, &DeserializeOptions::new()).unwrap();
    let Value::Dict(entries) = v.value() else {
        panic!("message value is a dict")
    };
    let Value::Serialize(want) = &entries[0].1 else {
        panic!("a serialized payload")
    };
    check_decoded(&decoded, want, &sub).unwrap();
}

// ---------------------------------------------------------------------------
// Rust and real Dask, both directions

fn interop_values() -> Vec<(&'static str, Json)> {
    let zeros = "00".repeat(32_000);
    let text = "6162".repeat(15_000);
    vec![
        (
            "zeros-f8",
            json!({"ndarray": {"dtype": "<f8", "shape": [4000], "data": zeros}}),
        ),
        ("abab-bytes", json!({"bytes": text})),
        ("noise-bytes", json!({"bytes": to_hex(&noise(40_000, 7))})),
        (
            "tuple",
            json!({"tuple": [
                {"ndarray": {"dtype": "<i4", "shape": [100, 100], "data": "01000000".repeat(10_000)}},
                {"bytes": to_hex(&noise(12_000, 3))},
                {"memoryview": {"format": "d", "shape": [50, 40], "data": "00".repeat(16_000)}},
            ]}),
        ),
        ("small", json!({"bytes": "68656c6c6f"})),
        ("empty", json!({"bytes": ""})),
    ]
}

#[test]
fn dask_decodes_rust_serialize_bytes_with_every_codec() {
    let mut py = Harness::start();
    let mut checked = 0;
    for (label, value) in interop_values() {
        let v = Value::from_json(&value).unwrap();
        for codec in [
            None,
            Some("auto"),
            Some("lz4"),
            Some("zstd"),
            Some("zlib"),
            Some("snappy"),
        ] {
            for split in [None, Some(16_000)] {
                let opts = match codec {
                    None => CompressionOptions::default(),
                    Some(c) => CompressionOptions::with_codec(c),
                };
                let blob = serialize_bytes(
                    &v,
                    &SerializeOptions {
                        frame_split_size: split,
                        compression: Some(opts.clone()),
                        ..SerializeOptions::new()
                    },
                )
                .unwrap();
                // Rust reads its own blob back
                let back = deserialize_bytes(&Bytes::from(blob.clone()), &DeserializeOptions::new()).unwrap();
                let s = OwnedSerialized::from_packed(&Bytes::from(blob.clone()), &Limits::default()).unwrap();
                check_decoded(&back, &v, &s.header).unwrap_or_else(|e| panic!("{label} {codec:?}: {e}"));
                // ...and so does Dask (`check` decompresses and compares values)
                let mut params = json!({"api": "serialize_bytes"});
                if let Some(c) = codec {
                    params["compression"] = json!(c);
                }
                if let Some(n) = split {
                    params["size"] = json!(n);
                }
                py.check(&ser_doc(&value, params), &blob)
                    .unwrap_or_else(|e| panic!("{label} codec {codec:?} split {split:?}: Dask says {e}"));
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 6 * 6 * 2);
}

#[test]
fn rust_decodes_dask_serialize_bytes_with_every_codec() {
    let mut py = Harness::start();
    for (label, value) in interop_values() {
        let want = Value::from_json(&value).unwrap();
        for codec in ["lz4", "zstd", "zlib", "snappy"] {
            for size in [None, Some(16_000)] {
                let mut params = json!({"api": "serialize_bytes", "compression": codec});
                if let Some(n) = size {
                    params["size"] = json!(n);
                }
                let blob = Bytes::from(py.encode(&ser_doc(&value, params)).unwrap());
                let frames = unpack_frames(&blob, &Limits::default()).unwrap();
                let header = Header::decode(&frames[0], &Limits::default()).unwrap();
                if label == "zeros-f8" {
                    assert_eq!(header.compression().unwrap().unwrap()[0].as_deref(), Some(codec));
                }
                let got = deserialize_bytes(&blob, &DeserializeOptions::new())
                    .unwrap_or_else(|e| panic!("{label} {codec}: {e}"));
                check_decoded(&got, &want, &header).unwrap_or_else(|e| panic!("{label} {codec}: {e}"));
            }
        }
    }
}

/// Values whose frames Dask views with different item sizes.
fn split_values() -> Vec<Json> {
    let mut out = Vec::new();
    let data = |n: usize| to_hex(&noise(n, n as u64));
    for (dtype, itemsize) in [
        ("<f8", 8),
        ("<i4", 4),
        ("|u1", 1),
        (">i8", 8),
        ("<f2", 2),
        ("|b1", 1),
        ("<c8", 8),
        ("<c16", 16),
        ("<U3", 12),
        ("|S5", 5),
        ("<M8[ns]", 8),
        ("<m8[s]", 8),
    ] {
        let hex = if dtype == "|b1" {
            "0001".repeat(21)
        } else if dtype == "<U3" {
            // valid UCS-4 code points
            "41000000".repeat(3 * 7)
        } else {
            data(itemsize * 7)
        };
        let n = hex.len() / 2 / itemsize;
        out.push(json!({"ndarray": {"dtype": dtype, "shape": [n], "data": hex}}));
    }
    out.push(json!({"ndarray": {"dtype": "<f4", "shape": [3, 5], "data": data(60), "order": "F"}}));
    out.push(json!({"ndarray": {"dtype": "<c16", "shape": [2, 3], "data": data(96)}}));
    for (format, shape, itemsize) in [
        ("B", vec![37], 1),
        ("i", vec![2, 3], 4),
        ("d", vec![3, 4], 8),
        ("h", vec![5, 2, 3], 2),
        ("B", vec![10, 2], 1),
        ("q", vec![11], 8),
    ] {
        let n: usize = shape.iter().product();
        out.push(json!({"memoryview": {"format": format, "shape": shape, "data": data(n * itemsize)}}));
    }
    for (typecode, itemsize) in [("d", 8), ("i", 4), ("h", 2), ("B", 1), ("q", 8), ("f", 4)] {
        out.push(json!({"pyarray": {"typecode": typecode, "data": data(itemsize * 9)}}));
    }
    out.push(json!({"bytes": data(45)}));
    out.push(json!({"bytearray": data(33)}));
    out.push(json!({"list": [
        {"ndarray": {"dtype": "<c16", "shape": [4], "data": data(64)}},
        {"memoryview": {"format": "i", "shape": [4, 2], "data": data(32)}},
        {"pyarray": {"typecode": "d", "data": data(40)}},
        {"int": 5},
    ]}));
    out.push(
        json!({"object": {"type": "dask_serde_test.models.Sample", "fields": {
            "name": {"str": "s"},
            "values": {"ndarray": {"dtype": "<f8", "shape": [6], "data": data(48)}},
            "parts": {"dict": [
                [{"str": "a"}, {"ndarray": {"dtype": "<i2", "shape": [9], "data": data(18)}}],
                [{"str": "b"}, {"int": 3}],
            ]},
            "view": {"memoryview": {"format": "i", "shape": [3, 2], "data": data(24)}},
        }}}),
    );
    out
}

const SIZES: [usize; 6] = [8, 13, 16, 20, 40, 1000];

#[test]
fn rust_split_matches_dask_byte_for_byte() {
    let mut py = Harness::start();
    let mut compared = 0;
    for value in split_values() {
        let v = Value::from_json(&value).unwrap_or_else(|e| panic!("{value}: {e}"));
        for size in SIZES {
            let doc = ser_doc(&value, json!({"api": "serialize_and_split", "size": size}));
            let dask = py
                .encode(&doc)
                .unwrap_or_else(|e| panic!("{value} size {size}: Dask: {e}"));
            // Rust encodes the value and splits it...
            let ours = serialize_and_split(&v, &SerializeOptions::new().frame_split_size(size))
                .unwrap()
                .to_packed()
                .unwrap();
            assert!(
                ours == dask,
                "{value} size {size}: Rust's serialize_and_split differs from Dask's"
            );
            // ...and splits Dask's own serialize() output the same way
            let unsplit = py.encode(&ser_doc(&value, json!({"api": "serialize"}))).unwrap();
            let s = OwnedSerialized::from_packed(&Bytes::from(unsplit), &Limits::default()).unwrap();
            let resplit = split_frames(s, Some(size)).unwrap().to_packed().unwrap();
            assert!(
                resplit == dask,
                "{value} size {size}: splitting Dask's header differs"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, split_values().len() * SIZES.len());
}

#[test]
fn split_of_dask_headers_with_pickled_dtypes_matches_dask() {
    // structured and void dtypes travel as `[1, <pickle>]`; Rust cannot
    // encode them (yet), but it must split Dask's headers as Dask does
    let mut py = Harness::start();
    let data = |n: usize| to_hex(&noise(n, 11));
    let cases = [
        (json!([["a", "<i4"], ["b", "<f8"]]), 12, 4),
        (json!([["a", "<i2"], ["b", "|u1"]]), 3, 1),
        (json!([["x", "<f8"], ["y", "<f8"]]), 16, 8),
        (json!([["x", "<i4"], ["y", "<i4"]]), 8, 8),
        (json!("|V3"), 3, 3),
        (json!("|V12"), 12, 4),
    ];
    for (dtype, itemsize, frame_itemsize) in cases {
        let value = json!({"ndarray": {"dtype": dtype, "shape": [7], "data": data(7 * itemsize)}});
        let unsplit = match py.encode(&ser_doc(&value, json!({"api": "serialize"}))) {
            Ok(b) => b,
            Err(e) => panic!("{dtype}: Dask cannot encode: {e}"),
        };
        let s = OwnedSerialized::from_packed(&Bytes::from(unsplit), &Limits::default()).unwrap();
        assert_eq!(frame_itemsizes(&s.header, 1), [frame_itemsize], "{dtype}");
        for size in SIZES {
            let dask = py
                .encode(&ser_doc(
                    &value,
                    json!({"api": "serialize_and_split", "size": size}),
                ))
                .unwrap();
            let ours = split_frames(s.clone(), Some(size)).unwrap().to_packed().unwrap();
            assert!(ours == dask, "{dtype} size {size}: differs from Dask");
        }
    }
}

#[test]
fn dask_merges_rust_splits() {
    // Dask's merge_and_deserialize reads Rust's split output (incl. empty pieces)
    let mut py = Harness::start();
    for value in split_values() {
        let v = Value::from_json(&value).unwrap();
        for size in [8, 20] {
            let blob = serialize_and_split(&v, &SerializeOptions::new().frame_split_size(size))
                .unwrap()
                .to_packed()
                .unwrap();
            let doc = ser_doc(&value, json!({"api": "serialize_and_split", "size": size}));
            py.check(&doc, &blob)
                .unwrap_or_else(|e| panic!("{value} size {size}: {e}"));
            // and Rust decodes it too
            let (back, s) = decode_packed_split(&blob);
            check_decoded(&back, &v, &s.header).unwrap_or_else(|e| panic!("{value} size {size}: {e}"));
        }
    }
}

#[test]
fn int_map_keys_in_a_serialize_bytes_header_fail_on_both_sides() {
    // deserialize_bytes decodes its header with strict map keys
    let v = Value::Bytes(Bytes::from_static(b"x"));
    let blob = serialize_bytes(
        &v,
        &SerializeOptions::new().compression(CompressionOptions::default()),
    )
    .unwrap();
    let frames = unpack_frames(&Bytes::from(blob), &Limits::default()).unwrap();
    let mut header = Header::decode(&frames[0], &Limits::default()).unwrap();
    header.insert("extra", MsgValue::Map(vec![(MsgValue::from(1), MsgValue::Nil)]));
    let head = header.encode().unwrap();
    let bad = pack_frames(&[head.as_slice(), &frames[1]]);
    let e = deserialize_bytes(&Bytes::from(bad.clone()), &DeserializeOptions::new()).unwrap_err();
    assert!(
        e.to_string()
            .contains("int is not allowed for map key when strict_map_key=True"),
        "{e}"
    );
    assert_eq!(e.python_type(), "ValueError");

    let mut py = Harness::start();
    let r = py.request(&json!({
        "op": "decode",
        "case": {"level": "serialize", "params": {"api": "serialize_bytes"}},
        "frames": to_hex(&bad),
    }));
    assert_eq!(r["ok"], json!(false), "{r}");
    assert_eq!(r["error_type"], json!("ValueError"), "{r}");
    assert!(
        r["error_message"]
            .as_str()
            .unwrap()
            .contains("int is not allowed for map key"),
        "{r}"
    );
}

// ---------------------------------------------------------------------------
// zero copy

#[test]
fn split_pieces_share_the_source() {
    // borrowed frames (typed serialization) stay borrowed
    let data: Vec<u8> = noise(100, 1);
    let s = data.dask_serialize().unwrap();
    assert!(matches!(s.frames[0], Frame::Borrowed(_)));
    let s = split_frames(s, Some(30)).unwrap();
    assert_eq!(s.frames.len(), 4);
    for (i, f) in s.frames.iter().enumerate() {
        assert!(matches!(f, Frame::Borrowed(_)), "piece {i} was copied");
        assert_eq!(f.as_ptr(), data[i * 30..].as_ptr());
    }
    // shared frames become slices of the same Bytes
    let b = Bytes::from(noise(100, 2));
    let v = Value::Bytes(b.clone());
    let s = serialize_and_split(&v, &SerializeOptions::new().frame_split_size(30)).unwrap();
    for (i, f) in s.frames.iter().enumerate() {
        assert!(matches!(f, Frame::Shared(_)));
        assert_eq!(f.as_ptr(), b[i * 30..].as_ptr());
    }
    // a frame no larger than the size is passed through untouched
    let s = serialize_and_split(&v, &SerializeOptions::new().frame_split_size(100)).unwrap();
    assert_eq!((s.frames.len(), s.frames[0].as_ptr()), (1, b.as_ptr()));
}

#[test]
fn adjacent_pieces_merge_into_a_slice_of_the_parent() {
    let b = Bytes::from(noise(1000, 3));
    let v = Value::Bytes(b.clone());
    let s = serialize_and_split(&v, &SerializeOptions::new().frame_split_size(64)).unwrap();
    let blob = Bytes::from(s.to_packed().unwrap());
    let s = OwnedSerialized::from_packed(&blob, &Limits::default()).unwrap();
    let pieces = s.frame_bytes();
    assert_eq!(pieces.len(), 16);

    let merged = merge_frames(&s.header, pieces.clone(), Some(&blob)).unwrap();
    assert_eq!(merged.len(), 1);
    assert_eq!(merged[0], b);
    assert_eq!(merged[0].as_ptr(), pieces[0].as_ptr(), "merged without copying");
    let inside = blob.as_ptr_range();
    assert!(inside.contains(&merged[0].as_ptr()));

    // without the parent the pieces are copied once
    let copied = merge_frames(&s.header, pieces.clone(), None).unwrap();
    assert_eq!(copied[0], b);
    assert!(!inside.contains(&copied[0].as_ptr()));

    // pieces out of order in the parent are copied, not sliced
    let h = split_header(&[2], &[0]);
    let swapped = merge_frames(&h, vec![pieces[1].clone(), pieces[0].clone()], Some(&blob)).unwrap();
    assert_eq!(&swapped[0][..64], &pieces[1][..]);

    // one piece: the piece itself
    let one = merge_frames(&split_header(&[1], &[0]), vec![pieces[3].clone()], None).unwrap();
    assert_eq!(one[0].as_ptr(), pieces[3].as_ptr());

    // deserialize_bytes: uncompressed split pieces come back as a view of the blob
    let blob = Bytes::from(
        serialize_bytes(
            &v,
            &SerializeOptions::new()
                .compression(CompressionOptions::default())
                .frame_split_size(64),
        )
        .unwrap(),
    );
    let Value::Bytes(back) = deserialize_bytes(&blob, &DeserializeOptions::new()).unwrap() else {
        panic!()
    };
    assert_eq!(back, b);
    assert!(
        blob.as_ptr_range().contains(&back.as_ptr()),
        "deserialize_bytes copied"
    );
}

// ---------------------------------------------------------------------------
// malformed input

#[test]
fn malformed_split_keys_are_errors() {
    let frames = || vec![Bytes::from_static(b"abcd"), Bytes::from_static(b"ef")];
    let v = Value::Bytes(Bytes::from_static(b"abcdef"));
    let s = serialize(&v, &SerializeOptions::new()).unwrap();
    let base = s.header.clone();
    for (nums, offs, why) in [
        (vec![2], vec![1], "offset past the end"),
        (vec![3], vec![0], "count past the end"),
        (vec![1], vec![0], "counts do not cover the frames"),
        (vec![1, 1], vec![0, 0], "overlapping pieces"),
        (vec![2], vec![0, 2], "lengths differ"),
        (vec![-1], vec![0], "negative count"),
        (vec![2], vec![i64::MAX], "offset overflow"),
    ] {
        let mut h = base.clone();
        for (k, val) in split_header(&nums, &offs).into_entries() {
            h.insert(k.as_str().unwrap(), val);
        }
        let e = merge_and_deserialize(&h, frames(), &DeserializeOptions::new());
        assert!(e.is_err(), "{why}: {e:?}");
        assert!(merge_frames(&h, frames(), None).is_err(), "{why}");
    }
    let mut h = base.clone();
    h.insert("split-num-sub-frames", MsgValue::from("2"));
    h.insert("split-offsets", MsgValue::Array(vec![0.into()]));
    assert!(merge_frames(&h, frames(), None).is_err());

    // the same through deserialize_bytes
    let mut h = base;
    for (k, val) in split_header(&[5], &[0]).into_entries() {
        h.insert(k.as_str().unwrap(), val);
    }
    h.insert("compression", MsgValue::Array(vec![MsgValue::Nil, MsgValue::Nil]));
    h.insert("count", 2);
    let head = h.encode().unwrap();
    let blob = pack_frames(&[head.as_slice(), b"abcd", b"ef"]);
    assert!(matches!(
        deserialize_bytes(&Bytes::from(blob), &DeserializeOptions::new()),
        Err(Error::Frames(_))
    ));
}

#[test]
fn malformed_serialize_bytes_blobs_are_errors() {
    let v = Value::Bytes(Bytes::from(vec![0u8; 50_000]));
    let good = serialize_bytes(
        &v,
        &SerializeOptions::new().compression(CompressionOptions::with_codec("lz4")),
    )
    .unwrap();
    let frames = unpack_frames(&Bytes::from(good.clone()), &Limits::default()).unwrap();
    let header = Header::decode(&frames[0], &Limits::default()).unwrap();
    let rebuild = |h: &Header, payload: &[&[u8]]| {
        let head = h.encode().unwrap();
        let mut parts: Vec<&[u8]> = vec![&head];
        parts.extend_from_slice(payload);
        Bytes::from(pack_frames(&parts))
    };
    let d = DeserializeOptions::new();
    assert_eq!(deserialize_bytes(&Bytes::from(good), &d).unwrap(), v);

    // unknown codec: Python's KeyError
    let mut h = header.clone();
    h.insert("compression", MsgValue::Array(vec!["brotli".into()]));
    let e = deserialize_bytes(&rebuild(&h, &[&frames[1]]), &d).unwrap_err();
    assert_eq!(e, Error::UnknownCodec("brotli".into()));
    assert_eq!(e.python_type(), "KeyError");
    // compression list of the wrong length, or missing
    let mut h = header.clone();
    h.insert("compression", MsgValue::Array(vec!["lz4".into(), MsgValue::Nil]));
    assert!(deserialize_bytes(&rebuild(&h, &[&frames[1]]), &d).is_err());
    let mut h = header.clone();
    h.remove("compression");
    assert!(deserialize_bytes(&rebuild(&h, &[&frames[1]]), &d).is_err());
    // count that disagrees
    let mut h = header.clone();
    h.insert("count", 3);
    assert!(deserialize_bytes(&rebuild(&h, &[&frames[1]]), &d).is_err());
    // corrupt payload
    let mut bad = frames[1].to_vec();
    let n = bad.len();
    bad.truncate(n - 3);
    assert!(deserialize_bytes(&rebuild(&header, &[&bad]), &d).is_err());
    // declared size above the limit, refused before allocating
    let tight = DeserializeOptions::new().limits(Limits {
        max_frame_bytes: 40_000,
        ..Limits::default()
    });
    let e = deserialize_bytes(&rebuild(&header, &[&frames[1]]), &tight).unwrap_err();
    assert!(matches!(e, Error::Limit { .. }), "{e}");
    // no header frame / empty header
    assert!(deserialize_bytes(&Bytes::from(pack_frames::<&[u8]>(&[])), &d).is_err());
    assert!(deserialize_bytes(&Bytes::from(pack_frames(&[b"".as_slice()])), &d).is_err());
    // the total of decompressed frames is bounded too
    let two = rebuild(
        &{
            let mut h = header.clone();
            h.insert("split-num-sub-frames", MsgValue::Array(vec![2.into()]));
            h.insert("compression", MsgValue::Array(vec!["lz4".into(), "lz4".into()]));
            h.insert("count", 2);
            h
        },
        &[&frames[1], &frames[1]],
    );
    assert_eq!(
        deserialize_bytes(&two, &d).unwrap(),
        Value::Bytes(Bytes::from(vec![0u8; 100_000]))
    );
    let total = DeserializeOptions::new().limits(Limits {
        max_total_bytes: 90_000,
        ..Limits::default()
    });
    assert!(matches!(
        deserialize_bytes(&two, &total),
        Err(Error::Limit { .. })
    ));
}

#[test]
fn corrupt_frames_of_every_codec_are_errors() {
    let data: Vec<u8> = (0..60_000u32).map(|i| (i % 97) as u8).collect();
    let l = Limits::default();
    for codec in ["lz4", "zstd", "zlib", "snappy"] {
        let packed = compress(codec, &data, &CompressionOptions::default()).unwrap();
        assert_eq!(decompress(codec, &packed, &l).unwrap(), data);
        let n = packed.len();
        for cut in [0, 1, 3, n / 2, n - 1] {
            let r = decompress(codec, &packed.slice(..cut), &l);
            assert!(
                r.is_err(),
                "{codec}: truncated to {cut} bytes decoded to {} bytes",
                r.unwrap().len()
            );
        }
        assert!(
            decompress(codec, &Bytes::from(noise(1000, 9)), &l).is_err(),
            "{codec}: noise"
        );
    }
    assert!(matches!(
        decompress("lzma", &Bytes::new(), &l),
        Err(Error::UnknownCodec(name)) if name == "lzma"
    ));
    assert!(decompress_frames(Some(&[Some("nope".into())]), vec![Bytes::new()], &l).is_err());
    assert!(decompress_frames(Some(&[None]), vec![], &l).is_err());
}

#[test]
fn declared_sizes_above_the_limit_are_refused() {
    let data = vec![3u8; 100_000];
    let tight = Limits {
        max_frame_bytes: 99_999,
        ..Limits::default()
    };
    for codec in Codec::available() {
        let packed = compress(codec.name(), &data, &CompressionOptions::default()).unwrap();
        let e = decompress(codec.name(), &packed, &tight).unwrap_err();
        assert!(matches!(e, Error::Limit { .. }), "{codec}: {e}");
        let exact = Limits {
            max_frame_bytes: 100_000,
            ..Limits::default()
        };
        assert_eq!(decompress(codec.name(), &packed, &exact).unwrap().len(), 100_000);
    }
    // hand-made bombs: tiny inputs declaring huge outputs
    let l = Limits::unbounded();
    let lz4 = Bytes::from_static(&[0x00, 0x00, 0x00, 0x80, 0x1f, 0x00, 0x01, 0x00]);
    assert!(decompress("lz4", &lz4, &l).is_err());
    let snappy = Bytes::from_static(&[0x80, 0x80, 0x80, 0x80, 0x08, 0x00]);
    assert!(decompress("snappy", &snappy, &l).is_err());
    // zstd frame header declaring 2^40 bytes (single segment, 8-byte size) then an empty raw block
    let mut zstd = vec![0x28, 0xb5, 0x2f, 0xfd, 0xe0];
    zstd.extend_from_slice(&(1u64 << 40).to_le_bytes());
    zstd.extend_from_slice(&[0x01, 0x00, 0x00]);
    assert!(decompress("zstd", &Bytes::from(zstd), &l).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Mutated compressed frames never panic and never exceed the limit.
    #[test]
    fn mutated_compressed_frames_never_panic(
        codec in prop::sample::select(vec!["lz4", "zstd", "zlib", "snappy"]),
        seed in any::<u64>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut data = noise(3_000, seed);
        data.extend(std::iter::repeat_n(data[0], 20_000));
        let packed = compress(codec, &data, &CompressionOptions::default()).unwrap();
        let mut bad = packed.to_vec();
        for (at, byte) in &edits {
            let i = at.index(bad.len());
            bad[i] ^= byte | 1;
        }
        if truncate {
            bad.truncate(cut.index(bad.len()));
        }
        let limits = Limits { max_frame_bytes: 1 << 20, ..Limits::default() };
        if let Ok(out) = decompress(codec, &Bytes::from(bad), &limits) {
            prop_assert!(out.len() <= 1 << 20);
        }
    }

    /// Splitting then merging gives the frames back, whatever the size.
    #[test]
    fn split_then_merge_round_trips(len in 0usize..600, size in 1usize..200, seed in any::<u64>()) {
        let v = Value::Tuple(vec![
            Value::Bytes(Bytes::from(noise(len, seed))),
            Value::from_json(&json!({"pyarray": {"typecode": "d", "data": to_hex(&noise(len / 8 * 8, seed ^ 1))}})).unwrap(),
        ]);
        let s = serialize_and_split(&v, &SerializeOptions::new().frame_split_size(size)).unwrap();
        for f in &s.frames {
            prop_assert!(f.len() <= size.max(8));
        }
        let blob = Bytes::from(s.to_packed().unwrap());
        let s = OwnedSerialized::from_packed(&blob, &Limits::default()).unwrap();
        let back = merge_and_deserialize_with(
            &Registry::global(),
            &s.header,
            s.frame_bytes(),
            Some(&blob),
            &DeserializeOptions::new(),
        )
        .unwrap();
        prop_assert_eq!(back, v);
    }
}

// ---------------------------------------------------------------------------
// maybe_compress

#[test]
fn maybe_compress_boundaries() {
    let zeros = vec![0u8; 10_000];
    let random = noise(10_000, 5);
    for codec in Codec::available() {
        let opts = CompressionOptions::with_codec(codec.name());
        let (c, f) = maybe_compress(Frame::from(&zeros[..9_999]), &opts).unwrap();
        assert_eq!((c, f.as_ptr()), (None, zeros.as_ptr()), "{codec}: 9 999 bytes");
        let (c, f) = maybe_compress(Frame::from(&zeros[..]), &opts).unwrap();
        assert_eq!(c, Some(codec.name()), "{codec}: 10 000 zeros");
        assert_eq!(
            decompress(codec.name(), &f.into_bytes(), &Limits::default()).unwrap(),
            zeros
        );
        let (c, f) = maybe_compress(Frame::from(&random[..]), &opts).unwrap();
        assert_eq!((c, f.as_ptr()), (None, random.as_ptr()), "{codec}: random");
    }
    // compression off, or "auto" = lz4
    let (c, _) = maybe_compress(Frame::from(&zeros[..]), &CompressionOptions::default()).unwrap();
    assert_eq!(c, None);
    let (c, _) = maybe_compress(Frame::from(&zeros[..]), &CompressionOptions::auto()).unwrap();
    assert_eq!(c, Some("lz4"));
    // the thresholds are Dask's
    let d = CompressionOptions::default();
    assert_eq!(
        (
            d.min_size,
            d.max_size,
            d.sample_size,
            d.nsamples,
            d.min_ratio,
            d.zstd_level
        ),
        (10_000, 1 << 31, 10_000, 5, 0.7, 3)
    );
    assert_eq!(compression::MIN_COMPRESS_SIZE, 10_000);
    // a frame that is compressible at every sample point but not overall
    // is judged on the whole frame
    let mut mixed = vec![0u8; 200_000];
    for (i, b) in noise(200_000, 8).into_iter().enumerate() {
        if i % 49_000 >= 10_000 {
            mixed[i] = b;
        }
    }
    let (c, _) = maybe_compress(Frame::from(&mixed[..]), &CompressionOptions::with_codec("lz4")).unwrap();
    assert_eq!(c, None);
}

#[test]
fn zstd_level_is_configurable() {
    let data: Vec<u8> = (0..200_000u32)
        .map(|i| (((i * 7) % 251) ^ (i >> 9)) as u8)
        .collect();
    let fast = compress("zstd", &data, &CompressionOptions::default().zstd_level(1)).unwrap();
    let best = compress("zstd", &data, &CompressionOptions::default().zstd_level(19)).unwrap();
    assert!(best.len() <= fast.len());
    for z in [fast, best] {
        assert_eq!(decompress("zstd", &z, &Limits::default()).unwrap(), data);
    }
}
