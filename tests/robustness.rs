//! Bad input never panics and never allocates beyond the limits: random
//! bytes and mutations (truncation, bit flips, length/offset changes) of
//! every fixture are decoded at every layer.
//!
//! The case count is bounded for the normal test run; set
//! `PROPTEST_CASES=100000` for a long run.

mod common;

use dask_serde::bytes::Bytes;
use dask_serde::{deserialize_any, DeserializeOptions, Header, Limits, MsgValue, OwnedSerialized, PyType};
use proptest::prelude::*;

/// Tight limits so that "never allocates beyond the limits" is exercised.
fn limits() -> Limits {
    Limits {
        max_frames: 4096,
        max_frame_bytes: 1 << 20,
        max_total_bytes: 1 << 22,
        max_depth: 64,
        max_nesting: 32,
        max_eager_frame_bytes: 1 << 16,
    }
}

/// Decodes a blob through every layer; the result may be an error but must
/// not panic.
fn decode_all(blob: &[u8]) {
    let blob = Bytes::copy_from_slice(blob);
    let l = limits();
    let _ = dask_serde::pack::unpack_frames(&blob, &l);
    let _ = MsgValue::decode(&blob, &l);
    let _ = PyType::from_type_serialized(&blob);
    if let Ok(s) = OwnedSerialized::from_packed(&blob, &l) {
        let opts = DeserializeOptions::new().limits(l);
        let _ = deserialize_any(&s.header, &s.frame_bytes(), &opts);
        let strict = DeserializeOptions::new()
            .limits(l)
            .deserializers(["dask", "msgpack"]);
        let _ = deserialize_any(&s.header, &s.frame_bytes(), &strict);
    }
    // the blob as a header on its own, with no frames
    if let Ok(h) = Header::decode(&blob, &l) {
        let _ = deserialize_any(&h, &[], &DeserializeOptions::new().limits(l));
    }
}

fn fixtures() -> Vec<Vec<u8>> {
    common::vectors().into_iter().map(|v| v.blob.to_vec()).collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    FlipBit(usize, u8),
    SetByte(usize, u8),
    /// overwrite 8 bytes (a prelude count/length) with a chosen u64
    SetU64(usize, u64),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (
            any::<usize>(),
            prop_oneof![
                Just(0u64),
                Just(1),
                Just(u64::MAX),
                Just(1 << 62),
                Just(1 << 32),
                any::<u64>()
            ]
        )
            .prop_map(|(i, v)| Mutation::SetU64(i, v)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn apply(mut b: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if b.is_empty() {
            break;
        }
        let n = b.len();
        match m {
            Mutation::Truncate(i) => b.truncate(i % n),
            Mutation::FlipBit(i, bit) => b[i % n] ^= 1 << bit,
            Mutation::SetByte(i, v) => b[i % n] = *v,
            Mutation::SetU64(i, v) => {
                // mostly hit the prelude, sometimes anywhere
                let at = if i % 2 == 0 { (i / 2 % 8) * 8 } else { i % n };
                for (k, byte) in v.to_le_bytes().iter().enumerate() {
                    if at + k < n {
                        b[at + k] = *byte;
                    }
                }
            }
            Mutation::Insert(i, bytes) => {
                let at = i % (n + 1);
                b.splice(at..at, bytes.iter().copied());
            }
            Mutation::Remove(i, k) => {
                let at = i % n;
                let end = (at + k).min(n);
                b.drain(at..end);
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn mutated_fixtures_never_panic(idx in any::<usize>(), muts in proptest::collection::vec(mutation(), 1..4)) {
        let all = fixtures();
        let blob = apply(all[idx % all.len()].clone(), &muts);
        decode_all(&blob);
    }

    #[test]
    fn mutated_headers_never_panic(idx in any::<usize>(), muts in proptest::collection::vec(mutation(), 1..4)) {
        // mutate only the msgpack header (frame 0), keeping the prelude valid
        let all = fixtures();
        let blob = Bytes::from(all[idx % all.len()].clone());
        let frames = dask_serde::pack::unpack_frames(&blob, &Limits::default()).unwrap();
        let mut parts: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
        parts[0] = apply(parts[0].clone(), &muts);
        decode_all(&dask_serde::pack::pack_frames(&parts));
    }

    #[test]
    fn random_bytes_never_panic(blob in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&blob);
    }
}

#[test]
fn every_truncation_of_every_fixture_is_an_error_or_consistent() {
    for v in common::vectors() {
        for cut in 0..v.blob.len() {
            let b = &v.blob[..cut];
            assert!(
                dask_serde::pack::unpack_frames(&Bytes::copy_from_slice(b), &Limits::default()).is_err(),
                "{}: truncated to {cut} bytes must not unpack",
                v.name
            );
            decode_all(b);
        }
    }
}

#[test]
fn absurd_counts_are_refused_before_allocating() {
    // a prelude announcing 2^40 frames in a 16-byte blob
    let mut blob = (1u64 << 40).to_le_bytes().to_vec();
    blob.extend_from_slice(&[0; 8]);
    let err = dask_serde::pack::unpack_frames(&Bytes::from(blob), &Limits::default()).unwrap_err();
    assert!(err.to_string().contains("frame count"), "{err}");
    // msgpack array32 of 4 billion items in 5 bytes
    let err = MsgValue::decode(
        &Bytes::from_static(&[0xdd, 0xff, 0xff, 0xff, 0xff]),
        &Limits::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("array of 4294967295 items"), "{err}");
    // a collection header claiming more frames than given
    let mut h = Header::new();
    h.insert("sub-headers", MsgValue::Array(vec![MsgValue::Map(vec![])]));
    h.insert("is-collection", true);
    h.insert("frame-lengths", MsgValue::Array(vec![MsgValue::Int(1 << 40)]));
    h.insert("type-serialized", "list");
    let err = deserialize_any(&h, &[], &DeserializeOptions::new()).unwrap_err();
    assert!(err.to_string().contains("collection item 0"), "{err}");
    // deep nesting in a header
    let deep = [vec![0x91u8; 100_000], vec![0xc0]].concat();
    assert!(MsgValue::decode(&Bytes::from(deep), &Limits::default()).is_err());
}

#[test]
fn ndarray_extents_are_validated() {
    use dask_serde::family::dask::dask_header;
    let cases: &[(&[i128], &[i128], usize)] = &[
        (&[4], &[8], 31),                  // one byte short
        (&[4], &[-8], 32),                 // negative stride from offset 0
        (&[3, 4], &[1 << 60, 8], 64),      // huge stride
        (&[1 << 62, 1 << 62], &[8, 8], 8), // overflowing shape
        // zero strides: the extent is one item, but the element count is
        // beyond what any array can hold (numpy: "array is too big")
        (&[u64::MAX as i128], &[0], 8),
        (&[1 << 32, 1 << 32], &[0, 0], 8),
        (&[1 << 61, 2], &[0, 0], 8), // 2**62 items of 8 bytes
    ];
    for (shape, strides, len) in cases {
        let sub = MsgValue::Map(vec![
            (
                "dtype".into(),
                MsgValue::Array(vec![MsgValue::Int(0), "<f8".into()]),
            ),
            (
                "shape".into(),
                MsgValue::Array(shape.iter().map(|d| MsgValue::Int(*d)).collect()),
            ),
            (
                "strides".into(),
                MsgValue::Array(strides.iter().map(|d| MsgValue::Int(*d)).collect()),
            ),
            ("writeable".into(), MsgValue::Array(vec![MsgValue::Bool(true)])),
        ]);
        let h = dask_header(sub, &PyType::ndarray());
        let err =
            deserialize_any(&h, &[Bytes::from(vec![0u8; *len])], &DeserializeOptions::new()).unwrap_err();
        assert!(
            matches!(err, dask_serde::Error::Frames(_)),
            "{shape:?} {strides:?}: {err}"
        );
    }
}

/// A broadcast view is an array like any other: its element count and the
/// bytes of its elements must fit `isize`, so `size()` and the conversions
/// that multiply it by the item size never overflow.
#[test]
fn broadcast_views_must_fit_isize() {
    use dask_serde::NdArray;
    let one = NdArray::from_c_order("<f8", vec![1], Bytes::from(vec![0u8; 8])).unwrap();
    let fine = one.broadcast_to(&[1 << 20, 3]).unwrap();
    assert_eq!(fine.size(), 3 << 20);
    assert_eq!(fine.strides(), &[0, 0]);
    for shape in [&[usize::MAX][..], &[1 << 32, 1 << 32], &[1 << 60, 8]] {
        let err = one.broadcast_to(shape).unwrap_err();
        assert!(err.to_string().contains("array is too big"), "{shape:?}: {err}");
        let err = NdArray::new(
            "<f8",
            shape.to_vec(),
            vec![0; shape.len()],
            0,
            Bytes::from(vec![0u8; 8]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("array is too big"), "{shape:?}: {err}");
    }
}

/// The deepest inputs the limits allow are handled in an ordinary test
/// thread (2 MiB stack, debug build): nothing overflows the stack, and one
/// level more is a clear error.
#[test]
fn nesting_at_the_limits_fits_a_small_stack() {
    use dask_serde::{serialize, SerializeOptions, Value};
    let deepest = |d: usize| {
        let mut x = Value::Bytes(Bytes::from_static(b"x"));
        for i in 0..d {
            x = if i % 2 == 0 {
                Value::List(vec![x])
            } else {
                Value::Dict(vec![(Value::from(1), x)])
            };
        }
        x
    };
    let max = Limits::default().max_nesting;
    let x = deepest(max - 1);
    let s = serialize(&x, &SerializeOptions::new()).unwrap();
    let back = deserialize_any(&s.header, &s.frame_bytes(), &DeserializeOptions::new()).unwrap();
    assert_eq!(back, x);
    assert_eq!(Value::from_json(&x.to_json()).unwrap(), x);
    let too_deep = deepest(max + 1);
    assert!(serialize(&too_deep, &SerializeOptions::new()).is_err());
    // a hand-made collection header nested past the limit is refused
    let mut h = MsgValue::Map(vec![("serializer".into(), "msgpack".into())]);
    for _ in 0..max + 2 {
        h = MsgValue::Map(vec![
            ("sub-headers".into(), MsgValue::Array(vec![h])),
            ("is-collection".into(), MsgValue::Bool(true)),
            ("frame-lengths".into(), MsgValue::Array(vec![MsgValue::Int(0)])),
            ("type-serialized".into(), "list".into()),
        ]);
    }
    let err = deserialize_any(&Header::from_value(h).unwrap(), &[], &DeserializeOptions::new()).unwrap_err();
    assert!(matches!(err, dask_serde::Error::Limit { .. }), "{err}");
    // msgpack itself: 1024 nested arrays decode (msgpack-python's limit) as
    // a header value; as a payload turned into a dynamic Value, the nesting
    // limit applies
    let ok = [vec![0x91u8; 1023], vec![0x90]].concat();
    let m = MsgValue::decode(&Bytes::from(ok.clone()), &Limits::default()).unwrap();
    drop(m);
    let deeper = [vec![0x91u8; 1024], vec![0x90]].concat();
    assert!(MsgValue::decode(&Bytes::from(deeper), &Limits::default()).is_err());
    let mut h = Header::new();
    h.insert("serializer", "msgpack");
    let err = deserialize_any(&h, &[Bytes::from(ok)], &DeserializeOptions::new()).unwrap_err();
    assert!(matches!(err, dask_serde::Error::Limit { .. }), "{err}");
    let fits = [[0x81u8, 0x00].repeat(max), vec![0xc0]].concat();
    let v = deserialize_any(&h, &[Bytes::from(fits)], &DeserializeOptions::new()).unwrap();
    assert!(v == v.clone());
}
