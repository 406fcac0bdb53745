//! Placement of the standard types: scalars and strings in `simple`,
//! bytes and arrays as frames, `Vec`/maps/`Option`/`Box`/tuples by their
//! items.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use bytes::Bytes;

use super::header_values::{FromMsgpack, MsgpackListItem, ToMsgpack};
use super::placement::{
    complex_elem, simple_elem, DeserializeElem, DeserializeField, SerializeElem, SerializeField,
};
use super::reader::FieldValue;
use super::writer::FieldWriter;
use crate::builtins::bytes::ByteArray;
use crate::builtins::typed::{Array, Element};
use crate::error::Result;
use crate::msgpack::MsgValue;
use crate::value::ndarray::NdArray;

macro_rules! simple_field {
    ($($t:ty),*) => {$(
        impl SerializeField for $t {
            fn serialize_field<'a>(&'a self, name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()> {
                w.simple(name, self.to_msgpack()?);
                Ok(())
            }
        }
        impl DeserializeField for $t {
            fn deserialize_field(value: FieldValue<'_>) -> Result<Self> {
                <$t>::from_msgpack(value.simple()?)
            }
        }
    )*};
}
simple_field!(bool, i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64, String);

macro_rules! simple_elem_impl {
    ($([$($sg:tt)*] [$($dg:tt)*] $t:ty),* $(,)?) => {$(
        impl<$($sg)*> SerializeElem for $t {
            fn serialize_vec<'a>(items: &'a [Self], name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()> {
                simple_elem::serialize_vec(items, name, w)
            }
            fn serialize_map<'a>(entries: Vec<(&'a str, &'a Self)>, name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()> {
                simple_elem::serialize_map(entries, name, w)
            }
        }
        impl<$($dg)*> DeserializeElem for $t {
            fn deserialize_vec(value: FieldValue<'_>) -> Result<Vec<Self>> {
                simple_elem::deserialize_vec(value)
            }
            fn deserialize_map(value: FieldValue<'_>) -> Result<Vec<(String, Self)>> {
                simple_elem::deserialize_map(value)
            }
        }
    )*};
}
simple_elem_impl!(
    [] [] String,
    // nested lists of header values stay in the header
    [T: MsgpackListItem] [T: MsgpackListItem + FromMsgpack] Vec<T>,
    // lists and dicts of optional header values stay in the header
    [T: ToMsgpack] [T: FromMsgpack] Option<T>,
);

/// Numeric vectors are numpy arrays (frames); maps of numbers are simple.
macro_rules! numeric_elem_impl {
    ($($t:ty),*) => {$(
        impl SerializeElem for $t {
            fn serialize_vec<'a>(items: &'a [Self], name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()> {
                w.complex(name, items)
            }
            fn serialize_map<'a>(entries: Vec<(&'a str, &'a Self)>, name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()> {
                simple_elem::serialize_map(entries, name, w)
            }
        }
        impl DeserializeElem for $t {
            /// A numpy array, or a Python list of numbers sent in the header.
            fn deserialize_vec(value: FieldValue<'_>) -> Result<Vec<Self>> {
                match value {
                    FieldValue::Simple(_) => simple_elem::deserialize_vec(value),
                    complex => complex.decode::<Vec<Self>>(),
                }
            }
            fn deserialize_map(value: FieldValue<'_>) -> Result<Vec<(String, Self)>> {
                simple_elem::deserialize_map(value)
            }
        }
    )*};
}
numeric_elem_impl!(bool, i8, i16, i32, i64, u16, u32, u64, f32, f64);

/// `Vec<u8>` is a bytes frame; a map of `u8` is simple.
impl SerializeElem for u8 {
    fn serialize_vec<'a>(items: &'a [Self], name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()> {
        w.complex(name, items)
    }
    fn serialize_map<'a>(
        entries: Vec<(&'a str, &'a Self)>,
        name: &str,
        w: &mut FieldWriter<'a, '_>,
    ) -> Result<()> {
        simple_elem::serialize_map(entries, name, w)
    }
}
impl DeserializeElem for u8 {
    /// A bytes frame, or `bytes` sent in the header (what Python's
    /// `register_generic` does with a `bytes` attribute).
    fn deserialize_vec(value: FieldValue<'_>) -> Result<Vec<Self>> {
        match value {
            FieldValue::Simple(m) => Vec::<u8>::from_msgpack(m),
            complex => complex.decode::<Vec<u8>>(),
        }
    }
    fn deserialize_map(value: FieldValue<'_>) -> Result<Vec<(String, Self)>> {
        simple_elem::deserialize_map(value)
    }
}

macro_rules! complex_elem_impl {
    ($([$($g:tt)*] $t:ty),* $(,)?) => {$(
        impl<$($g)*> SerializeElem for $t {
            fn serialize_vec<'a>(items: &'a [Self], name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()> {
                complex_elem::serialize_vec(items, name, w)
            }
            fn serialize_map<'a>(entries: Vec<(&'a str, &'a Self)>, name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()> {
                complex_elem::serialize_map(entries, name, w)
            }
        }
        impl<$($g)*> DeserializeElem for $t {
            fn deserialize_vec(value: FieldValue<'_>) -> Result<Vec<Self>> {
                complex_elem::deserialize_vec(value)
            }
            fn deserialize_map(value: FieldValue<'_>) -> Result<Vec<(String, Self)>> {
                complex_elem::deserialize_map(value)
            }
        }
    )*};
}
complex_elem_impl!([] Bytes, [] ByteArray, [] NdArray, [T: Element] Array<T>);

/// Bytes-like and array fields are frames.
macro_rules! complex_field {
    ($([$($g:tt)*] $t:ty),* $(,)?) => {$(
        impl<$($g)*> SerializeField for $t {
            fn serialize_field<'a>(&'a self, name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()> {
                w.complex(name, self)
            }
        }
    )*};
}
complex_field!([] Bytes, [] ByteArray, [] NdArray, [T: Element] Array<T>);

/// A bytes frame, or `bytes` from the header (zero-copy either way).
impl DeserializeField for Bytes {
    fn deserialize_field(value: FieldValue<'_>) -> Result<Self> {
        match value {
            FieldValue::Simple(m) => Bytes::from_msgpack(m),
            complex => complex.decode(),
        }
    }
}
impl DeserializeField for ByteArray {
    fn deserialize_field(value: FieldValue<'_>) -> Result<Self> {
        Bytes::deserialize_field(value).map(ByteArray)
    }
}
impl DeserializeField for NdArray {
    fn deserialize_field(value: FieldValue<'_>) -> Result<Self> {
        value.decode()
    }
}
impl<T: Element> DeserializeField for Array<T> {
    fn deserialize_field(value: FieldValue<'_>) -> Result<Self> {
        value.decode()
    }
}

impl<T: SerializeElem> SerializeField for Vec<T> {
    fn serialize_field<'a>(&'a self, name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()> {
        T::serialize_vec(self, name, w)
    }
}
impl<T: DeserializeElem> DeserializeField for Vec<T> {
    fn deserialize_field(value: FieldValue<'_>) -> Result<Self> {
        T::deserialize_vec(value)
    }
}

impl<T: SerializeField> SerializeField for Option<T> {
    fn serialize_field<'a>(&'a self, name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()> {
        match self {
            None => {
                w.simple(name, MsgValue::Nil);
                Ok(())
            }
            Some(v) => v.serialize_field(name, w),
        }
    }
}
impl<T: DeserializeField> DeserializeField for Option<T> {
    fn deserialize_field(value: FieldValue<'_>) -> Result<Self> {
        match value {
            FieldValue::Simple(MsgValue::Nil) => Ok(None),
            other => T::deserialize_field(other).map(Some),
        }
    }
    fn missing() -> Option<Self> {
        Some(None)
    }
}

impl<T: SerializeField + ?Sized> SerializeField for Box<T> {
    fn serialize_field<'a>(&'a self, name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()> {
        (**self).serialize_field(name, w)
    }
}
impl<T: DeserializeField> DeserializeField for Box<T> {
    fn deserialize_field(value: FieldValue<'_>) -> Result<Self> {
        T::deserialize_field(value).map(Box::new)
    }
}

impl<V: SerializeElem> SerializeField for BTreeMap<String, V> {
    fn serialize_field<'a>(&'a self, name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()> {
        V::serialize_map(self.iter().map(|(k, v)| (k.as_str(), v)).collect(), name, w)
    }
}
impl<V: DeserializeElem> DeserializeField for BTreeMap<String, V> {
    fn deserialize_field(value: FieldValue<'_>) -> Result<Self> {
        Ok(V::deserialize_map(value)?.into_iter().collect())
    }
}
impl<V: SerializeElem, S> SerializeField for HashMap<String, V, S> {
    fn serialize_field<'a>(&'a self, name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()> {
        V::serialize_map(self.iter().map(|(k, v)| (k.as_str(), v)).collect(), name, w)
    }
}
impl<V: DeserializeElem, S: BuildHasher + Default> DeserializeField for HashMap<String, V, S> {
    fn deserialize_field(value: FieldValue<'_>) -> Result<Self> {
        Ok(V::deserialize_map(value)?.into_iter().collect())
    }
}

macro_rules! tuple_field {
    ($( ($($n:ident $i:tt),+) )+) => {$(
        /// Tuples of header values stay in the header.
        impl<$($n: ToMsgpack),+> SerializeField for ($($n,)+) {
            fn serialize_field<'a>(&'a self, name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()> {
                w.simple(name, self.to_msgpack()?);
                Ok(())
            }
        }
        impl<$($n: FromMsgpack),+> DeserializeField for ($($n,)+) {
            fn deserialize_field(value: FieldValue<'_>) -> Result<Self> {
                <($($n,)+)>::from_msgpack(value.simple()?)
            }
        }
    )+};
}
tuple_field! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
}
