//! Semantics of `serialize` / `deserialize` (PROTOCOL.md §3, §4, §6) that the
//! vectors do not pin down on their own.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use dask_serde::bytes::Bytes;
use dask_serde::family::{DecodeCx, EncodeCx, Family};
use dask_serde::{
    deserialize_any, serialize, ByteArray, Context, DaskDeserialize, DaskSerialize, DeserializeOptions,
    Error, Frame, Header, MsgValue, NdArray, OnError, Registry, SerializeOptions, Serialized, Value,
};

fn bytes(b: &'static [u8]) -> Value {
    Value::Bytes(Bytes::from_static(b))
}

fn arr() -> Value {
    Value::from(NdArray::from_c_order("<i8", vec![2], Bytes::from(vec![0u8; 16])).unwrap())
}

fn roundtrip(v: &Value, opts: &SerializeOptions) -> (Serialized<'static>, Value) {
    let s = serialize(v, opts).unwrap().into_owned();
    let back = deserialize_any(&s.header, &s.frame_bytes(), &DeserializeOptions::new()).unwrap();
    (s, back)
}

#[test]
fn first_element_decides_iteration() {
    let v = Value::List(vec![bytes(b"a"), arr(), Value::from(7)]);
    let (s, back) = roundtrip(&v, &SerializeOptions::new());
    assert!(s.header.is_collection());
    let subs = s.header.get("sub-headers").unwrap().as_array().unwrap();
    let fams: Vec<_> = subs
        .iter()
        .map(|h| h.get("serializer").unwrap().as_str().unwrap())
        .collect();
    assert_eq!(fams, ["dask", "dask", "pickle"]);
    assert_eq!(back, v);

    // [1, b"a"]: the first element is not dask-serializable -> pickled whole
    let v = Value::List(vec![Value::from(1), bytes(b"a")]);
    let (s, back) = roundtrip(&v, &SerializeOptions::new());
    assert_eq!(s.header.serializer(), Some("pickle"));
    assert_eq!(back, v);
}

#[test]
fn msgpack_rule_is_list_only() {
    let items = vec![Value::from("a"), Value::from(2), Value::None];
    let opts = SerializeOptions::new().serializers(["msgpack"]);
    let (s, _) = roundtrip(&Value::List(items.clone()), &opts);
    assert!(s.header.is_collection(), "a list with msgpack first is iterated");
    assert_eq!(s.frames.len(), 3);
    let (s, back) = roundtrip(&Value::Tuple(items.clone()), &opts);
    assert_eq!(
        s.header.serializer(),
        Some("msgpack"),
        "a tuple is not iterated by the msgpack rule"
    );
    assert_eq!(back, Value::Tuple(items.clone()));
    // pickle before msgpack: not iterated by rule 1, and "a" is not dask-serializable
    let opts = SerializeOptions::new().serializers(["pickle", "msgpack"]);
    let (s, _) = roundtrip(&Value::List(items), &opts);
    assert_eq!(s.header.serializer(), Some("pickle"));
}

#[test]
fn iterate_collection_can_be_forced() {
    let v = Value::List(vec![bytes(b"x"), bytes(b"y")]);
    let (s, back) = roundtrip(&v, &SerializeOptions::new().iterate_collection(Some(false)));
    assert_eq!(s.header.serializer(), Some("pickle"));
    assert_eq!(back, v);
    let v = Value::Tuple(vec![Value::from(1), Value::from(2)]);
    let (s, back) = roundtrip(&v, &SerializeOptions::new().iterate_collection(Some(true)));
    assert!(s.header.is_collection());
    assert_eq!(s.header.get("type-serialized").unwrap().as_str(), Some("tuple"));
    assert_eq!(back, v);
}

#[test]
fn dict_with_unpackable_keys_is_not_iterated() {
    let big = Value::int(num_bigint_from_str("1180591620717411303424")); // 2**70
    let v = Value::Dict(vec![(big, bytes(b"v"))]);
    let s = serialize(&v, &SerializeOptions::new().iterate_collection(Some(true))).unwrap();
    assert!(!s.header.is_collection());
    assert_eq!(s.header.serializer(), Some("pickle"));
}

fn num_bigint_from_str(s: &str) -> dask_serde_bigint::BigInt {
    s.parse().unwrap()
}
mod dask_serde_bigint {
    pub use num_bigint::BigInt;
}

#[test]
fn dict_keys_go_last_in_each_sub_header() {
    let v = Value::Dict(vec![(Value::from(5), bytes(b"q")), (Value::from("k"), arr())]);
    let (s, back) = roundtrip(&v, &SerializeOptions::new());
    let subs = s.header.get("sub-headers").unwrap().as_array().unwrap();
    for (sub, key) in subs.iter().zip([MsgValue::Int(5), MsgValue::from("k")]) {
        let m = sub.as_map().unwrap();
        assert_eq!(m.last().unwrap(), &(MsgValue::from("key"), key));
        assert_eq!(m[m.len() - 2].0, MsgValue::from("serializer"));
    }
    assert_eq!(back, v);
}

#[test]
fn on_error_message_and_raise() {
    let v = Value::Unserializable("Thing".into());
    let s = serialize(&v, &SerializeOptions::new()).unwrap();
    assert_eq!(s.header, {
        let mut h = Header::new();
        h.insert("serializer", "error");
        h
    });
    assert_eq!(
        s.frames,
        vec![Frame::from(&b"Could not serialize object of type Thing"[..])]
    );
    let err = deserialize_any(&s.header, &s.frame_bytes(), &DeserializeOptions::new()).unwrap_err();
    assert_eq!(
        err,
        Error::Remote("Could not serialize object of type Thing".into())
    );
    assert_eq!(err.python_type(), "TypeError");
    // the error family must be allowed like any other
    let strict = DeserializeOptions::new().deserializers(["dask"]);
    let err = deserialize_any(&s.header, &s.frame_bytes(), &strict).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Data serialized with error but only able to deserialize data with ['dask']"
    );

    let err = serialize(&v, &SerializeOptions::new().on_error(OnError::Raise)).unwrap_err();
    assert!(matches!(&err, Error::Unserializable { type_name, cause: None, .. } if type_name == "Thing"));
    assert_eq!(err.to_string(), "Could not serialize object of type Thing");
}

#[test]
fn a_failing_family_stops_the_search_and_adds_a_traceback_frame() {
    let mut reg = Registry::new();
    reg.register_family(Arc::new(Failing));
    let v = Value::from(1);
    let s = reg
        .serialize(&v, &SerializeOptions::new().serializers(["failing", "pickle"]))
        .unwrap();
    assert_eq!(s.header.serializer(), Some("error"));
    assert_eq!(s.frames.len(), 2, "message + traceback");
    assert_eq!(&s.frames[0][..], b"Could not serialize object of type int");
    assert!(std::str::from_utf8(&s.frames[1]).unwrap().contains("boom"));
    let err = reg
        .deserialize_any(&s.header, &s.frame_bytes(), &DeserializeOptions::new())
        .unwrap_err();
    assert!(err
        .to_string()
        .starts_with("Could not serialize object of type int\n"));
    let err = reg
        .serialize(
            &v,
            &SerializeOptions::new()
                .serializers(["failing"])
                .on_error(OnError::Raise),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Unserializable { cause: Some(c), .. } if c.contains("boom")));
}

struct Failing;
impl Family for Failing {
    fn name(&self) -> &str {
        "failing"
    }
    fn encode<'a>(&self, _: &'a Value, _: &EncodeCx<'_>) -> Result<Option<Serialized<'a>>, Error> {
        Err(Error::Family {
            family: "failing".into(),
            message: "boom".into(),
        })
    }
    fn decode(&self, _: &Header, _: &[Bytes], _: &DecodeCx<'_>) -> Result<Value, Error> {
        unreachable!("never encodes")
    }
}

#[test]
fn unknown_families() {
    let err = serialize(&Value::from(1), &SerializeOptions::new().serializers(["nope"])).unwrap_err();
    assert_eq!(err, Error::UnknownFamily("nope".into()));
    assert_eq!(err.python_type(), "KeyError");
    let mut h = Header::new();
    h.insert("serializer", "nope");
    let err = deserialize_any(&h, &[], &DeserializeOptions::new()).unwrap_err();
    assert_eq!(err, Error::UnknownFamily("nope".into()));
    // a header without a serializer key, refused by the allow-list, prints None
    let err = deserialize_any(
        &Header::new(),
        &[],
        &DeserializeOptions::new().deserializers(["dask"]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Data serialized with None but only able to deserialize data with ['dask']"
    );
}

#[test]
fn allow_list_applies_to_each_collection_leaf() {
    let v = Value::List(vec![bytes(b"a"), Value::from(7)]);
    let s = serialize(&v, &SerializeOptions::new()).unwrap();
    let strict = DeserializeOptions::new().deserializers(["dask", "msgpack"]);
    let err = deserialize_any(&s.header, &s.frame_bytes(), &strict).unwrap_err();
    assert!(matches!(err, Error::NotAllowed { serializer: Some(ref p), .. } if p == "pickle"));
    let dask_only = Value::List(vec![bytes(b"a"), bytes(b"b")]);
    let s = serialize(&dask_only, &SerializeOptions::new()).unwrap();
    assert_eq!(
        deserialize_any(&s.header, &s.frame_bytes(), &strict).unwrap(),
        dask_only
    );
}

/// A user family: encodes strings as upper-case text, declines everything
/// else, and records the context it was given.
struct Shout {
    seen: Mutex<Vec<Option<Context>>>,
}
impl Family for Shout {
    fn name(&self) -> &str {
        "shout"
    }
    fn encode<'a>(&self, v: &'a Value, cx: &EncodeCx<'_>) -> Result<Option<Serialized<'a>>, Error> {
        self.seen.lock().unwrap().push(cx.context.cloned());
        let Value::Str(s) = v else { return Ok(None) };
        let mut h = Header::new();
        h.insert("len", s.len());
        Ok(Some(Serialized::new(
            h,
            vec![Frame::from(s.to_uppercase().into_bytes())],
        )))
    }
    fn decode(&self, h: &Header, frames: &[Bytes], _: &DecodeCx<'_>) -> Result<Value, Error> {
        assert!(h.get("len").is_some());
        Ok(Value::Str(String::from_utf8_lossy(&frames[0]).to_lowercase()))
    }
}

#[test]
fn user_family_takes_part_in_fallback_allow_lists_and_decoding() {
    let shout = Arc::new(Shout {
        seen: Mutex::new(vec![]),
    });
    let mut reg = Registry::new();
    reg.register_family(shout.clone());
    assert!(reg.family_names().contains(&"shout".to_string()));
    let ctx = Context::new()
        .with("sender", Value::from("tcp://a:1"))
        .with("recipient", Value::from("tcp://b:2"));
    let opts = SerializeOptions::new()
        .serializers(["shout", "msgpack"])
        .context(ctx.clone());

    let s = reg.serialize(&Value::from("hi"), &opts).unwrap().into_owned();
    assert_eq!(s.header.serializer(), Some("shout"));
    assert_eq!(
        s.header.entries().last().unwrap().0,
        MsgValue::from("serializer"),
        "appended last"
    );
    assert_eq!(&s.frames[0][..], b"HI");
    // fallback: shout declines ints, msgpack takes them
    let s2 = reg.serialize(&Value::from(3), &opts).unwrap().into_owned();
    assert_eq!(s2.header.serializer(), Some("msgpack"));
    // context was handed over on every call
    let seen = shout.seen.lock().unwrap().clone();
    assert_eq!(seen, vec![Some(ctx.clone()), Some(ctx)]);
    // decoding dispatches by name, and the allow-list applies to it
    let any = DeserializeOptions::new();
    assert_eq!(
        reg.deserialize_any(&s.header, &s.frame_bytes(), &any).unwrap(),
        Value::from("hi")
    );
    let strict = DeserializeOptions::new().deserializers(["dask"]);
    assert!(matches!(
        reg.deserialize_any(&s.header, &s.frame_bytes(), &strict),
        Err(Error::NotAllowed { .. })
    ));
    let ok = DeserializeOptions::new().deserializers(["shout"]);
    assert_eq!(
        reg.deserialize_any(&s.header, &s.frame_bytes(), &ok).unwrap(),
        Value::from("hi")
    );
    // a plain registry does not know it
    assert_eq!(
        Registry::new()
            .deserialize_any(&s.header, &s.frame_bytes(), &any)
            .unwrap_err(),
        Error::UnknownFamily("shout".into())
    );
}

#[test]
fn global_registration() {
    struct Echo;
    impl Family for Echo {
        fn name(&self) -> &str {
            "echo-test-family"
        }
        fn encode<'a>(&self, v: &'a Value, _: &EncodeCx<'_>) -> Result<Option<Serialized<'a>>, Error> {
            Ok(match v {
                Value::Bytes(b) => Some(Serialized::new(Header::new(), vec![Frame::Shared(b.clone())])),
                _ => None,
            })
        }
        fn decode(&self, _: &Header, f: &[Bytes], _: &DecodeCx<'_>) -> Result<Value, Error> {
            Ok(Value::ByteArray(f[0].clone()))
        }
    }
    dask_serde::register_family(Arc::new(Echo));
    let s = serialize(
        &bytes(b"z"),
        &SerializeOptions::new().serializers(["echo-test-family"]),
    )
    .unwrap()
    .into_owned();
    assert_eq!(
        deserialize_any(&s.header, &s.frame_bytes(), &DeserializeOptions::new()).unwrap(),
        Value::ByteArray(Bytes::from_static(b"z"))
    );
}

#[test]
fn pickle_protocol_comes_from_the_context() {
    let v = Value::from(42);
    let s = serialize(&v, &SerializeOptions::new().serializers(["pickle"])).unwrap();
    assert_eq!(&s.frames[0][..], &[0x80, 5, 0x4b, 42, 0x2e]);
    let ctx = Context::new().with("pickle-protocol", Value::from(4));
    let s = serialize(&v, &SerializeOptions::new().serializers(["pickle"]).context(ctx)).unwrap();
    assert_eq!(&s.frames[0][..2], &[0x80, 4]);
}

// ---------------------------------------------------------------------------
// Typed path

#[test]
fn typed_bytes_are_zero_copy_both_ways() {
    let b = Bytes::from(vec![1u8; 1000]);
    let s = b.dask_serialize().unwrap();
    assert_eq!(s.frames[0].as_ptr(), b.as_ptr());
    let v = vec![2u8; 1000];
    let s = v.dask_serialize().unwrap();
    assert!(matches!(s.frames[0], Frame::Borrowed(_)));
    assert_eq!(s.frames[0].as_ptr(), v.as_ptr());
    let slice: &[u8] = &v[10..];
    assert_eq!(slice.dask_serialize().unwrap().frames[0].as_ptr(), slice.as_ptr());
    let frames = vec![b.clone()];
    let back = Bytes::dask_deserialize(&b.dask_serialize().unwrap().header, &frames).unwrap();
    assert_eq!(
        back.as_ptr(),
        b.as_ptr(),
        "decoding one frame into Bytes shares it"
    );
}

#[test]
fn typed_and_dynamic_headers_agree() {
    let typed: Vec<Bytes> = vec![Bytes::from_static(b"a"), Bytes::from_static(b"bc")];
    let dynamic = Value::List(vec![bytes(b"a"), bytes(b"bc")]);
    let t = typed.dask_serialize().unwrap();
    let d = serialize(&dynamic, &SerializeOptions::new()).unwrap();
    assert_eq!(t.to_packed().unwrap(), d.to_packed().unwrap());
    assert_eq!(
        Vec::<Bytes>::dask_deserialize(&d.header, &d.frame_bytes()).unwrap(),
        typed
    );

    let mut m = BTreeMap::new();
    m.insert("x".to_string(), ByteArray(Bytes::from_static(b"1")));
    m.insert("y".to_string(), ByteArray(Bytes::from_static(b"2")));
    let dynamic = Value::Dict(vec![
        (Value::from("x"), Value::ByteArray(Bytes::from_static(b"1"))),
        (Value::from("y"), Value::ByteArray(Bytes::from_static(b"2"))),
    ]);
    let t = m.dask_serialize().unwrap();
    let d = serialize(&dynamic, &SerializeOptions::new()).unwrap();
    assert_eq!(t.to_packed().unwrap(), d.to_packed().unwrap());
    let back: HashMap<String, Bytes> = HashMap::dask_deserialize(&d.header, &d.frame_bytes()).unwrap();
    assert_eq!(back["y"], Bytes::from_static(b"2"));

    let tup = (Bytes::from_static(b"p"), vec![Bytes::from_static(b"q")]);
    let dynamic = Value::Tuple(vec![bytes(b"p"), Value::List(vec![bytes(b"q")])]);
    let t = tup.dask_serialize().unwrap();
    let d = serialize(&dynamic, &SerializeOptions::new()).unwrap();
    assert_eq!(t.to_packed().unwrap(), d.to_packed().unwrap());
    let back = <(Bytes, Vec<Bytes>)>::dask_deserialize(&d.header, &d.frame_bytes()).unwrap();
    assert_eq!(back, tup);
}

#[test]
fn typed_decoding_reports_mismatches() {
    let s = serialize(&Value::from(1), &SerializeOptions::new().serializers(["msgpack"]))
        .unwrap()
        .into_owned();
    let err = Bytes::dask_deserialize(&s.header, &s.frame_bytes()).unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { .. }), "{err}");
    let s = serialize(&arr(), &SerializeOptions::new()).unwrap().into_owned();
    let err = Bytes::dask_deserialize(&s.header, &s.frame_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "type mismatch: expected bytes or bytearray, found numpy.ndarray"
    );
    let list = Value::List(vec![bytes(b"a")]);
    let s = serialize(&list, &SerializeOptions::new()).unwrap();
    assert!(<(Bytes, Bytes)>::dask_deserialize(&s.header, &s.frame_bytes()).is_err());
    assert!(HashMap::<String, Bytes>::dask_deserialize(&s.header, &s.frame_bytes()).is_err());
}

#[test]
fn msgpack_family_decodes_like_python() {
    // lists come back as tuples, bytearray as bytes, any map keys
    let v = Value::Dict(vec![
        (
            Value::from(1),
            Value::List(vec![Value::from(1.5), Value::ByteArray(Bytes::from_static(b"x"))]),
        ),
        (
            Value::Tuple(vec![Value::from("a"), Value::None]),
            Value::Bool(false),
        ),
    ]);
    let s = serialize(
        &v,
        &SerializeOptions::new()
            .serializers(["msgpack"])
            .iterate_collection(Some(false)),
    )
    .unwrap()
    .into_owned();
    assert_eq!(s.header.serializer(), Some("msgpack"));
    let back = deserialize_any(&s.header, &s.frame_bytes(), &DeserializeOptions::new()).unwrap();
    assert_eq!(
        back,
        Value::Dict(vec![
            (Value::from(1), Value::Tuple(vec![Value::from(1.5), bytes(b"x")])),
            (
                Value::Tuple(vec![Value::from("a"), Value::None]),
                Value::Bool(false)
            ),
        ])
    );
    // sets, big ints and arrays are declined -> error family with ["msgpack"] only
    for v in [
        Value::Set(vec![Value::from(1)]),
        Value::int("100000000000000000000000".parse().unwrap()),
        arr(),
    ] {
        let s = serialize(&v, &SerializeOptions::new().serializers(["msgpack"])).unwrap();
        assert_eq!(s.header.serializer(), Some("error"), "{v:?}");
        assert_eq!(
            s.frames.len(),
            1,
            "declining is not a failure: no traceback frame"
        );
    }
    // frames are concatenated before decoding, invalid UTF-8 is refused
    let mut h = Header::new();
    h.insert("serializer", "msgpack");
    let split = [Bytes::from_static(&[0x92, 0x01]), Bytes::from_static(&[0x02])];
    assert_eq!(
        deserialize_any(&h, &split, &DeserializeOptions::new()).unwrap(),
        Value::Tuple(vec![Value::from(1), Value::from(2)])
    );
    let bad = [Bytes::from_static(&[0xa1, 0xff])];
    assert!(matches!(
        deserialize_any(&h, &bad, &DeserializeOptions::new()),
        Err(Error::Msgpack { .. })
    ));
}

#[test]
fn memoryview_and_pyarray_frames_are_validated() {
    use dask_serde::family::dask::dask_header;
    use dask_serde::PyType;
    let mv = |format: &str, shape: Vec<i128>| {
        dask_header(
            MsgValue::Map(vec![
                ("format".into(), format.into()),
                (
                    "shape".into(),
                    MsgValue::Array(shape.into_iter().map(MsgValue::Int).collect()),
                ),
            ]),
            &PyType::memoryview(),
        )
    };
    let any = DeserializeOptions::new();
    let ok = deserialize_any(&mv("i", vec![2, 3]), &[Bytes::from(vec![0u8; 24])], &any).unwrap();
    assert!(matches!(ok, Value::MemoryView(ref m) if m.shape == [2, 3]));
    assert!(deserialize_any(&mv("i", vec![2, 3]), &[Bytes::from(vec![0u8; 23])], &any).is_err());
    assert!(deserialize_any(&mv("O", vec![1]), &[Bytes::from(vec![0u8; 8])], &any).is_err());
    assert!(deserialize_any(&mv("B", vec![0, 3]), &[Bytes::new()], &any).is_err());
    assert!(deserialize_any(&mv("B", vec![0]), &[Bytes::new()], &any).is_ok());
    // encoding refuses what Python refuses
    let empty_2d = Value::from(dask_serde::MemoryView {
        format: "B".into(),
        shape: vec![0, 2],
        data: Bytes::new(),
    });
    let s = serialize(&empty_2d, &SerializeOptions::new().serializers(["dask"])).unwrap();
    assert_eq!(s.header.serializer(), Some("error"));
    assert_eq!(s.frames.len(), 2, "a failing family adds the traceback frame");

    let pa = |tc: &str| {
        dask_header(
            MsgValue::Map(vec![
                ("typecode".into(), tc.into()),
                ("writeable".into(), MsgValue::Array(vec![MsgValue::Nil])),
            ]),
            &PyType::pyarray(),
        )
    };
    assert!(deserialize_any(&pa("d"), &[Bytes::from(vec![0u8; 16])], &any).is_ok());
    assert!(deserialize_any(&pa("d"), &[Bytes::from(vec![0u8; 15])], &any).is_err());
    assert!(deserialize_any(&pa("x"), &[Bytes::new()], &any).is_err());
    // split frames are joined
    let two = [Bytes::from(vec![0u8; 8]), Bytes::from(vec![0u8; 8])];
    assert!(matches!(deserialize_any(&pa("d"), &two, &any), Ok(Value::PyArray(ref a)) if a.data.len() == 16));
}

#[test]
fn unknown_classes_are_not_dispatched() {
    use dask_serde::family::dask::dask_header;
    use dask_serde::PyType;
    let h = dask_header(MsgValue::Map(vec![]), &PyType::new("somewhere", "Thing"));
    let err = deserialize_any(&h, &[], &DeserializeOptions::new()).unwrap_err();
    assert_eq!(err.to_string(), "No dispatch for <class 'somewhere.Thing'>");
    // a cloudpickled class is never executed, just refused
    let mut h = h.clone();
    h.insert(
        "type-serialized",
        Bytes::from_static(b"\x80\x05\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x17cloudpickle.cloudpickle"),
    );
    assert!(matches!(
        deserialize_any(&h, &[], &DeserializeOptions::new()),
        Err(Error::UnknownTypeSerialized(_))
    ));
}

#[test]
fn registered_dask_type_loaders_are_used() {
    use dask_serde::PyType;
    let mut reg = Registry::new();
    let class = PyType::new("mylib", "Blob");
    reg.register_dask_type(
        class.clone(),
        Arc::new(|sub: &MsgValue, frames: &[Bytes], _: &DecodeCx<'_>| {
            Ok(Value::Tuple(vec![
                Value::from(sub.get("n").and_then(MsgValue::as_int).unwrap_or(-1) as i64),
                Value::Bytes(frames[0].clone()),
            ]))
        }),
    );
    let h = dask_serde::family::dask::dask_header(MsgValue::Map(vec![("n".into(), 3.into())]), &class);
    let v = reg
        .deserialize_any(&h, &[Bytes::from_static(b"z")], &DeserializeOptions::new())
        .unwrap();
    assert_eq!(v, Value::Tuple(vec![Value::from(3), bytes(b"z")]));
}
