//! The reader: interprets a pickle opcode stream as data.
//!
//! Objects are built in an [`Arena`] and referred to by index ([`Ref`]), so
//! that the memo, the stack and containers can share one mutable object the
//! way Python's unpickler shares references (a list memoized while empty and
//! filled later is seen filled by every `GET`). The final [`Value`] is built
//! once, at `STOP`, by [`Reader::finish`]: shared objects are expanded into
//! copies there, after a cycle check and a bound on the number of values the
//! expansion produces.
//!
//! The reader is split by concept: [`node`] holds the objects under
//! construction, `args` decodes opcode arguments, `opcodes` is the opcode
//! loop, `stack` the stack, marks and memo, `construct` (with `stdlib` and
//! the numpy handlers of [`crate::pickle::numpy`]) what known globals
//! become, and `finish` the value built at `STOP`.

mod args;
mod construct;
mod finish;
pub(super) mod node;
mod opcodes;
mod stack;
mod stdlib;

use std::collections::HashMap;

use self::node::{Arena, Node, Ref, BUDGET_BASE, BUDGET_PER_BYTE};
use super::OobBuffer;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::value::Value;

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
    /// A reader of `data`, with the out-of-band `buffers`, bounded by
    /// `limits` and by a work budget proportional to the input length.
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

    /// An [`Error::Pickle`] at the offset `at`.
    fn err(&self, at: usize, message: impl Into<String>) -> Error {
        Error::Pickle {
            offset: at,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use num_bigint::BigInt;
    use proptest::prelude::*;

    use super::finish::{dedup_items, dedup_pairs};
    use super::*;
    use crate::pytype::PyType;
    use crate::value::Object;

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
