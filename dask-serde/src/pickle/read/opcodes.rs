//! The opcode loop: reads opcodes until `STOP` and does what each one
//! does to the stack, the memo and the objects under construction.

use bytes::Bytes;
use num_bigint::BigInt;

use super::args::{decode_raw_unicode_escape, decode_string_literal, parse_decimal, parse_memo_index};
use super::node::{Node, Ref};
use super::Reader;
use crate::error::{Error, Result};
use crate::pickle::{op, OobBuffer};
use crate::value::Value;

impl<'a> Reader<'a> {
    /// Runs until `STOP`; returns the result and the offset of `STOP`.
    ///
    /// Each opcode goes to the method of its group, which reads its
    /// arguments and applies it.
    pub(super) fn run(&mut self) -> Result<(Ref, usize)> {
        loop {
            let at = self.pos;
            let Some(&code) = self.data.get(at) else {
                return Err(self.err(at, "truncated pickle: no STOP opcode"));
            };
            self.pos += 1;
            match code {
                op::STOP => {
                    let r = self.pop(at, code)?;
                    return Ok((r, at));
                }
                op::PROTO | op::FRAME => self.framing(code, at)?,
                op::NONE
                | op::NEWTRUE
                | op::NEWFALSE
                | op::INT
                | op::BININT
                | op::BININT1
                | op::BININT2
                | op::LONG
                | op::LONG1
                | op::LONG4
                | op::FLOAT
                | op::BINFLOAT => self.load_scalar(code, at)?,
                op::STRING
                | op::BINSTRING
                | op::SHORT_BINSTRING
                | op::UNICODE
                | op::SHORT_BINUNICODE
                | op::BINUNICODE
                | op::BINUNICODE8
                | op::SHORT_BINBYTES
                | op::BINBYTES
                | op::BINBYTES8
                | op::BYTEARRAY8 => self.load_string(code, at)?,
                op::EMPTY_TUPLE | op::TUPLE1 | op::TUPLE2 | op::TUPLE3 | op::TUPLE => {
                    self.load_tuple(code, at)?
                }
                op::EMPTY_LIST | op::LIST | op::APPEND | op::APPENDS => self.load_list(code, at)?,
                op::EMPTY_DICT | op::DICT | op::SETITEM | op::SETITEMS => self.load_dict(code, at)?,
                op::EMPTY_SET | op::ADDITEMS | op::FROZENSET => self.load_set(code, at)?,
                op::MARK | op::POP | op::POP_MARK | op::DUP => self.stack_op(code, at)?,
                op::PUT
                | op::BINPUT
                | op::LONG_BINPUT
                | op::MEMOIZE
                | op::GET
                | op::BINGET
                | op::LONG_BINGET => self.memo_op(code, at)?,
                op::GLOBAL | op::STACK_GLOBAL | op::REDUCE | op::NEWOBJ | op::NEWOBJ_EX | op::BUILD => {
                    self.object_op(code, at)?
                }
                op::NEXT_BUFFER | op::READONLY_BUFFER => self.buffer_op(code, at)?,
                _ => return Err(self.unsupported(code, at)),
            }
        }
    }

    /// The error of a byte that is no opcode, or of an opcode the safe
    /// reader does not interpret.
    fn unsupported(&self, code: u8, at: usize) -> Error {
        self.err(
            at,
            match op::name(code) {
                Some(name) => {
                    format!("opcode {name} (0x{code:02x}) is not supported by the safe pickle reader")
                }
                None => format!("invalid opcode 0x{code:02x}"),
            },
        )
    }

    /// `PROTO` and `FRAME`: the protocol and the framing, which need no
    /// further handling (frames are only checked to be present).
    fn framing(&mut self, code: u8, at: usize) -> Result<()> {
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
            _ => return Err(self.unsupported(code, at)),
        }
        Ok(())
    }

    /// `None`, `bool`, `int` and `float` opcodes.
    fn load_scalar(&mut self, code: u8, at: usize) -> Result<()> {
        match code {
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
            _ => return Err(self.unsupported(code, at)),
        }
        Ok(())
    }

    /// The `str`, `bytes` (and Python 2 string) and `bytearray` opcodes.
    fn load_string(&mut self, code: u8, at: usize) -> Result<()> {
        match code {
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
                let s = decode_raw_unicode_escape(l).map_err(|m| self.err(at, format!("UNICODE: {m}")))?;
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
            _ => return Err(self.unsupported(code, at)),
        }
        Ok(())
    }

    /// The tuple opcodes.
    fn load_tuple(&mut self, code: u8, at: usize) -> Result<()> {
        match code {
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
            _ => return Err(self.unsupported(code, at)),
        }
        Ok(())
    }

    /// The list opcodes: a new list, or items appended to the one on top.
    fn load_list(&mut self, code: u8, at: usize) -> Result<()> {
        match code {
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
            _ => return Err(self.unsupported(code, at)),
        }
        Ok(())
    }

    /// The dict opcodes: a new dict, or items set in the one on top.
    fn load_dict(&mut self, code: u8, at: usize) -> Result<()> {
        match code {
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
            _ => return Err(self.unsupported(code, at)),
        }
        Ok(())
    }

    /// The set and frozenset opcodes.
    fn load_set(&mut self, code: u8, at: usize) -> Result<()> {
        match code {
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
            _ => return Err(self.unsupported(code, at)),
        }
        Ok(())
    }

    /// The opcodes that only move stack items: `MARK`, `POP`, `POP_MARK`,
    /// `DUP`.
    fn stack_op(&mut self, code: u8, at: usize) -> Result<()> {
        match code {
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
            _ => return Err(self.unsupported(code, at)),
        }
        Ok(())
    }

    /// The memo opcodes: `PUT`s and `GET`s of every width, `MEMOIZE`.
    fn memo_op(&mut self, code: u8, at: usize) -> Result<()> {
        match code {
            op::PUT => {
                let s = self.text_line(at, "PUT")?;
                let i =
                    parse_memo_index(s).ok_or_else(|| self.err(at, format!("PUT: invalid index {s:?}")))?;
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
                let i =
                    parse_memo_index(s).ok_or_else(|| self.err(at, format!("GET: invalid index {s:?}")))?;
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
            _ => return Err(self.unsupported(code, at)),
        }
        Ok(())
    }

    /// Globals and objects: `GLOBAL`/`STACK_GLOBAL` name a class or
    /// function, `REDUCE`, `NEWOBJ`/`NEWOBJ_EX` and `BUILD` are interpreted
    /// by [`Reader::reduce`], [`Reader::newobj`] and [`Reader::build`].
    fn object_op(&mut self, code: u8, at: usize) -> Result<()> {
        match code {
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
            _ => return Err(self.unsupported(code, at)),
        }
        Ok(())
    }

    /// The out-of-band buffer opcodes of protocol 5.
    fn buffer_op(&mut self, code: u8, at: usize) -> Result<()> {
        match code {
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
                        return Err(self.err(at, format!("READONLY_BUFFER on {}, not a buffer", self.kind(r))))
                    }
                };
                if let Some(node) = replacement {
                    self.stack.pop();
                    self.push(node, at)?;
                }
            }
            _ => return Err(self.unsupported(code, at)),
        }
        Ok(())
    }

    /// Pushes the `str` of UTF-8 bytes (`what`: the opcode, for messages).
    fn push_utf8(&mut self, b: &[u8], at: usize, what: &str) -> Result<()> {
        let s = std::str::from_utf8(b).map_err(|_| {
            self.err(
                at,
                format!("{what}: the string is not valid UTF-8 (lone surrogates cannot be represented)"),
            )
        })?;
        self.push_leaf(Value::Str(s.to_owned()), at)
    }

    /// `APPEND`/`APPENDS`: adds `items` to the list `list`.
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

    /// `SETITEM`/`SETITEMS`: adds the pairs of `items` to the dict `dict`.
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
}

/// Pairs up `k1 v1 k2 v2 …`; `None` for an odd count.
fn pairs(items: Vec<Ref>) -> Option<Vec<(Ref, Ref)>> {
    if items.len() % 2 != 0 {
        return None;
    }
    Some(items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect())
}
