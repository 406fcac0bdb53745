//! Header values of derived structs: [`ToMsgpack`] / [`FromMsgpack`] for the
//! types that live in the `simple` map as msgpack.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::msgpack::MsgValue;

// Header values

/// A value that goes into a header as msgpack (a `simple` attribute).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be kept in a dask header",
    label = "not a header (msgpack) value",
    note = "header values are bool, integers, floats, String, Option, Vec/tuples/String-keyed maps of those, and Vec<u8>/Bytes as bin"
)]
pub trait ToMsgpack {
    /// The msgpack form, as msgpack-python would pack the Python value.
    ///
    /// # Errors
    ///
    /// A value msgpack cannot carry.
    fn to_msgpack(&self) -> Result<MsgValue>;
}

/// A value read back from a header (Python decodes lists as tuples; both
/// arrive as msgpack arrays).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read from a dask header",
    label = "not a header (msgpack) value"
)]
pub trait FromMsgpack: Sized {
    /// Converts from msgpack.
    ///
    /// # Errors
    ///
    /// A value of another type, or out of range.
    fn from_msgpack(m: &MsgValue) -> Result<Self>;
}

/// Marker for header values that may be items of a msgpack list
/// (everything but `u8`, whose vectors are `bin`).
pub trait MsgpackListItem: ToMsgpack {}

pub(super) fn expected(what: &str, m: &MsgValue) -> Error {
    Error::mismatch(what, format!("msgpack {}", m.kind()))
}

impl<T: ToMsgpack + ?Sized> ToMsgpack for &T {
    fn to_msgpack(&self) -> Result<MsgValue> {
        (**self).to_msgpack()
    }
}
impl<T: ToMsgpack + ?Sized> ToMsgpack for Box<T> {
    fn to_msgpack(&self) -> Result<MsgValue> {
        (**self).to_msgpack()
    }
}
impl<T: FromMsgpack> FromMsgpack for Box<T> {
    fn from_msgpack(m: &MsgValue) -> Result<Self> {
        T::from_msgpack(m).map(Box::new)
    }
}

impl ToMsgpack for bool {
    fn to_msgpack(&self) -> Result<MsgValue> {
        Ok(MsgValue::Bool(*self))
    }
}
impl FromMsgpack for bool {
    fn from_msgpack(m: &MsgValue) -> Result<Self> {
        m.as_bool().ok_or_else(|| expected("bool", m))
    }
}
impl MsgpackListItem for bool {}

macro_rules! msgpack_int {
    ($($t:ty),*) => {$(
        impl ToMsgpack for $t {
            fn to_msgpack(&self) -> Result<MsgValue> {
                Ok(MsgValue::Int(*self as i128))
            }
        }
        impl FromMsgpack for $t {
            fn from_msgpack(m: &MsgValue) -> Result<Self> {
                let i = m.as_int().ok_or_else(|| expected(stringify!($t), m))?;
                <$t>::try_from(i).map_err(|_| Error::mismatch(stringify!($t), format!("the integer {i}")))
            }
        }
    )*};
}
msgpack_int!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);
impl MsgpackListItem for i8 {}
impl MsgpackListItem for i16 {}
impl MsgpackListItem for i32 {}
impl MsgpackListItem for i64 {}
impl MsgpackListItem for isize {}
impl MsgpackListItem for u16 {}
impl MsgpackListItem for u32 {}
impl MsgpackListItem for u64 {}
impl MsgpackListItem for usize {}

impl ToMsgpack for f64 {
    fn to_msgpack(&self) -> Result<MsgValue> {
        Ok(MsgValue::Float(*self))
    }
}
impl FromMsgpack for f64 {
    fn from_msgpack(m: &MsgValue) -> Result<Self> {
        match m {
            MsgValue::Float(f) => Ok(*f),
            MsgValue::Int(i) => Ok(*i as f64),
            _ => Err(expected("float", m)),
        }
    }
}
impl MsgpackListItem for f64 {}
impl ToMsgpack for f32 {
    fn to_msgpack(&self) -> Result<MsgValue> {
        Ok(MsgValue::Float(*self as f64))
    }
}
impl FromMsgpack for f32 {
    fn from_msgpack(m: &MsgValue) -> Result<Self> {
        f64::from_msgpack(m).map(|f| f as f32)
    }
}
impl MsgpackListItem for f32 {}

impl ToMsgpack for str {
    fn to_msgpack(&self) -> Result<MsgValue> {
        Ok(MsgValue::Str(self.to_owned()))
    }
}
impl ToMsgpack for String {
    fn to_msgpack(&self) -> Result<MsgValue> {
        Ok(MsgValue::Str(self.clone()))
    }
}
impl FromMsgpack for String {
    fn from_msgpack(m: &MsgValue) -> Result<Self> {
        m.as_str().map(str::to_owned).ok_or_else(|| expected("str", m))
    }
}
impl MsgpackListItem for String {}
impl MsgpackListItem for str {}

impl<T: ToMsgpack> ToMsgpack for Option<T> {
    fn to_msgpack(&self) -> Result<MsgValue> {
        match self {
            None => Ok(MsgValue::Nil),
            Some(v) => v.to_msgpack(),
        }
    }
}
impl<T: FromMsgpack> FromMsgpack for Option<T> {
    fn from_msgpack(m: &MsgValue) -> Result<Self> {
        match m {
            MsgValue::Nil => Ok(None),
            other => T::from_msgpack(other).map(Some),
        }
    }
}
impl<T: ToMsgpack> MsgpackListItem for Option<T> {}

/// `bin`: a buffer kept in the header on purpose (`#[dask(header)]`).
impl ToMsgpack for Vec<u8> {
    fn to_msgpack(&self) -> Result<MsgValue> {
        Ok(MsgValue::Bin(Bytes::copy_from_slice(self)))
    }
}
impl FromMsgpack for Vec<u8> {
    fn from_msgpack(m: &MsgValue) -> Result<Self> {
        m.as_bin().map(|b| b.to_vec()).ok_or_else(|| expected("bytes", m))
    }
}
impl ToMsgpack for Bytes {
    fn to_msgpack(&self) -> Result<MsgValue> {
        Ok(MsgValue::Bin(self.clone()))
    }
}
/// Zero-copy: the bytes are a slice of the received header frame.
impl FromMsgpack for Bytes {
    fn from_msgpack(m: &MsgValue) -> Result<Self> {
        m.as_bin().cloned().ok_or_else(|| expected("bytes", m))
    }
}
impl MsgpackListItem for Bytes {}
impl MsgpackListItem for Vec<u8> {}

impl<T: MsgpackListItem> ToMsgpack for Vec<T> {
    fn to_msgpack(&self) -> Result<MsgValue> {
        self.as_slice().to_msgpack()
    }
}
impl<T: MsgpackListItem> ToMsgpack for [T] {
    fn to_msgpack(&self) -> Result<MsgValue> {
        Ok(MsgValue::Array(
            self.iter().map(ToMsgpack::to_msgpack).collect::<Result<_>>()?,
        ))
    }
}
impl<T: MsgpackListItem + FromMsgpack> FromMsgpack for Vec<T> {
    fn from_msgpack(m: &MsgValue) -> Result<Self> {
        m.as_array()
            .ok_or_else(|| expected("a list", m))?
            .iter()
            .map(T::from_msgpack)
            .collect()
    }
}
impl<T: MsgpackListItem> MsgpackListItem for Vec<T> {}

pub(super) fn to_msgpack_map<'a, V: ToMsgpack + 'a>(
    entries: impl Iterator<Item = (&'a String, &'a V)>,
) -> Result<MsgValue> {
    Ok(MsgValue::Map(
        entries
            .map(|(k, v)| Ok((MsgValue::Str(k.clone()), v.to_msgpack()?)))
            .collect::<Result<_>>()?,
    ))
}
pub(super) fn from_msgpack_map<V: FromMsgpack>(m: &MsgValue) -> Result<Vec<(String, V)>> {
    m.as_map()
        .ok_or_else(|| expected("a dict", m))?
        .iter()
        .map(|(k, v)| Ok((String::from_msgpack(k)?, V::from_msgpack(v)?)))
        .collect()
}
impl<V: ToMsgpack> ToMsgpack for BTreeMap<String, V> {
    fn to_msgpack(&self) -> Result<MsgValue> {
        to_msgpack_map(self.iter())
    }
}
impl<V: FromMsgpack> FromMsgpack for BTreeMap<String, V> {
    fn from_msgpack(m: &MsgValue) -> Result<Self> {
        Ok(from_msgpack_map(m)?.into_iter().collect())
    }
}
impl<V: ToMsgpack, S> ToMsgpack for HashMap<String, V, S> {
    fn to_msgpack(&self) -> Result<MsgValue> {
        to_msgpack_map(self.iter())
    }
}
impl<V: FromMsgpack, S: BuildHasher + Default> FromMsgpack for HashMap<String, V, S> {
    fn from_msgpack(m: &MsgValue) -> Result<Self> {
        Ok(from_msgpack_map(m)?.into_iter().collect())
    }
}
impl<V: ToMsgpack> MsgpackListItem for BTreeMap<String, V> {}
impl<V: ToMsgpack, S> MsgpackListItem for HashMap<String, V, S> {}

macro_rules! msgpack_tuple {
    ($( ($($n:ident $i:tt),+) )+) => {$(
        impl<$($n: ToMsgpack),+> ToMsgpack for ($($n,)+) {
            fn to_msgpack(&self) -> Result<MsgValue> {
                Ok(MsgValue::Array(vec![$(self.$i.to_msgpack()?),+]))
            }
        }
        impl<$($n: FromMsgpack),+> FromMsgpack for ($($n,)+) {
            fn from_msgpack(m: &MsgValue) -> Result<Self> {
                let items = m.as_array().ok_or_else(|| expected("a tuple", m))?;
                let n = [$($i),+].len();
                if items.len() != n {
                    return Err(Error::mismatch(format!("a tuple of {n}"), format!("{} items", items.len())));
                }
                Ok(($($n::from_msgpack(&items[$i])?,)+))
            }
        }
        impl<$($n: ToMsgpack),+> MsgpackListItem for ($($n,)+) {}
    )+};
}
msgpack_tuple! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
}
