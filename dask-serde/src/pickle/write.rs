//! The writer: CPython 3.11's C pickler (`Modules/_pickle.c`), for plain
//! data.
//!
//! Every `save()` call of the C pickler has a counterpart here that starts
//! with [`Writer::boundary`], because that is where `_pickle.c` closes a
//! frame that has reached 64 KiB; memoization (`memo_put`) happens for
//! exactly the objects the C pickler memoizes, in the same order, so that
//! `BINPUT`/`MEMOIZE` numbering and the frames match byte for byte.

use std::collections::HashMap;

use bytes::Bytes;
use num_bigint::{BigInt, Sign};

use super::numpy::array::{buffer_exportable, buffer_layout, memory, BufferLayout};
use super::numpy::dtype::{dtype_problem, dtype_state, is_interned_name};
use super::numpy::{MULTIARRAY, NUMERIC};
use super::{compat, op, OobBuffer};
use crate::builtins::dtype::{DType, Layout};
use crate::builtins::ndarray::NdArray;
use crate::error::{Error, Result};
use crate::value::{Object, Value};

/// `BATCHSIZE` of `_pickle.c`: items per `APPENDS`/`SETITEMS`/`ADDITEMS`.
const BATCHSIZE: usize = 1000;
/// A frame is closed at the next object once it holds this many bytes.
const FRAME_SIZE_TARGET: usize = 64 * 1024;
/// Frames shorter than this are written without a `FRAME` header.
const FRAME_SIZE_MIN: usize = 4;
/// `FRAME` opcode + 8-byte length.
const FRAME_HEADER_SIZE: usize = 9;
/// Deepest nesting of containers written: about where CPython's own
/// recursion limit stops `pickle.dumps`. (The writer does not recurse.)
const MAX_DEPTH: usize = 1024;

/// What CPython shares by identity regardless of how a value was built:
/// such objects are memoized once and written as memo `GET`s afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Shared {
    /// `''` and one-character latin-1 strings (interpreter singletons).
    Str(String),
    /// Interned names: attribute names, class and module names, `'latin1'`.
    Name(String),
    /// `b''` and one-byte `bytes` (interpreter singletons).
    Bytes(Vec<u8>),
    /// A class or function, by module and qualified name.
    Global(String, String),
    /// One of numpy's builtin dtype descriptors (a singleton), by the
    /// `dtype.str` written for it.
    DType(String),
}

/// How a `str` came about, which decides whether CPython shares it.
#[derive(Clone, Copy)]
enum StrKind {
    /// Data: shared only when it is a singleton.
    Data,
    /// An interned identifier.
    Name,
    /// A freshly built name (e.g. a builtin type's `__qualname__`): never
    /// shared.
    Fresh,
}

/// Pickles `value` (see [`super::dumps`]).
pub(crate) fn dumps(value: &Value, protocol: u8) -> Result<Vec<u8>> {
    pickle(Task::Value(value, 0), protocol, false).map(|(p, _)| p)
}

/// Pickles `value` with protocol 5's out-of-band buffers for arrays (see
/// [`super::dumps_with_buffers`]).
pub(crate) fn dumps_oob(value: &Value, protocol: u8) -> Result<(Vec<u8>, Vec<OobBuffer>)> {
    pickle(Task::Value(value, 0), protocol, true)
}

/// Pickles a numpy dtype (see [`super::dump_dtype`]).
pub(crate) fn dump_dtype(dtype: &DType, protocol: u8) -> Result<Vec<u8>> {
    if let Some(problem) = dtype_problem(dtype, MAX_DEPTH) {
        return Err(Error::Encode(format!(
            "cannot pickle the dtype {}: {problem}",
            dtype.str()
        )));
    }
    pickle(Task::DType(dtype), protocol, false).map(|(p, _)| p)
}

/// Writes the pickle of `root`; `oob`: protocol 5 array memory goes to
/// out-of-band buffers.
fn pickle(root: Task<'_>, protocol: u8, oob: bool) -> Result<(Vec<u8>, Vec<OobBuffer>)> {
    if !(2..=5).contains(&protocol) {
        return Err(Error::Encode(format!(
            "unsupported pickle protocol {protocol}: only protocols 2 to 5 are written"
        )));
    }
    let mut w = Writer {
        out: Vec::new(),
        proto: protocol,
        framing: false,
        frame_start: None,
        memo_len: 0,
        shared: HashMap::new(),
        todo: Vec::new(),
        slots: Vec::new(),
        buffers: (oob && protocol >= 5).then(Vec::new),
    };
    w.write(&[op::PROTO, protocol]);
    w.framing = protocol >= 4;
    w.run(root)?;
    w.write(&[op::STOP]);
    w.commit_frame();
    Ok((w.out, w.buffers.unwrap_or_default()))
}

/// Whether [`dumps`] supports `value` (see [`super::can_dump`]).
pub(crate) fn can_dump(value: &Value) -> bool {
    let mut todo = vec![(value, 0usize)];
    while let Some((v, depth)) = todo.pop() {
        match v {
            Value::None
            | Value::Bool(_)
            | Value::Int(_)
            | Value::BigInt(_)
            | Value::Float(_)
            | Value::Str(_)
            | Value::Bytes(_)
            | Value::ByteArray(_) => {}
            Value::List(items) | Value::Tuple(items) | Value::Set(items) | Value::FrozenSet(items) => {
                if depth >= MAX_DEPTH {
                    return false;
                }
                todo.extend(items.iter().map(|i| (i, depth + 1)));
            }
            Value::Dict(pairs) => {
                if depth >= MAX_DEPTH {
                    return false;
                }
                for (k, v) in pairs {
                    todo.push((k, depth + 1));
                    todo.push((v, depth + 1));
                }
            }
            Value::Object(o) => {
                if depth >= MAX_DEPTH || class_problem(o).is_some() {
                    return false;
                }
                todo.extend(o.fields.iter().map(|(_, v)| (v, depth + 1)));
            }
            Value::NdArray(a) => {
                if depth >= MAX_DEPTH || dtype_problem(a.dtype(), MAX_DEPTH).is_some() {
                    return false;
                }
                if let Some(items) = a.objects() {
                    todo.extend(items.iter().map(|i| (i, depth + 1)));
                }
            }
            _ => return false,
        }
    }
    true
}

/// Why an object's class cannot be pickled by reference, if it cannot.
fn class_problem(o: &Object) -> Option<String> {
    let (module, qualname) = (o.class.module(), o.class.qualname());
    let problem = if module.is_empty() || qualname.split('.').any(str::is_empty) {
        "the module or a part of the class name is empty"
    } else if module == "builtins" || module == "__builtin__" {
        "a builtin type is not a class of plain objects"
    } else if qualname.contains("<locals>") {
        "a local class cannot be imported by the receiver"
    } else if module.contains('\n') || qualname.contains('\n') {
        "the name contains a newline"
    } else {
        return None;
    };
    Some(format!("cannot pickle an object of class {}: {problem}", o.class))
}

/// A pending step of the writer. The C pickler recurses; this writer keeps
/// an explicit stack of what `save()` would do next, so nesting depth costs
/// heap, not call stack. Each variant that stands for a `save()` call starts
/// with [`Writer::boundary`].
enum Task<'a> {
    /// `save(value)` at a nesting depth.
    Value(&'a Value, usize),
    /// `save()` of a `str`.
    Str(&'a str, StrKind),
    /// `save()` of a `str` built by the writer.
    OwnedStr(String, StrKind),
    /// `save()` of a `bytes` (`singleton`: see [`Writer::save_bytes`]).
    Bytes(&'a [u8], bool),
    /// `save()` of a list built from a set's items (`PySequence_List`).
    List(&'a [Value], usize),
    /// `save()` of a class or function.
    Global(&'a str, &'a str),
    /// `save()` of a tuple of `n` items: `MARK` if needed, or `()`.
    TupleStart(usize),
    /// The end of a tuple of `n` items: `TUPLE…`, memoized.
    TupleEnd(usize),
    /// `save()` of an object's `__dict__` state: `EMPTY_DICT`, memoized.
    StateDict,
    /// A one-byte opcode.
    Op(u8),
    /// `memo_put` of the object just written.
    MemoPut(Option<Shared>),
    /// `save()` of a numpy dtype.
    DType(&'a DType),
    /// `save()` of an int.
    Int(i128),
    /// `save()` of `None`, `True` or `False` (its opcode).
    Atom(u8),
    /// `save()` of a `bytes` the writer made (`singleton`: see
    /// [`Writer::save_bytes`]).
    OwnedBytes(Bytes, bool),
    /// `save()` of a `pickle.PickleBuffer` over array memory (read-only or
    /// not).
    PickleBuffer(Bytes, bool),
    /// `save()` of a `str` whose memo index is kept in a slot.
    StrSlot(&'a str, StrKind, usize),
    /// `save()` of an object memoized before, its memo index in a slot (a
    /// memo `GET`).
    GetSlot(usize),
    /// The end of a tuple of `n` items (`TupleEnd`), its memo index kept
    /// in a slot.
    TupleEndSlot(usize, usize),
}

/// `PicklerObject` reduced to what plain data needs.
struct Writer<'a> {
    out: Vec<u8>,
    proto: u8,
    /// Protocol >= 4 and not inside a large write.
    framing: bool,
    /// Where the open frame's header was reserved.
    frame_start: Option<usize>,
    /// Number of memo entries (the next memo index).
    memo_len: usize,
    /// Memo indices of the objects CPython shares by identity.
    shared: HashMap<Shared, usize>,
    /// What remains to be done, last first.
    todo: Vec<Task<'a>>,
    /// Memo indices of objects written again later by identity (numpy
    /// field names, titles and field tuples).
    slots: Vec<usize>,
    /// Out-of-band buffers (protocol 5 with a buffer callback), else
    /// `None`: `PickleBuffer`s are written in-band.
    buffers: Option<Vec<OobBuffer>>,
}

impl<'a> Writer<'a> {
    // ----- output and framing (`_Pickler_Write` & co.) -----

    fn write(&mut self, data: &[u8]) {
        if self.framing && self.frame_start.is_none() {
            self.frame_start = Some(self.out.len());
            self.out.extend_from_slice(&[0xfe; FRAME_HEADER_SIZE]);
        }
        self.out.extend_from_slice(data);
    }

    /// `_Pickler_CommitFrame`.
    fn commit_frame(&mut self) {
        if !self.framing {
            return;
        }
        if let Some(start) = self.frame_start.take() {
            let len = self.out.len() - start - FRAME_HEADER_SIZE;
            if len >= FRAME_SIZE_MIN {
                self.out[start] = op::FRAME;
                self.out[start + 1..start + FRAME_HEADER_SIZE].copy_from_slice(&(len as u64).to_le_bytes());
            } else {
                self.out.drain(start..start + FRAME_HEADER_SIZE);
            }
        }
    }

    /// `_Pickler_OpcodeBoundary`, called at the start of every `save()`.
    fn boundary(&mut self) {
        if let (true, Some(start)) = (self.framing, self.frame_start) {
            if self.out.len() - start - FRAME_HEADER_SIZE >= FRAME_SIZE_TARGET {
                self.commit_frame();
            }
        }
    }

    /// `_Pickler_write_bytes`: a payload of 64 KiB or more is written
    /// outside any frame.
    fn write_payload(&mut self, header: &[u8], data: &[u8]) {
        let framing = self.framing;
        if data.len() >= FRAME_SIZE_TARGET {
            self.commit_frame();
            self.framing = false;
        }
        self.write(header);
        self.write(data);
        self.framing = framing;
    }

    // ----- memo -----

    fn memo_put(&mut self, key: Option<Shared>) -> Result<()> {
        let idx = self.memo_len;
        self.memo_len += 1;
        if let Some(k) = key {
            self.shared.insert(k, idx);
        }
        if self.proto >= 4 {
            self.write(&[op::MEMOIZE]);
        } else if idx < 256 {
            self.write(&[op::BINPUT, idx as u8]);
        } else {
            let idx = u32::try_from(idx).map_err(|_| Error::Encode("too many objects to memoize".into()))?;
            let b = idx.to_le_bytes();
            self.write(&[op::LONG_BINPUT, b[0], b[1], b[2], b[3]]);
        }
        Ok(())
    }

    /// Writes a memo `GET` if `key` was memoized; returns whether it did.
    fn memo_get(&mut self, key: &Shared) -> bool {
        let Some(&idx) = self.shared.get(key) else {
            return false;
        };
        self.write_get(idx);
        true
    }

    /// Writes a memo `GET` of `idx`.
    fn write_get(&mut self, idx: usize) {
        if idx < 256 {
            self.write(&[op::BINGET, idx as u8]);
        } else {
            // memo_put refused indices beyond u32
            let b = (idx as u32).to_le_bytes();
            self.write(&[op::LONG_BINGET, b[0], b[1], b[2], b[3]]);
        }
    }

    // ----- the task loop -----

    /// Schedules `tasks` to run next, in the given order.
    fn then(&mut self, tasks: Vec<Task<'a>>) {
        self.todo.extend(tasks.into_iter().rev());
    }

    fn run(&mut self, root: Task<'a>) -> Result<()> {
        self.todo.push(root);
        while let Some(task) = self.todo.pop() {
            match task {
                Task::Value(v, depth) => self.save(v, depth)?,
                Task::Str(s, kind) => {
                    self.save_str(s, kind)?;
                }
                Task::OwnedStr(s, kind) => {
                    self.save_str(&s, kind)?;
                }
                Task::Bytes(b, singleton) => self.save_bytes(b, singleton)?,
                Task::List(items, depth) => self.save_list(items, depth)?,
                Task::Global(module, qualname) => self.save_global(module, qualname)?,
                Task::TupleStart(n) => self.tuple_start(n),
                Task::TupleEnd(n) => self.tuple_end(n)?,
                Task::StateDict => {
                    self.boundary();
                    self.write(&[op::EMPTY_DICT]);
                    self.memo_put(None)?;
                }
                Task::Op(code) => self.write(&[code]),
                Task::MemoPut(key) => self.memo_put(key)?,
                Task::DType(d) => self.save_dtype(d)?,
                Task::Int(i) => {
                    self.boundary();
                    self.save_int(i)?;
                }
                Task::Atom(code) => {
                    self.boundary();
                    self.write(&[code]);
                }
                Task::OwnedBytes(b, singleton) => self.save_bytes(&b, singleton)?,
                Task::PickleBuffer(b, readonly) => self.save_picklebuffer(b, readonly)?,
                Task::StrSlot(s, kind, slot) => {
                    let idx = self.save_str(s, kind)?;
                    self.slots[slot] = idx;
                }
                Task::GetSlot(slot) => {
                    self.boundary();
                    self.write_get(self.slots[slot]);
                }
                Task::TupleEndSlot(n, slot) => {
                    self.tuple_end(n)?;
                    self.slots[slot] = self.memo_len.saturating_sub(1);
                }
            }
        }
        Ok(())
    }

    // ----- save -----

    fn save(&mut self, v: &'a Value, depth: usize) -> Result<()> {
        self.boundary();
        match v {
            Value::None => self.write(&[op::NONE]),
            Value::Bool(b) => self.write(&[if *b { op::NEWTRUE } else { op::NEWFALSE }]),
            Value::Int(i) => self.save_int(*i)?,
            Value::BigInt(b) => match i128::try_from(b) {
                Ok(i) => self.save_int(i)?,
                Err(_) => self.save_long(b)?,
            },
            Value::Float(f) => {
                let mut b = [op::BINFLOAT; 9];
                b[1..].copy_from_slice(&f.to_be_bytes());
                self.write(&b);
            }
            Value::Str(s) => {
                self.save_str(s, StrKind::Data)?;
            }
            Value::Bytes(b) => self.save_bytes(b, true)?,
            Value::ByteArray(b) => self.save_bytearray(b)?,
            Value::List(items) => self.save_list(items, enter(depth)?)?,
            Value::Tuple(items) => {
                let depth = enter(depth)?;
                self.tuple_start(items.len());
                let mut tasks: Vec<Task<'a>> = items.iter().map(|item| Task::Value(item, depth)).collect();
                tasks.push(Task::TupleEnd(items.len()));
                self.then(tasks);
            }
            Value::Dict(pairs) => {
                let depth = enter(depth)?;
                self.write(&[op::EMPTY_DICT]);
                self.memo_put(None)?;
                let tasks = batched(pairs.len(), Some(op::SETITEM), op::SETITEMS, true, |i, t| {
                    t.push(Task::Value(&pairs[i].0, depth));
                    t.push(Task::Value(&pairs[i].1, depth));
                });
                self.then(tasks);
            }
            Value::Set(items) => self.save_set(items, enter(depth)?)?,
            Value::FrozenSet(items) => self.save_frozenset(items, enter(depth)?)?,
            Value::Object(o) => self.save_object(o, enter(depth)?)?,
            Value::NdArray(a) => self.save_ndarray(a, enter(depth)?)?,
            other => {
                return Err(Error::Encode(format!(
                    "cannot pickle a {} value: only plain data is pickled",
                    other.type_name()
                )))
            }
        }
        Ok(())
    }

    /// `save_long` for values that fit in a C long: `BININT1`, `BININT2`,
    /// `BININT` when they fit in 32 signed bits, else `LONG1`/`LONG4`.
    fn save_int(&mut self, i: i128) -> Result<()> {
        match i {
            0..=0xff => self.write(&[op::BININT1, i as u8]),
            0x100..=0xffff => {
                let b = (i as u16).to_le_bytes();
                self.write(&[op::BININT2, b[0], b[1]]);
            }
            -0x8000_0000..=0x7fff_ffff => {
                let b = (i as i32).to_le_bytes();
                self.write(&[op::BININT, b[0], b[1], b[2], b[3]]);
            }
            _ => return self.save_long(&BigInt::from(i)),
        }
        Ok(())
    }

    /// The linear-time `LONG1`/`LONG4` branch of `save_long`: little-endian
    /// two's complement in `bit_length(|v|) / 8 + 1` bytes, minus a
    /// redundant sign byte of a negative number.
    fn save_long(&mut self, v: &BigInt) -> Result<()> {
        let nbits = v.magnitude().bits();
        let mut nbytes = usize::try_from(nbits / 8 + 1)
            .ok()
            .filter(|&n| n <= 0x7fff_ffff)
            .ok_or_else(|| Error::Encode("int too large to pickle".into()))?;
        let mut data = v.to_signed_bytes_le();
        let fill = if v.sign() == Sign::Minus { 0xff } else { 0x00 };
        data.resize(nbytes.max(data.len()), fill);
        if v.sign() == Sign::Minus && nbytes > 1 && data[nbytes - 1] == 0xff && data[nbytes - 2] & 0x80 != 0 {
            nbytes -= 1;
        }
        data.truncate(nbytes);
        if nbytes < 256 {
            self.write(&[op::LONG1, nbytes as u8]);
        } else {
            let n = (nbytes as u32).to_le_bytes();
            self.write(&[op::LONG4, n[0], n[1], n[2], n[3]]);
        }
        self.write(&data);
        Ok(())
    }

    /// `save_unicode` (binary): `SHORT_BINUNICODE` (protocol >= 4),
    /// `BINUNICODE`, `BINUNICODE8`, then memoized. Returns the memo index
    /// of the string.
    fn save_str(&mut self, s: &str, kind: StrKind) -> Result<usize> {
        self.boundary();
        let key = match kind {
            StrKind::Data if s.is_empty() || is_latin1_char(s) => Some(Shared::Str(s.to_owned())),
            StrKind::Name => Some(Shared::Name(s.to_owned())),
            StrKind::Data | StrKind::Fresh => None,
        };
        if let Some(k) = &key {
            if let Some(&idx) = self.shared.get(k) {
                self.write_get(idx);
                return Ok(idx);
            }
        }
        let n = s.len();
        if n <= 0xff && self.proto >= 4 {
            self.write_payload(&[op::SHORT_BINUNICODE, n as u8], s.as_bytes());
        } else if let Ok(n32) = u32::try_from(n) {
            let b = n32.to_le_bytes();
            self.write_payload(&[op::BINUNICODE, b[0], b[1], b[2], b[3]], s.as_bytes());
        } else if self.proto >= 4 {
            let mut h = [op::BINUNICODE8; 9];
            h[1..].copy_from_slice(&(n as u64).to_le_bytes());
            self.write_payload(&h, s.as_bytes());
        } else {
            return Err(Error::Encode(
                "cannot serialize a string larger than 4GiB below pickle protocol 4".into(),
            ));
        }
        self.memo_put(key)?;
        Ok(self.memo_len - 1)
    }

    /// `save_bytes`. `singleton` is false for the temporary `bytes` of a
    /// `bytearray` reduction, which CPython builds fresh.
    fn save_bytes(&mut self, b: &[u8], singleton: bool) -> Result<()> {
        self.boundary();
        let key = (singleton && b.len() <= 1).then(|| Shared::Bytes(b.to_vec()));
        if let Some(k) = &key {
            if self.memo_get(k) {
                return Ok(());
            }
        }
        if self.proto < 3 {
            let mut tasks = if b.is_empty() {
                // bytes() — protocol 2 has no bytes opcode
                reduce("builtins", "bytes", vec![])
            } else {
                // _codecs.encode(b.decode('latin1'), 'latin1')
                let text: String = b.iter().map(|&c| char::from(c)).collect();
                reduce(
                    "_codecs",
                    "encode",
                    vec![
                        Task::OwnedStr(text, StrKind::Data),
                        Task::Str("latin1", StrKind::Name),
                    ],
                )
            };
            tasks.push(Task::MemoPut(key));
            self.then(tasks);
            return Ok(());
        }
        self.write_bytes_data(b)?;
        self.memo_put(key)
    }

    /// `_save_bytes_data` without the memo: `SHORT_BINBYTES`, `BINBYTES`
    /// or `BINBYTES8` and the payload.
    fn write_bytes_data(&mut self, b: &[u8]) -> Result<()> {
        let n = b.len();
        if n <= 0xff {
            self.write_payload(&[op::SHORT_BINBYTES, n as u8], b);
        } else if let Ok(n32) = u32::try_from(n) {
            let l = n32.to_le_bytes();
            self.write_payload(&[op::BINBYTES, l[0], l[1], l[2], l[3]], b);
        } else if self.proto >= 4 {
            let mut h = [op::BINBYTES8; 9];
            h[1..].copy_from_slice(&(n as u64).to_le_bytes());
            self.write_payload(&h, b);
        } else {
            return Err(Error::Encode(
                "serializing a bytes object larger than 4 GiB requires pickle protocol 4 or higher".into(),
            ));
        }
        Ok(())
    }

    /// `save_bytearray`: `BYTEARRAY8` in protocol 5, else
    /// `bytearray(bytes)` / `bytearray()`.
    fn save_bytearray(&mut self, b: &'a [u8]) -> Result<()> {
        if self.proto < 5 {
            let args = if b.is_empty() {
                vec![]
            } else {
                vec![Task::Bytes(b, false)]
            };
            let mut tasks = reduce("builtins", "bytearray", args);
            tasks.push(Task::MemoPut(None));
            self.then(tasks);
            return Ok(());
        }
        let mut h = [op::BYTEARRAY8; 9];
        h[1..].copy_from_slice(&(b.len() as u64).to_le_bytes());
        self.write_payload(&h, b);
        self.memo_put(None)
    }

    /// `save_list`: `EMPTY_LIST`, memoized, then `APPEND` (one item) or
    /// batches of `MARK … APPENDS`.
    fn save_list(&mut self, items: &'a [Value], depth: usize) -> Result<()> {
        self.boundary();
        self.write(&[op::EMPTY_LIST]);
        self.memo_put(None)?;
        let tasks = batched(items.len(), Some(op::APPEND), op::APPENDS, false, |i, t| {
            t.push(Task::Value(&items[i], depth));
        });
        self.then(tasks);
        Ok(())
    }

    /// The start of `save_tuple`: `EMPTY_TUPLE` (not memoized) for `()`,
    /// `MARK` before more than 3 items.
    fn tuple_start(&mut self, n: usize) {
        self.boundary();
        match n {
            0 => self.write(&[op::EMPTY_TUPLE]),
            1..=3 => {}
            _ => self.write(&[op::MARK]),
        }
    }

    /// The end of `save_tuple`: `TUPLE1..3` or `TUPLE`, memoized.
    fn tuple_end(&mut self, n: usize) -> Result<()> {
        let code = match n {
            0 => return Ok(()),
            1 => op::TUPLE1,
            2 => op::TUPLE2,
            3 => op::TUPLE3,
            _ => op::TUPLE,
        };
        self.write(&[code]);
        self.memo_put(None)
    }

    /// `save_set`: `EMPTY_SET` + `ADDITEMS` batches (protocol >= 4), else
    /// `set([...])`.
    fn save_set(&mut self, items: &'a [Value], depth: usize) -> Result<()> {
        if self.proto < 4 {
            let mut tasks = reduce("builtins", "set", vec![Task::List(items, depth)]);
            tasks.push(Task::MemoPut(None));
            self.then(tasks);
            return Ok(());
        }
        self.write(&[op::EMPTY_SET]);
        self.memo_put(None)?;
        let tasks = batched(items.len(), None, op::ADDITEMS, true, |i, t| {
            t.push(Task::Value(&items[i], depth));
        });
        self.then(tasks);
        Ok(())
    }

    /// `save_frozenset`: `MARK … FROZENSET` (protocol >= 4), else
    /// `frozenset([...])`.
    fn save_frozenset(&mut self, items: &'a [Value], depth: usize) -> Result<()> {
        if self.proto < 4 {
            let mut tasks = reduce("builtins", "frozenset", vec![Task::List(items, depth)]);
            tasks.push(Task::MemoPut(None));
            self.then(tasks);
            return Ok(());
        }
        self.write(&[op::MARK]);
        let mut tasks: Vec<Task<'a>> = items.iter().map(|item| Task::Value(item, depth)).collect();
        tasks.push(Task::Op(op::FROZENSET));
        tasks.push(Task::MemoPut(None));
        self.then(tasks);
        Ok(())
    }

    /// A plain object, as `object.__reduce_ex__(protocol)` (`reduce_newobj`)
    /// and `save_reduce` write it: the class, `()`, `NEWOBJ`, memoized, and
    /// the `__dict__` with `BUILD` unless it is empty.
    fn save_object(&mut self, o: &'a Object, depth: usize) -> Result<()> {
        if let Some(problem) = class_problem(o) {
            return Err(Error::Encode(problem));
        }
        let mut tasks = vec![
            Task::Global(o.class.module(), o.class.qualname()),
            Task::TupleStart(0),
            Task::Op(op::NEWOBJ),
            Task::MemoPut(None),
        ];
        if !o.fields.is_empty() {
            tasks.push(Task::StateDict);
            tasks.extend(batched(
                o.fields.len(),
                Some(op::SETITEM),
                op::SETITEMS,
                true,
                |i, t| {
                    let (name, value) = &o.fields[i];
                    t.push(Task::Str(name, StrKind::Name));
                    t.push(Task::Value(value, depth));
                },
            ));
            tasks.push(Task::Op(op::BUILD));
        }
        self.then(tasks);
        Ok(())
    }

    // ----- numpy -----

    /// A numpy array, as numpy 2.4's `ndarray.__reduce_ex__(protocol)` has
    /// CPython write it: from protocol 5 on, a plain array contiguous in
    /// some axis order is `_frombuffer(PickleBuffer, dtype, shape, order[,
    /// axis_order])`; every other array is `_reconstruct(ndarray, (0,),
    /// b'b')` with the state `(1, shape, dtype, is_fortran, data)`, data
    /// being the bytes in Fortran order for a Fortran (not C) contiguous
    /// array, else in C order, or the list of an object array's items.
    fn save_ndarray(&mut self, a: &'a NdArray, depth: usize) -> Result<()> {
        if let Some(problem) = dtype_problem(a.dtype(), MAX_DEPTH) {
            return Err(Error::Encode(format!(
                "cannot pickle an array of dtype {}: {problem}",
                a.dtype().str()
            )));
        }
        if let Some(items) = a.objects() {
            self.save_reconstruct(a, Task::List(items, depth), false);
            return Ok(());
        }
        if self.proto >= 5 && a.dtype().itemsize() > 0 && buffer_exportable(a.dtype()) {
            if let Some(layout) = buffer_layout(a) {
                self.save_frombuffer(a, layout);
                return Ok(());
            }
        }
        let fortran = a.is_f_contiguous() && !a.is_c_contiguous();
        let data = if fortran || a.size() == 0 {
            memory(a)
        } else {
            a.to_c_bytes()
        };
        self.save_reconstruct(a, Task::OwnedBytes(data, true), fortran);
        Ok(())
    }

    /// `_reconstruct(numpy.ndarray, (0,), b'b')`, memoized, and the `BUILD`
    /// state with `data`.
    fn save_reconstruct(&mut self, a: &'a NdArray, data: Task<'a>, fortran: bool) {
        let mut t = call(
            MULTIARRAY,
            "_reconstruct",
            3,
            vec![
                Task::Global("numpy", "ndarray"),
                Task::TupleStart(1),
                Task::Int(0),
                Task::TupleEnd(1),
                Task::OwnedBytes(Bytes::from_static(b"b"), true),
            ],
        );
        t.push(Task::MemoPut(None));
        t.push(Task::TupleStart(5));
        t.push(Task::Int(1));
        int_tuple(&mut t, a.shape());
        t.push(Task::DType(a.dtype()));
        t.push(Task::Atom(if fortran { op::NEWTRUE } else { op::NEWFALSE }));
        t.push(data);
        t.push(Task::TupleEnd(5));
        t.push(Task::Op(op::BUILD));
        self.then(t);
    }

    /// `_frombuffer(PickleBuffer(memory), dtype, shape, order[,
    /// axis_order])`, memoized.
    fn save_frombuffer(&mut self, a: &'a NdArray, layout: BufferLayout) {
        let (shape, order, axis_order) = match layout {
            BufferLayout::C => (a.shape().to_vec(), "C", None),
            BufferLayout::F => (a.shape().to_vec(), "F", None),
            BufferLayout::K { shape, axis_order } => (shape, "K", Some(axis_order)),
        };
        let n = if axis_order.is_some() { 5 } else { 4 };
        let mut args = vec![
            Task::PickleBuffer(memory(a), !a.is_writeable()),
            Task::DType(a.dtype()),
        ];
        int_tuple(&mut args, &shape);
        args.push(Task::Str(order, StrKind::Data));
        if let Some(x) = axis_order {
            int_tuple(&mut args, &x);
        }
        let mut t = call(NUMERIC, "_frombuffer", n, args);
        t.push(Task::MemoPut(None));
        self.then(t);
    }

    /// `save_picklebuffer`: out-of-band (`NEXT_BUFFER`, `READONLY_BUFFER`
    /// if read-only) when buffers are collected, else in-band as `bytes`
    /// (read-only) or `bytearray`, memoized.
    fn save_picklebuffer(&mut self, b: Bytes, readonly: bool) -> Result<()> {
        self.boundary();
        if let Some(buffers) = self.buffers.as_mut() {
            buffers.push(OobBuffer {
                data: b,
                writeable: !readonly,
            });
            self.write(&[op::NEXT_BUFFER]);
            if readonly {
                self.write(&[op::READONLY_BUFFER]);
            }
            return Ok(());
        }
        if readonly {
            self.write_bytes_data(&b)?;
        } else {
            let mut h = [op::BYTEARRAY8; 9];
            h[1..].copy_from_slice(&(b.len() as u64).to_le_bytes());
            self.write_payload(&h, &b);
        }
        self.memo_put(None)
    }

    /// A numpy dtype, as `dtype.__reduce__()` has CPython write it:
    /// `numpy.dtype(typestr, False, True)`, memoized (numpy's builtin
    /// descriptors are singletons: written once, then fetched from the
    /// memo), and the `BUILD` state.
    fn save_dtype(&mut self, d: &'a DType) -> Result<()> {
        self.boundary();
        let st = dtype_state(d)?;
        let key = st.singleton.map(Shared::DType);
        if let Some(k) = &key {
            if self.memo_get(k) {
                return Ok(());
            }
        }
        let mut t = call(
            "numpy",
            "dtype",
            3,
            vec![
                Task::OwnedStr(st.typestr, StrKind::Data),
                Task::Atom(op::NEWFALSE),
                Task::Atom(op::NEWTRUE),
            ],
        );
        t.push(Task::MemoPut(key));
        let n = if st.version == 4 { 9 } else { 8 };
        t.push(Task::TupleStart(n));
        t.push(Task::Int(st.version.into()));
        t.push(Task::OwnedStr(st.endian.to_string(), StrKind::Data));
        match d.layout() {
            Some(Layout::SubArray { base, shape }) => {
                t.push(Task::TupleStart(2));
                t.push(Task::DType(base));
                int_tuple(&mut t, shape);
                t.push(Task::TupleEnd(2));
                t.push(Task::Atom(op::NONE));
                t.push(Task::Atom(op::NONE));
            }
            Some(Layout::Fields { fields, .. }) => {
                t.push(Task::Atom(op::NONE));
                self.fields(&mut t, fields);
            }
            None => t.extend([Task::Atom(op::NONE), Task::Atom(op::NONE), Task::Atom(op::NONE)]),
        }
        t.push(Task::Int(st.elsize.into()));
        t.push(Task::Int(st.alignment.into()));
        t.push(Task::Int(st.flags.into()));
        if let Some((unit, num)) = st.datetime {
            t.push(Task::TupleStart(2));
            t.push(Task::Atom(op::NONE));
            t.push(Task::TupleStart(4));
            t.push(Task::OwnedBytes(Bytes::from(unit), true));
            t.extend([Task::Int(num.into()), Task::Int(1), Task::Int(1)]);
            t.push(Task::TupleEnd(4));
            t.push(Task::TupleEnd(2));
        }
        t.push(Task::TupleEnd(n));
        t.push(Task::Op(op::BUILD));
        self.then(t);
        Ok(())
    }

    /// The `names` tuple and `fields` dict of a structured dtype's state.
    /// numpy's dict holds `name: (dtype, offset[, title])` and, for a
    /// titled field, `title: <the same tuple>`; its keys are the very
    /// objects of `names`, so they are memo `GET`s here.
    fn fields(&mut self, t: &mut Vec<Task<'a>>, fields: &'a [crate::builtins::dtype::DTypeField]) {
        let n = fields.len();
        let base = self.slots.len();
        // per field: name, title, value tuple
        self.slots.resize(base + 3 * n, 0);
        t.push(Task::TupleStart(n));
        for (i, f) in fields.iter().enumerate() {
            t.push(Task::StrSlot(&f.name, name_kind(&f.name), base + 3 * i));
        }
        t.push(Task::TupleEnd(n));
        t.push(Task::StateDict);
        let entries: Vec<(usize, bool)> = fields
            .iter()
            .enumerate()
            .flat_map(|(i, f)| std::iter::once((i, false)).chain(f.title.as_ref().map(|_| (i, true))))
            .collect();
        t.extend(batched(
            entries.len(),
            Some(op::SETITEM),
            op::SETITEMS,
            true,
            |j, t| {
                let (i, is_title) = entries[j];
                let slot = base + 3 * i;
                if is_title {
                    t.push(Task::GetSlot(slot + 1));
                    t.push(Task::GetSlot(slot + 2));
                    return;
                }
                let f = &fields[i];
                t.push(Task::GetSlot(slot));
                let k = if f.title.is_some() { 3 } else { 2 };
                t.push(Task::TupleStart(k));
                t.push(Task::DType(&f.dtype));
                t.push(Task::Int(f.offset as i128));
                if let Some(title) = &f.title {
                    t.push(Task::StrSlot(title, name_kind(title), slot + 1));
                }
                t.push(Task::TupleEndSlot(k, slot + 2));
            },
        ));
    }

    /// `save_global`: a class or function by reference, memoized.
    fn save_global(&mut self, module: &'a str, qualname: &'a str) -> Result<()> {
        self.boundary();
        let key = Shared::Global(module.to_owned(), qualname.to_owned());
        if self.memo_get(&key) {
            return Ok(());
        }
        if self.proto >= 4 {
            // the `__qualname__` of a builtin (C) type or function is a
            // fresh string; a Python class's is interned
            let name_kind = if module == "builtins" || module == "numpy" || module.starts_with("numpy.") {
                StrKind::Fresh
            } else {
                StrKind::Name
            };
            self.save_str(module, StrKind::Name)?;
            self.save_str(qualname, name_kind)?;
            self.write(&[op::STACK_GLOBAL]);
        } else if let Some((parent, last)) = qualname.rsplit_once('.') {
            // a nested class: getattr(parent, last), then memoized
            let mut tasks = reduce(
                "builtins",
                "getattr",
                vec![Task::Global(module, parent), Task::Str(last, StrKind::Data)],
            );
            tasks.push(Task::MemoPut(Some(key)));
            self.then(tasks);
            return Ok(());
        } else {
            let (module, name) = if self.proto < 3 {
                compat::to_python2(module, qualname)
            } else {
                (module, qualname)
            };
            if self.proto < 3 && !(module.is_ascii() && name.is_ascii()) {
                return Err(Error::Encode(format!(
                    "can't pickle global identifier '{module}.{name}' using pickle protocol {}",
                    self.proto
                )));
            }
            self.write(&[op::GLOBAL]);
            self.write(module.as_bytes());
            self.write(b"\n");
            self.write(name.as_bytes());
            self.write(b"\n");
        }
        self.memo_put(Some(key))
    }
}

/// `save_reduce` of `module.name(*args)` (the result not memoized): the
/// callable, the argument tuple, `REDUCE`.
fn reduce<'a>(module: &'a str, name: &'a str, args: Vec<Task<'a>>) -> Vec<Task<'a>> {
    let n = args.len();
    call(module, name, n, args)
}

/// [`reduce`] with `n` arguments written by the tasks `args`.
fn call<'a>(module: &'a str, name: &'a str, n: usize, args: Vec<Task<'a>>) -> Vec<Task<'a>> {
    let mut tasks = Vec::with_capacity(args.len() + 4);
    tasks.push(Task::Global(module, name));
    tasks.push(Task::TupleStart(n));
    tasks.extend(args);
    tasks.push(Task::TupleEnd(n));
    tasks.push(Task::Op(op::REDUCE));
    tasks
}

/// A tuple of ints (a shape or an axis order), fresh as numpy builds it.
fn int_tuple(tasks: &mut Vec<Task<'_>>, items: &[usize]) {
    tasks.push(Task::TupleStart(items.len()));
    tasks.extend(items.iter().map(|&d| Task::Int(d as i128)));
    tasks.push(Task::TupleEnd(items.len()));
}

/// How CPython shares a numpy field name or title: interned when made of
/// identifier characters (as literals in code are), else as data.
fn name_kind(s: &str) -> StrKind {
    if is_interned_name(s) {
        StrKind::Name
    } else {
        StrKind::Data
    }
}

/// The items of a list, dict or set as `_pickle.c` batches them: one item
/// and `single` if given and there is exactly one, else `MARK … close` per
/// `BATCHSIZE` items — plus, for dicts and sets (`empty_tail`), the empty
/// last batch CPython's do-while loop writes when the size is a multiple of
/// 1000.
fn batched<'a>(
    n: usize,
    single: Option<u8>,
    close: u8,
    empty_tail: bool,
    mut item: impl FnMut(usize, &mut Vec<Task<'a>>),
) -> Vec<Task<'a>> {
    let mut tasks = Vec::new();
    if n == 0 {
        return tasks;
    }
    if let (1, Some(code)) = (n, single) {
        item(0, &mut tasks);
        tasks.push(Task::Op(code));
        return tasks;
    }
    let mut start = 0;
    while start < n {
        let end = (start + BATCHSIZE).min(n);
        tasks.push(Task::Op(op::MARK));
        for i in start..end {
            item(i, &mut tasks);
        }
        tasks.push(Task::Op(close));
        start = end;
    }
    if empty_tail && n % BATCHSIZE == 0 {
        tasks.push(Task::Op(op::MARK));
        tasks.push(Task::Op(close));
    }
    tasks
}

/// One more level of container nesting, refused beyond [`MAX_DEPTH`].
fn enter(depth: usize) -> Result<usize> {
    if depth >= MAX_DEPTH {
        return Err(Error::Encode(format!(
            "the value nests deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(depth + 1)
}

/// A one-character string whose character is latin-1 (a CPython
/// singleton).
fn is_latin1_char(s: &str) -> bool {
    let mut chars = s.chars();
    matches!((chars.next(), chars.next()), (Some(c), None) if u32::from(c) < 256)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::pytype::PyType;
    use crate::value::{EnumMember, MemoryView, PyArray};

    fn d(v: &Value, p: u8) -> Vec<u8> {
        match dumps(v, p) {
            Ok(b) => b,
            Err(e) => panic!("{e} for {v:?}"),
        }
    }

    fn i(x: i128) -> Value {
        Value::Int(x)
    }

    fn b(x: &[u8]) -> Value {
        Value::Bytes(Bytes::copy_from_slice(x))
    }

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    fn object(module: &str, qualname: &str, fields: Vec<(&str, Value)>) -> Value {
        Value::from(Object {
            class: PyType::new(module, qualname),
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        })
    }

    /// `pickle.dumps(v, 2)` without the `PROTO 2` header and `STOP`.
    fn body2(v: &Value) -> Vec<u8> {
        let p = d(v, 2);
        assert_eq!((&p[..2], p[p.len() - 1]), (&b"\x80\x02"[..], b'.'));
        p[2..p.len() - 1].to_vec()
    }

    #[test]
    fn integers_like_save_long() {
        let cases: [(i128, &[u8]); 16] = [
            (0, b"K\x00"),
            (255, b"K\xff"),
            (256, b"M\x00\x01"),
            (65535, b"M\xff\xff"),
            (65536, b"J\x00\x00\x01\x00"),
            (-1, b"J\xff\xff\xff\xff"),
            (0x7fff_ffff, b"J\xff\xff\xff\x7f"),
            (-0x8000_0000, b"J\x00\x00\x00\x80"),
            (0x8000_0000, b"\x8a\x05\x00\x00\x00\x80\x00"),
            (-0x8000_0001, b"\x8a\x05\xff\xff\xff\x7f\xff"),
            (i64::MIN.into(), b"\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80"),
            (i64::MAX.into(), b"\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f"),
            (1 << 63, b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00"),
            (-(1 << 63) - 1, b"\x8a\x09\xff\xff\xff\xff\xff\xff\xff\x7f\xff"),
            (-(1 << 39), b"\x8a\x05\x00\x00\x00\x00\x80"),
            (
                i128::MIN,
                b"\x8a\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80",
            ),
        ];
        for (v, expected) in cases {
            assert_eq!(body2(&i(v)), expected, "{v}");
        }
        // LONG4 from 256 bytes on; BigInt and a non-normalized BigInt
        let big = BigInt::from(1) << 2040usize;
        let p = body2(&Value::BigInt(big));
        assert_eq!(&p[..5], b"\x8b\x00\x01\x00\x00");
        assert_eq!(p.len(), 5 + 256);
        assert_eq!(body2(&Value::BigInt(BigInt::from(300))), b"M\x2c\x01");
        assert_eq!(body2(&Value::BigInt(-(BigInt::from(1) << 127usize))), {
            let mut e = b"\x8a\x10".to_vec();
            e.extend_from_slice(&[0; 15]);
            e.push(0x80);
            e
        });
    }

    #[test]
    fn scalars() {
        assert_eq!(d(&Value::None, 2), b"\x80\x02N.");
        assert_eq!(d(&Value::Bool(true), 3), b"\x80\x03\x88.");
        assert_eq!(d(&Value::Bool(false), 4), b"\x80\x04\x89.");
        assert_eq!(
            d(&Value::Float(1.5), 2),
            b"\x80\x02G?\xf8\x00\x00\x00\x00\x00\x00."
        );
        assert_eq!(
            d(&Value::Float(-0.0), 2),
            b"\x80\x02G\x80\x00\x00\x00\x00\x00\x00\x00."
        );
        // frames shorter than 4 bytes get no FRAME header
        assert_eq!(d(&i(1), 4), b"\x80\x04K\x01.");
        assert_eq!(
            d(&i(300), 5),
            b"\x80\x05\x95\x04\x00\x00\x00\x00\x00\x00\x00M\x2c\x01."
        );
        assert_eq!(
            d(&s("é"), 4),
            b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00\x8c\x02\xc3\xa9\x94."
        );
        assert_eq!(d(&s("é"), 3), b"\x80\x03X\x02\x00\x00\x00\xc3\xa9q\x00.");
    }

    /// Bytes as CPython 3.11 writes them (checked with `pickle.dumps`).
    #[test]
    fn known_cpython_bytes() {
        let cases: Vec<(Value, u8, &[u8])> = vec![
            (b(b""), 2, b"\x80\x02c__builtin__\nbytes\nq\x00)Rq\x01."),
            (
                Value::List(vec![b(b"ab"), b(b"cd")]),
                2,
                b"\x80\x02]q\x00(c_codecs\nencode\nq\x01X\x02\x00\x00\x00abq\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05h\x01X\x02\x00\x00\x00cdq\x06h\x03\x86q\x07Rq\x08e.",
            ),
            (
                Value::List(vec![b(b""), b(b"")]),
                2,
                b"\x80\x02]q\x00(c__builtin__\nbytes\nq\x01)Rq\x02h\x02e.",
            ),
            (
                Value::ByteArray(Bytes::from_static(b"xy")),
                2,
                b"\x80\x02c__builtin__\nbytearray\nq\x00c_codecs\nencode\nq\x01X\x02\x00\x00\x00xyq\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05\x85q\x06Rq\x07.",
            ),
            (
                Value::List(vec![Value::ByteArray(Bytes::from_static(b"a")), b(b"a")]),
                2,
                b"\x80\x02]q\x00(c__builtin__\nbytearray\nq\x01c_codecs\nencode\nq\x02X\x01\x00\x00\x00aq\x03X\x06\x00\x00\x00latin1q\x04\x86q\x05Rq\x06\x85q\x07Rq\x08h\x02h\x03h\x04\x86q\tRq\ne.",
            ),
            (
                Value::ByteArray(Bytes::from_static(b"xy")),
                3,
                b"\x80\x03cbuiltins\nbytearray\nq\x00C\x02xyq\x01\x85q\x02Rq\x03.",
            ),
            (
                Value::List(vec![Value::ByteArray(Bytes::new()), Value::ByteArray(Bytes::new())]),
                4,
                b"\x80\x04\x95&\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x08builtins\x94\x8c\tbytearray\x94\x93\x94)R\x94h\x03)R\x94e.",
            ),
            (
                Value::ByteArray(Bytes::from_static(b"xy")),
                5,
                b"\x80\x05\x95\r\x00\x00\x00\x00\x00\x00\x00\x96\x02\x00\x00\x00\x00\x00\x00\x00xy\x94.",
            ),
            (
                Value::Set(vec![i(1), i(2)]),
                2,
                b"\x80\x02c__builtin__\nset\nq\x00]q\x01(K\x01K\x02e\x85q\x02Rq\x03.",
            ),
            (Value::Set(vec![]), 3, b"\x80\x03cbuiltins\nset\nq\x00]q\x01\x85q\x02Rq\x03."),
            (Value::Set(vec![]), 4, b"\x80\x04\x8f\x94."),
            (
                Value::Set(vec![i(1), i(2)]),
                5,
                b"\x80\x05\x95\t\x00\x00\x00\x00\x00\x00\x00\x8f\x94(K\x01K\x02\x90.",
            ),
            (
                Value::List(vec![Value::FrozenSet(vec![]), Value::FrozenSet(vec![])]),
                2,
                b"\x80\x02]q\x00(c__builtin__\nfrozenset\nq\x01]q\x02\x85q\x03Rq\x04h\x01]q\x05\x85q\x06Rq\x07e.",
            ),
            (
                Value::List(vec![Value::FrozenSet(vec![]), Value::FrozenSet(vec![])]),
                4,
                b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x94((\x91\x94(\x91\x94e.",
            ),
            (
                Value::List(vec![s(""), s("")]),
                4,
                b"\x80\x04\x95\n\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x00\x94h\x01e.",
            ),
            (
                object("mm", "P", vec![("x", i(1)), ("y", s("ab"))]),
                2,
                b"\x80\x02cmm\nP\nq\x00)\x81q\x01}q\x02(X\x01\x00\x00\x00xq\x03K\x01X\x01\x00\x00\x00yq\x04X\x02\x00\x00\x00abq\x05ub.",
            ),
            (
                object("mm", "P", vec![("x", i(1)), ("y", s("ab"))]),
                5,
                b"\x80\x05\x95#\x00\x00\x00\x00\x00\x00\x00\x8c\x02mm\x94\x8c\x01P\x94\x93\x94)\x81\x94}\x94(\x8c\x01x\x94K\x01\x8c\x01y\x94\x8c\x02ab\x94ub.",
            ),
            (object("mm", "C", vec![]), 2, b"\x80\x02cmm\nC\nq\x00)\x81q\x01."),
            (
                object("mm", "O.I", vec![("z", Value::None)]),
                2,
                b"\x80\x02c__builtin__\ngetattr\nq\x00cmm\nO\nq\x01X\x01\x00\x00\x00Iq\x02\x86q\x03Rq\x04)\x81q\x05}q\x06X\x01\x00\x00\x00zq\x07Nsb.",
            ),
            (
                object("mm", "O.I", vec![("z", Value::None)]),
                4,
                b"\x80\x04\x95\x1a\x00\x00\x00\x00\x00\x00\x00\x8c\x02mm\x94\x8c\x03O.I\x94\x93\x94)\x81\x94}\x94\x8c\x01z\x94Nsb.",
            ),
            (
                Value::List(vec![
                    object("mm", "A.B", vec![("x", i(1))]),
                    object("mm", "A.B", vec![]),
                    object("mm", "C", vec![("x", i(2))]),
                ]),
                4,
                b"\x80\x04\x957\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x02mm\x94\x8c\x03A.B\x94\x93\x94)\x81\x94}\x94\x8c\x01x\x94K\x01sbh\x03)\x81\x94h\x01\x8c\x01C\x94\x93\x94)\x81\x94}\x94h\x06K\x02sbe.",
            ),
        ];
        for (v, p, expected) in cases {
            assert_eq!(d(&v, p), expected, "protocol {p}: {v:?}");
        }
    }

    #[test]
    fn batches_of_1000_with_cpythons_empty_last_batch() {
        let ints = |n: i128| (0..n).map(i).collect::<Vec<_>>();
        let dict = |n: i128| Value::Dict((0..n).map(|k| (i(k), i(k))).collect());
        assert!(d(&dict(1000), 2).ends_with(b"M\xe7\x03M\xe7\x03u(u."));
        assert!(d(&dict(1001), 2).ends_with(b"M\xe7\x03u(M\xe8\x03M\xe8\x03u."));
        assert!(d(&Value::Set(ints(1000)), 4).ends_with(b"M\xe6\x03M\xe7\x03\x90(\x90."));
        assert!(d(&Value::List(ints(1000)), 4).ends_with(b"M\xe6\x03M\xe7\x03e."));
        assert!(d(&Value::List(ints(1001)), 4).ends_with(b"M\xe7\x03e(M\xe8\x03e."));
        assert_eq!(d(&Value::List(ints(1)), 2), b"\x80\x02]q\x00K\x00a.");
        assert_eq!(d(&dict(1), 2), b"\x80\x02}q\x00K\x00K\x00s.");
        assert_eq!(
            d(&Value::Set(ints(1)), 4),
            b"\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00\x8f\x94(K\x00\x90."
        );
        let t = |n: i128| d(&Value::Tuple(ints(n)), 2);
        assert_eq!(t(0), b"\x80\x02).");
        assert_eq!(t(3), b"\x80\x02K\x00K\x01K\x02\x87q\x00.");
        assert_eq!(t(4), b"\x80\x02(K\x00K\x01K\x02K\x03tq\x00.");
    }

    #[test]
    fn large_payloads_are_written_outside_frames() {
        // the 64 KiB bytes skip the frame; MEMOIZE + STOP are too short for one
        let data = vec![7u8; 65536];
        let p = d(&Value::Bytes(data.clone().into()), 4);
        assert_eq!(&p[..7], b"\x80\x04B\x00\x00\x01\x00");
        assert_eq!(&p[7..7 + 65536], &data[..]);
        assert_eq!(&p[7 + 65536..], b"\x94.");
        // one byte less stays in a frame
        let p = d(&Value::Bytes(vec![7u8; 65535].into()), 4);
        assert_eq!(&p[..12], b"\x80\x04\x95\x06\x00\x01\x00\x00\x00\x00\x00B");
        // a frame that reached 64 KiB is closed before the next object
        let items: Vec<Value> = (0..20_000).map(|k| s(&format!("s{k}"))).collect();
        let p = d(&Value::List(items.clone()), 5);
        let mut frames = 0;
        let mut at = 2;
        while p.get(at) == Some(&op::FRAME) {
            let len = u64::from_le_bytes(p[at + 1..at + 9].try_into().unwrap()) as usize;
            assert!(len < FRAME_SIZE_TARGET + 64, "{len}");
            at += 9 + len;
            frames += 1;
        }
        assert_eq!((at, frames), (p.len(), 3));
        assert_eq!(
            super::super::read::loads(&p, &[], &Default::default()).unwrap(),
            Value::List(items)
        );
    }

    #[test]
    fn refusals() {
        for p in [0, 1, 6] {
            assert!(matches!(dumps(&Value::None, p), Err(Error::Encode(_))));
        }
        let unsupported = [
            Value::from(MemoryView {
                format: "B".into(),
                shape: vec![0],
                data: Bytes::new(),
            }),
            Value::PyArray(PyArray {
                typecode: 'd',
                data: Bytes::new(),
            }),
            Value::Serialize(Box::new(Value::None)),
            Value::ToPickle(Box::new(Value::None)),
            Value::from(EnumMember {
                class: PyType::new("m", "E"),
                name: "A".into(),
            }),
            Value::Unserializable("X".into()),
            object("builtins", "dict", vec![]),
            object("m", "f.<locals>.C", vec![]),
            object("m", "A..B", vec![]),
            object("", "C", vec![]),
            object("m\n", "C", vec![]),
        ];
        for v in unsupported {
            assert!(!can_dump(&v), "{v:?}");
            assert!(matches!(dumps(&v, 5), Err(Error::Encode(_))), "{v:?}");
            let nested = Value::List(vec![i(1), Value::Dict(vec![(i(1), v)])]);
            assert!(!can_dump(&nested));
            assert!(matches!(dumps(&nested, 2), Err(Error::Encode(_))));
        }
        // protocol 2 writes class names as ASCII
        let v = object("m", "Été", vec![]);
        assert!(can_dump(&v));
        assert!(matches!(dumps(&v, 2), Err(Error::Encode(m)) if m.contains("protocol 2")));
        assert_eq!(&d(&v, 3)[..8], b"\x80\x03cm\n\xc3\x89t");
    }

    #[test]
    fn depth_is_limited_without_overflowing_the_stack() {
        let nested = |n: usize| (0..n).fold(Value::None, |v, _| Value::List(vec![v]));
        // on a test thread's stack, in a debug build
        let deepest = nested(MAX_DEPTH);
        assert!(can_dump(&deepest));
        for p in 2..=5 {
            let bytes = d(&deepest, p);
            let limits = crate::limits::Limits {
                max_nesting: MAX_DEPTH,
                ..Default::default()
            };
            let back = super::super::read::loads(&bytes, &[], &limits).unwrap();
            // compared through the (iterative) writer: `==` on values recurses
            assert_eq!(d(&back, p), bytes);
        }
        let too_deep = nested(MAX_DEPTH + 1);
        assert!(!can_dump(&too_deep));
        assert!(matches!(dumps(&too_deep, 5), Err(Error::Encode(m)) if m.contains("1024")));
    }

    #[test]
    fn can_dump_plain_data() {
        let v = Value::List(vec![
            Value::None,
            Value::Bool(true),
            i(1),
            Value::BigInt(BigInt::from(1) << 200usize),
            Value::Float(f64::NAN),
            s("x"),
            b(b"y"),
            Value::ByteArray(Bytes::new()),
            Value::Tuple(vec![]),
            Value::Set(vec![i(1)]),
            Value::FrozenSet(vec![]),
            Value::Dict(vec![(Value::Tuple(vec![i(1)]), Value::List(vec![]))]),
            object("pkg.mod", "Outer.Inner", vec![("a", i(1))]),
        ]);
        assert!(can_dump(&v));
        for p in 2..=5 {
            assert!(dumps(&v, p).is_ok());
        }
    }
}
