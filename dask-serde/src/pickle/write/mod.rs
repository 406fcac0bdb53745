//! The writer: CPython 3.11's C pickler (`Modules/_pickle.c`), for plain
//! data.
//!
//! Every `save()` call of the C pickler has a counterpart here that starts
//! with [`Writer::boundary`](pickler::Writer::boundary), because that is
//! where `_pickle.c` closes a frame that has reached 64 KiB; memoization
//! (`memo_put`) happens for exactly the objects the C pickler memoizes, in
//! the same order, so that `BINPUT`/`MEMOIZE` numbering and the frames
//! match byte for byte.
//!
//! [`pickler`] is the writer's core (output, framing, memo and the loop
//! over pending tasks), [`value`] how plain values are written, and
//! [`numpy`] how numpy arrays and dtypes are written.

mod numpy;
mod pickler;
mod value;

use self::pickler::{pickle, Task, MAX_DEPTH};
use self::value::class_problem;
use super::numpy::dtype::dtype_problem;
use super::OobBuffer;
use crate::error::{Error, Result};
use crate::value::dtype::DType;
use crate::value::Value;

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

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use num_bigint::BigInt;

    use super::pickler::FRAME_SIZE_TARGET;
    use super::*;
    use crate::pickle::op;
    use crate::pytype::PyType;
    use crate::value::{EnumMember, MemoryView, Object, PyArray};

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
