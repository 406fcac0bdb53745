//! numpy objects in pickles, as data.
//!
//! numpy pickles its objects with a few constructors; the reader interprets
//! them (nothing is imported or called), the writer produces them:
//!
//! * a dtype is `numpy.dtype(typestr, False, True)` (`REDUCE`) followed by
//!   `BUILD` with the state tuple `(version, byteorder, subarray, names,
//!   fields, elsize, alignment, flags[, metadata])` of numpy's
//!   `arraydescr_reduce` (versions 3 and 4);
//! * an array is `numpy._core.multiarray._reconstruct(numpy.ndarray, (0,),
//!   b'b')` followed by `BUILD` with `(1, shape, dtype, is_fortran, data)`
//!   (data: the elements' bytes, or a list of the objects of an object
//!   array), or — protocol 5 — `numpy._core.numeric._frombuffer(buffer,
//!   dtype, shape, order[, axis_order])` over an out-of-band (`NEXT_BUFFER`)
//!   or in-band buffer;
//! * a scalar is `numpy._core.multiarray.scalar(dtype, bytes)`.
//!
//! Both `numpy.core.*` (numpy 1.x) and `numpy._core.*` spellings are read;
//! the writer uses numpy 2's.
//!
//! [`dtype`] holds what concerns dtypes (reading `numpy.dtype` and its
//! state, computing the state numpy writes), [`array`](mod@array) what concerns
//! arrays and scalars (`_reconstruct`, `_frombuffer`, `scalar`, and how
//! numpy hands an array's memory to a `PickleBuffer`); this module has
//! what both share.

pub(super) mod array;
pub(super) mod dtype;

use crate::error::Error;
use crate::pickle::read::node::{Arena, Node, Ref};
use crate::value::dtype::DType;

/// A handler's result: the message says what was wrong.
type R<T> = std::result::Result<T, String>;

/// The byte-order character numpy writes for this machine's native order.
pub(crate) const NATIVE: char = if cfg!(target_endian = "little") { '<' } else { '>' };

/// numpy's `NPY_MAXDIMS` (numpy 2).
const MAX_DIMS: usize = 64;

/// Module of `_reconstruct` and `scalar` as numpy 2 names them.
pub(crate) const MULTIARRAY: &str = "numpy._core.multiarray";
/// Module of `_frombuffer` as numpy 2 names it.
pub(crate) const NUMERIC: &str = "numpy._core.numeric";

// ----- reading from the arena -----

/// An `int` (or `bool`) node's value.
fn int(a: &Arena, r: Ref) -> Option<i64> {
    match a.node(r) {
        Node::Int(i) => Some(*i),
        Node::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// A `str` node, or ASCII `bytes` (Python 2 pickles).
fn text(a: &Arena, r: Ref) -> Option<String> {
    match a.node(r) {
        Node::Str(s) => Some(s.clone()),
        Node::Bytes(b) if b.is_ascii() => Some(b.iter().map(|&c| char::from(c)).collect()),
        _ => None,
    }
}

/// The items of a tuple node.
fn tuple(a: &Arena, r: Ref) -> Option<Vec<Ref>> {
    match a.node(r) {
        Node::Tuple(t) => Some(t.clone()),
        _ => None,
    }
}

/// The dtype of a dtype node.
fn dtype_of(a: &Arena, r: Ref, what: &str) -> R<(DType, usize)> {
    match a.node(r) {
        Node::DType(d) => Ok((d.dtype.clone(), d.depth)),
        other => Err(format!("{what} must be a numpy dtype, found {}", other.a_kind())),
    }
}

/// A shape: a tuple of non-negative ints (or, where numpy accepts it, a
/// single int), at most `NPY_MAXDIMS` long.
fn dims(a: &Arena, r: Ref, what: &str, allow_int: bool) -> R<Vec<usize>> {
    let items = match (tuple(a, r), int(a, r)) {
        (Some(t), _) => t,
        (None, Some(i)) if allow_int => return dims_of(&[Some(i)], what),
        _ => {
            return Err(format!(
                "{what} must be a tuple of ints, found {}",
                a.node(r).a_kind()
            ))
        }
    };
    if items.len() > MAX_DIMS {
        return Err(format!(
            "{what} has {} dimensions (numpy allows {MAX_DIMS})",
            items.len()
        ));
    }
    let values: Vec<Option<i64>> = items.iter().map(|&x| int(a, x)).collect();
    dims_of(&values, what)
}

/// The dimensions of a shape from its items' int values (`None`: not an
/// int).
fn dims_of(values: &[Option<i64>], what: &str) -> R<Vec<usize>> {
    values
        .iter()
        .map(|v| match v {
            Some(d) => usize::try_from(*d).map_err(|_| format!("{what} has a negative dimension {d}")),
            None => Err(format!("{what} must hold ints")),
        })
        .collect()
}

/// The product of `shape` (the element count), `None` on overflow.
fn count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// The message of a `DType`/`NdArray` constructor error.
fn message(e: Error) -> String {
    match e {
        Error::Encode(m) => m,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{
        can_dump, dump_dtype, dumps, dumps_with_buffers, dumps_with_oob, load_dtype, loads, op,
    };
    use bytes::Bytes;

    use super::array::half_to_f64;
    use super::*;
    use crate::error::Result;
    use crate::limits::Limits;
    use crate::msgpack::MsgValue;
    use crate::pickle::OobBuffer;
    use crate::value::dtype::DTypeField;
    use crate::value::ndarray::NdArray;
    use crate::value::Value;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn l(p: &[u8]) -> Result<Value> {
        loads(p, &[], &Limits::default())
    }

    fn ok(p: &[u8]) -> Value {
        l(p).unwrap_or_else(|e| panic!("{e} reading {p:?}"))
    }

    fn array(v: Value) -> NdArray {
        match v {
            Value::NdArray(a) => *a,
            other => panic!("not an array: {other:?}"),
        }
    }

    /// The message of the pickle error `p` gives, checked to contain
    /// `needle`.
    fn fails(p: &[u8], needle: &str) -> String {
        match l(p) {
            Err(Error::Pickle { message, .. }) => {
                assert!(
                    message.contains(needle),
                    "{message:?} does not contain {needle:?}"
                );
                message
            }
            other => panic!("expected an error containing {needle:?}, got {other:?}"),
        }
    }

    fn dtype_fails(p: &[u8], needle: &str) {
        match load_dtype(p, &Limits::default()) {
            Err(Error::Pickle { message, .. }) => {
                assert!(
                    message.contains(needle),
                    "{message:?} does not contain {needle:?}"
                )
            }
            other => panic!("expected an error containing {needle:?}, got {other:?}"),
        }
    }

    /// The frames of a golden vector (Dask's `pack_frames` layout).
    fn vector(name: &str) -> Vec<Bytes> {
        let path = format!(
            "{}/../tests/fixtures/vectors/{name}.frames",
            env!("CARGO_MANIFEST_DIR")
        );
        let b = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
        let mut at = 8 + 8 * n;
        (0..n)
            .map(|i| {
                let len = u64::from_le_bytes(b[8 + 8 * i..16 + 8 * i].try_into().unwrap()) as usize;
                at += len;
                Bytes::copy_from_slice(&b[at - len..at])
            })
            .collect()
    }

    /// A small dtype pickle: `numpy.dtype(typestr, False, True)` with
    /// `state` (pickle opcodes building the state tuple) at protocol 4.
    fn dtype_pickle(typestr: &str, state: &[u8]) -> Vec<u8> {
        let mut p = b"\x80\x04\x8c\x05numpy\x8c\x05dtype\x93".to_vec();
        p.push(0x8c);
        p.push(typestr.len() as u8);
        p.extend_from_slice(typestr.as_bytes());
        p.extend_from_slice(b"\x89\x88\x87R");
        p.extend_from_slice(state);
        p.extend_from_slice(b"b.");
        p
    }

    #[test]
    fn golden_vectors_read_and_written_byte_for_byte() {
        // object array: sub-header {"pickle": true}, frame = the pickle
        let frames = vector("ser_ndarray_object");
        let a = array(ok(&frames[1]));
        assert_eq!(a.dtype(), &DType::object());
        assert_eq!(a.shape(), &[3]);
        assert_eq!(
            a.objects().unwrap(),
            &[Value::Str("a".into()), Value::None, Value::Int(3)]
        );
        assert_eq!(dumps(&Value::from(a), 5).unwrap(), &frames[1][..]);

        // structured dtype: [1, <pickle protocol 4>]
        let frames = vector("ser_ndarray_structured");
        let header = MsgValue::decode(&frames[0], &Limits::default()).unwrap();
        let dt = header
            .get("sub-header")
            .unwrap()
            .get("dtype")
            .unwrap()
            .as_array()
            .unwrap();
        let pickle = dt[1].as_bin().unwrap();
        let want = DType::structured(
            vec![
                ("a".into(), DType::parse("<i4").unwrap()),
                ("b".into(), DType::parse("<f8").unwrap()),
            ],
            false,
        )
        .unwrap();
        assert_eq!(load_dtype(pickle, &Limits::default()).unwrap(), want);
        assert_eq!(dump_dtype(&want, 4).unwrap(), &pickle[..]);

        // pickle family, protocol 5 with an out-of-band buffer
        let frames = vector("ser_pickle_oob_buffer");
        let oob = [OobBuffer {
            data: frames[2].clone(),
            writeable: true,
        }];
        let a = array(loads(&frames[1], &oob, &Limits::default()).unwrap());
        assert_eq!(
            (a.dtype().str(), a.shape(), a.is_writeable()),
            ("|u1", &[5usize][..], true)
        );
        assert_eq!(
            a.buffer().as_ptr(),
            frames[2].as_ptr(),
            "the buffer is shared, not copied"
        );
        assert_eq!(&a.to_c_bytes()[..], b"\x00\x01\x02\x03\x04");
        let (p, buffers) = dumps_with_buffers(&Value::from(a.clone()), 5).unwrap();
        assert_eq!((&p[..], buffers.len()), (&frames[1][..], 1));
        assert_eq!(buffers[0], frames[2]);
        assert_eq!(buffers[0].as_ptr(), frames[2].as_ptr(), "written without a copy");
        // read-only: READONLY_BUFFER, and the flag travels with the buffer
        let ro = a.with_writeable(false);
        let (p, buffers) = dumps_with_oob(&Value::from(ro), 5).unwrap();
        assert!(p.windows(2).any(|w| w == [op::NEXT_BUFFER, op::READONLY_BUFFER]));
        assert!(!buffers[0].writeable);
        let back = array(loads(&p, &buffers, &Limits::default()).unwrap());
        assert!(!back.is_writeable());
    }

    #[test]
    fn dtypes_numpy_wrote() {
        let limits = Limits::default();
        let cases: [(&str, DType); 3] = [
            (
                "80049548000000000000008c056e756d7079948c0564747970659493948c024d3894898887945294284b048c013c944e4e4e4affffffff4affffffff4b004e2843026e73944b014b014b01749486947494622e",
                DType::parse("<M8[ns]").unwrap(),
            ),
            (
                "800495bf000000000000008c056e756d7079948c0564747970659493948c02563994898887945294284b038c017c944e8c0174948c0278799486947d9428680768028c02753194898887945294284b0368064e4e4e4affffffff4affffffff4b007494624b008c0154948794680f6810680868028c02563894898887945294284b03680668028c02663494898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624b02859486944e4e4b084b044b007494624b018694754b094b014b107494622e",
                DType::with_fields(
                    vec![
                        DTypeField {
                            name: "t".into(),
                            dtype: DType::parse("|u1").unwrap(),
                            offset: 0,
                            title: Some("T".into()),
                        },
                        DTypeField {
                            name: "xy".into(),
                            dtype: DType::subarray(DType::parse("<f4").unwrap(), vec![2]).unwrap(),
                            offset: 1,
                            title: None,
                        },
                    ],
                    9,
                    false,
                )
                .unwrap(),
            ),
            (
                "8002636e756d70790a64747970650a71005802000000693471018988877102527103284b0358010000003e71044e4e4e4affffffff4affffffff4b00747105622e",
                DType::parse(">i4").unwrap(),
            ),
        ];
        for (hex, want) in cases {
            let p = unhex(hex);
            assert_eq!(load_dtype(&p, &limits).unwrap(), want);
            assert_eq!(dump_dtype(&want, p[1]).unwrap(), p, "{want:?}");
        }
        // '=' is the native order, byte-order-free types get '|'
        let p = dtype_pickle(
            "i4",
            b"(K\x03\x8c\x01=NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t",
        );
        assert_eq!(load_dtype(&p, &limits).unwrap().str(), format!("{NATIVE}i4"));
        let p = dtype_pickle(
            "u1",
            b"(K\x03\x8c\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t",
        );
        assert_eq!(load_dtype(&p, &limits).unwrap().str(), "|u1");
        // a version 4 state with a metadata dict
        let p = dtype_pickle(
            "f8",
            b"(K\x04\x8c\x01>NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00}t",
        );
        assert_eq!(load_dtype(&p, &limits).unwrap().str(), ">f8");
        // datetimes with a multiplier and the generic unit
        let p = dtype_pickle(
            "m8",
            b"(K\x04\x8c\x01>NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00N(C\x02usK\x19K\x01K\x01t\x86t",
        );
        assert_eq!(load_dtype(&p, &limits).unwrap().str(), ">m8[25us]");
        let p = dtype_pickle(
            "M8",
            b"(K\x04\x8c\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00N\x8c\x07genericK\x01\x86\x86t",
        );
        assert_eq!(load_dtype(&p, &limits).unwrap().str(), "<M8");
        // a dtype on its own is not a value; loads refuses it
        fails(&p, "a numpy dtype is not a value");
    }

    #[test]
    fn malformed_dtypes_are_refused() {
        let plain = b"(K\x03\x8c\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t";
        // constructor arguments
        dtype_fails(
            b"\x80\x04\x8c\x05numpy\x8c\x05dtype\x93)R.",
            "refusing to call global numpy.dtype",
        );
        dtype_fails(
            b"\x80\x04\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02f8K\x05\x86R.",
            "unexpected arguments",
        );
        dtype_fails(
            b"\x80\x04\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02x8\x85R.",
            "invalid dtype typestr",
        );
        dtype_fails(
            b"\x80\x04\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02i3\x85R.",
            "invalid dtype typestr",
        );
        dtype_fails(
            b"\x80\x04\x8c\x05numpy\x8c\x05dtype\x93\x8c\x05numpy\x8c\x06record\x93\x85R.",
            "numpy.record",
        );
        // states
        dtype_fails(
            &dtype_pickle(
                "f8",
                b"(K\x02\x8c\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t",
            ),
            "version 2",
        );
        dtype_fails(&dtype_pickle("f8", b"(K\x03\x8c\x01<NNNt"), "state of 5 items");
        dtype_fails(&dtype_pickle("f8", b"]"), "must be a tuple");
        dtype_fails(
            &dtype_pickle(
                "f8",
                b"(K\x03\x8c\x01!NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t",
            ),
            "byte order",
        );
        dtype_fails(
            &dtype_pickle("S5", b"(K\x03\x8c\x01|NNNK\x06K\x01K\x00t"),
            "item size 6",
        );
        dtype_fails(&dtype_pickle("M8", plain), "needs its unit");
        dtype_fails(
            &dtype_pickle(
                "M8",
                b"(K\x04\x8c\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00N(C\x02xsK\x01K\x01K\x01t\x86t",
            ),
            "unknown datetime unit",
        );
        dtype_fails(
            &dtype_pickle("V4", b"(K\x03\x8c\x01|N\x8c\x01a\x85NK\x04K\x01K\x00t"),
            "inconsistent fields and names",
        );
        dtype_fails(
            &dtype_pickle(
                "f8",
                b"(K\x03\x8c\x01|N)}J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t",
            ),
            "only void dtypes",
        );
        // a BUILD state twice
        let mut p = dtype_pickle("f8", plain);
        p.pop();
        p.extend_from_slice(plain);
        p.extend_from_slice(b"b.");
        dtype_fails(&p, "a single state");
        // fields: offsets outside the item size, negative offsets, object
        // fields, titles that are not str, stray keys
        let field = |typestr: &str, entry: &[u8], elsize: u8| {
            let mut state = b"(K\x03\x8c\x01|N\x8c\x01a\x85}(\x8c\x01a".to_vec();
            state.extend_from_slice(b"\x8c\x05numpy\x8c\x05dtype\x93");
            state.push(0x8c);
            state.push(typestr.len() as u8);
            state.extend_from_slice(typestr.as_bytes());
            state.extend_from_slice(b"\x89\x88\x87R");
            state.extend_from_slice(if typestr.starts_with('O') {
                b"(K\x03\x8c\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?t"
            } else {
                plain
            });
            state.extend_from_slice(b"b");
            state.extend_from_slice(entry);
            state.extend_from_slice(b"uK");
            state.push(elsize);
            state.extend_from_slice(b"K\x01K\x10t");
            dtype_pickle(&format!("V{elsize}"), &state)
        };
        assert!(load_dtype(&field("i4", b"K\x00\x86", 4), &Limits::default()).is_ok());
        dtype_fails(&field("i4", b"K\x01\x86", 4), "does not fit in 4 bytes");
        dtype_fails(
            &field("i4", b"J\xff\xff\xff\xff\x86", 4),
            "non-negative int offset",
        );
        dtype_fails(&field("O8", b"K\x00\x86", 8), "holds Python objects");
        dtype_fails(&field("i4", b"K\x00K\x07\x87", 4), "title that is not a str");
        dtype_fails(
            &field("i4", b"K\x00\x86\x8c\x01zK\x00", 4),
            "neither a field name nor a title",
        );
        // sub-arrays too large for the item size, of objects
        dtype_fails(
            &dtype_pickle("V8", b"(K\x03\x8c\x01|\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02f4\x89\x88\x87RK\x03\x85\x86NNK\x08K\x04K\x00t"),
            "needs 12 bytes",
        );
        dtype_fails(
            &dtype_pickle("V8", b"(K\x03\x8c\x01|\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02O8\x89\x88\x87RK\x01\x85\x86NNK\x08K\x08K?t"),
            "sub-array of Python objects",
        );
        // not a dtype at all
        dtype_fails(b"\x80\x04K\x01.", "expected the pickle of a numpy dtype");
    }

    #[test]
    fn dtype_nesting_is_limited() {
        // (((f4, (1,)), (1,)), ...) nested 200 deep, each level from the memo
        let mut p = b"\x80\x04\x8c\x05numpy\x8c\x05dtype\x93\x94\x8c\x02f4\x89\x88\x87R(K\x03\x8c\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x94".to_vec();
        let levels = 200;
        for i in 0..levels {
            // dtype('V4') with state (3, '|', (memo[i+1], (1,)), None, None, 4, 4, 0)
            p.extend_from_slice(b"h\x00\x8c\x02V4\x89\x88\x87R(K\x03\x8c\x01|j");
            p.extend_from_slice(&(i as u32 + 1).to_le_bytes());
            p.extend_from_slice(b"K\x01\x85\x86NNK\x04K\x04K\x00tb\x94");
        }
        p.push(b'.');
        let deep = Limits {
            max_nesting: 1000,
            ..Limits::default()
        };
        let d = load_dtype(&p, &deep).unwrap();
        assert_eq!(d.itemsize(), 4);
        assert!(matches!(
            load_dtype(&p, &Limits::default()),
            Err(Error::Limit { limit: 128, .. })
        ));
    }

    #[test]
    fn arrays_numpy_wrote() {
        // big-endian data becomes native, as numpy does when unpickling
        let a = array(ok(&unhex("80049595000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c0c5f7265636f6e7374727563749493948c056e756d7079948c076e6461727261799493944b0085944301629487945294284b014b03859468038c0564747970659493948c02693494898887945294284b038c013e944e4e4e4affffffff4affffffff4b0074946289430c000000000000000100000002947494622e")));
        assert_eq!(a.dtype().str(), format!("{NATIVE}i4"));
        let want: Vec<u8> = [0i32, 1, 2]
            .iter()
            .flat_map(|x| {
                if NATIVE == '<' {
                    x.to_le_bytes()
                } else {
                    x.to_be_bytes()
                }
            })
            .collect();
        assert_eq!(&a.to_c_bytes()[..], &want[..]);
        // unicode swaps per character; protocol 2 data via _codecs.encode
        let a = array(ok(&unhex("8002636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7100636e756d70790a6e6461727261790a71014b00857102635f636f646563730a656e636f64650a7103580100000062710458060000006c6174696e317105867106527107877108527109284b014b0285710a636e756d70790a64747970650a710b58020000005532710c898887710d52710e284b0358010000003e710f4e4e4e4b084b044b087471106289680358100000000000006100000062000000630000000071116805867112527113747114622e")));
        assert_eq!(a.dtype().str(), format!("{NATIVE}U2"));
        assert_eq!(
            &a.to_c_bytes()[..4],
            if NATIVE == '<' { b"a\0\0\0" } else { b"\0\0\0a" }
        );
        // protocol 0, Fortran order
        let a = array(ok(&unhex("636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a70300a28636e756d70790a6e6461727261790a70310a2849300a7470320a635f636f646563730a656e636f64650a70330a2856620a70340a566c6174696e310a70350a7470360a5270370a7470380a5270390a2849310a2849330a49320a747031300a636e756d70790a64747970650a7031310a285669320a7031320a4930300a4930310a747031330a527031340a2849330a563c0a7031350a4e4e4e492d310a492d310a49300a747031360a624930310a67330a28565c75303030305c7530303030015c7530303030025c7530303030035c7530303030045c7530303030055c75303030300a7031370a67350a747031380a527031390a747032300a622e")));
        assert_eq!((a.shape(), a.strides()), (&[3usize, 2][..], &[2isize, 6][..]));
        assert_eq!(
            &a.to_c_bytes()[..],
            b"\x00\x00\x03\x00\x01\x00\x04\x00\x02\x00\x05\x00"
        );
        // a Python 2 pickle (numpy.core spelling, STRING data)
        let a = array(ok(&unhex("636e756d70792e636f72652e6d756c746961727261790a5f7265636f6e7374727563740a70300a28636e756d70790a6e6461727261790a70310a2849300a7470320a532762270a70330a7470340a5270350a2849310a2849330a7470360a636e756d70790a64747970650a70370a2853277531270a70380a49300a49310a7470390a527031300a2849330a53277c270a7031310a4e4e4e492d310a492d310a49300a747031320a624930300a53275c7830315c7830325c783033270a7031330a747031340a622e")));
        assert_eq!(
            (a.dtype().str(), &a.to_c_bytes()[..]),
            ("|u1", &b"\x01\x02\x03"[..])
        );
    }

    #[test]
    fn scalars_are_plain_values() {
        let cases: [(&str, Value); 7] = [
            ("8002636e756d70792e5f636f72652e6d756c746961727261790a7363616c61720a7100636e756d70790a64747970650a71015802000000663871028988877103527104284b0358010000003c71054e4e4e4affffffff4affffffff4b0074710662635f636f646563730a656e636f64650a71075809000000000000000000c3b83f710858060000006c6174696e31710986710a52710b86710c52710d2e", Value::Float(1.5)),
            ("8004956a000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c067363616c61729493948c056e756d7079948c0564747970659493948c02693894898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624308fdffffffffffffff94869452942e", Value::Int(-3)),
            ("80049563000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c067363616c61729493948c056e756d7079948c0564747970659493948c02623194898887945294284b038c017c944e4e4e4affffffff4affffffff4b0074946243010194869452942e", Value::Bool(true)),
            ("80049564000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c067363616c61729493948c056e756d7079948c0564747970659493948c02663294898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624302003894869452942e", Value::Float(0.5)),
            ("8003636e756d70792e5f636f72652e6d756c746961727261790a7363616c61720a7100636e756d70790a64747970650a71015802000000753171028988877103527104284b0358010000007c71054e4e4e4affffffff4affffffff4b007471066243010771078671085271092e", Value::Int(7)),
            ("8004955e000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c067363616c61729493948c056e756d7079948c0564747970659493948c02533294898887945294284b038c017c944e4e4e4b024b014b007494624302616294869452942e", Value::Bytes(Bytes::from_static(b"ab"))),
            ("80049564000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c067363616c61729493948c056e756d7079948c0564747970659493948c02553294898887945294284b038c013c944e4e4e4b084b044b08749462430878000000ac20000094869452942e", Value::Str("x\u{20ac}".into())),
        ];
        for (hex, want) in cases {
            assert_eq!(ok(&unhex(hex)), want);
        }
        // datetime and complex scalars have no plain value
        fails(&unhex("8004957b000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c067363616c61729493948c056e756d7079948c0564747970659493948c024d3894898887945294284b048c013c944e4e4e4affffffff4affffffff4b004e2843026e73944b014b014b0174948694749462430800008ab9359ae51594869452942e"), "has no plain value");
        fails(&unhex("80049573000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c067363616c61729493948c056e756d7079948c0564747970659493948c0363313694898887945294284b038c013c944e4e4e4affffffff4affffffff4b0074946243100000000000000000000000000000f03f94869452942e"), "has no plain value");
        assert_eq!(half_to_f64(0x3c00), 1.0);
        assert_eq!(half_to_f64(0xc000), -2.0);
        assert_eq!(half_to_f64(0x0001), 2f64.powi(-24));
        assert_eq!(half_to_f64(0x7c00), f64::INFINITY);
        assert!(half_to_f64(0x7e00).is_nan());
    }

    /// `_reconstruct` + BUILD of an array: `state` builds the state tuple.
    fn reconstruct(cls: &[u8], state: &[u8]) -> Vec<u8> {
        let mut p = b"\x80\x04\x8c\x16numpy._core.multiarray\x8c\x0c_reconstruct\x93".to_vec();
        p.extend_from_slice(cls);
        p.extend_from_slice(b"K\x00\x85C\x01b\x87R");
        p.extend_from_slice(state);
        p.extend_from_slice(b"b.");
        p
    }

    const NDARRAY: &[u8] = b"\x8c\x05numpy\x8c\x07ndarray\x93";
    const U1: &[u8] = b"\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02u1\x89\x88\x87R(K\x03\x8c\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb";
    const OBJ: &[u8] = b"\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02O8\x89\x88\x87R(K\x03\x8c\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb";

    fn state(shape: &[u8], dtype: &[u8], data: &[u8]) -> Vec<u8> {
        let mut s = b"(K\x01".to_vec();
        s.extend_from_slice(shape);
        s.extend_from_slice(dtype);
        s.push(op::NEWFALSE);
        s.extend_from_slice(data);
        s.push(b't');
        s
    }

    #[test]
    fn malformed_arrays_are_refused() {
        let good = reconstruct(NDARRAY, &state(b"K\x03\x85", U1, b"C\x03abc"));
        assert_eq!(&array(ok(&good)).to_c_bytes()[..], b"abc");
        // a class other than numpy.ndarray
        fails(
            &reconstruct(
                b"\x8c\x05numpy\x8c\x06matrix\x93",
                &state(b"K\x03\x85", U1, b"C\x03abc"),
            ),
            "numpy.matrix is not numpy.ndarray",
        );
        fails(
            &reconstruct(
                b"\x8c\x08builtins\x8c\x04list\x93",
                &state(b"K\x03\x85", U1, b"C\x03abc"),
            ),
            "builtins.list is not numpy.ndarray",
        );
        // wrong argument counts
        fails(
            b"\x80\x04\x8c\x16numpy._core.multiarray\x8c\x0c_reconstruct\x93\x8c\x05numpy\x8c\x07ndarray\x93\x85R.",
            "unexpected arguments",
        );
        fails(
            b"\x80\x04\x8c\x13numpy._core.numeric\x8c\x0b_frombuffer\x93C\x01a\x85R.",
            "unexpected arguments",
        );
        // states
        fails(
            &reconstruct(NDARRAY, b"(K\x02K\x03\x85K\x00\x89C\x03abct"),
            "state version",
        );
        fails(&reconstruct(NDARRAY, b"(K\x01K\x03\x85t"), "must be (1, shape");
        fails(
            &reconstruct(NDARRAY, &state(b"K\x03", U1, b"C\x03abc")),
            "shape of an array must be a tuple",
        );
        fails(
            &reconstruct(NDARRAY, &state(b"J\xff\xff\xff\xff\x85", U1, b"C\x03abc")),
            "negative dimension",
        );
        fails(
            &reconstruct(NDARRAY, &state(b"K\x04\x85", U1, b"C\x03abc")),
            "needs 4 bytes, the data has 3",
        );
        // a huge shape over short data, and one that overflows
        fails(
            &reconstruct(
                NDARRAY,
                &state(
                    b"\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40K\x02\x86",
                    U1,
                    b"C\x03abc",
                ),
            ),
            "needs 9223372036854775808 bytes",
        );
        fails(
            &reconstruct(
                NDARRAY,
                &state(
                    b"\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40K\x04\x86",
                    U1,
                    b"C\x03abc",
                ),
            ),
            "too large",
        );
        fails(
            &reconstruct(NDARRAY, &state(b"K\x03\x85", U1, b"]")),
            "must be bytes",
        );
        fails(
            &reconstruct(NDARRAY, &state(b"K\x03\x85", b"K\x01", b"C\x03abc")),
            "must be a numpy dtype",
        );
        // object arrays: a list of exactly the elements
        let objs = reconstruct(NDARRAY, &state(b"K\x02\x85", OBJ, b"](K\x01Ne"));
        assert_eq!(array(ok(&objs)).objects().unwrap(), &[Value::Int(1), Value::None]);
        fails(
            &reconstruct(NDARRAY, &state(b"K\x03\x85", OBJ, b"](K\x01Ne")),
            "needs 3 items",
        );
        fails(
            &reconstruct(NDARRAY, &state(b"K\x02\x85", OBJ, b"C\x02ab")),
            "must be a list",
        );
        // an object array containing itself
        let mut p = b"\x80\x04\x8c\x16numpy._core.multiarray\x8c\x0c_reconstruct\x93".to_vec();
        p.extend_from_slice(NDARRAY);
        p.extend_from_slice(b"K\x00\x85C\x01b\x87R\x94(K\x01K\x01\x85");
        p.extend_from_slice(OBJ);
        p.extend_from_slice(b"\x89]h\x00at");
        p.extend_from_slice(b"b.");
        fails(&p, "recursive structure");
        // an array without its state
        let mut p = b"\x80\x04\x8c\x16numpy._core.multiarray\x8c\x0c_reconstruct\x93".to_vec();
        p.extend_from_slice(NDARRAY);
        p.extend_from_slice(b"K\x00\x85C\x01b\x87R.");
        fails(&p, "without its BUILD state");
        // BUILD twice: the second state goes to a finished array
        let mut twice = good.clone();
        twice.pop();
        twice.extend_from_slice(&state(b"K\x03\x85", U1, b"C\x03abc"));
        twice.extend_from_slice(b"b.");
        fails(&twice, "BUILD on a numpy.ndarray is refused");
    }

    /// `_frombuffer(buffer, dtype, shape, order[, axis_order])`.
    fn frombuffer(buffer: &[u8], dtype: &[u8], rest: &[u8]) -> Vec<u8> {
        let mut p = b"\x80\x05\x8c\x13numpy._core.numeric\x8c\x0b_frombuffer\x93(".to_vec();
        p.extend_from_slice(buffer);
        p.extend_from_slice(dtype);
        p.extend_from_slice(rest);
        p.extend_from_slice(b"tR.");
        p
    }

    #[test]
    fn frombuffer_shares_buffers_and_checks_shapes() {
        let data = Bytes::from(vec![1u8, 2, 3, 4, 5, 6]);
        let writeable = [OobBuffer {
            data: data.clone(),
            writeable: true,
        }];
        let readonly = [OobBuffer {
            data: data.clone(),
            writeable: false,
        }];
        let limits = Limits::default();
        let p = frombuffer(b"\x97", U1, b"K\x02K\x03\x86\x8c\x01F");
        let a = array(loads(&p, &writeable, &limits).unwrap());
        assert_eq!(a.buffer().as_ptr(), data.as_ptr());
        assert!(a.is_writeable());
        assert_eq!(&a.to_c_bytes()[..], b"\x01\x03\x05\x02\x04\x06");
        assert!(!array(loads(&p, &readonly, &limits).unwrap()).is_writeable());
        let p = frombuffer(b"\x97\x98", U1, b"K\x02K\x03\x86\x8c\x01C");
        assert!(!array(loads(&p, &writeable, &limits).unwrap()).is_writeable());
        // in-band: bytes are read-only, a bytearray is writeable
        assert!(!array(ok(&frombuffer(b"C\x02ab", U1, b"K\x02\x85\x8c\x01C"))).is_writeable());
        assert!(array(ok(&frombuffer(
            b"\x96\x02\x00\x00\x00\x00\x00\x00\x00ab",
            U1,
            b"K\x02\x85\x8c\x01C"
        )))
        .is_writeable());
        // 'K' order with the axis order that transposes the memory back
        let p = frombuffer(b"\x97", U1, b"K\x02K\x03\x86\x8c\x01KK\x01K\x00\x86");
        let a = array(loads(&p, &writeable, &limits).unwrap());
        assert_eq!((a.shape(), a.strides()), (&[3usize, 2][..], &[1isize, 3][..]));
        assert_eq!(a.buffer().as_ptr(), data.as_ptr());
        // numpy 1's module name
        let mut p = frombuffer(b"\x97", U1, b"K\x06\x85\x8c\x01C");
        p.splice(2..23, b"\x8c\x12numpy.core.numeric".iter().copied());
        assert_eq!(array(loads(&p, &writeable, &limits).unwrap()).shape(), &[6]);
        // refusals
        let f = |buffer: &[u8], rest: &[u8], needle: &str| match loads(
            &frombuffer(buffer, U1, rest),
            &writeable,
            &limits,
        ) {
            Err(Error::Pickle { message, .. }) => assert!(message.contains(needle), "{message}"),
            other => panic!("{other:?}"),
        };
        f(
            b"\x97",
            b"K\x07\x85\x8c\x01C",
            "cannot reshape an array of size 6 into shape [7]",
        );
        f(
            b"\x97",
            b"\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40K\x04\x86\x8c\x01C",
            "cannot reshape",
        );
        f(b"\x97", b"J\xfa\xff\xff\xff\x85\x8c\x01C", "negative dimension");
        f(b"\x97", b"K\x06\x85\x8c\x01K", "unexpected arguments");
        f(
            b"\x97",
            b"K\x02K\x03\x86\x8c\x01KK\x00K\x00\x86",
            "not an axis order",
        );
        f(
            b"\x97",
            b"K\x02K\x03\x86\x8c\x01KK\x00K\x05\x86",
            "not an axis order",
        );
        f(b"\x97", b"K\x06\x85\x8c\x01Z", "unexpected arguments");
        f(b"K\x01", b"K\x06\x85\x8c\x01C", "must be bytes-like");
        let p = frombuffer(b"\x97", OBJ, b"K\x06\x85\x8c\x01C");
        assert!(
            matches!(loads(&p, &writeable, &limits), Err(Error::Pickle { message, .. }) if message.contains("object array"))
        );
        let v0 = b"\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02V0\x89\x88\x87R(K\x03\x8c\x01|NNNK\x00K\x01K\x00tb";
        let p = frombuffer(b"C\x00", v0, b"K\x00\x85\x8c\x01C");
        assert!(matches!(l(&p), Err(Error::Pickle { message, .. }) if message.contains("item size")));
        let i2 = b"\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02i2\x89\x88\x87R(K\x03\x8c\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb";
        let p = frombuffer(b"C\x03abc", i2, b"K\x01\x85\x8c\x01C");
        assert!(matches!(l(&p), Err(Error::Pickle { message, .. }) if message.contains("not a multiple")));
    }

    fn f8(values: &[f64]) -> Bytes {
        values
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<u8>>()
            .into()
    }

    #[test]
    fn writer_layouts() {
        let c = NdArray::from_c_order("<f8", vec![2, 3], f8(&[0., 1., 2., 3., 4., 5.])).unwrap();
        let f = NdArray::from_f_order("<f8", vec![2, 3], f8(&[0., 1., 2., 3., 4., 5.])).unwrap();
        // a (3, 2) view with permuted axes over (2, 3) memory … in 3-d
        let k = NdArray::new("<f8", vec![2, 2, 2], vec![16, 32, 8], 0, f8(&[0.; 8])).unwrap();
        let strided = NdArray::new("<f8", vec![3], vec![16], 0, f8(&[0., 1., 2., 3., 4., 5.])).unwrap();
        let order = |a: &NdArray| -> (Vec<u8>, usize) {
            let (p, b) = dumps_with_buffers(&Value::from(a.clone()), 5).unwrap();
            (p, b.len())
        };
        let has = |p: &[u8], s: &[u8]| p.windows(s.len()).any(|w| w == s);
        let (p, n) = order(&c);
        assert!(has(&p, b"\x8c\x01C") && n == 1);
        let (p, n) = order(&f);
        assert!(has(&p, b"\x8c\x01F") && n == 1);
        let (p, n) = order(&k);
        assert!(has(&p, b"\x8c\x01K") && n == 1, "{p:?}");
        let (p, n) = order(&strided);
        assert!(has(&p, b"_reconstruct") && n == 0);
        for (a, contiguous) in [(&c, true), (&f, true), (&k, true), (&strided, false)] {
            for protocol in 2..=5 {
                let p = dumps(&Value::from(a.clone()), protocol).unwrap();
                assert_eq!(array(ok(&p)), *a, "protocol {protocol}");
                let (p, b) = dumps_with_oob(&Value::from(a.clone()), protocol).unwrap();
                assert_eq!(array(loads(&p, &b, &Limits::default()).unwrap()), *a);
                assert_eq!(b.len(), usize::from(protocol == 5 && contiguous));
            }
        }
        // datetimes cannot be exported as buffers: in-band, like numpy
        let m = NdArray::from_c_order("<M8[ns]", vec![1], f8(&[0.])).unwrap();
        assert_eq!(order(&m).1, 0);
        // a zero-size array with an offset past its data cannot be built
        assert!(NdArray::new("<f8", vec![0], vec![8], 100, Bytes::new()).is_err());
        let z = NdArray::new("<f8", vec![0], vec![8], 0, Bytes::new()).unwrap();
        for protocol in 2..=5 {
            let p = dumps(&Value::from(z.clone()), protocol).unwrap();
            assert_eq!(array(ok(&p)).shape(), &[0]);
        }
        // can_dump: arrays of any dtype, object arrays of plain data
        assert!(can_dump(&Value::from(c)));
        let objects = NdArray::from_objects(vec![1], vec![Value::None]).unwrap();
        assert!(can_dump(&Value::from(objects)));
        let memoryview = Value::from(crate::value::MemoryView {
            format: "B".into(),
            shape: vec![0],
            data: Bytes::new(),
        });
        let bad = NdArray::from_objects(vec![1], vec![memoryview]).unwrap();
        assert!(!can_dump(&Value::from(bad.clone())));
        assert!(dumps(&Value::from(bad), 5).is_err());
        // datetime units numpy does not know are refused when parsed
        assert!(DType::parse("<M8[xyz]").is_err());
    }

    #[test]
    fn numpy_pickles_truncated_at_every_byte_fail_cleanly() {
        let a = NdArray::from_c_order(
            DType::structured(
                vec![
                    ("a".into(), DType::parse(">i2").unwrap()),
                    ("bc".into(), DType::parse("<M8[us]").unwrap()),
                ],
                true,
            )
            .unwrap(),
            vec![2],
            Bytes::from(vec![7u8; 32]),
        )
        .unwrap();
        let objects = NdArray::from_objects(vec![2], vec![Value::Str("xy".into()), Value::Int(1)]).unwrap();
        let value = Value::List(vec![Value::from(a.clone()), Value::from(objects)]);
        let buffers = [OobBuffer {
            data: Bytes::from(vec![0u8; 48]),
            writeable: true,
        }];
        for protocol in 2..=5 {
            for p in [
                dumps(&value, protocol).unwrap(),
                dump_dtype(a.dtype(), protocol).unwrap(),
            ] {
                for cut in 0..p.len() {
                    assert!(matches!(
                        loads(&p[..cut], &buffers, &Limits::default()),
                        Err(Error::Pickle { .. })
                    ));
                    assert!(load_dtype(&p[..cut], &Limits::default()).is_err());
                }
            }
        }
    }

    /// A random plain or structured dtype.
    fn any_dtype() -> impl Strategy<Value = DType> {
        let plain = prop_oneof![
            Just("|b1"),
            Just("|u1"),
            Just("<i2"),
            Just(">i4"),
            Just("<f8"),
            Just(">c16"),
            Just("<U3"),
            Just("|S2"),
            Just("|V3"),
            Just("<M8[ns]"),
            Just(">m8"),
        ]
        .prop_map(|s| DType::parse(s).unwrap());
        plain.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                (proptest::collection::vec(inner.clone(), 1..4), any::<bool>()).prop_map(
                    |(fields, aligned)| {
                        let fields = fields
                            .into_iter()
                            .enumerate()
                            .map(|(i, d)| (format!("f{i}"), d))
                            .collect();
                        DType::structured(fields, aligned).unwrap()
                    }
                ),
                (inner, 1usize..3).prop_map(|(d, n)| DType::subarray(d, vec![n]).unwrap()),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn random_dtypes_round_trip(d in any_dtype(), protocol in 2u8..=5) {
            let p = dump_dtype(&d, protocol).unwrap();
            prop_assert_eq!(load_dtype(&p, &Limits::default()).unwrap(), d);
        }

        #[test]
        fn mutated_numpy_pickles_never_panic(
            d in any_dtype(),
            n in 0usize..4,
            protocol in 2u8..=5,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        ) {
            let a = NdArray::from_c_order(d.clone(), vec![n], Bytes::from(vec![3u8; n * d.itemsize()])).unwrap();
            let (mut p, buffers) = dumps_with_oob(&Value::from(a), protocol).unwrap();
            let mut q = dump_dtype(&d, protocol).unwrap();
            for (at, byte) in edits {
                let i = at % p.len();
                p[i] = byte;
                let j = at % q.len();
                q[j] = byte;
            }
            let _ = loads(&p, &buffers, &Limits::default());
            let _ = load_dtype(&q, &Limits::default());
        }
    }
}
