//! Hygiene of `#[derive(DaskSerialize, DaskDeserialize)]`: the generated
//! code must name everything through absolute paths, so that it compiles
//! in a module whose own items shadow the prelude (`Result`, `Ok`, `Option`,
//! `Vec`, `String`, `Default`, ...), `bytes::Bytes`, `core`, `std` and even
//! `dask_serde`, and where a blanket trait offers methods named like the
//! ones the generated code calls.

#![allow(
    dead_code,
    unused_macros,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals
)]

mod shadowed {
    // --- Prelude types, variants and traits, replaced by unrelated items.
    pub struct Result;
    pub struct Option;
    pub struct Vec;
    pub struct String;
    pub struct Box;
    pub struct Bytes;
    pub struct HashMap;
    pub struct BTreeMap;
    pub struct OnceLock;
    pub struct u8;
    pub struct bool;
    pub struct usize;
    pub fn Ok() {}
    pub fn Err() {}
    pub fn Some() {}
    pub const None: i32 = 0;
    pub trait Default {
        fn default() -> Self;
    }
    pub trait Clone {}
    pub trait From<T> {}
    pub trait Into<T> {}
    pub trait Iterator {}
    pub trait Sized {}
    pub trait ToString {}

    // --- Crate-looking names.
    pub mod core {}
    pub mod std {}
    pub mod alloc {}
    pub mod bytes {}
    pub mod dask_serde {}
    pub mod __private {}

    // --- Macros the generated code might use without a path.
    macro_rules! module_path {
        () => {
            "not the module path"
        };
    }
    macro_rules! unreachable {
        () => {
            0
        };
    }
    macro_rules! vec {
        () => {
            0
        };
    }
    macro_rules! format {
        () => {
            0
        };
    }

    // --- Blanket traits whose methods are named like the ones the
    // generated code calls: inherent methods must keep priority.
    #[allow(clippy::wrong_self_convention)]
    pub trait Sneaky {
        fn map_err(&self) {}
        fn and_then(&self) {}
        fn decode(&self) {}
        fn header(&self) {}
        fn get_or_init(&self) {}
        fn as_str(&self) {}
        fn missing(&self) {}
        fn field_error(&self) {}
        fn unknown(&self) {}
        fn into_value(&self) {}
    }
    impl<T: ?::core::marker::Sized> Sneaky for T {}
    // `simple`/`complex` as `&self` methods on every type: found (autoref
    // `&`) before the inherent `&mut self` methods of `FieldWriter` unless
    // the generated code calls them with fully qualified paths.
    pub trait SneakyRef {
        fn simple(&self) {}
        fn complex(&self) {}
        fn fields(self)
        where
            Self: ::core::marker::Sized,
        {
        }
    }
    impl<T: ?::core::marker::Sized> SneakyRef for T {}

    // A local type named like the primitive `str`.
    #[allow(non_camel_case_types, dead_code)]
    pub struct str;

    fn seven() -> ::core::primitive::u8 {
        7
    }

    #[derive(Debug, PartialEq, ::dask_serde::DaskSerialize, ::dask_serde::DaskDeserialize)]
    #[dask(rename_all = "snake_case")]
    pub enum Status {
        Ready,
        InProgress,
        #[dask(rename = "gone")]
        Finished,
    }

    #[derive(Debug, PartialEq, ::dask_serde::DaskSerialize, ::dask_serde::DaskDeserialize)]
    #[dask(python = "hygiene.models.Inner", deny_unknown_fields)]
    pub struct Inner {
        pub id: i64,
        pub flag: ::core::primitive::bool,
    }

    #[derive(Debug, PartialEq, ::dask_serde::DaskSerialize, ::dask_serde::DaskDeserialize)]
    #[dask(python = "hygiene.models.Outer")]
    pub struct Outer {
        pub maybe: ::core::option::Option<::std::string::String>,
        pub absent: ::core::option::Option<i64>,
        pub values: ::std::vec::Vec<f64>,
        pub payload: ::dask_serde::bytes::Bytes,
        pub inner: Inner,
        pub inners: ::std::vec::Vec<Inner>,
        pub table: ::std::collections::BTreeMap<::std::string::String, i64>,
        pub objects: ::std::collections::HashMap<::std::string::String, Inner>,
        #[dask(rename = "wireName")]
        pub renamed: ::std::string::String,
        #[dask(default)]
        pub defaulted: u32,
        #[dask(default = "seven")]
        pub default_path: ::core::primitive::u8,
        #[dask(skip)]
        pub skipped: ::std::vec::Vec<::std::string::String>,
        #[dask(header)]
        pub raw: ::std::vec::Vec<::core::primitive::u8>,
        #[dask(frame)]
        pub framed: ::std::vec::Vec<::core::primitive::u8>,
        pub boxed: ::std::boxed::Box<i32>,
        pub status: Status,
        pub statuses: ::std::vec::Vec<Status>,
    }

    /// Inferred bounds on a generic struct.
    #[derive(Debug, PartialEq, ::dask_serde::DaskSerialize, ::dask_serde::DaskDeserialize)]
    #[dask(python = "hygiene.models.Series")]
    pub struct Series<T> {
        pub first: ::core::option::Option<T>,
        pub items: ::std::vec::Vec<T>,
    }

    #[derive(Debug, PartialEq, ::dask_serde::DaskSerialize, ::dask_serde::DaskDeserialize)]
    #[dask(python = "hygiene.models.Pair")]
    pub struct Pair(pub i64, pub ::std::string::String);

    #[derive(Debug, PartialEq, ::dask_serde::DaskSerialize, ::dask_serde::DaskDeserialize)]
    #[dask(python = "hygiene.models.Unit")]
    pub struct Unit;
}

use std::collections::{BTreeMap, HashMap};

use dask_serde::bytes::Bytes;
use dask_serde::{DaskDeserialize, DaskSerialize};
use shadowed::{Inner, Outer, Pair, Series, Status, Unit};

fn round_trip<T: DaskSerialize + DaskDeserialize>(value: &T) -> T {
    let s = value.dask_serialize().expect("serialize");
    let frames = s.frame_bytes();
    <T as DaskDeserialize>::dask_deserialize(&s.header, &frames).expect("deserialize")
}

fn outer() -> Outer {
    Outer {
        maybe: Some("m".to_string()),
        absent: None,
        values: vec![0.5, -1.25, 3.0],
        payload: Bytes::from_static(b"payload"),
        inner: Inner { id: 1, flag: true },
        inners: vec![Inner { id: 2, flag: false }, Inner { id: 3, flag: true }],
        table: BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 2)]),
        objects: HashMap::from([("x".to_string(), Inner { id: 4, flag: false })]),
        renamed: "r".to_string(),
        defaulted: 9,
        default_path: 8,
        skipped: vec!["not sent".to_string()],
        raw: vec![1, 2, 3],
        framed: vec![4, 5],
        boxed: Box::new(-6),
        status: Status::InProgress,
        statuses: vec![Status::Ready, Status::Finished],
    }
}

#[test]
fn struct_round_trips_in_a_shadowing_module() {
    let value = outer();
    let back = round_trip(&value);
    // `skip` is not sent and comes back as `Default::default()`.
    assert_eq!(
        back,
        Outer {
            skipped: Vec::new(),
            ..outer()
        }
    );
}

#[test]
fn attributes_take_effect_in_a_shadowing_module() {
    let value = outer();
    let s = value.dask_serialize().unwrap();
    let header = format!("{:?}", s.header);
    assert!(header.contains("wireName"), "renamed field: {header}");
    assert!(!header.contains("\"renamed\""), "original name sent: {header}");
    assert!(!header.contains("skipped"), "skipped field sent: {header}");
    assert!(header.contains("in_progress"), "rename_all on the enum: {header}");
    assert!(header.contains("gone"), "variant rename: {header}");
    // `python` is used, not the (shadowed) `module_path!`.
    assert!(header.contains("Outer"), "{header}");
    assert!(!header.contains("not the module path"), "{header}");
}

#[test]
fn generic_tuple_and_unit_structs_round_trip_in_a_shadowing_module() {
    let s = Series {
        first: Some(1.5f64),
        items: vec![1.5, 2.5],
    };
    assert_eq!(round_trip(&s), s);
    let p = Pair(-1, "one".to_string());
    assert_eq!(round_trip(&p), p);
    assert_eq!(round_trip(&Unit), Unit);
}
