//! The dynamic value model: Python values as Dask sees them.

use bytes::Bytes;
use num_bigint::BigInt;

pub mod dtype;
pub mod ndarray;

use crate::pytype::PyType;
use crate::value::ndarray::NdArray;

/// A Python value, as far as Dask's protocol is concerned.
///
/// This is what [`deserialize_any`](crate::deserialize_any), the message
/// layer and the CLI work with, and what the canonical JSON notation of the
/// test vectors (PROTOCOL.md §13.3) describes. Typed code (`DaskSerialize` /
/// `DaskDeserialize` implementations) never goes through it.
///
/// Equality follows the canonical comparison: floats compare by value but
/// keep the sign of zero, and `nan == nan`; sets compare in order (use
/// [`Value::same_set`] for order-free comparison).
///
/// # Examples
///
/// ```
/// use dask_serde::Value;
///
/// let v = Value::Dict(vec![(Value::from("x"), Value::from(1))]);
/// assert_eq!(v.type_name(), "dict");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Value {
    /// `None`.
    None,
    /// `bool`.
    Bool(bool),
    /// `int` in the `i128` range.
    Int(i128),
    /// `int` outside the `i128` range (only pickles carry these).
    BigInt(BigInt),
    /// `float`.
    Float(f64),
    /// `str`.
    Str(String),
    /// `bytes`.
    Bytes(Bytes),
    /// `bytearray`.
    ByteArray(Bytes),
    /// `list`.
    List(Vec<Value>),
    /// `tuple`.
    Tuple(Vec<Value>),
    /// `set`, in the sender's iteration order.
    Set(Vec<Value>),
    /// `frozenset` (only pickles carry these; the canonical JSON tag is the
    /// extension `"frozenset"`).
    FrozenSet(Vec<Value>),
    /// `dict`, in insertion order; keys may be any value.
    Dict(Vec<(Value, Value)>),
    /// `memoryview` (boxed: large and rare, it would otherwise make every
    /// value as big as itself).
    MemoryView(Box<MemoryView>),
    /// `array.array`.
    PyArray(PyArray),
    /// `numpy.ndarray` (boxed, like the other large variants; build it with
    /// `Value::from(array)`).
    NdArray(Box<NdArray>),
    /// An object of a class registered with `register_generic` (boxed; build
    /// it with `Value::from(object)`).
    Object(Box<Object>),
    /// `to_serialize(v)`: inside a message, a value serialized out of band.
    Serialize(Box<Value>),
    /// `ToPickle(v)`: inside a message, a value Python would pickle.
    ToPickle(Box<Value>),
    /// A member of an `enum.Enum` class (messages only; boxed, build it
    /// with `Value::from(member)`).
    Enum(Box<EnumMember>),
    /// A stand-in for an object no family can encode, named by its class
    /// name (used to exercise the `error` family).
    Unserializable(String),
    /// A message payload kept undecoded (`loads` with `keep_serialized`):
    /// Python's `Serialized` / `Pickled`. Re-encoding it reproduces the
    /// payload byte for byte.
    Opaque(Box<crate::opaque::Opaque>),
}

/// A Python `memoryview`: `format` is a `struct` code in native byte order,
/// `data` the buffer in C order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryView {
    /// `struct` format string (`"B"`, `"i"`, `"d"`, ...).
    pub format: String,
    /// The view's shape.
    pub shape: Vec<usize>,
    /// The bytes in C order.
    pub data: Bytes,
}

/// A Python `array.array`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyArray {
    /// The type code (`'b'`, `'B'`, `'u'`, `'w'`, `'h'`, `'H'`, `'i'`, `'I'`,
    /// `'l'`, `'L'`, `'q'`, `'Q'`, `'f'`, `'d'`).
    pub typecode: char,
    /// The raw items in native (little-endian) byte order.
    pub data: Bytes,
}

impl PyArray {
    /// Size in bytes of one item of `typecode` on a 64-bit Linux CPython,
    /// or `None` for an unknown code.
    pub fn itemsize(typecode: char) -> Option<usize> {
        Some(match typecode {
            'b' | 'B' => 1,
            'h' | 'H' => 2,
            'i' | 'I' | 'f' | 'u' | 'w' => 4,
            'l' | 'L' | 'q' | 'Q' | 'd' => 8,
            _ => return None,
        })
    }
}

/// An object of a Python class registered with `register_generic`: its
/// class and its `__dict__` in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// The class.
    pub class: PyType,
    /// Attribute name → value, in `__dict__` order.
    pub fields: Vec<(String, Value)>,
}

impl Object {
    /// The value of an attribute.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// A member of a Python `enum.Enum` class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumMember {
    /// The enum class.
    pub class: PyType,
    /// The member's name.
    pub name: String,
}

impl Value {
    /// An integer, as `Int` when it fits in `i128`, else `BigInt`.
    pub fn int(i: BigInt) -> Value {
        match i128::try_from(&i) {
            Ok(v) => Value::Int(v),
            Err(_) => Value::BigInt(i),
        }
    }

    /// Python's `type(x).__name__` (for wrappers, the wrapped value's).
    pub fn type_name(&self) -> String {
        match self {
            Value::None => "NoneType".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) | Value::BigInt(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Str(_) => "str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::ByteArray(_) => "bytearray".into(),
            Value::List(_) => "list".into(),
            Value::Tuple(_) => "tuple".into(),
            Value::Set(_) => "set".into(),
            Value::FrozenSet(_) => "frozenset".into(),
            Value::Dict(_) => "dict".into(),
            Value::MemoryView(_) => "memoryview".into(),
            Value::PyArray(_) => "array".into(),
            Value::NdArray(_) => "ndarray".into(),
            Value::Object(o) => o.class.name().into(),
            Value::Serialize(v) | Value::ToPickle(v) => v.type_name(),
            Value::Enum(e) => e.class.name().into(),
            Value::Unserializable(n) => n.clone(),
            Value::Opaque(o) => match o.kind {
                crate::opaque::PayloadKind::Serialized => "Serialized".into(),
                crate::opaque::PayloadKind::Pickled => "Pickled".into(),
            },
        }
    }

    /// `true` if the value's type has a `dask`-family serializer
    /// (Python's `dask_serialize.dispatch(type(x))` succeeds).
    pub fn is_dask_serializable(&self) -> bool {
        matches!(
            self,
            Value::Bytes(_)
                | Value::ByteArray(_)
                | Value::MemoryView(_)
                | Value::PyArray(_)
                | Value::NdArray(_)
                | Value::Object(_)
        )
    }

    /// Python's `distributed.protocol.serialize.check_dask_serializable`:
    /// judged by the first element of a collection only.
    pub fn check_dask_serializable(&self) -> bool {
        let mut v = self;
        // iterative descent: first element of exact list/set/tuple, first
        // value of a dict
        loop {
            match v {
                Value::List(items) | Value::Tuple(items) | Value::Set(items) if !items.is_empty() => {
                    v = &items[0];
                }
                Value::Dict(entries) if !entries.is_empty() => v = &entries[0].1,
                other => return other.is_dask_serializable(),
            }
        }
    }

    /// Python's `_is_msgpack_serializable` (PROTOCOL.md §7.1): the test
    /// `register_generic` uses to put an attribute into `simple`.
    pub fn is_msgpack_serializable(&self) -> bool {
        match self {
            Value::None
            | Value::Str(_)
            | Value::Bool(_)
            | Value::Bytes(_)
            | Value::Int(_)
            | Value::BigInt(_)
            | Value::Float(_) => true,
            Value::Dict(entries) => entries
                .iter()
                .all(|(k, v)| matches!(k, Value::Str(_)) && v.is_msgpack_serializable()),
            Value::List(items) | Value::Tuple(items) => items.iter().all(Value::is_msgpack_serializable),
            _ => false,
        }
    }

    /// Compares two values treating sets as unordered (the canonical
    /// comparison rule for sets).
    pub fn same_set(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Set(a), Value::Set(b)) | (Value::FrozenSet(a), Value::FrozenSet(b)) => {
                a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| x.same_set(y)))
            }
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_set(y))
            }
            (Value::Dict(a), Value::Dict(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((k1, v1), (k2, v2))| k1.same_set(k2) && v1.same_set(v2))
            }
            (Value::Object(a), Value::Object(b)) => {
                a.class == b.class
                    && a.fields.len() == b.fields.len()
                    && a.fields
                        .iter()
                        .zip(&b.fields)
                        .all(|((n1, v1), (n2, v2))| n1 == n2 && v1.same_set(v2))
            }
            (Value::Serialize(a), Value::Serialize(b)) | (Value::ToPickle(a), Value::ToPickle(b)) => {
                a.same_set(b)
            }
            (a, b) => a == b,
        }
    }
}

/// Float equality of the canonical notation: by value, sign of zero kept,
/// `nan == nan`.
pub(crate) fn float_eq(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (None, None) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (BigInt(a), BigInt(b)) => a == b,
            (Float(a), Float(b)) => float_eq(*a, *b),
            (Str(a), Str(b)) => a == b,
            (Bytes(a), Bytes(b)) | (ByteArray(a), ByteArray(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) | (Set(a), Set(b)) | (FrozenSet(a), FrozenSet(b)) => {
                a == b
            }
            (Dict(a), Dict(b)) => a == b,
            (MemoryView(a), MemoryView(b)) => a == b,
            (PyArray(a), PyArray(b)) => a == b,
            (NdArray(a), NdArray(b)) => a == b,
            (Object(a), Object(b)) => a == b,
            (Serialize(a), Serialize(b)) | (ToPickle(a), ToPickle(b)) => a == b,
            (Enum(a), Enum(b)) => a == b,
            (Unserializable(a), Unserializable(b)) => a == b,
            (Opaque(a), Opaque(b)) => a == b,
            _ => false,
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<Bytes> for Value {
    fn from(b: Bytes) -> Self {
        Value::Bytes(b)
    }
}
impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Bytes(Bytes::from(b))
    }
}
/// `Value::NdArray`, boxing the array.
impl From<NdArray> for Value {
    fn from(a: NdArray) -> Self {
        Value::NdArray(Box::new(a))
    }
}
/// `Value::MemoryView`, boxing the view.
impl From<MemoryView> for Value {
    fn from(m: MemoryView) -> Self {
        Value::MemoryView(Box::new(m))
    }
}
/// `Value::Object`, boxing the object.
impl From<Object> for Value {
    fn from(o: Object) -> Self {
        Value::Object(Box::new(o))
    }
}
/// `Value::Enum`, boxing the member.
impl From<EnumMember> for Value {
    fn from(e: EnumMember) -> Self {
        Value::Enum(Box::new(e))
    }
}
macro_rules! value_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(i: $t) -> Self { Value::Int(i as i128) }
        }
    )*};
}
value_from_int!(i8, i16, i32, i64, i128, u8, u16, u32, u64, usize, isize);
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Self {
        o.map_or(Value::None, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every node of a decoded message is a `Value` (a dict of 8 entries
    /// allocates 16 of them in one block), so its size is paid per node in
    /// allocation and copying. The large, rare variants are boxed to keep it
    /// small; 48 is the floor set by `Int(i128)` (16-byte alignment) and
    /// `Bytes` (32 bytes). Unboxed, `NdArray` made it 192 bytes.
    #[test]
    fn value_stays_small() {
        assert!(
            std::mem::size_of::<Value>() <= 48,
            "size_of::<Value>() = {}",
            std::mem::size_of::<Value>()
        );
    }
}
