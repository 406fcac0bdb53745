//! The writer's core, `PicklerObject` reduced to what plain data needs:
//! output and framing (`_Pickler_Write` & co.), the memo, and the loop over
//! the pending steps ([`Task`]) that stands for the C pickler's recursion.

use std::collections::HashMap;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::pickle::{op, OobBuffer};
use crate::value::dtype::DType;
use crate::value::Value;

/// `BATCHSIZE` of `_pickle.c`: items per `APPENDS`/`SETITEMS`/`ADDITEMS`.
const BATCHSIZE: usize = 1000;
/// A frame is closed at the next object once it holds this many bytes.
pub(super) const FRAME_SIZE_TARGET: usize = 64 * 1024;
/// Frames shorter than this are written without a `FRAME` header.
const FRAME_SIZE_MIN: usize = 4;
/// `FRAME` opcode + 8-byte length.
const FRAME_HEADER_SIZE: usize = 9;
/// Deepest nesting of containers written: about where CPython's own
/// recursion limit stops `pickle.dumps`. (The writer does not recurse.)
pub(super) const MAX_DEPTH: usize = 1024;

/// What CPython shares by identity regardless of how a value was built:
/// such objects are memoized once and written as memo `GET`s afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Shared {
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
pub(super) enum StrKind {
    /// Data: shared only when it is a singleton.
    Data,
    /// An interned identifier.
    Name,
    /// A freshly built name (e.g. a builtin type's `__qualname__`): never
    /// shared.
    Fresh,
}

/// Writes the pickle of `root`; `oob`: protocol 5 array memory goes to
/// out-of-band buffers.
pub(super) fn pickle(root: Task<'_>, protocol: u8, oob: bool) -> Result<(Vec<u8>, Vec<OobBuffer>)> {
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

/// A pending step of the writer. The C pickler recurses; this writer keeps
/// an explicit stack of what `save()` would do next, so nesting depth costs
/// heap, not call stack. Each variant that stands for a `save()` call starts
/// with [`Writer::boundary`].
pub(super) enum Task<'a> {
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
pub(super) struct Writer<'a> {
    out: Vec<u8>,
    pub(super) proto: u8,
    /// Protocol >= 4 and not inside a large write.
    framing: bool,
    /// Where the open frame's header was reserved.
    frame_start: Option<usize>,
    /// Number of memo entries (the next memo index).
    pub(super) memo_len: usize,
    /// Memo indices of the objects CPython shares by identity.
    pub(super) shared: HashMap<Shared, usize>,
    /// What remains to be done, last first.
    todo: Vec<Task<'a>>,
    /// Memo indices of objects written again later by identity (numpy
    /// field names, titles and field tuples).
    pub(super) slots: Vec<usize>,
    /// Out-of-band buffers (protocol 5 with a buffer callback), else
    /// `None`: `PickleBuffer`s are written in-band.
    pub(super) buffers: Option<Vec<OobBuffer>>,
}

impl<'a> Writer<'a> {
    // ----- output and framing (`_Pickler_Write` & co.) -----

    /// `_Pickler_Write`: appends `data`, opening a frame first if framing
    /// and none is open.
    pub(super) fn write(&mut self, data: &[u8]) {
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
    pub(super) fn boundary(&mut self) {
        if let (true, Some(start)) = (self.framing, self.frame_start) {
            if self.out.len() - start - FRAME_HEADER_SIZE >= FRAME_SIZE_TARGET {
                self.commit_frame();
            }
        }
    }

    /// `_Pickler_write_bytes`: a payload of 64 KiB or more is written
    /// outside any frame.
    pub(super) fn write_payload(&mut self, header: &[u8], data: &[u8]) {
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

    /// `memo_put`: memoizes the object just written (`MEMOIZE` from
    /// protocol 4, else `BINPUT`/`LONG_BINPUT`); `key` records an object
    /// CPython shares by identity.
    pub(super) fn memo_put(&mut self, key: Option<Shared>) -> Result<()> {
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
    pub(super) fn memo_get(&mut self, key: &Shared) -> bool {
        let Some(&idx) = self.shared.get(key) else {
            return false;
        };
        self.write_get(idx);
        true
    }

    /// Writes a memo `GET` of `idx`.
    pub(super) fn write_get(&mut self, idx: usize) {
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
    pub(super) fn then(&mut self, tasks: Vec<Task<'a>>) {
        self.todo.extend(tasks.into_iter().rev());
    }

    /// Runs the tasks, starting with `root`, until none is left.
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
}

/// `save_reduce` of `module.name(*args)` (the result not memoized): the
/// callable, the argument tuple, `REDUCE`.
pub(super) fn reduce<'a>(module: &'a str, name: &'a str, args: Vec<Task<'a>>) -> Vec<Task<'a>> {
    let n = args.len();
    call(module, name, n, args)
}

/// [`reduce`] with `n` arguments written by the tasks `args`.
pub(super) fn call<'a>(module: &'a str, name: &'a str, n: usize, args: Vec<Task<'a>>) -> Vec<Task<'a>> {
    let mut tasks = Vec::with_capacity(args.len() + 4);
    tasks.push(Task::Global(module, name));
    tasks.push(Task::TupleStart(n));
    tasks.extend(args);
    tasks.push(Task::TupleEnd(n));
    tasks.push(Task::Op(op::REDUCE));
    tasks
}

/// A tuple of ints (a shape or an axis order), fresh as numpy builds it.
pub(super) fn int_tuple(tasks: &mut Vec<Task<'_>>, items: &[usize]) {
    tasks.push(Task::TupleStart(items.len()));
    tasks.extend(items.iter().map(|&d| Task::Int(d as i128)));
    tasks.push(Task::TupleEnd(items.len()));
}

/// The items of a list, dict or set as `_pickle.c` batches them: one item
/// and `single` if given and there is exactly one, else `MARK … close` per
/// `BATCHSIZE` items — plus, for dicts and sets (`empty_tail`), the empty
/// last batch CPython's do-while loop writes when the size is a multiple of
/// 1000.
pub(super) fn batched<'a>(
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
pub(super) fn enter(depth: usize) -> Result<usize> {
    if depth >= MAX_DEPTH {
        return Err(Error::Encode(format!(
            "the value nests deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(depth + 1)
}
