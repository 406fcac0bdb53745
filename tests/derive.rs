//! `#[derive(DaskSerialize, DaskDeserialize)]`: headers identical to
//! `register_generic`, zero-copy buffer fields, attributes.

mod common;

use std::collections::{BTreeMap, HashMap};

use dask_serde::MsgValue;

use dask_serde::bytes::Bytes;
use dask_serde::field::{FieldValue, FieldWriter};
use dask_serde::{
    deserialize_any, Array, DaskDeserialize, DaskSerialize, DeserializeOptions, Error, Frame, Limits, Object,
    OwnedSerialized, PyType, Value,
};

/// `dask_serde_test.models.Point` of vector `ser_generic_simple`.
#[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "dask_serde_test.models.Point")]
struct Point {
    x: i64,
    y: f64,
    label: String,
    tags: Vec<String>,
    meta: BTreeMap<String, Option<String>>,
    #[dask(header)]
    raw: Vec<u8>,
}

/// `dask_serde_test.models.Sample` of vector `ser_generic_complex`.
#[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "dask_serde_test.models.Sample")]
struct Sample {
    name: String,
    data: Vec<f64>,
    count: u32,
    mask: Vec<bool>,
}

fn reencode_vector<T: DaskSerialize + DaskDeserialize + std::fmt::Debug + PartialEq>(name: &str) -> T {
    let v = common::vector(name);
    let s = OwnedSerialized::from_packed(&v.blob, &Limits::default()).unwrap();
    let frames = s.frame_bytes();
    let typed = T::dask_deserialize(&s.header, &frames).unwrap_or_else(|e| panic!("{name}: {e}"));
    let again = typed.dask_serialize().unwrap().to_packed().unwrap();
    assert_eq!(
        again,
        v.blob.to_vec(),
        "{name}: re-encoding must reproduce Dask's bytes"
    );
    typed
}

#[test]
fn generic_simple_vector_round_trips_byte_for_byte() {
    let p: Point = reencode_vector("ser_generic_simple");
    assert_eq!(
        p,
        Point {
            x: 1,
            y: 2.5,
            label: "p".into(),
            tags: vec!["a".into(), "b".into()],
            meta: BTreeMap::from([("k".to_string(), None)]),
            raw: vec![0],
        }
    );
}

#[test]
fn generic_complex_vector_round_trips_byte_for_byte() {
    let s: Sample = reencode_vector("ser_generic_complex");
    assert_eq!(s.data, vec![0.0, 1.0, 2.0, 3.0]);
    assert_eq!(s.mask, vec![true, false]);
    assert_eq!(s.count, 3);
}

#[test]
fn serialize_borrows_buffer_fields() {
    #[derive(DaskSerialize, DaskDeserialize)]
    struct Buffers {
        b: Bytes,
        v: Vec<u8>,
        f: Vec<f64>,
        a: Array<i32>,
    }
    let x = Buffers {
        b: Bytes::from(vec![1u8; 64]),
        v: vec![2u8; 64],
        f: vec![3.0; 8],
        a: Array::from_vec(vec![4; 16]),
    };
    let s = x.dask_serialize().unwrap();
    assert_eq!(s.frames.len(), 4);
    assert_eq!(s.frames[0].as_ptr(), x.b.as_ptr());
    assert_eq!(s.frames[1].as_ptr(), x.v.as_ptr());
    assert!(matches!(s.frames[1], Frame::Borrowed(_)));
    assert_eq!(s.frames[2].as_ptr(), x.f.as_ptr().cast());
    assert!(matches!(s.frames[2], Frame::Borrowed(_)));
    assert_eq!(s.frames[3].as_ptr(), x.a.as_slice().unwrap().as_ptr().cast());
    // decoding Bytes fields shares the received frames
    let frames = s.frame_bytes();
    let back = Buffers::dask_deserialize(&s.header, &frames).unwrap();
    assert_eq!(back.b.as_ptr(), frames[0].as_ptr());
    assert!(back.a.shares_frame(&frames[3]));
    assert_eq!(back.f, x.f);
}

#[test]
fn derived_structs_decode_through_the_dynamic_path() {
    let p = Point {
        x: -3,
        y: 0.5,
        label: "q".into(),
        tags: vec![],
        meta: BTreeMap::new(),
        raw: b"zz".to_vec(),
    };
    let s = p.dask_serialize().unwrap();
    let v = deserialize_any(&s.header, &s.frame_bytes(), &DeserializeOptions::new()).unwrap();
    let Value::Object(o) = v else {
        panic!("not an object")
    };
    let Object { class, fields } = *o;
    assert_eq!(class, PyType::new("dask_serde_test.models", "Point"));
    assert_eq!(fields[0], ("x".to_string(), Value::from(-3)));
    assert_eq!(
        fields[5],
        ("raw".to_string(), Value::Bytes(Bytes::from_static(b"zz")))
    );
}

/// `dask_serde_test.models.Model` of vector `ser_generic_nested_dict`: a
/// dict attribute mixing an array and a float becomes a `nested-dict`;
/// `with` places it exactly as Python does.
#[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "dask_serde_test.models.Model")]
struct Model {
    #[dask(with = "weights")]
    weights: Weights,
    #[dask(header)]
    layers: Vec<i64>,
}

#[derive(Debug, PartialEq)]
struct Weights {
    w1: Vec<f32>,
    lr: f64,
}

mod weights {
    use super::*;

    pub fn serialize_field<'a>(
        w: &'a Weights,
        name: &str,
        out: &mut FieldWriter<'a, '_>,
    ) -> dask_serde::Result<()> {
        out.nested_dict(name, |d| {
            d.complex("w1", &w.w1)?;
            d.simple("lr", MsgValue::Float(w.lr));
            Ok(())
        })
    }

    pub fn deserialize_field(v: FieldValue<'_>) -> dask_serde::Result<Weights> {
        let mut w1 = None;
        let mut lr = None;
        for (k, v) in v.dict_entries()? {
            match k.as_str() {
                "w1" => w1 = Some(v.decode::<Vec<f32>>()?),
                "lr" => lr = v.simple()?.as_float(),
                _ => {}
            }
        }
        Ok(Weights {
            w1: w1.unwrap_or_default(),
            lr: lr.unwrap_or_default(),
        })
    }
}

#[test]
fn generic_nested_dict_vector_round_trips_byte_for_byte() {
    let m: Model = reencode_vector("ser_generic_nested_dict");
    assert_eq!(
        m,
        Model {
            weights: Weights {
                w1: vec![1.0, 1.0],
                lr: 0.1
            },
            layers: vec![3, 4]
        }
    );
}

/// `dask_serde_test.models.Node` of vector `ser_generic_nested_object`: a
/// recursive object whose `value` is an int in one node and an array in
/// the other.
#[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "dask_serde_test.models.Node")]
struct Node {
    #[dask(with = "int_or_array")]
    value: IntOrArray,
    child: Option<Box<Node>>,
}

#[derive(Debug, PartialEq)]
enum IntOrArray {
    Int(i64),
    Array(Vec<i16>),
}

mod int_or_array {
    use super::*;
    use dask_serde::field::{DeserializeField, SerializeField};

    pub fn serialize_field<'a>(
        v: &'a IntOrArray,
        name: &str,
        w: &mut FieldWriter<'a, '_>,
    ) -> dask_serde::Result<()> {
        match v {
            IntOrArray::Int(i) => i.serialize_field(name, w),
            IntOrArray::Array(a) => a.serialize_field(name, w),
        }
    }

    pub fn deserialize_field(v: FieldValue<'_>) -> dask_serde::Result<IntOrArray> {
        match v {
            FieldValue::Simple(_) => i64::deserialize_field(v).map(IntOrArray::Int),
            complex => Vec::<i16>::deserialize_field(complex).map(IntOrArray::Array),
        }
    }
}

#[test]
fn generic_nested_object_vector_round_trips_byte_for_byte() {
    let n: Node = reencode_vector("ser_generic_nested_object");
    assert_eq!(
        n,
        Node {
            value: IntOrArray::Int(1),
            child: Some(Box::new(Node {
                value: IntOrArray::Array(vec![0, 1]),
                child: None
            })),
        }
    );
}

/// The example of the README and the crate docs.
#[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
#[dask(python = "mylab.models.Chunk")]
struct Chunk {
    name: String,
    index: u32,
    values: Vec<f64>,
    payload: Bytes,
    #[dask(header)]
    tag: Vec<u8>,
    #[dask(rename = "meta-data")]
    meta: BTreeMap<String, i64>,
}

fn chunk() -> Chunk {
    Chunk {
        name: "c0".into(),
        index: 7,
        values: vec![1.5, 2.5],
        payload: Bytes::from_static(b"payload"),
        tag: b"t".to_vec(),
        meta: BTreeMap::from([("rows".to_string(), 2)]),
    }
}

#[test]
fn placement_follows_the_design_table() {
    let c = chunk();
    let s = c.dask_serialize().unwrap();
    let sub = s.header.get("sub-header").unwrap();
    let keys = |m: &MsgValue| -> Vec<String> {
        m.as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(keys(sub), ["serializer", "type-serialized", "simple", "complex"]);
    assert_eq!(
        keys(sub.get("simple").unwrap()),
        ["name", "index", "tag", "meta-data"]
    );
    assert_eq!(keys(sub.get("complex").unwrap()), ["values", "payload"]);
    assert_eq!(
        sub.get("simple").unwrap().get("tag"),
        Some(&MsgValue::Bin(Bytes::from_static(b"t")))
    );
    let values = sub.get("complex").unwrap().get("values").unwrap();
    assert_eq!(values.get("start"), Some(&MsgValue::Int(0)));
    assert_eq!(values.get("stop"), Some(&MsgValue::Int(1)));
    assert_eq!(
        values.get("header").unwrap().get("type").unwrap().as_str(),
        Some("numpy.ndarray")
    );
    assert_eq!(s.header.get("type").unwrap().as_str(), Some("mylab.models.Chunk"));
    assert_eq!(
        s.header.get("type-serialized"),
        sub.get("type-serialized"),
        "type-serialized appears twice"
    );
    let back = Chunk::dask_deserialize(&s.header, &s.frame_bytes()).unwrap();
    assert_eq!(back, c);
}

#[test]
fn fields_are_accepted_in_any_order_and_unknown_ones_ignored() {
    // Python sends simple fields first; build the header by hand with a
    // different order and an extra attribute
    let c = chunk();
    let s = c.dask_serialize().unwrap().into_owned();
    let mut h = s.header.clone();
    let mut sub = h.get("sub-header").unwrap().clone();
    if let MsgValue::Map(entries) = &mut sub {
        if let MsgValue::Map(simple) = &mut entries[2].1 {
            simple.reverse();
            simple.push(("extra".into(), MsgValue::Int(1)));
        }
    }
    h.insert("sub-header", sub.clone());
    assert_eq!(Chunk::dask_deserialize(&h, &s.frame_bytes()).unwrap(), c);

    #[derive(Debug, DaskDeserialize)]
    #[dask(python = "mylab.models.Chunk", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        name: String,
        index: u32,
        values: Vec<f64>,
        payload: Bytes,
        tag: Bytes,
        #[dask(rename = "meta-data")]
        meta: HashMap<String, i64>,
    }
    let err = Strict::dask_deserialize(&h, &s.frame_bytes()).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownField { name, .. } if name == "extra"),
        "{err}"
    );
    assert!(Strict::dask_deserialize(&s.header, &s.frame_bytes()).is_ok());
}

#[test]
fn missing_fields_defaults_and_options() {
    #[derive(Debug, PartialEq, DaskSerialize)]
    #[dask(python = "m.Small")]
    struct Small {
        a: i32,
    }
    fn seven() -> i64 {
        7
    }
    #[derive(Debug, PartialEq, DaskDeserialize)]
    #[dask(python = "m.Small")]
    struct Big {
        a: i32,
        opt: Option<String>,
        #[dask(default)]
        list: Vec<String>,
        #[dask(default = "seven")]
        n: i64,
        #[dask(skip)]
        local: u8,
    }
    #[derive(Debug, DaskDeserialize)]
    #[dask(python = "m.Small")]
    #[allow(dead_code)]
    struct Needs {
        a: i32,
        b: i32,
    }
    let s = Small { a: 1 }.dask_serialize().unwrap();
    let big = Big::dask_deserialize(&s.header, &s.frame_bytes()).unwrap();
    assert_eq!(
        big,
        Big {
            a: 1,
            opt: None,
            list: vec![],
            n: 7,
            local: 0
        }
    );
    let err = Needs::dask_deserialize(&s.header, &s.frame_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "missing field `b` of m.Small");
    // a field of the wrong type names the field
    #[derive(Debug, DaskDeserialize)]
    #[dask(python = "m.Small")]
    #[allow(dead_code)]
    struct WrongType {
        a: String,
    }
    let err = WrongType::dask_deserialize(&s.header, &s.frame_bytes()).unwrap_err();
    assert!(
        err.to_string().starts_with("field `a` of m.Small: type mismatch"),
        "{err}"
    );
    // another class is refused
    #[derive(Debug, DaskDeserialize)]
    #[dask(python = "m.Other")]
    #[allow(dead_code)]
    struct Other {
        a: i32,
    }
    let err = Other::dask_deserialize(&s.header, &s.frame_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "type mismatch: expected m.Other, found m.Small");
}

#[test]
fn rename_all_tuple_unit_generic_and_enums() {
    #[derive(Debug, PartialEq, Clone, Copy, DaskSerialize, DaskDeserialize)]
    #[dask(rename_all = "snake_case")]
    enum Status {
        InMemory,
        #[dask(rename = "gone")]
        Released,
    }
    #[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
    #[dask(python = "m.Task", rename_all = "camelCase")]
    struct Task<T> {
        task_key: String,
        status: Status,
        history: Vec<Status>,
        payload: T,
    }
    let t = Task {
        task_key: "x".into(),
        status: Status::InMemory,
        history: vec![Status::Released],
        payload: vec![1.0f32],
    };
    let s = t.dask_serialize().unwrap();
    let simple = s.header.get("sub-header").unwrap().get("simple").unwrap();
    assert_eq!(simple.get("taskKey").unwrap().as_str(), Some("x"));
    assert_eq!(simple.get("status").unwrap().as_str(), Some("in_memory"));
    assert_eq!(simple.get("history"), Some(&MsgValue::Array(vec!["gone".into()])));
    assert_eq!(
        Task::<Vec<f32>>::dask_deserialize(&s.header, &s.frame_bytes()).unwrap(),
        t
    );
    // a bad variant name is an error
    let mut h = s.header.clone();
    let mut sub = h.get("sub-header").unwrap().clone();
    if let MsgValue::Map(e) = &mut sub {
        if let MsgValue::Map(simple) = &mut e[2].1 {
            simple[1].1 = "unknown".into();
        }
    }
    h.insert("sub-header", sub);
    assert!(Task::<Vec<f32>>::dask_deserialize(&h, &s.frame_bytes()).is_err());

    #[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
    #[dask(python = "m.Pair")]
    struct Pair(String, #[dask(rename = "second")] Vec<i16>);
    let p = Pair("a".into(), vec![1, 2]);
    let s = p.dask_serialize().unwrap();
    assert!(s
        .header
        .get("sub-header")
        .unwrap()
        .get("simple")
        .unwrap()
        .get("0")
        .is_some());
    assert!(s
        .header
        .get("sub-header")
        .unwrap()
        .get("complex")
        .unwrap()
        .get("second")
        .is_some());
    assert_eq!(Pair::dask_deserialize(&s.header, &s.frame_bytes()).unwrap(), p);

    #[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
    struct Marker;
    let s = Marker.dask_serialize().unwrap();
    // default Python identity: the Rust module path
    assert_eq!(s.header.get("type").unwrap().as_str(), Some("derive.Marker"));
    assert_eq!(
        Marker::dask_deserialize(&s.header, &s.frame_bytes()).unwrap(),
        Marker
    );
}

#[test]
fn nested_structs_lists_and_maps_of_structs() {
    #[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
    #[dask(python = "m.Leaf")]
    struct Leaf {
        v: Vec<u64>,
    }
    #[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
    #[dask(python = "m.Tree")]
    struct Tree {
        leaf: Leaf,
        leaves: Vec<Leaf>,
        by_name: BTreeMap<String, Leaf>,
        blobs: HashMap<String, Bytes>,
        grid: Vec<Vec<i32>>,
    }
    let t = Tree {
        leaf: Leaf { v: vec![1] },
        leaves: vec![Leaf { v: vec![2, 3] }, Leaf { v: vec![] }],
        by_name: BTreeMap::from([("a".to_string(), Leaf { v: vec![4] })]),
        blobs: HashMap::from([("k".to_string(), Bytes::from_static(b"blob"))]),
        grid: vec![vec![1, 2], vec![3]],
    };
    let s = t.dask_serialize().unwrap();
    let complex = s.header.get("sub-header").unwrap().get("complex").unwrap();
    assert!(complex
        .get("by_name")
        .unwrap()
        .get("header")
        .unwrap()
        .get("nested-dict")
        .is_some());
    assert_eq!(
        complex
            .get("leaves")
            .unwrap()
            .get("header")
            .unwrap()
            .get("type-serialized")
            .unwrap()
            .as_str(),
        Some("list")
    );
    let simple = s.header.get("sub-header").unwrap().get("simple").unwrap();
    assert!(
        simple.get("grid").is_some(),
        "lists of lists of ints stay in the header"
    );
    assert_eq!(Tree::dask_deserialize(&s.header, &s.frame_bytes()).unwrap(), t);
    // and the dynamic decoder sees the same structure
    let v = deserialize_any(&s.header, &s.frame_bytes(), &DeserializeOptions::new()).unwrap();
    let Value::Object(o) = v else { panic!() };
    assert!(matches!(o.get("by_name"), Some(Value::Dict(d)) if d.len() == 1));
    assert!(matches!(o.get("leaves"), Some(Value::List(l)) if l.len() == 2));
}

#[test]
fn nested_python_classes_use_a_colon() {
    #[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
    #[dask(python = "pkg.mod:Outer.Inner")]
    struct Inner {
        x: i32,
    }
    let s = Inner { x: 1 }.dask_serialize().unwrap();
    assert_eq!(s.header.get("type").unwrap().as_str(), Some("pkg.mod.Inner"));
    let ts = s.header.get("type-serialized").unwrap().as_bin().unwrap();
    assert_eq!(
        PyType::from_type_serialized(ts).unwrap(),
        PyType::new("pkg.mod", "Outer.Inner")
    );
    assert_eq!(
        Inner::dask_deserialize(&s.header, &s.frame_bytes()).unwrap(),
        Inner { x: 1 }
    );
}
