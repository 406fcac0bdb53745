//! Header checks shared by the typed decoders: "is this the `dask`
//! family's header of one of these classes?", with Dask's error texts.

use crate::error::{Error, Result};
use crate::header::{Header, MsgExt};
use crate::msgpack::MsgValue;
use crate::pytype::PyType;

/// Checks that `header` is a `dask`-family value of one of `classes`, and
/// returns its class and sub-header.
pub(crate) fn expect_dask<'h>(
    header: &'h Header,
    classes: &[PyType],
    expected: &str,
) -> Result<(PyType, &'h MsgValue)> {
    let (class, sub) = expect_dask_any(header, expected)?;
    if !classes.contains(&class) {
        return Err(Error::mismatch(expected, class.path()));
    }
    Ok((class, sub))
}

/// Checks that `header` is a `dask`-family value and returns its class and
/// sub-header.
pub(crate) fn expect_dask_any<'h>(header: &'h Header, expected: &str) -> Result<(PyType, &'h MsgValue)> {
    match header.serializer() {
        Some("dask") => {}
        Some("error") => {
            return Err(Error::Remote(format!(
                "the sender could not serialize the value (error family); expected {expected}"
            )))
        }
        other => {
            return Err(Error::mismatch(
                expected,
                format!("data of the {:?} family", other.unwrap_or("None")),
            ))
        }
    }
    let ts = header.req("type-serialized", "header")?;
    let ts = ts
        .as_bin()
        .ok_or_else(|| Error::header("type-serialized", "expected bin"))?;
    let class = PyType::from_type_serialized(ts)?;
    Ok((class, header.req("sub-header", "header")?))
}

/// The sub-header of a `dask`-family map of the built-in `class` (compared
/// by its cached `type-serialized` bytes), or `None` for anything else.
pub(crate) fn dask_class_sub_header<'h>(header: &'h MsgValue, class: &PyType) -> Option<&'h MsgValue> {
    let entries = header.as_map()?;
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    };
    let ts = crate::pytype::cached_type_serialized_ref(class)?;
    match (get("serializer")?, get("type-serialized")?) {
        (MsgValue::Str(s), MsgValue::Bin(b)) if s == "dask" && b[..] == ts[..] => get("sub-header"),
        _ => None,
    }
}

/// [`expect_dask`] for one built-in class: compares the `type-serialized`
/// bytes with the cached reference pickle before parsing anything.
pub(crate) fn expect_dask_class<'h>(
    header: &'h Header,
    class: &PyType,
    expected: &str,
) -> Result<&'h MsgValue> {
    if header.serializer() == Some("dask") {
        if let Some(MsgValue::Bin(ts)) = header.get("type-serialized") {
            if ts[..] == crate::pytype::cached_type_serialized(class)[..] {
                return header.req("sub-header", "header");
            }
        }
    }
    expect_dask(header, std::slice::from_ref(class), expected).map(|(_, sub)| sub)
}
