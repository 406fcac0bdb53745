//! The reader: interprets a pickle opcode stream as data.
//!
//! Objects are built in an [`Arena`] and referred to by index ([`Ref`]), so
//! that the memo, the stack and containers can share one mutable object the
//! way Python's unpickler shares references (a list memoized while empty and
//! filled later is seen filled by every `GET`). The final [`Value`] is built
//! once, at `STOP`, by [`Reader::finish`]: shared objects are expanded into
//! copies there, after a cycle check and a bound on the number of values the
//! expansion produces.

use std::collections::HashMap;

use bytes::Bytes;
use num_bigint::BigInt;

use super::numpy::{self, DTypeNode, ObjectArrayNode};
use super::{compat, op, OobBuffer};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::pytype::PyType;
use crate::value::ndarray::NdArray;
use crate::value::{MemoryView, Object, Value};

/// Longest decimal integer text accepted by `INT`/`LONG` (CPython 3.11's
/// default `sys.get_int_max_str_digits()`).
const MAX_INT_DIGITS: usize = 4300;

/// Values the reader may produce per byte of input (plus [`BUDGET_BASE`]):
/// the bound on arena work and on the expansion of shared references.
const BUDGET_PER_BYTE: usize = 16;

/// Constant part of the value budget.
const BUDGET_BASE: usize = 1024;

/// The index of an object in the [`Arena`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ref(usize);

/// An object under construction.
///
/// Containers hold [`Ref`]s, so a memoized object shared by several
/// containers is one node until the final value is built. Nodes are kept
/// small (40 bytes): rare or large payloads are boxed.
#[derive(Debug)]
pub(crate) enum Node {
    /// `None`.
    None,
    /// `bool`.
    Bool(bool),
    /// `int` in the `i64` range.
    Int(i64),
    /// Any other `int`.
    BigInt(Box<BigInt>),
    /// `float`.
    Float(f64),
    /// `str`.
    Str(String),
    /// `bytes`.
    Bytes(Bytes),
    /// `bytearray`.
    ByteArray(Bytes),
    /// `list`.
    List(Vec<Ref>),
    /// `tuple`.
    Tuple(Vec<Ref>),
    /// `set`.
    Set(Vec<Ref>),
    /// `frozenset`.
    FrozenSet(Vec<Ref>),
    /// `dict`, in insertion order (duplicate keys are merged when the value
    /// is built).
    Dict(Vec<(Ref, Ref)>),
    /// A plain object (created by `NEWOBJ` or `copyreg._reconstructor`).
    Object(Box<ObjectNode>),
    /// A reference to a module-level Python object (`GLOBAL`,
    /// `STACK_GLOBAL`), kept until a `REDUCE`/`NEWOBJ` consumes it.
    Global(Box<PyType>),
    /// An out-of-band buffer (`NEXT_BUFFER`).
    Buffer(Box<OobBuffer>),
    /// A numpy dtype (`numpy.dtype(typestr, False, True)`, then `BUILD`).
    /// Only a part of arrays and other dtypes: not a value by itself.
    DType(Box<DTypeNode>),
    /// A numpy array made by `_reconstruct`, waiting for its `BUILD`
    /// state.
    NdArrayPending,
    /// A numpy object array after its `BUILD`: a container of its items.
    ObjectArray(Box<ObjectArrayNode>),
    /// A finished value (any [`Value`], e.g. a container built at `STOP`).
    Built(Box<Value>),
}

/// A plain object and its `__dict__` so far.
#[derive(Debug)]
pub(crate) struct ObjectNode {
    /// The class, only named.
    pub(crate) class: PyType,
    /// Attribute name → value, in order.
    pub(crate) fields: Vec<(String, Ref)>,
}

impl Node {
    /// The node of an immutable value (a scalar, or anything already built).
    pub(crate) fn from_value(v: Value) -> Node {
        match v {
            Value::None => Node::None,
            Value::Bool(b) => Node::Bool(b),
            Value::Int(i) => match i64::try_from(i) {
                Ok(i) => Node::Int(i),
                Err(_) => Node::BigInt(Box::new(BigInt::from(i))),
            },
            Value::BigInt(b) => Node::from_bigint(b),
            Value::Float(f) => Node::Float(f),
            Value::Str(s) => Node::Str(s),
            Value::Bytes(b) => Node::Bytes(b),
            Value::ByteArray(b) => Node::ByteArray(b),
            other => Node::Built(Box::new(other)),
        }
    }

    /// The node of an `int`.
    pub(crate) fn from_bigint(b: BigInt) -> Node {
        match i64::try_from(&b) {
            Ok(i) => Node::Int(i),
            Err(_) => Node::BigInt(Box::new(b)),
        }
    }

    /// The value of a node without children (`None` for containers,
    /// objects and globals); `take` moves it out, leaving `Node::None`,
    /// else it is cloned.
    fn leaf_value(&mut self, take: bool) -> Option<Value> {
        let node = if take {
            std::mem::replace(self, Node::None)
        } else {
            match self {
                Node::None => Node::None,
                Node::Bool(b) => Node::Bool(*b),
                Node::Int(i) => Node::Int(*i),
                Node::Float(f) => Node::Float(*f),
                Node::BigInt(b) => Node::BigInt(b.clone()),
                Node::Str(s) => Node::Str(s.clone()),
                Node::Bytes(b) => Node::Bytes(b.clone()),
                Node::ByteArray(b) => Node::ByteArray(b.clone()),
                Node::Buffer(b) => Node::Buffer(b.clone()),
                Node::Built(v) => Node::Built(v.clone()),
                _ => return None,
            }
        };
        Some(match node {
            Node::None => Value::None,
            Node::Bool(b) => Value::Bool(b),
            Node::Int(i) => Value::Int(i.into()),
            Node::BigInt(b) => Value::int(*b),
            Node::Float(f) => Value::Float(f),
            Node::Str(s) => Value::Str(s),
            Node::Bytes(b) => Value::Bytes(b),
            Node::ByteArray(b) => Value::ByteArray(b),
            // a buffer read as a value: a 1-d memoryview of bytes, shared
            Node::Buffer(b) => Value::from(MemoryView {
                format: "B".into(),
                shape: vec![b.data.len()],
                data: b.data,
            }),
            Node::Built(v) => *v,
            _ => return None,
        })
    }

    /// The Python type name, for messages.
    fn kind(&self) -> String {
        match self {
            Node::None => "NoneType".into(),
            Node::Bool(_) => "bool".into(),
            Node::Int(_) | Node::BigInt(_) => "int".into(),
            Node::Float(_) => "float".into(),
            Node::Str(_) => "str".into(),
            Node::Bytes(_) => "bytes".into(),
            Node::ByteArray(_) => "bytearray".into(),
            Node::List(_) => "list".into(),
            Node::Tuple(_) => "tuple".into(),
            Node::Set(_) => "set".into(),
            Node::FrozenSet(_) => "frozenset".into(),
            Node::Dict(_) => "dict".into(),
            Node::Object(o) => format!("{} object", o.class),
            Node::Global(t) => format!("global {t}"),
            Node::Buffer(_) => "out-of-band buffer".into(),
            Node::DType(_) => "numpy.dtype".into(),
            Node::NdArrayPending | Node::ObjectArray(_) => "numpy.ndarray".into(),
            Node::Built(v) if matches!(**v, Value::NdArray(_)) => "numpy.ndarray".into(),
            Node::Built(v) => v.type_name(),
        }
    }

    /// The Python type name with an article ("an int", "a list"), for
    /// messages.
    pub(crate) fn a_kind(&self) -> String {
        let kind = self.kind();
        let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {kind}")
    }

    /// The `i`-th child (dict keys and values alternate).
    fn child(&self, i: usize) -> Option<Ref> {
        match self {
            Node::List(items) | Node::Tuple(items) | Node::Set(items) | Node::FrozenSet(items) => {
                items.get(i).copied()
            }
            Node::Dict(pairs) => pairs.get(i / 2).map(|&(k, v)| if i % 2 == 0 { k } else { v }),
            Node::Object(o) => o.fields.get(i).map(|&(_, r)| r),
            Node::ObjectArray(o) => o.items.get(i).copied(),
            _ => None,
        }
    }

    /// Whether the node is a container (a nesting level of the value).
    fn is_container(&self) -> bool {
        matches!(
            self,
            Node::List(_)
                | Node::Tuple(_)
                | Node::Set(_)
                | Node::FrozenSet(_)
                | Node::Dict(_)
                | Node::Object(_)
                | Node::ObjectArray(_)
        )
    }

    /// Bytes of heap data a copy of this node (alone) duplicates.
    fn heap_bytes(&self) -> usize {
        match self {
            Node::Str(s) => s.len(),
            Node::BigInt(b) => usize::try_from(b.bits() / 8).unwrap_or(usize::MAX),
            Node::Object(o) => o.fields.iter().map(|(k, _)| k.len()).sum(),
            Node::ObjectArray(o) => o.shape.len() * std::mem::size_of::<usize>(),
            _ => 0,
        }
    }
}

/// The objects built so far, with a bound on the work spent building them.
#[derive(Debug)]
pub(crate) struct Arena {
    nodes: Vec<Node>,
    /// Offset of the opcode that created each node.
    offsets: Vec<usize>,
    /// Nodes created plus references copied so far.
    work: usize,
    /// Bound on `work` and on the values produced at `STOP`.
    budget: usize,
}

impl Arena {
    fn new(budget: usize) -> Self {
        Arena {
            nodes: Vec::new(),
            offsets: Vec::new(),
            work: 0,
            budget,
        }
    }

    /// The node `r` refers to.
    pub(crate) fn node(&self, r: Ref) -> &Node {
        &self.nodes[r.0]
    }

    pub(crate) fn node_mut(&mut self, r: Ref) -> &mut Node {
        &mut self.nodes[r.0]
    }

    /// Accounts for `n` units of work (a node created or a reference
    /// copied).
    ///
    /// # Errors
    ///
    /// When the budget is exhausted.
    pub(crate) fn charge(&mut self, n: usize) -> std::result::Result<(), String> {
        self.work = self.work.saturating_add(n);
        if self.work > self.budget {
            return Err(format!(
                "the pickle builds more than {} objects (the limit is {BUDGET_PER_BYTE} per input byte + {BUDGET_BASE})",
                self.budget
            ));
        }
        Ok(())
    }

    fn alloc(&mut self, node: Node, at: usize) -> std::result::Result<Ref, String> {
        self.charge(1)?;
        self.nodes.push(node);
        self.offsets.push(at);
        Ok(Ref(self.nodes.len() - 1))
    }

    /// A copy of the items of a list, tuple, set or frozenset (what
    /// iterating it in Python yields), charged to the budget.
    ///
    /// # Errors
    ///
    /// For any other node, or when the budget is exhausted.
    pub(crate) fn items(&mut self, r: Ref) -> std::result::Result<Vec<Ref>, String> {
        let items = match self.node(r) {
            Node::List(items) | Node::Tuple(items) | Node::Set(items) | Node::FrozenSet(items) => items,
            other => {
                return Err(format!(
                    "expected a list, tuple, set or frozenset, found {}",
                    other.a_kind()
                ))
            }
        };
        let n = items.len();
        let copy = items.clone();
        self.charge(n)?;
        Ok(copy)
    }

    /// The text of a `str` node.
    pub(crate) fn str(&self, r: Ref) -> Option<&str> {
        match self.node(r) {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes of a `bytes`, `bytearray` or out-of-band buffer node.
    pub(crate) fn bytes(&self, r: Ref) -> Option<Bytes> {
        match self.node(r) {
            Node::Bytes(b) | Node::ByteArray(b) => Some(b.clone()),
            Node::Buffer(b) => Some(b.data.clone()),
            _ => None,
        }
    }

    /// The class a `Global` node names.
    pub(crate) fn global(&self, r: Ref) -> Option<&PyType> {
        match self.node(r) {
            Node::Global(t) => Some(t),
            _ => None,
        }
    }
}

/// Interprets `callable(*args)` as data. Gets the arena and the argument
/// tuple's items; returns the resulting node, or a message saying what
/// arguments were expected.
pub(crate) type ReduceFn = fn(&mut Arena, &[Ref]) -> std::result::Result<Node, String>;

/// A global whose call (`REDUCE`) the reader interprets as data.
pub(crate) struct AllowedGlobal {
    /// Module (after the Python 2 renaming of protocol < 3 pickles).
    pub(crate) module: &'static str,
    /// Qualified name in the module.
    pub(crate) name: &'static str,
    /// What a call means.
    pub(crate) reduce: ReduceFn,
}

/// The allow-list: the only globals the reader lets a pickle call, each
/// interpreted as data by its handler — nothing is imported or executed.
/// Every other `REDUCE` is refused. Add rows here (with their handlers) to
/// read more constructors.
///
/// numpy's constructors are listed under their numpy 2 (`numpy._core`) and
/// numpy 1 (`numpy.core`) module names; see [`super::numpy`].
pub(crate) static ALLOWED_GLOBALS: &[AllowedGlobal] = &[
    allow("builtins", "set", reduce_set),
    allow("builtins", "frozenset", reduce_frozenset),
    allow("builtins", "list", reduce_list),
    allow("builtins", "tuple", reduce_tuple),
    allow("builtins", "dict", reduce_dict),
    allow("builtins", "bytes", reduce_bytes),
    allow("builtins", "bytearray", reduce_bytearray),
    allow("builtins", "getattr", reduce_getattr),
    allow("_codecs", "encode", reduce_codecs_encode),
    allow("copyreg", "_reconstructor", reduce_reconstructor),
    allow("numpy", "dtype", numpy::reduce_dtype),
    allow("numpy._core.multiarray", "dtype", numpy::reduce_dtype),
    allow("numpy.core.multiarray", "dtype", numpy::reduce_dtype),
    allow(
        "numpy._core.multiarray",
        "_reconstruct",
        numpy::reduce_reconstruct,
    ),
    allow("numpy.core.multiarray", "_reconstruct", numpy::reduce_reconstruct),
    allow(
        "numpy._core._multiarray_umath",
        "_reconstruct",
        numpy::reduce_reconstruct,
    ),
    allow(
        "numpy.core._multiarray_umath",
        "_reconstruct",
        numpy::reduce_reconstruct,
    ),
    allow("numpy._core.numeric", "_frombuffer", numpy::reduce_frombuffer),
    allow("numpy.core.numeric", "_frombuffer", numpy::reduce_frombuffer),
    allow("numpy._core.multiarray", "scalar", numpy::reduce_scalar),
    allow("numpy.core.multiarray", "scalar", numpy::reduce_scalar),
];

const fn allow(module: &'static str, name: &'static str, reduce: ReduceFn) -> AllowedGlobal {
    AllowedGlobal { module, name, reduce }
}

/// Describes an argument tuple for messages: `(list, str)`.
fn describe_args(a: &Arena, args: &[Ref]) -> String {
    let kinds: Vec<String> = args.iter().map(|&r| a.node(r).kind()).collect();
    if kinds.len() == 1 {
        format!("({},)", kinds[0])
    } else {
        format!("({})", kinds.join(", "))
    }
}

pub(crate) fn unexpected(a: &Arena, args: &[Ref], expected: &str) -> String {
    format!(
        "unexpected arguments {}; expected {expected}",
        describe_args(a, args)
    )
}

/// `set()`, `set(iterable)`.
fn reduce_set(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
    match args {
        [] => Ok(Node::Set(Vec::new())),
        [x] => Ok(Node::Set(a.items(*x)?)),
        _ => Err(unexpected(a, args, "() or (iterable,)")),
    }
}

/// `frozenset()`, `frozenset(iterable)`.
fn reduce_frozenset(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
    match args {
        [] => Ok(Node::FrozenSet(Vec::new())),
        [x] => Ok(Node::FrozenSet(a.items(*x)?)),
        _ => Err(unexpected(a, args, "() or (iterable,)")),
    }
}

/// `list()`, `list(iterable)`.
fn reduce_list(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
    match args {
        [] => Ok(Node::List(Vec::new())),
        [x] => Ok(Node::List(a.items(*x)?)),
        _ => Err(unexpected(a, args, "() or (iterable,)")),
    }
}

/// `tuple()`, `tuple(iterable)`.
fn reduce_tuple(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
    match args {
        [] => Ok(Node::Tuple(Vec::new())),
        [x] => Ok(Node::Tuple(a.items(*x)?)),
        _ => Err(unexpected(a, args, "() or (iterable,)")),
    }
}

/// `dict()`, `dict(mapping)`.
fn reduce_dict(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
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
fn reduce_bytes(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
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
fn reduce_bytearray(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
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
fn reduce_codecs_encode(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
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
fn reduce_reconstructor(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
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
fn reduce_getattr(a: &mut Arena, args: &[Ref]) -> std::result::Result<Node, String> {
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
fn plain_class(t: &PyType) -> std::result::Result<PyType, String> {
    if t.module() == "builtins" {
        return Err(format!(
            "{t} is not a class of plain objects; creating an instance of it is refused"
        ));
    }
    Ok(t.clone())
}

fn is_latin1_name(e: &str) -> bool {
    matches!(
        e.to_ascii_lowercase().replace('_', "-").as_str(),
        "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1" | "l1"
    )
}

fn latin1_encode(s: &str) -> std::result::Result<Bytes, String> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).map_err(|_| format!("{c:?} cannot be encoded as latin-1")))
        .collect::<std::result::Result<Vec<u8>, String>>()
        .map(Bytes::from)
}

/// Reads a pickle as plain data (see [`super::loads`]).
pub(crate) fn loads(data: &[u8], buffers: &[OobBuffer], limits: &Limits) -> Result<Value> {
    let mut reader = Reader::new(data, buffers, limits);
    let (root, stop_at) = reader.run()?;
    if reader.pos < data.len() {
        return Err(Error::Pickle {
            offset: reader.pos,
            message: format!("{} bytes of trailing data after STOP", data.len() - reader.pos),
        });
    }
    reader.finish(root, stop_at)
}

/// Reads the pickle of a numpy dtype (see [`super::load_dtype`]).
pub(crate) fn load_dtype(data: &[u8], limits: &Limits) -> Result<crate::DType> {
    let mut reader = Reader::new(data, &[], limits);
    let (root, stop_at) = reader.run()?;
    if reader.pos < data.len() {
        return Err(Error::Pickle {
            offset: reader.pos,
            message: format!("{} bytes of trailing data after STOP", data.len() - reader.pos),
        });
    }
    match reader.arena.node(root) {
        Node::DType(d) => Ok(d.dtype.clone()),
        other => Err(Error::Pickle {
            offset: stop_at,
            message: format!("expected the pickle of a numpy dtype, found {}", other.a_kind()),
        }),
    }
}

/// The pickle machine, minus any ability to execute code.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    buffers: &'a [OobBuffer],
    next_buffer: usize,
    limits: &'a Limits,
    arena: Arena,
    stack: Vec<Ref>,
    /// Stack positions of the open MARKs; nothing below the last one may be
    /// popped until it is closed (CPython's "fence").
    marks: Vec<usize>,
    memo: HashMap<u64, Ref>,
    /// The protocol declared by `PROTO` (0 without one).
    proto: u8,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], buffers: &'a [OobBuffer], limits: &'a Limits) -> Self {
        let budget = data
            .len()
            .saturating_mul(BUDGET_PER_BYTE)
            .saturating_add(BUDGET_BASE);
        Reader {
            data,
            pos: 0,
            buffers,
            next_buffer: 0,
            limits,
            arena: Arena::new(budget),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            proto: 0,
        }
    }

    fn err(&self, at: usize, message: impl Into<String>) -> Error {
        Error::Pickle {
            offset: at,
            message: message.into(),
        }
    }

    // ----- input -----

    fn take(&mut self, n: usize, at: usize, what: &str) -> Result<&'a [u8]> {
        let rest = self.data.len() - self.pos;
        if n > rest {
            return Err(self.err(
                at,
                format!("truncated pickle: {what} needs {n} bytes, only {rest} remain"),
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, at: usize, what: &str) -> Result<[u8; N]> {
        let s = self.take(N, at, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// A length read from the input, checked against the remaining input
    /// (and `max_frame_bytes`) before anything is allocated for it.
    fn length(&mut self, n: u64, at: usize, what: &str) -> Result<usize> {
        let rest = self.data.len() - self.pos;
        let n = match usize::try_from(n) {
            Ok(n) if n <= rest => n,
            _ => {
                return Err(self.err(
                    at,
                    format!("truncated pickle: {what} announces {n} bytes, only {rest} remain"),
                ))
            }
        };
        if n as u64 > self.limits.max_frame_bytes {
            return Err(Error::Limit {
                what: "pickle string length",
                limit: self.limits.max_frame_bytes,
                got: n as u64,
            });
        }
        Ok(n)
    }

    fn sized(&mut self, n: u64, at: usize, what: &str) -> Result<&'a [u8]> {
        let n = self.length(n, at, what)?;
        self.take(n, at, what)
    }

    /// A newline-terminated argument (without the newline).
    fn line(&mut self, at: usize, what: &str) -> Result<&'a [u8]> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => Err(self.err(
                at,
                format!("truncated pickle: {what} argument has no terminating newline"),
            )),
        }
    }

    fn text_line(&mut self, at: usize, what: &str) -> Result<&'a str> {
        let l = self.line(at, what)?;
        std::str::from_utf8(l).map_err(|_| self.err(at, format!("{what} argument is not valid UTF-8")))
    }

    // ----- stack -----

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn push(&mut self, node: Node, at: usize) -> Result<Ref> {
        let r = self.arena.alloc(node, at).map_err(|m| self.err(at, m))?;
        self.stack.push(r);
        Ok(r)
    }

    fn push_leaf(&mut self, v: Value, at: usize) -> Result<()> {
        self.push(Node::from_value(v), at).map(|_| ())
    }

    fn underflow(&self, at: usize, code: u8) -> Error {
        let what = if self.stack.len() > self.fence() || self.marks.is_empty() {
            "stack underflow"
        } else {
            "stack underflow (the items it needs are before an open MARK)"
        };
        self.err(at, format!("{}: {what}", op::name(code).unwrap_or("?")))
    }

    fn pop(&mut self, at: usize, code: u8) -> Result<Ref> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow(at, code));
        }
        self.stack.pop().ok_or_else(|| self.underflow(at, code))
    }

    fn top(&self, at: usize, code: u8) -> Result<Ref> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow(at, code));
        }
        self.stack.last().copied().ok_or_else(|| self.underflow(at, code))
    }

    /// Pops the items above the last MARK, and the MARK.
    fn pop_mark(&mut self, at: usize, code: u8) -> Result<Vec<Ref>> {
        let Some(mark) = self.marks.pop() else {
            return Err(self.err(
                at,
                format!("{}: could not find MARK", op::name(code).unwrap_or("?")),
            ));
        };
        if mark > self.stack.len() {
            return Err(self.underflow(at, code));
        }
        Ok(self.stack.split_off(mark))
    }

    /// Pops `n` items (none of them below the fence), in stack order.
    fn pop_n(&mut self, n: usize, at: usize, code: u8) -> Result<Vec<Ref>> {
        if self.stack.len() < self.fence() + n {
            return Err(self.underflow(at, code));
        }
        Ok(self.stack.split_off(self.stack.len() - n))
    }

    fn kind(&self, r: Ref) -> String {
        self.arena.node(r).a_kind()
    }

    // ----- the machine -----

    /// Runs until `STOP`; returns the result and the offset of `STOP`.
    fn run(&mut self) -> Result<(Ref, usize)> {
        loop {
            let at = self.pos;
            let Some(&code) = self.data.get(at) else {
                return Err(self.err(at, "truncated pickle: no STOP opcode"));
            };
            self.pos += 1;
            match code {
                op::PROTO => {
                    let [v] = self.array(at, "PROTO")?;
                    if v > 5 {
                        return Err(self.err(at, format!("unsupported pickle protocol: {v}")));
                    }
                    self.proto = v;
                }
                op::FRAME => {
                    let n = u64::from_le_bytes(self.array(at, "FRAME")?);
                    // Like CPython's C unpickler: the frame must be present;
                    // opcodes are not required to respect its boundaries.
                    self.length(n, at, "FRAME")?;
                }
                op::STOP => {
                    let r = self.pop(at, code)?;
                    return Ok((r, at));
                }

                // --- scalars ---
                op::NONE => self.push_leaf(Value::None, at)?,
                op::NEWTRUE => self.push_leaf(Value::Bool(true), at)?,
                op::NEWFALSE => self.push_leaf(Value::Bool(false), at)?,
                op::INT => {
                    let s = self.text_line(at, "INT")?;
                    let v = match s {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        _ => parse_decimal(s).map_err(|m| self.err(at, format!("INT: {m}")))?,
                    };
                    self.push_leaf(v, at)?;
                }
                op::BININT => {
                    let v = i32::from_le_bytes(self.array(at, "BININT")?);
                    self.push_leaf(Value::Int(v.into()), at)?;
                }
                op::BININT1 => {
                    let [v] = self.array(at, "BININT1")?;
                    self.push_leaf(Value::Int(v.into()), at)?;
                }
                op::BININT2 => {
                    let v = u16::from_le_bytes(self.array(at, "BININT2")?);
                    self.push_leaf(Value::Int(v.into()), at)?;
                }
                op::LONG => {
                    let s = self.text_line(at, "LONG")?;
                    let s = s.strip_suffix('L').unwrap_or(s);
                    let v = parse_decimal(s).map_err(|m| self.err(at, format!("LONG: {m}")))?;
                    self.push_leaf(v, at)?;
                }
                op::LONG1 => {
                    let [n] = self.array(at, "LONG1")?;
                    let b = self.take(n.into(), at, "LONG1")?;
                    self.push(Node::from_bigint(BigInt::from_signed_bytes_le(b)), at)?;
                }
                op::LONG4 => {
                    let n = i32::from_le_bytes(self.array(at, "LONG4")?);
                    let Ok(n) = u64::try_from(n) else {
                        return Err(self.err(at, "LONG4: negative byte count"));
                    };
                    let b = self.sized(n, at, "LONG4")?;
                    self.push(Node::from_bigint(BigInt::from_signed_bytes_le(b)), at)?;
                }
                op::FLOAT => {
                    let s = self.text_line(at, "FLOAT")?;
                    let v: f64 = s
                        .trim()
                        .parse()
                        .map_err(|_| self.err(at, format!("FLOAT: {s:?} is not a float")))?;
                    self.push_leaf(Value::Float(v), at)?;
                }
                op::BINFLOAT => {
                    let v = f64::from_be_bytes(self.array(at, "BINFLOAT")?);
                    self.push_leaf(Value::Float(v), at)?;
                }

                // --- strings ---
                op::STRING => {
                    let l = self.line(at, "STRING")?;
                    let v = decode_string_literal(l).map_err(|m| self.err(at, format!("STRING: {m}")))?;
                    self.push_leaf(Value::Bytes(Bytes::from(v)), at)?;
                }
                op::BINSTRING => {
                    let n = i32::from_le_bytes(self.array(at, "BINSTRING")?);
                    let Ok(n) = u64::try_from(n) else {
                        return Err(self.err(at, "BINSTRING: negative byte count"));
                    };
                    let b = self.sized(n, at, "BINSTRING")?;
                    self.push_leaf(Value::Bytes(Bytes::copy_from_slice(b)), at)?;
                }
                op::SHORT_BINSTRING => {
                    let [n] = self.array(at, "SHORT_BINSTRING")?;
                    let b = self.take(n.into(), at, "SHORT_BINSTRING")?;
                    self.push_leaf(Value::Bytes(Bytes::copy_from_slice(b)), at)?;
                }
                op::UNICODE => {
                    let l = self.line(at, "UNICODE")?;
                    let s =
                        decode_raw_unicode_escape(l).map_err(|m| self.err(at, format!("UNICODE: {m}")))?;
                    self.push_leaf(Value::Str(s), at)?;
                }
                op::SHORT_BINUNICODE => {
                    let [n] = self.array(at, "SHORT_BINUNICODE")?;
                    let b = self.take(n.into(), at, "SHORT_BINUNICODE")?;
                    self.push_utf8(b, at, "SHORT_BINUNICODE")?;
                }
                op::BINUNICODE => {
                    let n = u32::from_le_bytes(self.array(at, "BINUNICODE")?);
                    let b = self.sized(n.into(), at, "BINUNICODE")?;
                    self.push_utf8(b, at, "BINUNICODE")?;
                }
                op::BINUNICODE8 => {
                    let n = u64::from_le_bytes(self.array(at, "BINUNICODE8")?);
                    let b = self.sized(n, at, "BINUNICODE8")?;
                    self.push_utf8(b, at, "BINUNICODE8")?;
                }
                op::SHORT_BINBYTES => {
                    let [n] = self.array(at, "SHORT_BINBYTES")?;
                    let b = self.take(n.into(), at, "SHORT_BINBYTES")?;
                    self.push_leaf(Value::Bytes(Bytes::copy_from_slice(b)), at)?;
                }
                op::BINBYTES => {
                    let n = u32::from_le_bytes(self.array(at, "BINBYTES")?);
                    let b = self.sized(n.into(), at, "BINBYTES")?;
                    self.push_leaf(Value::Bytes(Bytes::copy_from_slice(b)), at)?;
                }
                op::BINBYTES8 => {
                    let n = u64::from_le_bytes(self.array(at, "BINBYTES8")?);
                    let b = self.sized(n, at, "BINBYTES8")?;
                    self.push_leaf(Value::Bytes(Bytes::copy_from_slice(b)), at)?;
                }
                op::BYTEARRAY8 => {
                    let n = u64::from_le_bytes(self.array(at, "BYTEARRAY8")?);
                    let b = self.sized(n, at, "BYTEARRAY8")?;
                    self.push_leaf(Value::ByteArray(Bytes::copy_from_slice(b)), at)?;
                }

                // --- tuples ---
                op::EMPTY_TUPLE => {
                    self.push(Node::Tuple(Vec::new()), at)?;
                }
                op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                    let items = self.pop_n(usize::from(code - op::TUPLE1) + 1, at, code)?;
                    self.push(Node::Tuple(items), at)?;
                }
                op::TUPLE => {
                    let items = self.pop_mark(at, code)?;
                    self.push(Node::Tuple(items), at)?;
                }

                // --- lists ---
                op::EMPTY_LIST => {
                    self.push(Node::List(Vec::new()), at)?;
                }
                op::LIST => {
                    let items = self.pop_mark(at, code)?;
                    self.push(Node::List(items), at)?;
                }
                op::APPEND => {
                    let item = self.pop(at, code)?;
                    let list = self.top(at, code)?;
                    self.extend_list(list, vec![item], at, code)?;
                }
                op::APPENDS => {
                    let items = self.pop_mark(at, code)?;
                    let list = self.top(at, code)?;
                    if !items.is_empty() {
                        self.extend_list(list, items, at, code)?;
                    }
                }

                // --- dicts ---
                op::EMPTY_DICT => {
                    self.push(Node::Dict(Vec::new()), at)?;
                }
                op::DICT => {
                    let items = self.pop_mark(at, code)?;
                    let pairs = pairs(items).ok_or_else(|| self.err(at, "DICT: odd number of items"))?;
                    self.push(Node::Dict(pairs), at)?;
                }
                op::SETITEM => {
                    let items = self.pop_n(2, at, code)?;
                    let dict = self.top(at, code)?;
                    self.extend_dict(dict, items, at, code)?;
                }
                op::SETITEMS => {
                    let items = self.pop_mark(at, code)?;
                    let dict = self.top(at, code)?;
                    if !items.is_empty() {
                        self.extend_dict(dict, items, at, code)?;
                    }
                }

                // --- sets ---
                op::EMPTY_SET => {
                    self.push(Node::Set(Vec::new()), at)?;
                }
                op::ADDITEMS => {
                    let items = self.pop_mark(at, code)?;
                    let set = self.top(at, code)?;
                    if !items.is_empty() {
                        match self.arena.node_mut(set) {
                            Node::Set(v) => v.extend(items),
                            _ => {
                                let kind = self.kind(set);
                                return Err(self.err(at, format!("ADDITEMS onto {kind}, not a set")));
                            }
                        }
                    }
                }
                op::FROZENSET => {
                    let items = self.pop_mark(at, code)?;
                    self.push(Node::FrozenSet(items), at)?;
                }

                // --- stack manipulation ---
                op::MARK => self.marks.push(self.stack.len()),
                op::POP => {
                    if self.marks.last() == Some(&self.stack.len()) {
                        // CPython pops an empty MARK too
                        self.marks.pop();
                    } else {
                        self.pop(at, code)?;
                    }
                }
                op::POP_MARK => {
                    self.pop_mark(at, code)?;
                }
                op::DUP => {
                    let r = self.top(at, code)?;
                    self.stack.push(r);
                }

                // --- memo ---
                op::PUT => {
                    let s = self.text_line(at, "PUT")?;
                    let i = parse_memo_index(s)
                        .ok_or_else(|| self.err(at, format!("PUT: invalid index {s:?}")))?;
                    self.memo_put(i, at, code)?;
                }
                op::BINPUT => {
                    let [i] = self.array(at, "BINPUT")?;
                    self.memo_put(i.into(), at, code)?;
                }
                op::LONG_BINPUT => {
                    let i = u32::from_le_bytes(self.array(at, "LONG_BINPUT")?);
                    self.memo_put(i.into(), at, code)?;
                }
                op::MEMOIZE => {
                    let i = self.memo.len() as u64;
                    self.memo_put(i, at, code)?;
                }
                op::GET => {
                    let s = self.text_line(at, "GET")?;
                    let i = parse_memo_index(s)
                        .ok_or_else(|| self.err(at, format!("GET: invalid index {s:?}")))?;
                    self.memo_get(i, at)?;
                }
                op::BINGET => {
                    let [i] = self.array(at, "BINGET")?;
                    self.memo_get(i.into(), at)?;
                }
                op::LONG_BINGET => {
                    let i = u32::from_le_bytes(self.array(at, "LONG_BINGET")?);
                    self.memo_get(i.into(), at)?;
                }

                // --- globals and objects ---
                op::GLOBAL => {
                    let module = self.text_line(at, "GLOBAL")?;
                    let name = self.text_line(at, "GLOBAL")?;
                    let t = self.find_class(module, name, at)?;
                    self.push(Node::Global(Box::new(t)), at)?;
                }
                op::STACK_GLOBAL => {
                    let name = self.pop(at, code)?;
                    let module = self.pop(at, code)?;
                    let (Some(m), Some(n)) = (self.arena.str(module), self.arena.str(name)) else {
                        return Err(self.err(
                            at,
                            format!(
                                "STACK_GLOBAL requires two str, found {} and {}",
                                self.kind(module),
                                self.kind(name)
                            ),
                        ));
                    };
                    let t = self.find_class(m, n, at)?;
                    self.push(Node::Global(Box::new(t)), at)?;
                }
                op::REDUCE => {
                    let args = self.pop(at, code)?;
                    let callable = self.pop(at, code)?;
                    let node = self.reduce(callable, args, at)?;
                    self.push(node, at)?;
                }
                op::NEWOBJ => {
                    let args = self.pop(at, code)?;
                    let cls = self.pop(at, code)?;
                    let node = self.newobj(cls, args, None, at, code)?;
                    self.push(node, at)?;
                }
                op::NEWOBJ_EX => {
                    let kwargs = self.pop(at, code)?;
                    let args = self.pop(at, code)?;
                    let cls = self.pop(at, code)?;
                    let node = self.newobj(cls, args, Some(kwargs), at, code)?;
                    self.push(node, at)?;
                }
                op::BUILD => {
                    let state = self.pop(at, code)?;
                    let inst = self.top(at, code)?;
                    self.build(inst, state, at)?;
                }

                // --- out-of-band buffers ---
                op::NEXT_BUFFER => {
                    let Some(b) = self.buffers.get(self.next_buffer) else {
                        return Err(self.err(
                            at,
                            format!(
                                "NEXT_BUFFER: not enough out-of-band buffers (the pickle asks for buffer #{}, {} given)",
                                self.next_buffer + 1,
                                self.buffers.len()
                            ),
                        ));
                    };
                    self.next_buffer += 1;
                    self.push(Node::Buffer(Box::new(b.clone())), at)?;
                }
                op::READONLY_BUFFER => {
                    let r = self.top(at, code)?;
                    let replacement = match self.arena.node(r) {
                        Node::Buffer(b) if b.writeable => Some(Node::Buffer(Box::new(OobBuffer {
                            data: b.data.clone(),
                            writeable: false,
                        }))),
                        Node::ByteArray(b) => Some(Node::Buffer(Box::new(OobBuffer {
                            data: b.clone(),
                            writeable: false,
                        }))),
                        // already read-only
                        Node::Buffer(_) | Node::Bytes(_) => None,
                        _ => {
                            return Err(
                                self.err(at, format!("READONLY_BUFFER on {}, not a buffer", self.kind(r)))
                            )
                        }
                    };
                    if let Some(node) = replacement {
                        self.stack.pop();
                        self.push(node, at)?;
                    }
                }

                other => {
                    return Err(self.err(
                        at,
                        match op::name(other) {
                            Some(name) => format!(
                                "opcode {name} (0x{other:02x}) is not supported by the safe pickle reader"
                            ),
                            None => format!("invalid opcode 0x{other:02x}"),
                        },
                    ))
                }
            }
        }
    }

    fn push_utf8(&mut self, b: &[u8], at: usize, what: &str) -> Result<()> {
        let s = std::str::from_utf8(b).map_err(|_| {
            self.err(
                at,
                format!("{what}: the string is not valid UTF-8 (lone surrogates cannot be represented)"),
            )
        })?;
        self.push_leaf(Value::Str(s.to_owned()), at)
    }

    fn extend_list(&mut self, list: Ref, items: Vec<Ref>, at: usize, code: u8) -> Result<()> {
        if let Node::List(v) = self.arena.node_mut(list) {
            v.extend(items);
            return Ok(());
        }
        let kind = self.kind(list);
        Err(self.err(
            at,
            format!("{} onto {kind}, not a list", op::name(code).unwrap_or("?")),
        ))
    }

    fn extend_dict(&mut self, dict: Ref, items: Vec<Ref>, at: usize, code: u8) -> Result<()> {
        let name = op::name(code).unwrap_or("?");
        let pairs = pairs(items).ok_or_else(|| self.err(at, format!("{name}: odd number of items")))?;
        if let Node::Dict(v) = self.arena.node_mut(dict) {
            v.extend(pairs);
            return Ok(());
        }
        let kind = self.kind(dict);
        Err(self.err(at, format!("{name} onto {kind}, not a dict")))
    }

    fn memo_put(&mut self, i: u64, at: usize, code: u8) -> Result<()> {
        let r = self.top(at, code)?;
        self.memo.insert(i, r);
        Ok(())
    }

    fn memo_get(&mut self, i: u64, at: usize) -> Result<()> {
        let r = *self
            .memo
            .get(&i)
            .ok_or_else(|| self.err(at, format!("memo value not found at index {i}")))?;
        self.stack.push(r);
        Ok(())
    }

    /// `Unpickler.find_class` without the import: only names the global.
    fn find_class(&self, module: &str, name: &str, at: usize) -> Result<PyType> {
        if module.is_empty() || name.is_empty() {
            return Err(self.err(at, "a global with an empty module or name"));
        }
        let (module, name) = if self.proto < 3 {
            compat::to_python3(module, name)
        } else {
            (module.to_owned(), name.to_owned())
        };
        Ok(PyType::new(module, name))
    }

    /// `REDUCE`: only allow-listed globals, interpreted as data.
    fn reduce(&mut self, callable: Ref, args: Ref, at: usize) -> Result<Node> {
        let Some(t) = self.arena.global(callable).cloned() else {
            return Err(self.err(
                at,
                format!("REDUCE: the callable is {}, not a global", self.kind(callable)),
            ));
        };
        let Some(allowed) = ALLOWED_GLOBALS
            .iter()
            .find(|g| g.module == t.module() && g.name == t.qualname())
        else {
            return Err(self.err(
                at,
                format!(
                    "refusing to call global {t}: calling it would execute code \
                     (only plain data and a short allow-list of data constructors are read)"
                ),
            ));
        };
        let args = match self.arena.node(args) {
            Node::Tuple(items) => items.clone(),
            other => {
                return Err(self.err(
                    at,
                    format!("REDUCE: the arguments of {t} are {}, not a tuple", other.a_kind()),
                ))
            }
        };
        self.arena.charge(args.len()).map_err(|m| self.err(at, m))?;
        (allowed.reduce)(&mut self.arena, &args).map_err(|m| {
            self.err(
                at,
                format!("refusing to call global {t}: {m} (any other call would execute code)"),
            )
        })
    }

    /// `NEWOBJ` / `NEWOBJ_EX`: `cls.__new__(cls)` of a plain object, as
    /// data. Arguments would be passed to a `__new__`, so none are allowed.
    fn newobj(&mut self, cls: Ref, args: Ref, kwargs: Option<Ref>, at: usize, code: u8) -> Result<Node> {
        let name = op::name(code).unwrap_or("?");
        let Some(t) = self.arena.global(cls).cloned() else {
            return Err(self.err(
                at,
                format!("{name}: the class is {}, not a global", self.kind(cls)),
            ));
        };
        let empty_args = matches!(self.arena.node(args), Node::Tuple(v) if v.is_empty());
        let empty_kwargs = match kwargs {
            None => true,
            Some(k) => matches!(self.arena.node(k), Node::Dict(v) if v.is_empty()),
        };
        if !empty_args || !empty_kwargs {
            return Err(self.err(
                at,
                format!(
                    "{name}: refusing to create a {t} with arguments: \
                     its __new__ would execute code (only plain objects are read)"
                ),
            ));
        }
        let class = plain_class(&t).map_err(|m| self.err(at, format!("{name}: {m}")))?;
        Ok(Node::Object(Box::new(ObjectNode {
            class,
            fields: Vec::new(),
        })))
    }

    /// `BUILD`: sets the `__dict__` (and slot) state of a plain object, or
    /// the state of a numpy dtype or array.
    fn build(&mut self, inst: Ref, state: Ref, at: usize) -> Result<()> {
        match self.arena.node(inst) {
            Node::DType(_) => return self.build_dtype(inst, state, at),
            Node::NdArrayPending => {
                let node = numpy::build_array(&mut self.arena, state)
                    .map_err(|m| self.err(at, format!("BUILD of a numpy array: {m}")))?;
                *self.arena.node_mut(inst) = node;
                return Ok(());
            }
            Node::Object(_) => {}
            _ => {
                let kind = self.kind(inst);
                return Err(self.err(
                    at,
                    format!(
                        "BUILD on {kind} is refused: only plain objects take a state \
                         (anything else would call __setstate__)"
                    ),
                ));
            }
        }
        let parts = match self.arena.node(state) {
            Node::Tuple(t) if t.len() == 2 => vec![t[0], t[1]],
            _ => vec![state],
        };
        let mut update: Vec<(String, Ref)> = Vec::new();
        for part in parts {
            match self.arena.node(part) {
                Node::None => {}
                Node::Dict(pairs) => {
                    for &(k, v) in pairs {
                        let Some(k) = self.arena.str(k) else {
                            return Err(self.err(
                                at,
                                format!("BUILD: attribute names must be str, found {}", self.kind(k)),
                            ));
                        };
                        update.push((k.to_owned(), v));
                    }
                }
                other => {
                    return Err(self.err(
                        at,
                        format!(
                            "BUILD: the state must be a dict, None or a (dict, slots dict) tuple, found {}",
                            other.a_kind()
                        ),
                    ))
                }
            }
        }
        let Node::Object(object) = self.arena.node_mut(inst) else {
            return Ok(());
        };
        let fields = &mut object.fields;
        let work = fields.len() + update.len();
        if !update.is_empty() {
            let mut index: HashMap<String, usize> = fields
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect();
            for (k, v) in update {
                match index.get(&k) {
                    Some(&i) => fields[i].1 = v,
                    None => {
                        index.insert(k.clone(), fields.len());
                        fields.push((k, v));
                    }
                }
            }
        }
        self.arena.charge(work).map_err(|m| self.err(at, m))
    }

    /// `BUILD` of a numpy dtype: its state is interpreted now (the dtypes
    /// of fields and sub-arrays are complete by then), bounded in depth.
    fn build_dtype(&mut self, inst: Ref, state: Ref, at: usize) -> Result<()> {
        let node = numpy::build_dtype(&mut self.arena, inst, state)
            .map_err(|m| self.err(at, format!("BUILD of a numpy dtype: {m}")))?;
        if node.depth > self.limits.max_nesting {
            return Err(Error::Limit {
                what: "nesting of numpy dtypes",
                limit: self.limits.max_nesting as u64,
                got: node.depth as u64,
            });
        }
        *self.arena.node_mut(inst) = Node::DType(Box::new(node));
        Ok(())
    }

    // ----- the result -----

    /// Builds the final value of `root`: refuses cycles, bounds the
    /// expansion of shared objects and the depth, then converts the arena
    /// bottom-up, moving each node's value into its last user and cloning
    /// it for the others.
    fn finish(mut self, root: Ref, stop_at: usize) -> Result<Value> {
        let n = self.arena.nodes.len();
        let budget = self.arena.budget;

        // 1. post-order of the nodes reachable from root; a node met again
        //    while on the path is a cycle.
        const WHITE: u8 = 0;
        const GRAY: u8 = 1;
        const BLACK: u8 = 2;
        let mut color = vec![WHITE; n];
        let mut order: Vec<Ref> = Vec::new();
        let mut path: Vec<(Ref, usize)> = vec![(root, 0)];
        color[root.0] = GRAY;
        while let Some(top) = path.last_mut() {
            let (node, i) = *top;
            match self.arena.node(node).child(i) {
                Some(c) => {
                    top.1 += 1;
                    match color[c.0] {
                        WHITE => {
                            color[c.0] = GRAY;
                            path.push((c, 0));
                            if path.len() > self.limits.max_nesting.saturating_add(1) {
                                self.limits.check_nesting(path.len() - 1)?;
                            }
                        }
                        GRAY => {
                            return Err(self.err(
                                self.arena.offsets[c.0],
                                format!(
                                    "recursive structure: {} contains itself, which cannot be represented as a value",
                                    self.kind(c)
                                ),
                            ))
                        }
                        _ => {}
                    }
                }
                None => {
                    color[node.0] = BLACK;
                    order.push(node);
                    path.pop();
                }
            }
        }

        // 2. how often each node is copied (visits), how many parents use
        //    it (uses), and the nesting depth.
        let mut visits = vec![0u64; n];
        let mut uses = vec![0usize; n];
        visits[root.0] = 1;
        uses[root.0] = 1;
        let mut total_values: u64 = 0;
        let mut total_bytes: u64 = 0;
        for &r in order.iter().rev() {
            let node = self.arena.node(r);
            if let Node::Global(t) = node {
                return Err(self.err(
                    self.arena.offsets[r.0],
                    format!(
                        "a reference to {t} cannot be read as a value: \
                         loading it would import code (only plain data is read)"
                    ),
                ));
            }
            if let Node::DType(d) = node {
                return Err(self.err(
                    self.arena.offsets[r.0],
                    format!(
                        "a numpy dtype is not a value (found {:?} outside an array)",
                        d.dtype.str()
                    ),
                ));
            }
            if let Node::NdArrayPending = node {
                return Err(self.err(self.arena.offsets[r.0], "a numpy array without its BUILD state"));
            }
            let v = visits[r.0];
            total_values = total_values.saturating_add(v);
            total_bytes = total_bytes.saturating_add(v.saturating_mul(node.heap_bytes() as u64));
            let mut i = 0;
            while let Some(c) = node.child(i) {
                visits[c.0] = visits[c.0].saturating_add(v);
                uses[c.0] += 1;
                i += 1;
            }
        }
        if total_values > budget as u64 || total_bytes > budget as u64 {
            return Err(self.err(
                stop_at,
                format!(
                    "shared references expand to more than {budget} values or bytes \
                     (the limit is {BUDGET_PER_BYTE} per input byte + {BUDGET_BASE})"
                ),
            ));
        }
        let mut height = vec![0usize; n];
        for &r in &order {
            let node = self.arena.node(r);
            if !node.is_container() {
                continue;
            }
            let mut h = 0;
            let mut i = 0;
            while let Some(c) = node.child(i) {
                h = h.max(height[c.0]);
                i += 1;
            }
            height[r.0] = h + 1;
            self.limits.check_nesting(h + 1)?;
        }

        // 3. build bottom-up: each container becomes a `Built` value in
        //    place; a value is moved into its last user and cloned for the
        //    others.
        let nodes = &mut self.arena.nodes;
        let mut take = |nodes: &mut Vec<Node>, c: Ref| -> Value {
            uses[c.0] = uses[c.0].saturating_sub(1);
            nodes[c.0].leaf_value(uses[c.0] == 0).unwrap_or(Value::None)
        };
        for &r in &order {
            if !nodes[r.0].is_container() {
                continue;
            }
            let value = match std::mem::replace(&mut nodes[r.0], Node::None) {
                Node::List(items) => Value::List(items.into_iter().map(|c| take(nodes, c)).collect()),
                Node::Tuple(items) => Value::Tuple(items.into_iter().map(|c| take(nodes, c)).collect()),
                Node::Set(items) => {
                    Value::Set(dedup_items(items.into_iter().map(|c| take(nodes, c)).collect()))
                }
                Node::FrozenSet(items) => {
                    Value::FrozenSet(dedup_items(items.into_iter().map(|c| take(nodes, c)).collect()))
                }
                Node::Dict(pairs) => Value::Dict(dedup_pairs(
                    pairs
                        .into_iter()
                        .map(|(k, v)| {
                            let k = take(nodes, k);
                            (k, take(nodes, v))
                        })
                        .collect(),
                )),
                Node::Object(o) => {
                    let ObjectNode { class, fields } = *o;
                    Value::from(Object {
                        class,
                        fields: fields.into_iter().map(|(k, c)| (k, take(nodes, c))).collect(),
                    })
                }
                Node::ObjectArray(o) => {
                    let ObjectArrayNode { shape, items } = *o;
                    let items = items.into_iter().map(|c| take(nodes, c)).collect();
                    // the item count was checked at BUILD
                    match NdArray::from_objects(shape, items) {
                        Ok(a) => Value::from(a),
                        Err(e) => {
                            return Err(Error::Pickle {
                                offset: stop_at,
                                message: e.to_string(),
                            })
                        }
                    }
                }
                // not a container (checked above)
                mut other => other.leaf_value(true).unwrap_or(Value::None),
            };
            nodes[r.0] = Node::Built(Box::new(value));
        }
        Ok(take(nodes, root))
    }
}

/// Pairs up `k1 v1 k2 v2 …`; `None` for an odd count.
fn pairs(items: Vec<Ref>) -> Option<Vec<(Ref, Ref)>> {
    if items.len() % 2 != 0 {
        return None;
    }
    Some(items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect())
}

/// Parses the decimal text of `INT`/`LONG` (an optional sign and digits).
fn parse_decimal(s: &str) -> std::result::Result<Value, String> {
    let t = s.trim();
    let digits = t.strip_prefix(|c| c == '-' || c == '+').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not a decimal integer"));
    }
    if digits.len() > MAX_INT_DIGITS {
        return Err(format!(
            "an integer of {} digits exceeds the limit of {MAX_INT_DIGITS} digits",
            digits.len()
        ));
    }
    if let Ok(i) = t.parse::<i128>() {
        return Ok(Value::Int(i));
    }
    BigInt::parse_bytes(t.as_bytes(), 10)
        .map(Value::int)
        .ok_or_else(|| format!("{s:?} is not a decimal integer"))
}

/// Parses the decimal index of `PUT`/`GET`.
fn parse_memo_index(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Decodes the quoted, backslash-escaped argument of `STRING` (Python 2
/// `repr` of a byte string), as `PyBytes_DecodeEscape` does.
fn decode_string_literal(l: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let inner = match l {
        [q, inner @ .., q2] if q == q2 && (*q == b'\'' || *q == b'"') => inner,
        _ => return Err("the argument must be quoted".into()),
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = inner.get(i) else {
            return Err("trailing \\ in string".into());
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match inner.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' => {
                let hex = inner.get(i..i + 2).ok_or("invalid \\x escape")?;
                let s = std::str::from_utf8(hex).map_err(|_| "invalid \\x escape")?;
                out.push(u8::from_str_radix(s, 16).map_err(|_| "invalid \\x escape")?);
                i += 2;
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// Decodes the argument of `UNICODE` (`raw-unicode-escape`: bytes are
/// latin-1 characters, except `\uXXXX` and `\UXXXXXXXX`).
fn decode_raw_unicode_escape(l: &[u8]) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(l.len());
    let mut i = 0;
    while i < l.len() {
        let c = l[i];
        i += 1;
        if c != b'\\' || i >= l.len() {
            out.push(char::from(c));
            continue;
        }
        let count = match l[i] {
            b'u' => 4,
            b'U' => 8,
            other => {
                out.push('\\');
                out.push(char::from(other));
                i += 1;
                continue;
            }
        };
        i += 1;
        let hex = l
            .get(i..i + count)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                format!(
                    "truncated \\{} escape",
                    if count == 4 { "uXXXX" } else { "UXXXXXXXX" }
                )
            })?;
        let v = u32::from_str_radix(hex, 16).map_err(|_| "invalid escape".to_owned())?;
        let ch = char::from_u32(v).ok_or_else(|| {
            format!(
                "\\{}{hex} is not a character that can be represented (surrogate or beyond U+10FFFF)",
                if count == 4 { 'u' } else { 'U' }
            )
        })?;
        out.push(ch);
        i += count;
    }
    Ok(out)
}

/// A dict key or set item as Python hashes and compares it, for the
/// types where that is modelled (numbers compare across int, float and
/// bool). `None` for values Python cannot hash (lists, dicts, sets,
/// bytearrays), NaN, and types not modelled: those are never merged.
#[derive(PartialEq, Eq, Hash)]
enum HashKey<'a> {
    None,
    Int(i128),
    Big(BigInt),
    Float(u64),
    Str(&'a str),
    Bytes(&'a [u8]),
    Tuple(Vec<HashKey<'a>>),
}

fn hash_key(v: &Value) -> Option<HashKey<'_>> {
    Some(match v {
        Value::None => HashKey::None,
        Value::Bool(b) => HashKey::Int(i128::from(*b)),
        Value::Int(i) => HashKey::Int(*i),
        Value::BigInt(b) => match i128::try_from(b) {
            Ok(i) => HashKey::Int(i),
            Err(_) => HashKey::Big(b.clone()),
        },
        Value::Float(f) => float_key(*f)?,
        Value::Str(s) => HashKey::Str(s),
        Value::Bytes(b) => HashKey::Bytes(b),
        Value::Tuple(items) => HashKey::Tuple(items.iter().map(hash_key).collect::<Option<_>>()?),
        _ => return None,
    })
}

fn float_key(f: f64) -> Option<HashKey<'static>> {
    if f.is_nan() {
        return None;
    }
    if f.is_infinite() || f.fract() != 0.0 {
        return Some(HashKey::Float(f.to_bits()));
    }
    // an integral float equals the int of the same value
    if f.abs() < 2f64.powi(127) {
        return Some(HashKey::Int(f as i128));
    }
    let bits = f.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as usize;
    let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    // |f| >= 2^127, so the exponent is far above the bias + 52
    let magnitude = BigInt::from(mantissa) << (exponent - 1075);
    Some(HashKey::Big(if f < 0.0 { -magnitude } else { magnitude }))
}

/// For each item, the index of the first item with an equal key (itself if
/// none), or `None` when no two keys are equal.
fn first_equal<'a>(keys: impl Iterator<Item = &'a Value>, len: usize) -> Option<Vec<usize>> {
    if len < 2 {
        return None;
    }
    let mut seen: HashMap<HashKey<'a>, usize> = HashMap::new();
    let first: Vec<usize> = keys
        .enumerate()
        .map(|(i, k)| match hash_key(k) {
            Some(h) => *seen.entry(h).or_insert(i),
            None => i,
        })
        .collect();
    if first.iter().enumerate().all(|(i, &f)| i == f) {
        None
    } else {
        Some(first)
    }
}

/// Python's `dict[k] = v` in order: a repeated key keeps its first
/// position and key object and takes the last value.
fn dedup_pairs(pairs: Vec<(Value, Value)>) -> Vec<(Value, Value)> {
    let Some(first) = first_equal(pairs.iter().map(|(k, _)| k), pairs.len()) else {
        return pairs;
    };
    let mut out: Vec<(Value, Value)> = Vec::with_capacity(pairs.len());
    let mut position = vec![0usize; pairs.len()];
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if first[i] == i {
            position[i] = out.len();
            out.push((k, v));
        } else {
            out[position[first[i]]].1 = v;
        }
    }
    out
}

/// Python's `set.add` in order: a repeated item is dropped.
fn dedup_items(items: Vec<Value>) -> Vec<Value> {
    let Some(first) = first_equal(items.iter(), items.len()) else {
        return items;
    };
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| first[*i] == *i)
        .map(|(_, v)| v)
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn l(data: &[u8]) -> Result<Value> {
        loads(data, &[], &Limits::default())
    }

    fn ok(data: &[u8]) -> Value {
        match l(data) {
            Ok(v) => v,
            Err(e) => panic!("{e} reading {data:?}"),
        }
    }

    /// The message of an `Error::Pickle`, checked to contain `needle`.
    fn fails(data: &[u8], needle: &str) -> (usize, String) {
        match l(data) {
            Err(Error::Pickle { offset, message }) => {
                assert!(
                    message.contains(needle),
                    "{message:?} does not contain {needle:?}"
                );
                (offset, message)
            }
            other => panic!("expected a pickle error containing {needle:?} for {data:?}, got {other:?}"),
        }
    }

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    fn b(x: &[u8]) -> Value {
        Value::Bytes(Bytes::copy_from_slice(x))
    }

    fn i(x: i128) -> Value {
        Value::Int(x)
    }

    fn object(module: &str, qualname: &str, fields: Vec<(&str, Value)>) -> Value {
        Value::from(Object {
            class: PyType::new(module, qualname),
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        })
    }

    #[test]
    fn scalars() {
        assert_eq!(ok(b"N."), Value::None);
        assert_eq!(ok(b"\x80\x02\x88."), Value::Bool(true));
        assert_eq!(ok(b"\x80\x02\x89."), Value::Bool(false));
        assert_eq!(ok(b"I01\n."), Value::Bool(true));
        assert_eq!(ok(b"I00\n."), Value::Bool(false));
        assert_eq!(ok(b"I-5\n."), i(-5));
        assert_eq!(ok(b"I0\n."), i(0));
        assert_eq!(
            ok(b"I123456789012345678901234567890123456789012345\n."),
            Value::int("123456789012345678901234567890123456789012345".parse().unwrap())
        );
        assert_eq!(ok(b"J\xfe\xff\xff\xff."), i(-2));
        assert_eq!(ok(b"K\xff."), i(255));
        assert_eq!(ok(b"M\x00\x01."), i(256));
        assert_eq!(ok(b"L1180591620717411303424L\n."), i(1 << 70));
        assert_eq!(ok(b"L-7\n."), i(-7));
        assert_eq!(ok(b"\x8a\x00."), i(0));
        assert_eq!(ok(b"\x8a\x01\xff."), i(-1));
        assert_eq!(ok(b"\x8a\x01\x80."), i(-128));
        assert_eq!(ok(b"\x8a\x05\x00\x00\x00\x80\x00."), i(1 << 31));
        let mut big = vec![0x8b, 0x11, 0, 0, 0];
        big.extend_from_slice(&[0; 16]);
        big.extend_from_slice(b"\x01.");
        assert_eq!(ok(&big), Value::int(BigInt::from(1) << 128));
        assert_eq!(ok(b"F1.5\n."), Value::Float(1.5));
        assert_eq!(ok(b"F-0.0\n."), Value::Float(-0.0));
        assert_eq!(ok(b"Finf\n."), Value::Float(f64::INFINITY));
        assert_eq!(ok(b"F1e+300\n."), Value::Float(1e300));
        assert!(matches!(ok(b"Fnan\n."), Value::Float(f) if f.is_nan()));
        assert_eq!(ok(b"G?\xf8\x00\x00\x00\x00\x00\x00."), Value::Float(1.5));
        fails(b"Ix\n.", "INT");
        fails(b"F1.5.", "newline");
        fails(b"\x8b\xff\xff\xff\xff.", "negative");
        let digits = format!("I{}\n.", "9".repeat(4301));
        fails(digits.as_bytes(), "4300");
    }

    #[test]
    fn strings_and_bytes() {
        assert_eq!(ok(b"S'a\\x41\\n\\'\\\\\\101b'\n."), b(b"aA\n'\\Ab"));
        assert_eq!(ok(b"S\"q\"\n."), b(b"q"));
        fails(b"Sabc\n.", "quoted");
        assert_eq!(ok(b"T\x03\x00\x00\x00abc."), b(b"abc"));
        assert_eq!(ok(b"U\x02hi."), b(b"hi"));
        fails(b"T\xff\xff\xff\xff.", "negative");
        assert_eq!(ok(b"V\xe9\\u20ac\\U0001f600\\x\\u005c\n."), s("é€😀\\x\\"));
        fails(b"V\\ud800\n.", "surrogate");
        fails(b"V\\u12\n.", "truncated");
        assert_eq!(ok(b"\x8c\x02\xc3\xa9."), s("é"));
        assert_eq!(ok(b"X\x01\x00\x00\x00a."), s("a"));
        assert_eq!(ok(b"\x8d\x01\x00\x00\x00\x00\x00\x00\x00a."), s("a"));
        fails(b"\x8c\x03\xed\xa0\x80.", "UTF-8");
        assert_eq!(ok(b"C\x01z."), b(b"z"));
        assert_eq!(ok(b"B\x02\x00\x00\x00zz."), b(b"zz"));
        assert_eq!(ok(b"\x8e\x01\x00\x00\x00\x00\x00\x00\x00z."), b(b"z"));
        assert_eq!(
            ok(b"\x96\x02\x00\x00\x00\x00\x00\x00\x00xy."),
            Value::ByteArray(Bytes::from_static(b"xy"))
        );
        fails(b"\x8e\xff\xff\xff\xff\xff\xff\xff\xff.", "announces");
        fails(b"B\x10\x00\x00\x00abc.", "announces");
        let strict = Limits {
            max_frame_bytes: 2,
            ..Limits::default()
        };
        // short opcodes are bounded by the input itself
        assert!(loads(b"C\x03abc.", &[], &strict).is_ok());
        assert!(matches!(
            loads(b"B\x03\x00\x00\x00abc.", &[], &strict),
            Err(Error::Limit { .. })
        ));
    }

    #[test]
    fn containers() {
        assert_eq!(ok(b"\x80\x02)."), Value::Tuple(vec![]));
        assert_eq!(ok(b"\x80\x02K\x01\x85."), Value::Tuple(vec![i(1)]));
        assert_eq!(ok(b"\x80\x02K\x01K\x02\x86."), Value::Tuple(vec![i(1), i(2)]));
        assert_eq!(
            ok(b"\x80\x02K\x01K\x02K\x03\x87."),
            Value::Tuple(vec![i(1), i(2), i(3)])
        );
        assert_eq!(ok(b"(K\x01K\x02t."), Value::Tuple(vec![i(1), i(2)]));
        assert_eq!(ok(b"]K\x01a(K\x02K\x03e."), Value::List(vec![i(1), i(2), i(3)]));
        assert_eq!(ok(b"(K\x01K\x02l."), Value::List(vec![i(1), i(2)]));
        assert_eq!(ok(b"](e."), Value::List(vec![]));
        assert_eq!(
            ok(b"}K\x01K\x02s(K\x03K\x04u."),
            Value::Dict(vec![(i(1), i(2)), (i(3), i(4))])
        );
        assert_eq!(ok(b"(K\x01K\x02d."), Value::Dict(vec![(i(1), i(2))]));
        assert_eq!(ok(b"\x8f(K\x01K\x02\x90."), Value::Set(vec![i(1), i(2)]));
        assert_eq!(ok(b"(K\x01\x91."), Value::FrozenSet(vec![i(1)]));
        fails(b"(K\x01d.", "odd");
        fails(b"}(K\x01u.", "odd");
        fails(b"](K\x01K\x02u.", "SETITEMS onto a list, not a dict");
        fails(b"}(K\x01e.", "APPENDS onto a dict");
        fails(b"}K\x01a.", "APPEND onto a dict");
        fails(b"](K\x01\x90.", "ADDITEMS onto a list");
        fails(b"\x8f(K\x01e.", "APPENDS onto a set");
    }

    #[test]
    fn duplicate_keys_and_items_merge_like_python() {
        // {1: 'a', True: 'b', 1.0: 'c', 2: 'd'} == {1: 'c', 2: 'd'}
        let p = b"}(K\x01X\x01\x00\x00\x00a\x88X\x01\x00\x00\x00bG?\xf0\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00cK\x02X\x01\x00\x00\x00du.";
        assert_eq!(ok(p), Value::Dict(vec![(i(1), s("c")), (i(2), s("d"))]));
        // {0, -0.0, False, 'x', b'x', ('t',), ('t',)} == {0, 'x', b'x', ('t',)}
        let p =
            b"\x8f(K\x00G\x80\x00\x00\x00\x00\x00\x00\x00\x89\x8c\x01xC\x01x\x8c\x01t\x85\x8c\x01t\x85\x90.";
        assert_eq!(
            ok(p),
            Value::Set(vec![i(0), s("x"), b(b"x"), Value::Tuple(vec![s("t")])])
        );
        // NaN and unhashable items are never merged
        let p = b"\x8f(Fnan\nFnan\n]]\x90.";
        assert!(matches!(ok(p), Value::Set(v) if v.len() == 4));
        // a huge integral float equals the int of the same value
        let mut p = b"}(G\x47\xe0\x00\x00\x00\x00\x00\x00N\x8a\x11".to_vec();
        p.extend_from_slice(&[0; 15]);
        p.extend_from_slice(b"\x80\x00\x88u.");
        assert_eq!(
            ok(&p),
            Value::Dict(vec![(Value::Float(2f64.powi(127)), Value::Bool(true))])
        );
    }

    #[test]
    fn stack_and_marks() {
        assert_eq!(ok(b"K\x01K\x020."), i(1));
        assert_eq!(ok(b"K\x01(K\x02K\x031."), i(1));
        assert_eq!(ok(b"]2K\x01a0."), Value::List(vec![i(1)]));
        // POP of an empty MARK pops the MARK
        assert_eq!(ok(b"K\x01(0."), i(1));
        fails(b".", "STOP: stack underflow");
        fails(b"0.", "POP: stack underflow");
        fails(b"2.", "DUP: stack underflow");
        fails(b"t.", "could not find MARK");
        fails(b"1.", "could not find MARK");
        // the list is before the open MARK: APPEND may not reach it
        fails(b"](K\x01a.", "before an open MARK");
        fails(b"K\x01(.", "STOP: stack underflow");
        fails(b"\x85.", "TUPLE1: stack underflow");
        fails(b"K\x01(K\x02\x86.", "TUPLE2: stack underflow");
        fails(b"K\x01K\x02R.", "REDUCE");
    }

    #[test]
    fn memo_opcodes() {
        assert_eq!(ok(b"(K\x01p0\n0g0\nl."), Value::List(vec![i(1)]));
        assert_eq!(ok(b"(K\x01q\x07h\x07l."), Value::List(vec![i(1), i(1)]));
        assert_eq!(
            ok(b"(K\x01r\x00\x00\x01\x00j\x00\x00\x01\x00l."),
            Value::List(vec![i(1), i(1)])
        );
        assert_eq!(
            ok(b"\x80\x04(K\x01\x94K\x02\x94h\x00h\x01l."),
            Value::List(vec![i(1), i(2), i(1), i(2)])
        );
        fails(b"h\x00.", "memo value not found at index 0");
        fails(b"g12\n.", "index 12");
        fails(b"g-1\n.", "invalid index");
        fails(b"\x94.", "MEMOIZE: stack underflow");
        fails(b"q\x00.", "BINPUT: stack underflow");
    }

    #[test]
    fn memoized_containers_are_shared_and_filled_later() {
        // outer = []; inner = []; outer += [inner, inner]; inner.append(1)
        let p = b"\x80\x04]\x94]\x940(h\x01h\x01eh\x01K\x01a0.";
        let inner = Value::List(vec![i(1)]);
        assert_eq!(ok(p), Value::List(vec![inner.clone(), inner]));
        // a tuple holding a list sees the list filled after the tuple was built
        let p = b"\x80\x04]\x94\x85\x94h\x00K\x07a0.";
        assert_eq!(ok(p), Value::Tuple(vec![Value::List(vec![i(7)])]));
        // a dict memoized empty and filled later, seen through GET
        let p = b"\x80\x04]\x94}\x94ah\x01(K\x01K\x02u0h\x01a.";
        let d = Value::Dict(vec![(i(1), i(2))]);
        assert_eq!(ok(p), Value::List(vec![d.clone(), d]));
        // set(list) copies: appending to the list afterwards does not change the set
        let p = b"\x80\x02]q\x00K\x01ac__builtin__\nset\nh\x00\x85Rh\x00K\x02a0.";
        assert_eq!(ok(p), Value::Set(vec![i(1)]));
        // BUILD copies the state's items at BUILD time, values stay shared
        let p = b"\x80\x04\x8c\x01m\x8c\x01C\x93)\x81}\x94\x8c\x01a]\x94sb.";
        assert_eq!(ok(p), object("m", "C", vec![("a", Value::List(vec![]))]));
    }

    #[test]
    fn shared_references_are_bounded() {
        // a list of 10 references to the previous list, 30 levels deep:
        // 10^30 values when expanded
        let mut p = b"\x80\x04]\x94".to_vec();
        for level in 0..30u32 {
            p.extend_from_slice(b"]\x94(");
            for _ in 0..10 {
                p.extend_from_slice(b"j");
                p.extend_from_slice(&(level * 2).to_le_bytes());
            }
            p.extend_from_slice(b"e");
            p.extend_from_slice(b"\x94"); // memo index level*2+1 is the list again
        }
        p.push(b'.');
        let (offset, message) = fails(&p, "expand to more than");
        assert_eq!(offset, p.len() - 1);
        assert!(message.contains("shared references"), "{message}");
        // moderate sharing is fine: [[x]*10]*10 with x = [] -> 111 lists
        let p = b"\x80\x04]\x94]\x940(h\x01h\x01h\x01h\x01h\x01h\x01h\x01h\x01h\x01h\x01e.";
        assert!(matches!(ok(p), Value::List(v) if v.len() == 10));
        // a big string referenced many times is bounded by bytes too
        let mut p = b"\x80\x04X\x00\x10\x00\x00".to_vec();
        p.extend(std::iter::repeat_n(b'a', 0x1000));
        p.extend_from_slice(b"\x94(");
        for _ in 0..20 {
            p.extend_from_slice(b"h\x00");
        }
        p.extend_from_slice(b"l\x94(");
        for _ in 0..20 {
            p.extend_from_slice(b"h\x01");
        }
        p.extend_from_slice(b"l.");
        fails(&p, "expand to more than");
    }

    #[test]
    fn arena_work_is_bounded() {
        // set(GET big) repeated: each call copies the items
        let mut p = b"\x80\x02c__builtin__\nset\nq\x00(".to_vec();
        p.extend(std::iter::repeat_n(b"N", 2000).flatten());
        p.extend_from_slice(b"lq\x01");
        for _ in 0..2000 {
            p.extend_from_slice(b"h\x00h\x01\x85R0");
        }
        p.extend_from_slice(b"N.");
        fails(&p, "builds more than");
    }

    #[test]
    fn recursive_structures_are_refused() {
        fails(
            b"\x80\x04]\x94h\x00a.",
            "recursive structure: a list contains itself",
        );
        fails(b"\x80\x04}\x94K\x01h\x00s.", "recursive structure");
        fails(b"\x80\x04]\x94h\x00\x85a.", "recursive structure");
        fails(
            b"\x80\x04\x8c\x01m\x8c\x01C\x93)\x81\x94}\x8c\x01sh\x00sb.",
            "recursive structure",
        );
        // a list contained twice is not a cycle
        assert!(matches!(
            ok(b"\x80\x04]\x94]\x940h\x01h\x01\x86a."),
            Value::List(_)
        ));
    }

    #[test]
    fn depth_is_limited() {
        let limits = Limits {
            max_nesting: 3,
            ..Limits::default()
        };
        let nested = |n: usize| {
            let mut p = b"\x80\x04".to_vec();
            p.extend(std::iter::repeat_n(b']', n));
            p.extend(std::iter::repeat_n(b'a', n - 1));
            p.push(b'.');
            p
        };
        assert!(loads(&nested(3), &[], &limits).is_ok());
        assert!(matches!(
            loads(&nested(4), &[], &limits),
            Err(Error::Limit { limit: 3, got: 4, .. })
        ));
        // the default limit
        let default = Limits::default().max_nesting;
        assert!(l(&nested(default)).is_ok());
        assert!(matches!(l(&nested(default + 1)), Err(Error::Limit { .. })));
        // the reader itself does not recurse: deep values only cost heap
        let deep = Limits {
            max_nesting: 2000,
            ..Limits::default()
        };
        assert!(loads(&nested(2000), &[], &deep).is_ok());
        assert!(matches!(
            loads(&nested(1_000_000), &[], &deep),
            Err(Error::Limit { .. })
        ));
    }

    #[test]
    fn plain_objects() {
        let expected = object("mm", "P", vec![("x", i(1)), ("y", s("ab"))]);
        let cpython = [
            &b"ccopy_reg\n_reconstructor\np0\n(cmm\nP\np1\nc__builtin__\nobject\np2\nNtp3\nRp4\n(dp5\nVx\np6\nI1\nsVy\np7\nVab\np8\nsb."[..],
            b"ccopy_reg\n_reconstructor\nq\x00(cmm\nP\nq\x01c__builtin__\nobject\nq\x02Ntq\x03Rq\x04}q\x05(X\x01\x00\x00\x00xq\x06K\x01X\x01\x00\x00\x00yq\x07X\x02\x00\x00\x00abq\x08ub.",
            b"\x80\x02cmm\nP\nq\x00)\x81q\x01}q\x02(X\x01\x00\x00\x00xq\x03K\x01X\x01\x00\x00\x00yq\x04X\x02\x00\x00\x00abq\x05ub.",
            b"\x80\x05\x95#\x00\x00\x00\x00\x00\x00\x00\x8c\x02mm\x94\x8c\x01P\x94\x93\x94)\x81\x94}\x94(\x8c\x01x\x94K\x01\x8c\x01y\x94\x8c\x02ab\x94ub.",
        ];
        for p in cpython {
            assert_eq!(ok(p), expected);
        }
        // nested classes: getattr(O, 'I') below protocol 4, 'O.I' from 4 on
        let inner = object("mm", "O.I", vec![("z", Value::None)]);
        assert_eq!(ok(b"ccopy_reg\n_reconstructor\np0\n(c__builtin__\ngetattr\np1\n(cmm\nO\np2\nVI\np3\ntp4\nRp5\nc__builtin__\nobject\np6\nNtp7\nRp8\n(dp9\nVz\np10\nNsb."), inner);
        assert_eq!(ok(b"\x80\x02c__builtin__\ngetattr\nq\x00cmm\nO\nq\x01X\x01\x00\x00\x00Iq\x02\x86q\x03Rq\x04)\x81q\x05}q\x06X\x01\x00\x00\x00zq\x07Nsb."), inner);
        assert_eq!(ok(b"\x80\x04\x95\x1a\x00\x00\x00\x00\x00\x00\x00\x8c\x02mm\x94\x8c\x03O.I\x94\x93\x94)\x81\x94}\x94\x8c\x01z\x94Nsb."), inner);
        // (None, slots) state of a class with __slots__
        assert_eq!(
            ok(b"\x80\x02c__main__\nS\nq\x00)\x81q\x01N}q\x02X\x01\x00\x00\x00aq\x03K\x01s\x86q\x04b."),
            object("__main__", "S", vec![("a", i(1))])
        );
        // NEWOBJ_EX with empty arguments; no BUILD for an empty __dict__
        assert_eq!(
            ok(b"\x80\x04\x8c\x01m\x8c\x01C\x93)}\x92."),
            object("m", "C", vec![])
        );
        // a second BUILD updates in place, keeping the first position
        assert_eq!(
            ok(b"\x80\x04\x8c\x01m\x8c\x01C\x93)\x81}(\x8c\x01aK\x01\x8c\x01bK\x02ub}\x8c\x01aK\x03sbNb."),
            object("m", "C", vec![("a", i(3)), ("b", i(2))])
        );
    }

    #[test]
    fn allowed_globals() {
        let set12 = Value::Set(vec![i(1), i(2)]);
        assert_eq!(
            ok(b"\x80\x02c__builtin__\nset\nq\x00]q\x01(K\x01K\x02e\x85q\x02Rq\x03."),
            set12
        );
        assert_eq!(ok(b"\x80\x03cbuiltins\nset\n)R."), Value::Set(vec![]));
        assert_eq!(
            ok(b"\x80\x03cbuiltins\nfrozenset\n(K\x01t\x85R."),
            Value::FrozenSet(vec![i(1)])
        );
        assert_eq!(
            ok(b"\x80\x03cbuiltins\nlist\n(K\x01t\x85R."),
            Value::List(vec![i(1)])
        );
        assert_eq!(
            ok(b"\x80\x03cbuiltins\ntuple\n]K\x01a\x85R."),
            Value::Tuple(vec![i(1)])
        );
        assert_eq!(
            ok(b"\x80\x03cbuiltins\ndict\n}K\x01K\x02s\x85R."),
            Value::Dict(vec![(i(1), i(2))])
        );
        assert_eq!(ok(b"\x80\x02c__builtin__\nbytes\nq\x00)Rq\x01."), b(b""));
        assert_eq!(ok(b"\x80\x03cbuiltins\nbytes\nC\x01a\x85R."), b(b"a"));
        assert_eq!(
            ok(b"\x80\x02c_codecs\nencode\nq\x00X\x04\x00\x00\x00\xc3\xbf\xc3\xbfq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04."),
            b(b"\xff\xff")
        );
        let ba = |x: &'static [u8]| Value::ByteArray(Bytes::from_static(x));
        assert_eq!(
            ok(b"\x80\x02c__builtin__\nbytearray\nq\x00c_codecs\nencode\nq\x01X\x02\x00\x00\x00xyq\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05\x85q\x06Rq\x07."),
            ba(b"xy")
        );
        assert_eq!(ok(b"\x80\x03cbuiltins\nbytearray\n)R."), ba(b""));
        // Python <= 3.7 wrote bytearray(str, 'latin-1')
        assert_eq!(
            ok(b"\x80\x02c__builtin__\nbytearray\nX\x02\x00\x00\x00\xc3\xa9X\x07\x00\x00\x00latin-1\x86R."),
            ba(b"\xe9")
        );
        // the protocol 0 pickle CPython writes for a mix of these
        let p = b"(lp0\nc_codecs\nencode\np1\n(Vab\np2\nVlatin1\np3\ntp4\nRp5\nac__builtin__\nset\np6\n((lp7\nI1\naI2\natp8\nRp9\nac__builtin__\nfrozenset\np10\n((lp11\nI3\natp12\nRp13\nac__builtin__\nbytearray\np14\n(g1\n(Vxy\np15\ng3\ntp16\nRp17\ntp18\nRp19\naF1.5\naL1180591620717411303424L\naI-5\naV\xe9\\u000a\\u005c\np20\na(I1\ntp21\na.";
        assert_eq!(
            ok(p),
            Value::List(vec![
                b(b"ab"),
                set12.clone(),
                Value::FrozenSet(vec![i(3)]),
                ba(b"xy"),
                Value::Float(1.5),
                i(1 << 70),
                i(-5),
                s("é\n\\"),
                Value::Tuple(vec![i(1)]),
            ])
        );
        let p = b"]q\x00(c_codecs\nencode\nq\x01(X\x02\x00\x00\x00abq\x02X\x06\x00\x00\x00latin1q\x03tq\x04Rq\x05c__builtin__\nset\nq\x06(]q\x07(K\x01K\x02etq\x08Rq\tI01\nNL1180591620717411303424L\nX\x02\x00\x00\x00\xc3\xa9q\n)e.";
        assert_eq!(
            ok(p),
            Value::List(vec![
                b(b"ab"),
                set12,
                Value::Bool(true),
                Value::None,
                i(1 << 70),
                s("é"),
                Value::Tuple(vec![]),
            ])
        );
    }

    #[test]
    fn everything_else_is_refused() {
        let (_, m) = fails(b"cos\nsystem\n(S'echo hi'\ntR.", "os.system");
        assert!(m.contains("would execute code"), "{m}");
        fails(
            b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x01x\x85R.",
            "refusing to call global builtins.eval",
        );
        // protocol < 3 renames __builtin__ before judging
        fails(
            b"\x80\x02c__builtin__\neval\nX\x01\x00\x00\x00x\x85R.",
            "builtins.eval",
        );
        // from protocol 3 on there is no renaming
        fails(b"\x80\x03c__builtin__\nset\n)R.", "__builtin__.set");
        fails(b"cos\nsystem\n.", "reference to os.system cannot be read");
        fails(b"(cos\nsystem\nl.", "os.system");
        fails(
            b"\x80\x03cbuiltins\nset\nK\x01K\x02\x86R.",
            "refusing to call global builtins.set: unexpected arguments (int, int); expected () or (iterable,) (any other call would execute code)",
        );
        fails(b"\x80\x03cbuiltins\nset\nK\x01R.", "not a tuple");
        fails(b"\x80\x03]]R.", "the callable is a list");
        fails(
            b"\x80\x03c_codecs\nencode\nX\x02\x00\x00\x00\xc4\x80X\x06\x00\x00\x00latin1\x86R.",
            "latin-1",
        );
        fails(
            b"\x80\x03c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00utf-8\x86R.",
            "refusing to call global _codecs.encode",
        );
        fails(b"\x80\x04\x8c\x01m\x8c\x01C\x93K\x01\x85\x81.", "with arguments");
        fails(
            b"\x80\x04\x8c\x01m\x8c\x01C\x93)}K\x01K\x02s\x92.",
            "with arguments",
        );
        fails(
            b"\x80\x04\x8c\x08builtins\x8c\x04dict\x93)\x81.",
            "builtins.dict is not a class of plain objects",
        );
        fails(b"\x80\x04]}b.", "BUILD on a list is refused");
        fails(b"\x80\x04\x8c\x01m\x8c\x01C\x93)\x81]b.", "state must be a dict");
        fails(
            b"\x80\x04\x8c\x01m\x8c\x01C\x93)\x81}K\x01K\x02sb.",
            "attribute names must be str",
        );
        fails(b"\x80\x04]K\x01\x81.", "the class is a list");
        fails(
            b"ccopy_reg\n_reconstructor\n(cm\nC\ncbuiltins\nint\nNtR.",
            "refusing to call global copyreg._reconstructor: unexpected arguments",
        );
        fails(b"\x80\x04K\x01\x8c\x01x\x93.", "STACK_GLOBAL requires two str");
        for (p, name) in [
            (&b"P1\n."[..], "PERSID"),
            (b"N\x51.", "BINPERSID"),
            (b"\x82\x01.", "EXT1"),
            (b"\x83\x01\x00.", "EXT2"),
            (b"\x84\x01\x00\x00\x00.", "EXT4"),
            (b"(imod\nC\n.", "INST"),
            (b"(cmod\nC\no.", "OBJ"),
        ] {
            let (_, m) = fails(p, name);
            assert!(m.contains("not supported"), "{m}");
        }
        fails(b"\xff.", "invalid opcode 0xff");
        fails(b"\x80\x06N.", "unsupported pickle protocol: 6");
    }

    #[test]
    fn out_of_band_buffers() {
        let data = Bytes::from(vec![1u8, 2, 3]);
        let bufs = [
            OobBuffer {
                data: data.clone(),
                writeable: true,
            },
            OobBuffer {
                data: Bytes::from_static(b"z"),
                writeable: false,
            },
        ];
        let v = loads(b"\x80\x05\x97\x97\x98\x86.", &bufs, &Limits::default()).unwrap();
        let Value::Tuple(items) = v else { panic!("{v:?}") };
        let Value::MemoryView(m) = &items[0] else { panic!() };
        assert_eq!((m.format.as_str(), m.shape.as_slice()), ("B", &[3usize][..]));
        assert_eq!(m.data.as_ptr(), data.as_ptr(), "the buffer is shared, not copied");
        assert!(matches!(&items[1], Value::MemoryView(m) if &m.data[..] == b"z"));
        let (offset, _) = fails(b"\x80\x05\x97.", "not enough out-of-band buffers");
        assert_eq!(offset, 2);
        let limits = Limits::default();
        let mut reader = Reader::new(b"\x80\x05\x97\x98.", &bufs, &limits);
        let (root, _) = reader.run().unwrap();
        assert!(matches!(reader.arena.node(root), Node::Buffer(b) if !b.writeable));
        // READONLY_BUFFER of bytes is a no-op; of a bytearray, a read-only view
        assert_eq!(ok(b"\x80\x05C\x01a\x98."), b(b"a"));
        assert!(matches!(
            ok(b"\x80\x05\x96\x01\x00\x00\x00\x00\x00\x00\x00a\x98."),
            Value::MemoryView(_)
        ));
        fails(b"\x80\x05K\x01\x98.", "READONLY_BUFFER on an int");
        // bytes(buffer) and bytearray(buffer) are data
        let v = loads(
            b"\x80\x05cbuiltins\nbytearray\n\x97\x85R.",
            &bufs,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(v, Value::ByteArray(data));
    }

    #[test]
    fn framing_and_trailing_data() {
        assert_eq!(ok(b"\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N."), Value::None);
        fails(
            b"\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00N.",
            "FRAME announces 9 bytes",
        );
        fails(b"\x80\x04\x95\x02\x00\x00", "FRAME needs 8 bytes");
        let (offset, _) = fails(b"N.N", "1 bytes of trailing data after STOP");
        assert_eq!(offset, 2);
        fails(b"", "no STOP");
        fails(b"N", "no STOP");
    }

    #[test]
    fn truncation_at_every_byte_fails_cleanly() {
        let pickles: [&[u8]; 6] = [
            b"\x80\x05\x95#\x00\x00\x00\x00\x00\x00\x00\x8c\x02mm\x94\x8c\x01P\x94\x93\x94)\x81\x94}\x94(\x8c\x01x\x94K\x01\x8c\x01y\x94\x8c\x02ab\x94ub.",
            b"ccopy_reg\n_reconstructor\np0\n(cmm\nP\np1\nc__builtin__\nobject\np2\nNtp3\nRp4\n(dp5\nVx\np6\nI1\nsVy\np7\nVab\np8\nsb.",
            b"\x80\x02c_codecs\nencode\nq\x00X\x04\x00\x00\x00\xc3\xbf\xc3\xbfq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.",
            b"\x80\x04]\x94(\x8a\x05\x00\x00\x00\x80\x00G?\xf8\x00\x00\x00\x00\x00\x00\x8f(K\x01\x90(K\x01\x91}K\x01K\x02s\x96\x01\x00\x00\x00\x00\x00\x00\x00ae.",
            b"(lp0\nc_codecs\nencode\np1\n(Vab\np2\nVlatin1\np3\ntp4\nRp5\naF1.5\naL1180591620717411303424L\naS'x'\na.",
            b"\x80\x05\x97\x98.",
        ];
        let bufs = [OobBuffer {
            data: Bytes::from_static(b"abc"),
            writeable: true,
        }];
        for p in pickles {
            assert!(loads(p, &bufs, &Limits::default()).is_ok(), "{p:?}");
            for cut in 0..p.len() {
                match loads(&p[..cut], &bufs, &Limits::default()) {
                    Err(Error::Pickle { offset, .. }) => assert!(offset <= cut, "offset {offset} > {cut}"),
                    other => panic!("{:?} cut at {cut}: {other:?}", &p[..cut]),
                }
            }
        }
    }

    /// A random plain value (sets and dict keys deduplicated as a reader
    /// would).
    fn plain_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::None),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|x| Value::Int(x.into())),
            any::<i128>().prop_map(Value::Int),
            (any::<i128>(), 0usize..200).prop_map(|(x, shift)| Value::int(BigInt::from(x) << shift)),
            any::<f64>().prop_map(Value::Float),
            ".{0,12}".prop_map(Value::Str),
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(|b| Value::Bytes(b.into())),
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(|b| Value::ByteArray(b.into())),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Tuple),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(|v| Value::Set(dedup_items(v))),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(|v| Value::FrozenSet(dedup_items(v))),
                proptest::collection::vec((inner.clone(), inner.clone()), 0..6)
                    .prop_map(|v| Value::Dict(dedup_pairs(v))),
                (
                    prop_oneof![Just("a.b"), Just("m"), Just("pkg.mod")],
                    prop_oneof![Just("C"), Just("Outer.Inner")],
                    proptest::collection::btree_map("[a-z]{1,3}", inner, 0..4),
                )
                    .prop_map(|(m, c, fields)| Value::from(Object {
                        class: PyType::new(m, c),
                        fields: fields.into_iter().collect(),
                    })),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = l(&data);
            let mut p = b"\x80\x04".to_vec();
            p.extend_from_slice(&data);
            let _ = l(&p);
        }

        #[test]
        fn mutated_pickles_never_panic(
            value in plain_value(),
            protocol in 2u8..=5,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        ) {
            let mut p = super::super::dumps(&value, protocol).unwrap();
            for (at, byte) in edits {
                let at = at % p.len();
                p[at] = byte;
            }
            let _ = l(&p);
        }

        #[test]
        fn dumps_then_loads_round_trips(value in plain_value(), protocol in 2u8..=5) {
            let p = super::super::dumps(&value, protocol).unwrap();
            prop_assert_eq!(l(&p).unwrap(), value);
        }
    }
}
