//! How plain values are written: CPython 3.11's `save_*` functions for
//! `None`, `bool`, `int`, `float`, `str`, `bytes`, `bytearray`, lists,
//! tuples, dicts, sets, plain objects and globals.

use num_bigint::{BigInt, Sign};

use super::pickler::{batched, enter, reduce, Shared, StrKind, Task, Writer};
use crate::error::{Error, Result};
use crate::pickle::{compat, op};
use crate::value::{Object, Value};

impl<'a> Writer<'a> {
    /// `save()` of a value at nesting depth `depth`: scalars are written
    /// at once, containers schedule their items.
    pub(super) fn save(&mut self, v: &'a Value, depth: usize) -> Result<()> {
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
    pub(super) fn save_int(&mut self, i: i128) -> Result<()> {
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
    pub(super) fn save_str(&mut self, s: &str, kind: StrKind) -> Result<usize> {
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
    pub(super) fn save_bytes(&mut self, b: &[u8], singleton: bool) -> Result<()> {
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
    pub(super) fn write_bytes_data(&mut self, b: &[u8]) -> Result<()> {
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
    pub(super) fn save_list(&mut self, items: &'a [Value], depth: usize) -> Result<()> {
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
    pub(super) fn tuple_start(&mut self, n: usize) {
        self.boundary();
        match n {
            0 => self.write(&[op::EMPTY_TUPLE]),
            1..=3 => {}
            _ => self.write(&[op::MARK]),
        }
    }

    /// The end of `save_tuple`: `TUPLE1..3` or `TUPLE`, memoized.
    pub(super) fn tuple_end(&mut self, n: usize) -> Result<()> {
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

    /// `save_global`: a class or function by reference, memoized.
    pub(super) fn save_global(&mut self, module: &'a str, qualname: &'a str) -> Result<()> {
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

/// Why an object's class cannot be pickled by reference, if it cannot.
pub(super) fn class_problem(o: &Object) -> Option<String> {
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

/// A one-character string whose character is latin-1 (a CPython
/// singleton).
fn is_latin1_char(s: &str) -> bool {
    let mut chars = s.chars();
    matches!((chars.next(), chars.next()), (Some(c), None) if u32::from(c) < 256)
}
