//! Python class identity and its `type-serialized` reference pickle
//! (PROTOCOL.md §5.1), produced and parsed without any pickle VM.

use std::fmt;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::header::Header;
use crate::msgpack::MsgValue;

/// The identity of a Python class: its module and `__qualname__`.
///
/// Dask's `dask` family stores the class as `type-serialized`, a protocol-5
/// pickle of the class *reference*. [`PyType::type_serialized`] produces
/// exactly those bytes; [`PyType::from_type_serialized`] parses them back by
/// matching the fixed layout — it is not an unpickler, and anything that is
/// not the reference form (for example a cloudpickled `__main__` class) is
/// an unknown type.
///
/// # Examples
///
/// ```
/// use dask_serde::PyType;
///
/// let t = PyType::new("builtins", "bytes");
/// let bytes = t.type_serialized();
/// assert_eq!(&bytes[..3], &[0x80, 0x05, 0x95]);
/// assert_eq!(PyType::from_type_serialized(&bytes)?, t);
/// assert_eq!(t.typename(), "bytes");
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PyType {
    module: String,
    qualname: String,
}

impl PyType {
    /// A class `qualname` in `module`.
    pub fn new(module: impl Into<String>, qualname: impl Into<String>) -> Self {
        PyType {
            module: module.into(),
            qualname: qualname.into(),
        }
    }

    /// Parses `"pkg.mod.Class"`: everything before the last dot is the
    /// module. For nested classes (`"pkg.mod.Outer.Inner"`) use
    /// [`PyType::new`], since a dotted path alone cannot tell where the
    /// module ends.
    ///
    /// # Errors
    ///
    /// A path without a dot or with an empty part.
    pub fn parse(path: &str) -> Result<Self> {
        match path.rsplit_once('.') {
            Some((m, c)) if !m.is_empty() && !c.is_empty() => Ok(PyType::new(m, c)),
            _ => Err(Error::Encode(format!(
                "{path:?} is not a dotted Python class path like \"pkg.mod.Class\""
            ))),
        }
    }

    /// The module (`"builtins"`, `"numpy"`, `"pkg.mod"`).
    pub fn module(&self) -> &str {
        &self.module
    }

    /// The class `__qualname__`.
    pub fn qualname(&self) -> &str {
        &self.qualname
    }

    /// The class `__name__` (last component of the qualname).
    pub fn name(&self) -> &str {
        self.qualname.rsplit('.').next().unwrap_or(&self.qualname)
    }

    /// `dask.utils.typename(cls)`, the header's informational `type`:
    /// `__name__` for builtins, else `module + "." + __name__`.
    pub fn typename(&self) -> String {
        if self.module == "builtins" {
            self.name().to_owned()
        } else {
            format!("{}.{}", self.module, self.name())
        }
    }

    /// `module.qualname`, the form used by the canonical JSON notation.
    pub fn path(&self) -> String {
        format!("{}.{}", self.module, self.qualname)
    }

    /// The exact bytes of `distributed.protocol.pickle.dumps(cls)` for an
    /// importable class (PROTOCOL.md §5.1).
    pub fn type_serialized(&self) -> Vec<u8> {
        let body_len = unicode_len(&self.module) + 1 + unicode_len(&self.qualname) + 1 + 1 + 1 + 1;
        let mut out = Vec::with_capacity(11 + body_len);
        out.extend_from_slice(&[0x80, 0x05, 0x95]);
        out.extend_from_slice(&(body_len as u64).to_le_bytes());
        push_unicode(&mut out, &self.module);
        out.push(0x94);
        push_unicode(&mut out, &self.qualname);
        out.extend_from_slice(&[0x94, 0x93, 0x94, 0x2e]);
        out
    }

    /// Parses `type-serialized` bytes of the reference form back into a
    /// class identity. Nothing is executed.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTypeSerialized`] for anything that is not exactly
    /// the reference layout (cloudpickled classes included).
    pub fn from_type_serialized(bytes: &[u8]) -> Result<Self> {
        let unknown = |why: &str| {
            let preview: String = bytes.iter().take(48).map(|b| format!("{b:02x}")).collect();
            Error::UnknownTypeSerialized(format!(
                "{why}; only the pickle of an importable class reference is understood (got {} bytes: {preview}{})",
                bytes.len(),
                if bytes.len() > 48 { "…" } else { "" }
            ))
        };
        let rest = bytes
            .strip_prefix(&[0x80, 0x05, 0x95])
            .ok_or_else(|| unknown("not a protocol-5 framed pickle"))?;
        if rest.len() < 8 {
            return Err(unknown("truncated frame length"));
        }
        let (len, body) = rest.split_at(8);
        let mut l = [0u8; 8];
        l.copy_from_slice(len);
        if u64::from_le_bytes(l) != body.len() as u64 {
            return Err(unknown("frame length does not match the data"));
        }
        let (module, body) = read_unicode(body).ok_or_else(|| unknown("expected the module name"))?;
        let body = body
            .strip_prefix(&[0x94])
            .ok_or_else(|| unknown("expected MEMOIZE"))?;
        let (qualname, body) = read_unicode(body).ok_or_else(|| unknown("expected the class name"))?;
        if body != [0x94, 0x93, 0x94, 0x2e] {
            return Err(unknown("not a plain STACK_GLOBAL class reference"));
        }
        if module.is_empty() || qualname.is_empty() {
            return Err(unknown("empty module or class name"));
        }
        Ok(PyType::new(module, qualname))
    }

    /// `builtins.bytes`.
    pub fn bytes() -> Self {
        PyType::new("builtins", "bytes")
    }
    /// `builtins.bytearray`.
    pub fn bytearray() -> Self {
        PyType::new("builtins", "bytearray")
    }
    /// `builtins.memoryview`.
    pub fn memoryview() -> Self {
        PyType::new("builtins", "memoryview")
    }
    /// `builtins.dict` (used by `nested-dict`).
    pub fn dict() -> Self {
        PyType::new("builtins", "dict")
    }
    /// `array.array`.
    pub fn pyarray() -> Self {
        PyType::new("array", "array")
    }
    /// `numpy.ndarray`.
    pub fn ndarray() -> Self {
        PyType::new("numpy", "ndarray")
    }
}

impl fmt::Display for PyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.module, self.qualname)
    }
}

fn unicode_len(s: &str) -> usize {
    if s.len() < 256 {
        2 + s.len()
    } else {
        5 + s.len()
    }
}

fn push_unicode(out: &mut Vec<u8>, s: &str) {
    if s.len() < 256 {
        out.push(0x8c);
        out.push(s.len() as u8);
    } else {
        out.push(0x58);
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

fn read_unicode(b: &[u8]) -> Option<(String, &[u8])> {
    let (n, rest) = match b.first()? {
        0x8c => (*b.get(1)? as usize, &b[2..]),
        0x58 => {
            let l = b.get(1..5)?;
            let n = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
            if n < 256 {
                // pickle writes short names with SHORT_BINUNICODE
                return None;
            }
            (n, &b[5..])
        }
        _ => return None,
    };
    if rest.len() < n {
        return None;
    }
    let s = std::str::from_utf8(&rest[..n]).ok()?;
    Some((s.to_owned(), &rest[n..]))
}

// ---------------------------------------------------------------------------
// The dask family's header of a class (PROTOCOL.md §4.1, §5.1).

/// Builds the dask-family header `{sub-header, type, type-serialized,
/// serializer}` in Dask's key order.
pub fn dask_header(sub_header: MsgValue, class: &PyType) -> Header {
    Header::from_entries(vec![
        ("sub-header".into(), sub_header),
        ("type".into(), MsgValue::Str(typename(class))),
        (
            "type-serialized".into(),
            MsgValue::Bin(cached_type_serialized(class)),
        ),
        ("serializer".into(), "dask".into()),
    ])
}

/// `dask.utils.typename(cls)` without formatting for the built-in classes.
fn typename(class: &PyType) -> String {
    match (class.module(), class.qualname()) {
        ("builtins", name) => name.to_owned(),
        ("numpy", "ndarray") => "numpy.ndarray".to_owned(),
        _ => class.typename(),
    }
}

/// The `type-serialized` bytes of the built-in classes, computed once.
pub(crate) fn cached_type_serialized(class: &PyType) -> Bytes {
    match cached_type_serialized_ref(class) {
        Some(b) => b.clone(),
        None => Bytes::from(class.type_serialized()),
    }
}

/// [`cached_type_serialized`] without a reference count, for the built-in
/// classes only (`None` for others).
pub(crate) fn cached_type_serialized_ref(class: &PyType) -> Option<&'static Bytes> {
    use std::sync::OnceLock;
    static BYTES: OnceLock<Bytes> = OnceLock::new();
    static BYTEARRAY: OnceLock<Bytes> = OnceLock::new();
    static NDARRAY: OnceLock<Bytes> = OnceLock::new();
    let cell = match (class.module(), class.qualname()) {
        ("builtins", "bytes") => &BYTES,
        ("builtins", "bytearray") => &BYTEARRAY,
        ("numpy", "ndarray") => &NDARRAY,
        _ => return None,
    };
    Some(cell.get_or_init(|| Bytes::from(class.type_serialized())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn spec_constants() {
        let cases = [
            (
                PyType::bytes(),
                "8005951600000000000000 8c086275696c74696e73 94 8c056279746573 94 93 94 2e",
            ),
            (
                PyType::bytearray(),
                "8005951a00000000000000 8c086275696c74696e73 94 8c09627974656172726179 94 93 94 2e",
            ),
            (
                PyType::memoryview(),
                "8005951b00000000000000 8c086275696c74696e73 94 8c0a6d656d6f727976696577 94 93 94 2e",
            ),
            (
                PyType::dict(),
                "8005951500000000000000 8c086275696c74696e73 94 8c0464696374 94 93 94 2e",
            ),
            (
                PyType::ndarray(),
                "8005951500000000000000 8c056e756d7079 94 8c076e646172726179 94 93 94 2e",
            ),
            (
                PyType::pyarray(),
                "8005951300000000000000 8c056172726179 94 8c056172726179 94 93 94 2e",
            ),
        ];
        for (t, h) in cases {
            assert_eq!(t.type_serialized(), hex(h), "{t}");
            assert_eq!(PyType::from_type_serialized(&hex(h)).unwrap(), t);
        }
    }

    #[test]
    fn long_module_names_use_binunicode() {
        let t = PyType::new("m".repeat(300), "C");
        let b = t.type_serialized();
        assert_eq!(b[11], 0x58);
        assert_eq!(PyType::from_type_serialized(&b).unwrap(), t);
    }

    #[test]
    fn anything_else_is_unknown() {
        let good = PyType::bytes().type_serialized();
        for cut in 0..good.len() {
            assert!(PyType::from_type_serialized(&good[..cut]).is_err());
        }
        let mut extra = good.clone();
        extra.insert(extra.len() - 1, 0x94);
        assert!(PyType::from_type_serialized(&extra).is_err());
        assert!(PyType::from_type_serialized(b"\x80\x04\x95garbage").is_err());
    }

    #[test]
    fn typename_uses_name_not_qualname() {
        assert_eq!(PyType::new("a.b", "Outer.Inner").typename(), "a.b.Inner");
        assert_eq!(PyType::ndarray().typename(), "numpy.ndarray");
    }
}
