//! What calls of Python's own data constructors become: the `REDUCE`
//! handlers of the `builtins`, `_codecs` and `copyreg` globals of the
//! allow-list (see [`super::construct::ALLOWED_GLOBALS`]).

use bytes::Bytes;

use super::node::{unexpected, Arena, Node, ObjectNode, Ref};
use crate::pytype::PyType;

/// `set()`, `set(iterable)`.
pub(super) fn reduce_set(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
    match args {
        [] => Ok(Node::Set(Vec::new())),
        [x] => Ok(Node::Set(a.items(*x)?)),
        _ => Err(unexpected(a, args, "() or (iterable,)")),
    }
}

/// `frozenset()`, `frozenset(iterable)`.
pub(super) fn reduce_frozenset(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
    match args {
        [] => Ok(Node::FrozenSet(Vec::new())),
        [x] => Ok(Node::FrozenSet(a.items(*x)?)),
        _ => Err(unexpected(a, args, "() or (iterable,)")),
    }
}

/// `list()`, `list(iterable)`.
pub(super) fn reduce_list(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
    match args {
        [] => Ok(Node::List(Vec::new())),
        [x] => Ok(Node::List(a.items(*x)?)),
        _ => Err(unexpected(a, args, "() or (iterable,)")),
    }
}

/// `tuple()`, `tuple(iterable)`.
pub(super) fn reduce_tuple(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
    match args {
        [] => Ok(Node::Tuple(Vec::new())),
        [x] => Ok(Node::Tuple(a.items(*x)?)),
        _ => Err(unexpected(a, args, "() or (iterable,)")),
    }
}

/// `dict()`, `dict(mapping)`.
pub(super) fn reduce_dict(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
    match args {
        [] => Ok(Node::Dict(Vec::new())),
        [x] => match a.node(*x) {
            Node::Dict(pairs) => {
                let copy = pairs.clone();
                a.charge(copy.len())?;
                Ok(Node::Dict(copy))
            }
            _ => Err(unexpected(a, args, "() or (dict,)")),
        },
        _ => Err(unexpected(a, args, "() or (dict,)")),
    }
}

/// `bytes()`, `bytes(bytes_like)`.
pub(super) fn reduce_bytes(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
    match args {
        [] => Ok(Node::Bytes(Bytes::new())),
        [x] => match a.bytes(*x) {
            Some(b) => Ok(Node::Bytes(b)),
            None => Err(unexpected(a, args, "() or (bytes,)")),
        },
        _ => Err(unexpected(a, args, "() or (bytes,)")),
    }
}

/// `bytearray()`, `bytearray(bytes_like)`, and the `bytearray(str,
/// 'latin-1')` of Python ≤ 3.7's protocol 2 pickles.
pub(super) fn reduce_bytearray(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
    const EXPECTED: &str = "(), (bytes,) or (str, 'latin-1')";
    match args {
        [] => Ok(Node::ByteArray(Bytes::new())),
        [x] => match a.bytes(*x) {
            Some(b) => Ok(Node::ByteArray(b)),
            None => Err(unexpected(a, args, EXPECTED)),
        },
        [s, e] => match (a.str(*s), a.str(*e)) {
            (Some(s), Some(e)) if is_latin1_name(e) => Ok(Node::ByteArray(latin1_encode(s)?)),
            _ => Err(unexpected(a, args, EXPECTED)),
        },
        _ => Err(unexpected(a, args, EXPECTED)),
    }
}

/// `_codecs.encode(str, 'latin1')`: how protocol 2 writes `bytes`.
pub(super) fn reduce_codecs_encode(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
    match args {
        [s, e] => match (a.str(*s), a.str(*e)) {
            (Some(s), Some(e)) if is_latin1_name(e) => Ok(Node::Bytes(latin1_encode(s)?)),
            _ => Err(unexpected(a, args, "(str, 'latin1')")),
        },
        _ => Err(unexpected(a, args, "(str, 'latin1')")),
    }
}

/// `copyreg._reconstructor(cls, object, None)`: a plain object of `cls`
/// (protocols 0 and 1).
pub(super) fn reduce_reconstructor(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
    const EXPECTED: &str = "(class, builtins.object, None)";
    match args {
        [cls, base, state] => {
            let base_is_object = a
                .global(*base)
                .is_some_and(|t| t.module() == "builtins" && t.qualname() == "object");
            let state_is_none = matches!(a.node(*state), Node::None);
            match a.global(*cls) {
                Some(class) if base_is_object && state_is_none => Ok(Node::Object(Box::new(ObjectNode {
                    class: plain_class(class)?,
                    fields: Vec::new(),
                }))),
                _ => Err(unexpected(a, args, EXPECTED)),
            }
        }
        _ => Err(unexpected(a, args, EXPECTED)),
    }
}

/// `getattr(cls, name)`: how protocols < 4 name a nested class
/// (`Outer.Inner`). Yields a longer name; nothing is looked up.
pub(super) fn reduce_getattr(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
    match args {
        [obj, name] => match (a.global(*obj), a.str(*name)) {
            (Some(t), Some(n)) if !n.is_empty() && !n.contains('.') => Ok(Node::Global(Box::new(
                PyType::new(t.module(), format!("{}.{n}", t.qualname())),
            ))),
            _ => Err(unexpected(a, args, "(global, attribute name)")),
        },
        _ => Err(unexpected(a, args, "(global, attribute name)")),
    }
}

/// The class of a plain object: anything but a builtin type (a builtin's
/// `__new__` would not make a plain object).
pub(super) fn plain_class(t: &PyType) -> std::result::Result<PyType, String> {
    if t.module() == "builtins" {
        return Err(format!(
            "{t} is not a class of plain objects; creating an instance of it is refused"
        ));
    }
    Ok(t.clone())
}

/// Whether `e` names the latin-1 codec.
fn is_latin1_name(e: &str) -> bool {
    matches!(
        e.to_ascii_lowercase().replace('_', "-").as_str(),
        "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1" | "l1"
    )
}

/// `s.encode('latin-1')`; a message for characters beyond U+00FF.
fn latin1_encode(s: &str) -> std::result::Result<Bytes, String> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).map_err(|_| format!("{c:?} cannot be encoded as latin-1")))
        .collect::<std::result::Result<Vec<u8>, String>>()
        .map(Bytes::from)
}
