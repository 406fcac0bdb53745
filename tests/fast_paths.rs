//! Collections of typed values are written straight to msgpack and read
//! back in place (no tree per item). These tests pin that the fast paths
//! are invisible: the same bytes as encoding the header tree, the same
//! values as decoding the tree, the same errors for anything malformed.

use std::collections::{BTreeSet, HashSet};

use dask_serde::bytes::Bytes;
use dask_serde::{
    Array, DaskDeserialize, DaskSerialize, Error, Header, Limits, MsgValue, NdArray, Serialized,
};
use proptest::prelude::*;

/// The header's msgpack must equal the encoding of its own tree.
fn assert_canonical(s: &Serialized<'_>) {
    let fast = s.header.encode().unwrap();
    let tree = Header::from_entries(s.header.entries().to_vec())
        .encode()
        .unwrap();
    assert_eq!(fast, tree);
}

/// A tree-only copy of a header: decoders must take the general path.
fn tree(h: &Header) -> Header {
    Header::from_entries(h.entries().to_vec())
}

/// A header decoded from msgpack (what a receiver has): the fast path.
fn wire(h: &Header) -> Header {
    Header::decode(&Bytes::from(h.encode().unwrap()), &Limits::default()).unwrap()
}

/// Decoding through the fast path and through the tree path agree: equal
/// values, or errors with the same text.
fn agree<T: DaskDeserialize + PartialEq + std::fmt::Debug>(
    h: &Header,
    frames: &[Bytes],
) -> Result<T, String> {
    let fast = T::dask_deserialize(&wire(h), frames).map_err(|e| e.to_string());
    let slow = T::dask_deserialize(&tree(h), frames).map_err(|e| e.to_string());
    assert_eq!(fast, slow);
    fast
}

fn f64_bytes(v: &[f64]) -> Bytes {
    Bytes::from(v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
}

/// Arrays of every layout the numpy encoder distinguishes.
fn arrays() -> Vec<NdArray> {
    let data = f64_bytes(&(0..24).map(f64::from).collect::<Vec<_>>());
    let mut v = vec![
        NdArray::from_c_order("<f8", vec![24], data.clone()).unwrap(),
        NdArray::from_c_order("<f8", vec![4, 6], data.clone()).unwrap(),
        NdArray::from_f_order("<f8", vec![4, 6], data.clone()).unwrap(),
        NdArray::from_c_order("<f8", vec![1, 2, 1, 3, 2, 2], data.clone()).unwrap(),
        // every other element
        NdArray::new("<f8", vec![12], vec![16], 0, data.clone()).unwrap(),
        // reversed
        NdArray::new("<f8", vec![24], vec![-8], 23 * 8, data.clone()).unwrap(),
        // one element, negative stride (contiguous for numpy)
        NdArray::new("<f8", vec![1], vec![-8], 8, data.clone()).unwrap(),
        // 0-d, empty, broadcast
        NdArray::new("<f8", vec![], vec![], 8, data.clone()).unwrap(),
        NdArray::from_c_order("<f8", vec![0, 3], Bytes::new()).unwrap(),
        NdArray::from_c_order("<f8", vec![3], data.slice(..24))
            .unwrap()
            .broadcast_to(&[2, 3])
            .unwrap(),
        NdArray::from_c_order(">f8", vec![24], data.clone()).unwrap(),
        NdArray::from_c_order("<i4", vec![48], data.clone()).unwrap(),
        NdArray::from_c_order("|u1", vec![8, 24], data.clone()).unwrap(),
    ];
    v.push(v[1].clone().with_writeable(false));
    v
}

#[test]
fn collection_headers_are_the_bytes_of_their_trees() {
    let nds = arrays();
    let s = nds.dask_serialize().unwrap();
    assert_canonical(&s);
    assert_eq!(s.frames.len(), nds.len());
    // every sub-header is exactly the item's own header
    let subs = s.header.get("sub-headers").unwrap().as_array().unwrap();
    for (nd, sub) in nds.iter().zip(subs) {
        let own = nd.dask_serialize().unwrap();
        assert_eq!(&own.header.clone().into_value(), sub);
    }

    let typed: Vec<Array<f64>> = (1..50)
        .map(|n| Array::from_vec((0..n).map(f64::from).collect()))
        .collect();
    assert_canonical(&typed.dask_serialize().unwrap());
    let vecs: Vec<Vec<i32>> = vec![vec![], vec![1], (0..300).collect()];
    assert_canonical(&vecs.dask_serialize().unwrap());
    let nested = vec![typed.clone(), vec![], typed[..3].to_vec()];
    assert_canonical(&nested.dask_serialize().unwrap());
    let tuple = (
        Array::from_vec(vec![1.5f32]),
        Bytes::from_static(b"xy"),
        vec![7u16, 8],
    );
    assert_canonical(&tuple.dask_serialize().unwrap());
    let set: BTreeSet<Vec<u8>> = [b"a".to_vec(), b"bc".to_vec()].into();
    assert_canonical(&set.dask_serialize().unwrap());
}

#[test]
fn fast_decoding_matches_the_tree_path_and_shares_frames() {
    let typed: Vec<Array<f64>> = (0..100)
        .map(|n| Array::from_vec((0..n).map(f64::from).collect()))
        .collect();
    let s = typed.dask_serialize().unwrap();
    let frames = s.frame_bytes();
    let back: Vec<Array<f64>> = agree(&s.header, &frames).unwrap();
    assert_eq!(back, typed);
    // the fast path views the frames (no copy), as the tree path does
    let fast = Vec::<Array<f64>>::dask_deserialize(&wire(&s.header), &frames).unwrap();
    for (a, f) in fast.iter().zip(&frames) {
        assert!(a.shares_frame(f));
    }
    // the header the serializer returned is read in place too
    let direct = Vec::<Array<f64>>::dask_deserialize(&s.header, &frames).unwrap();
    assert_eq!(direct, typed);

    let vecs: Vec<Vec<f64>> = typed.iter().map(Array::to_vec).collect();
    assert_eq!(agree::<Vec<Vec<f64>>>(&s.header, &frames).unwrap(), vecs);
    let set: HashSet<Vec<i64>> = [vec![1i64, 2], vec![3]].into();
    let s2 = set.dask_serialize().unwrap();
    assert_eq!(
        agree::<HashSet<Vec<i64>>>(&s2.header, &s2.frame_bytes()).unwrap(),
        set
    );

    // every layout, decoded as NdArray (general path inside) and typed
    let nds = arrays();
    let s = nds.dask_serialize().unwrap();
    let frames = s.frame_bytes();
    assert_eq!(agree::<Vec<NdArray>>(&s.header, &frames).unwrap(), nds);
    let f8: Vec<NdArray> = nds
        .iter()
        .filter(|a| a.dtype().str() == "<f8" || a.dtype().str() == ">f8")
        .cloned()
        .collect();
    let s = f8.dask_serialize().unwrap();
    let back: Vec<Array<f64>> = agree(&s.header, &s.frame_bytes()).unwrap();
    assert_eq!(back.len(), f8.len());
    // other element types are refused the same way by both paths
    let s = nds.dask_serialize().unwrap();
    assert!(agree::<Vec<Array<f64>>>(&s.header, &s.frame_bytes()).is_err());
}

#[test]
fn misaligned_frames_fall_back_to_one_copy() {
    let typed: Vec<Array<f64>> = (1..5).map(|n| Array::from_vec(vec![n as f64; n])).collect();
    let s = typed.dask_serialize().unwrap();
    let frames: Vec<Bytes> = s
        .frame_bytes()
        .iter()
        .map(|f| {
            let mut v = vec![0u8];
            v.extend_from_slice(f);
            Bytes::from(v).slice(1..)
        })
        .collect();
    let back: Vec<Array<f64>> = agree(&s.header, &frames).unwrap();
    assert_eq!(back, typed);
}

/// Edits a collection header's tree and returns it as a fresh header.
fn edit(h: &Header, f: impl FnOnce(&mut Vec<(MsgValue, MsgValue)>)) -> Header {
    let mut e = h.entries().to_vec();
    f(&mut e);
    Header::from_entries(e)
}

fn entry<'a>(e: &'a mut [(MsgValue, MsgValue)], key: &str) -> &'a mut MsgValue {
    &mut e.iter_mut().find(|(k, _)| k.as_str() == Some(key)).unwrap().1
}

fn sub_header(e: &mut [(MsgValue, MsgValue)], i: usize) -> &mut Vec<(MsgValue, MsgValue)> {
    match entry(e, "sub-headers") {
        MsgValue::Array(items) => match &mut items[i] {
            MsgValue::Map(m) => m,
            _ => unreachable!(),
        },
        _ => unreachable!(),
    }
}

#[test]
fn malformed_collections_give_the_tree_paths_errors() {
    let typed: Vec<Array<f64>> = (1..5).map(|n| Array::from_vec(vec![0.5; n])).collect();
    let s = typed.dask_serialize().unwrap();
    let frames = s.frame_bytes();
    let h = &s.header;
    let cases: Vec<(&str, Header, Vec<Bytes>)> = vec![
        ("one frame missing", h.clone(), frames[..3].to_vec()),
        (
            "frame length 2",
            edit(h, |e| {
                *entry(e, "frame-lengths") = MsgValue::from(
                    vec![2, 1, 1, 0]
                        .into_iter()
                        .map(MsgValue::from)
                        .collect::<Vec<_>>(),
                )
            }),
            frames.clone(),
        ),
        (
            "no is-collection",
            edit(h, |e| e.retain(|(k, _)| k.as_str() != Some("is-collection"))),
            frames.clone(),
        ),
        (
            "dict kind",
            edit(h, |e| *entry(e, "type-serialized") = "dict".into()),
            frames.clone(),
        ),
        (
            "odd kind",
            edit(h, |e| *entry(e, "type-serialized") = "deque".into()),
            frames.clone(),
        ),
        (
            "shape larger than the frame",
            edit(h, |e| {
                let sub = sub_header(e, 2);
                let MsgValue::Map(inner) = &mut sub[0].1 else {
                    unreachable!()
                };
                inner[1].1 = MsgValue::from(vec![MsgValue::from(99)]);
            }),
            frames.clone(),
        ),
        (
            "byte-swapped dtype",
            edit(h, |e| {
                let sub = sub_header(e, 1);
                let MsgValue::Map(inner) = &mut sub[0].1 else {
                    unreachable!()
                };
                inner[0].1 = MsgValue::from(vec![MsgValue::from(0), MsgValue::from(">f8")]);
            }),
            frames
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    if i == 1 {
                        Bytes::from(
                            f.chunks(8)
                                .flat_map(|c| c.iter().rev().copied())
                                .collect::<Vec<u8>>(),
                        )
                    } else {
                        f.clone()
                    }
                })
                .collect(),
        ),
        (
            "extra key in a sub-header",
            edit(h, |e| sub_header(e, 0).push(("key".into(), 3.into()))),
            frames.clone(),
        ),
        (
            "not the dask family",
            edit(h, |e| sub_header(e, 3)[3].1 = "pickle".into()),
            frames.clone(),
        ),
        (
            // "type" is not read by the tree path: a non-string there must
            // not make the fast path read its items as keys
            "a type that is not a string",
            edit(h, |e| {
                let sub = sub_header(e, 1);
                let inner = sub[0].1.clone();
                sub[1].1 = MsgValue::Array(vec!["sub-header".into(), inner]);
            }),
            frames.clone(),
        ),
        (
            "a sub-header that is not a map",
            edit(h, |e| {
                let MsgValue::Array(items) = entry(e, "sub-headers") else {
                    unreachable!()
                };
                items[0] = MsgValue::from(1);
            }),
            frames.clone(),
        ),
    ];
    let mut errors = 0;
    for (name, h, frames) in cases {
        let fast = Vec::<Array<f64>>::dask_deserialize(&wire(&h), &frames).map_err(|e| e.to_string());
        let slow = Vec::<Array<f64>>::dask_deserialize(&tree(&h), &frames).map_err(|e| e.to_string());
        assert_eq!(fast, slow, "case {name:?}");
        errors += usize::from(fast.is_err());
    }
    assert!(errors >= 8, "most cases are errors, got {errors}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any single-byte corruption of an encoded collection header decodes
    /// (or fails) identically on both paths, and never panics.
    #[test]
    fn corrupted_headers_agree(pos in 0usize..4096, byte in any::<u8>()) {
        let typed: Vec<Array<f64>> = (1..4).map(|n| Array::from_vec(vec![1.0; n])).collect();
        let s = typed.dask_serialize().unwrap();
        let mut bytes = s.header.encode().unwrap();
        let pos = pos % bytes.len();
        bytes[pos] = byte;
        let frames = s.frame_bytes();
        if let Ok(h) = Header::decode(&Bytes::from(bytes), &Limits::default()) {
            let fast: Result<Vec<Array<f64>>, Error> = Vec::dask_deserialize(&h, &frames);
            let slow: Result<Vec<Array<f64>>, Error> = Vec::dask_deserialize(&tree(&h), &frames);
            prop_assert_eq!(fast.map_err(|e| e.to_string()), slow.map_err(|e| e.to_string()));
        }
    }
}

#[test]
fn collection_frames_borrow_the_arrays() {
    use dask_serde::Frame;
    let typed: Vec<Array<f64>> = (1..20).map(|n| Array::from_vec(vec![2.0; n])).collect();
    let s = typed.dask_serialize().unwrap();
    for (a, f) in typed.iter().zip(&s.frames) {
        // no copy and no reference count: the frame borrows the array's Bytes
        assert!(matches!(f, Frame::SharedRef(_)));
        assert_eq!(f.as_ptr(), a.as_slice().unwrap().as_ptr().cast::<u8>());
    }
    // owning the frames shares the memory (a reference count, no copy)
    let owned = s.frame_bytes();
    for (a, f) in typed.iter().zip(&owned) {
        assert!(a.shares_frame(f));
    }
    // a view into part of a buffer is sent as that part
    let data = Bytes::from((0..64u8).collect::<Vec<u8>>());
    let part = NdArray::new("|u1", vec![8], vec![1], 16, data.clone()).unwrap();
    let parts = vec![part];
    let s = parts.dask_serialize().unwrap();
    assert!(matches!(&s.frames[0], Frame::Shared(b) if b.as_ptr() == data[16..].as_ptr() && b.len() == 8));
}

type Entries = Vec<(MsgValue, MsgValue)>;

/// Fields of derived structs are decoded from their sub-header map in
/// place; results and errors are those of the `Header` path.
#[test]
fn sub_header_maps_decode_like_headers() {
    fn both<T: DaskDeserialize + PartialEq + std::fmt::Debug>(m: &MsgValue, frames: &[Bytes]) {
        let in_place = T::__deserialize_value(m, frames, &Limits::default()).map_err(|e| e.to_string());
        let via_header = Header::from_value(m.clone())
            .and_then(|h| T::deserialize_from(&h, frames, &Limits::default()))
            .map_err(|e| e.to_string());
        assert_eq!(in_place, via_header);
    }
    let a = Array::from_vec(vec![1.0f64, 2.0, 3.0]);
    let s = a.dask_serialize().unwrap();
    let frames = s.frame_bytes();
    let good = s.header.clone().into_value();
    let with = |f: &dyn Fn(&mut Entries)| {
        let mut e = s.header.entries().to_vec();
        f(&mut e);
        MsgValue::Map(e)
    };
    let cases = [
        good.clone(),
        with(&|e| e[0].1 = MsgValue::Map(vec![])),
        with(&|e| *entry(e, "serializer") = "pickle".into()),
        with(&|e| *entry(e, "type-serialized") = MsgValue::Bin(Bytes::from_static(b"\x80\x04junk"))),
        with(&|e| {
            let MsgValue::Map(sub) = entry(e, "sub-header") else {
                unreachable!()
            };
            sub[0].1 = MsgValue::from(vec![MsgValue::from(0), MsgValue::from("<i4")]);
        }),
        MsgValue::from(3),
    ];
    for m in &cases {
        both::<Array<f64>>(m, &frames);
        both::<Vec<f64>>(m, &frames);
        both::<NdArray>(m, &frames);
        both::<Array<f64>>(m, &frames[..0]);
    }
}

/// Lists of like arrays repeat one header: each repeat reuses the last
/// item's parse, but every frame is still checked on its own.
#[test]
fn repeated_headers_still_check_every_frame() {
    let typed: Vec<Array<f64>> = (0..50).map(|i| Array::from_vec(vec![i as f64; 16])).collect();
    let s = typed.dask_serialize().unwrap();
    let frames = s.frame_bytes();
    let back: Vec<Array<f64>> = agree(&s.header, &frames).unwrap();
    assert_eq!(back, typed);
    let fast = Vec::<Array<f64>>::dask_deserialize(&wire(&s.header), &frames).unwrap();
    assert!(fast.iter().zip(&frames).all(|(a, f)| a.shares_frame(f)));
    // a misaligned frame in the middle: copied, like the tree path does
    let mut odd = frames.clone();
    let mut v = vec![0u8];
    v.extend_from_slice(&frames[20]);
    odd[20] = Bytes::from(v).slice(1..);
    let back: Vec<Array<f64>> = agree(&s.header, &odd).unwrap();
    assert_eq!(back, typed);
    assert!(!back[20].shares_frame(&odd[20]) && back[21].shares_frame(&odd[21]));
    // a frame too short for the repeated shape: the tree path's error
    let mut short = frames.clone();
    short[30] = frames[30].slice(..64);
    assert!(agree::<Vec<Array<f64>>>(&s.header, &short).is_err());
}

/// Lists of bytes-like values write their constant header as is and read
/// it back by comparing bytes; results and errors are the tree path's.
#[test]
fn bytes_collections_take_the_direct_paths() {
    use dask_serde::{ByteArray, Frame};
    let blobs: Vec<Bytes> = (0..20u8).map(|i| Bytes::from(vec![i; i as usize])).collect();
    let s = blobs.dask_serialize().unwrap();
    assert_canonical(&s);
    for (b, f) in blobs.iter().zip(&s.frames) {
        assert!(matches!(f, Frame::SharedRef(_)));
        assert_eq!(f.as_ptr(), b.as_ptr());
    }
    let frames = s.frame_bytes();
    let back: Vec<Bytes> = agree(&s.header, &frames).unwrap();
    assert_eq!(back, blobs);
    let fast = Vec::<Bytes>::dask_deserialize(&wire(&s.header), &frames).unwrap();
    assert!(
        fast.iter().zip(&frames).all(|(a, f)| a.as_ptr() == f.as_ptr()),
        "zero-copy"
    );
    let vecs: Vec<Vec<u8>> = blobs.iter().map(|b| b.to_vec()).collect();
    assert_eq!(agree::<Vec<Vec<u8>>>(&s.header, &frames).unwrap(), vecs);
    let s2 = vecs.dask_serialize().unwrap();
    assert_canonical(&s2);
    assert_eq!(s2.header.encode().unwrap(), s.header.encode().unwrap());

    // bytearray items: their own class, accepted by every bytes-like type
    let arrays: Vec<ByteArray> = blobs.iter().cloned().map(ByteArray).collect();
    let s3 = arrays.dask_serialize().unwrap();
    assert_canonical(&s3);
    let f3 = s3.frame_bytes();
    assert_eq!(agree::<Vec<ByteArray>>(&s3.header, &f3).unwrap(), arrays);
    assert_eq!(agree::<Vec<Bytes>>(&s3.header, &f3).unwrap(), blobs);
    // arrays are not bytes: the same error both ways
    let nums = vec![vec![1.0f64]];
    let s4 = nums.dask_serialize().unwrap();
    assert!(agree::<Vec<Bytes>>(&s4.header, &s4.frame_bytes()).is_err());
}
