//! [`MsgpackKey`]: the dict keys of typed maps.

use crate::error::{Error, Result};
use crate::msgpack::MsgValue;

// ---------------------------------------------------------------------------
// Collections (PROTOCOL.md §6): every element is serialized on its own.

/// A dict key: anything msgpack can carry as a map key that Python hashes.
pub trait MsgpackKey: Sized {
    /// The key as msgpack.
    fn to_key(&self) -> MsgValue;
    /// The key from msgpack.
    ///
    /// # Errors
    ///
    /// A key of another type.
    fn from_key(m: &MsgValue) -> Result<Self>;
}

impl MsgpackKey for String {
    fn to_key(&self) -> MsgValue {
        MsgValue::Str(self.clone())
    }
    fn from_key(m: &MsgValue) -> Result<Self> {
        m.as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::mismatch("a str key", m.kind()))
    }
}

impl MsgpackKey for bool {
    fn to_key(&self) -> MsgValue {
        MsgValue::Bool(*self)
    }
    fn from_key(m: &MsgValue) -> Result<Self> {
        m.as_bool().ok_or_else(|| Error::mismatch("a bool key", m.kind()))
    }
}

macro_rules! int_key {
    ($($t:ty),*) => {$(
        impl MsgpackKey for $t {
            fn to_key(&self) -> MsgValue { MsgValue::Int(*self as i128) }
            fn from_key(m: &MsgValue) -> Result<Self> {
                let i = m.as_int().ok_or_else(|| Error::mismatch("an int key", m.kind()))?;
                <$t>::try_from(i).map_err(|_| Error::mismatch(stringify!($t), format!("{i}")))
            }
        }
    )*};
}
int_key!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);
