//! Objects under construction: the [`Arena`] of [`Node`]s the reader
//! builds, referred to by index ([`Ref`]) so that the memo, the stack and
//! containers can share one mutable object the way Python's unpickler
//! shares references, with a bound on the work spent building them.

use bytes::Bytes;
use num_bigint::BigInt;

use crate::pickle::OobBuffer;
use crate::pytype::PyType;
use crate::value::dtype::DType;
use crate::value::{MemoryView, Value};

/// Values the reader may produce per byte of input (plus [`BUDGET_BASE`]):
/// the bound on arena work and on the expansion of shared references.
pub(super) const BUDGET_PER_BYTE: usize = 16;

/// Constant part of the value budget.
pub(super) const BUDGET_BASE: usize = 1024;

/// The index of an object in the [`Arena`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ref(pub(super) usize);

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

/// A dtype under construction: `numpy.dtype(typestr, …)` gave a plain dtype,
/// a `BUILD` state completes it.
#[derive(Debug)]
pub(crate) struct DTypeNode {
    /// The dtype so far.
    pub(crate) dtype: DType,
    /// `BUILD` already set its state.
    pub(crate) built: bool,
    /// Nesting depth (1 for a dtype without fields or sub-array).
    pub(crate) depth: usize,
}

/// An object array after its `BUILD`: the shape and the items (C order).
#[derive(Debug)]
pub(crate) struct ObjectArrayNode {
    /// The shape.
    pub(crate) shape: Vec<usize>,
    /// One item per element, in C order.
    pub(crate) items: Vec<Ref>,
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
    pub(super) fn leaf_value(&mut self, take: bool) -> Option<Value> {
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
    pub(super) fn kind(&self) -> String {
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
    pub(super) fn child(&self, i: usize) -> Option<Ref> {
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
    pub(super) fn is_container(&self) -> bool {
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
    pub(super) fn heap_bytes(&self) -> usize {
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
    pub(super) nodes: Vec<Node>,
    /// Offset of the opcode that created each node.
    pub(super) offsets: Vec<usize>,
    /// Nodes created plus references copied so far.
    pub(super) work: usize,
    /// Bound on `work` and on the values produced at `STOP`.
    pub(super) budget: usize,
}

impl Arena {
    /// An empty arena that may do `budget` units of work.
    pub(super) fn new(budget: usize) -> Self {
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

    /// The node `r` refers to, to change it.
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

    /// Adds `node`, created by the opcode at offset `at`.
    ///
    /// # Errors
    ///
    /// When the budget is exhausted.
    pub(super) fn alloc(&mut self, node: Node, at: usize) -> std::result::Result<Ref, String> {
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

/// Describes an argument tuple for messages: `(list, str)`.
fn describe_args(a: &Arena, args: &[Ref]) -> String {
    let kinds: Vec<String> = args.iter().map(|&r| a.node(r).kind()).collect();
    if kinds.len() == 1 {
        format!("({},)", kinds[0])
    } else {
        format!("({})", kinds.join(", "))
    }
}

/// The message of a handler given arguments it does not interpret:
/// `unexpected arguments (list, str); expected (iterable,)`.
pub(crate) fn unexpected(a: &Arena, args: &[Ref], expected: &str) -> String {
    format!(
        "unexpected arguments {}; expected {expected}",
        describe_args(a, args)
    )
}
