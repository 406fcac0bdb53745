//! The safe pickle subset: a reader that interprets a pickle opcode stream
//! as **data**, and a writer that produces CPython 3.11's exact bytes for
//! plain values.
//!
//! This is what the `pickle` serialization family uses; it is public so
//! that pickles can be read and written without a Python interpreter:
//! [`loads`] and [`dumps`] (with [`dumps_with_buffers`] and
//! [`dumps_with_oob`] for protocol 5's out-of-band buffers, and
//! [`can_dump`] to know beforehand whether a value can be written), and
//! [`load_dtype`] / [`dump_dtype`] for the pickles of numpy dtypes.
//!
//! ```
//! use dask_serde::{pickle, Limits, Value};
//!
//! let value = Value::List(vec![Value::Int(1), Value::Str("a".into()), Value::Bytes(vec![0].into())]);
//! // what CPython's `pickle.dumps([1, 'a', b'\x00'], protocol=4)` writes
//! let bytes = b"\x80\x04\x95\x0f\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01\x8c\x01a\x94C\x01\x00\x94e.";
//! assert_eq!(pickle::dumps(&value, 4)?, bytes);
//! assert_eq!(pickle::loads(bytes, &[], &Limits::default())?, value);
//!
//! // calls of anything but a few data constructors are refused
//! let evil = b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02ls\x85R.";
//! assert!(pickle::loads(evil, &[], &Limits::default()).is_err());
//! # Ok::<(), dask_serde::Error>(())
//! ```
//!
//! # Nothing is ever executed
//!
//! [`loads`] is not a pickle virtual machine: it never imports a module and
//! never calls anything. A `GLOBAL`/`STACK_GLOBAL` opcode only *names* a
//! Python object; what may happen to that name is decided here:
//!
//! * `REDUCE` (a call) is interpreted only for the globals of the allow-list
//!   of the reader (`ALLOWED_GLOBALS`) — `set`, `frozenset`, `bytearray`, `bytes`,
//!   `list`, `tuple`, `dict` of plain arguments, `_codecs.encode(str,
//!   "latin1")`, `copyreg._reconstructor(cls, object, None)` and
//!   `getattr(class, name)` — each turned into data by a small handler.
//!   Every other call is refused with an
//!   [`Error::Pickle`](crate::Error::Pickle) naming `module.name`.
//! * `NEWOBJ`/`NEWOBJ_EX` with empty arguments followed by `BUILD` with a
//!   `__dict__` state is the plain-object pattern `copyreg.__reduce_ex__`
//!   writes; it becomes a [`Value::Object`] whose class is only named.
//! * A class reference that would end up as a value is refused.
//! * numpy's constructors are interpreted as data too (the private
//!   `numpy` module): `numpy.dtype(typestr, False, True)` + `BUILD` state is a
//!   [`DType`](crate::DType) (structured, sub-array, datetime, object
//!   included; object *fields* refused); `_reconstruct(numpy.ndarray, (0,),
//!   b'b')` + `BUILD (1, shape, dtype, is_fortran, data)` and
//!   `_frombuffer(buffer, dtype, shape, order[, axis_order])` are
//!   [`NdArray`](crate::NdArray)s over the pickle's bytes or the
//!   out-of-band buffer (shared, not copied); `scalar(dtype, bytes)` is the
//!   matching plain value. A dtype on its own is not a value (it is read by
//!   [`load_dtype`]); a subclass of `ndarray` is refused.
//!
//! The allow-list is the extension point for more data constructors: a row
//! in `ALLOWED_GLOBALS` (`read/construct.rs`), a handler, and — for objects
//! that take a `BUILD` state — a variant of the reader's `Node`
//! (`read/node.rs`).
//!
//! # Bounded
//!
//! Every length is checked against the remaining input before anything is
//! allocated; memoized objects are shared in an arena while reading and
//! expanded into copies only at `STOP`, with the number of produced values
//! bounded by `16 × input length + 1024` (so a "billion laughs" pickle fails
//! fast) and the nesting depth by [`Limits::max_nesting`] (numpy dtypes
//! nested in dtypes too). Recursive (self-containing) structures are
//! refused. Wire input never causes a
//! panic, and neither reader nor writer recurses.
//!
//! # How values are read
//!
//! * Memo semantics are Python's: a container memoized while empty and
//!   filled later is seen filled through every `GET`; `set(list)` and
//!   `BUILD` copy their argument's items at that moment.
//! * Dict keys and set items that Python would merge are merged (`1`,
//!   `1.0` and `True` are one key; the first key object and the last value
//!   stay); unhashable ones are kept as they come.
//! * Python 2 strings (`STRING`, `BINSTRING`, `SHORT_BINSTRING`) are read as
//!   `bytes`; Python 2 names are mapped to Python 3 (`fix_imports`) in
//!   pickles of protocol < 3.
//! * Objects are read as their `__dict__` (and slots): a class's own
//!   `__setstate__`/`__reduce__` logic is not run.
//! * Trailing bytes after `STOP` are an error.
//! * A numpy array is what numpy's unpickler makes: `_reconstruct` data in
//!   the non-native byte order is byte-swapped to a native dtype (numpy's
//!   `array_setstate`), `_frombuffer` arrays keep their dtype and share the
//!   buffer; `bytes` and `READONLY_BUFFER` give read-only arrays.
//!
//! # Byte-compatible writer
//!
//! [`dumps`] writes what `pickle.dumps(v, protocol=p)` (CPython 3.11's C
//! pickler) writes for protocols 2–5 when the Python value shares no
//! objects: same opcodes, memo numbering, framing and batching. CPython's
//! identity sharing is modelled where it is a property of the interpreter
//! rather than of the value: `''`, one-character latin-1 strings, `b''` and
//! one-byte `bytes` are singletons, and class names, attribute names and
//! `'latin1'` are interned, so repeated ones are written as memo `GET`s just
//! as CPython writes them.
//!
//! numpy arrays and dtypes are written as numpy 2.4's `__reduce_ex__`
//! makes CPython write them: from protocol 5 on, an array contiguous in
//! some axis order whose dtype numpy can export as a buffer (no datetimes,
//! fields in order) is `_frombuffer` over a `PickleBuffer` — in-band with
//! [`dumps`], out-of-band with [`dumps_with_buffers`]; every other array
//! (and every array below protocol 5) is `_reconstruct` with the bytes, or
//! for object arrays the list of items; dtypes are `numpy.dtype` + state.
//! numpy's builtin descriptors (native-order numbers, bool, object) are
//! singletons and are shared through the memo as in numpy; field names
//! and titles made of identifier characters are taken to be interned, as
//! CPython interns such literals (in CPython 3.11 an interned
//! one-character name is not the latin-1 singleton of the same
//! character), and numpy's class and function names are fresh strings.

mod compat;
mod numpy;
mod op;
mod read;
mod write;

use bytes::Bytes;

use crate::error::Result;
use crate::limits::Limits;
use crate::value::Value;

/// An out-of-band buffer handed to the reader (protocol 5 `NEXT_BUFFER`),
/// with Dask's `writeable` flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OobBuffer {
    /// The buffer's bytes (shared, never copied by the reader).
    pub data: Bytes,
    /// `true` if Python would hand the buffer over writeable; a
    /// `READONLY_BUFFER` opcode clears it.
    pub writeable: bool,
}

/// Reads a pickle as plain data, without executing anything.
///
/// `buffers` are the out-of-band buffers consumed in order by protocol 5
/// `NEXT_BUFFER` opcodes; a buffer that ends up as a value becomes a
/// one-dimensional `memoryview` of format `"B"` sharing the buffer's bytes.
///
/// # Errors
///
/// [`Error::Pickle`](crate::Error::Pickle), with the byte offset of the
/// offending opcode, for malformed or truncated input, trailing bytes after
/// `STOP`, unsupported opcodes, globals outside the allow-list (refused
/// because calling them would execute code), recursive structures, and
/// shared references that expand beyond the value budget;
/// [`Error::Limit`](crate::Error::Limit) when the value nests deeper than
/// `limits.max_nesting` or a string is longer than `limits.max_frame_bytes`.
pub fn loads(data: &[u8], buffers: &[OobBuffer], limits: &Limits) -> Result<Value> {
    read::loads(data, buffers, limits)
}

/// Pickles a plain value with the given protocol (2..=5), byte for byte as
/// CPython 3.11's `pickle.dumps(value, protocol=protocol)` would for a value
/// without shared objects.
///
/// Arrays are written in-band, as `pickle.dumps` without a
/// `buffer_callback` writes them; see [`dumps_with_buffers`].
///
/// # Errors
///
/// [`Error::Encode`](crate::Error::Encode) for a protocol outside 2..=5, a
/// value [`can_dump`] rejects, nesting deeper than 1024 levels, and what
/// CPython itself refuses (a non-ASCII class name with protocol 2, a `str`
/// or `bytes` of 4 GiB or more below protocol 4).
pub fn dumps(value: &Value, protocol: u8) -> Result<Vec<u8>> {
    write::dumps(value, protocol)
}

/// [`dumps`], with numpy arrays of protocol 5 written the way
/// `pickle.dumps(value, protocol=5, buffer_callback=buffers.append)` writes
/// them: the memory of each C-, Fortran- or otherwise contiguous plain
/// array is an out-of-band buffer (`NEXT_BUFFER`, plus `READONLY_BUFFER`
/// for a read-only array) returned in order, shared with the array, not
/// copied. Other arrays, and every array below protocol 5, are written
/// in-band; values without arrays give no buffers.
///
/// # Errors
///
/// As [`dumps`].
pub fn dumps_with_buffers(value: &Value, protocol: u8) -> Result<(Vec<u8>, Vec<Bytes>)> {
    let (pickle, buffers) = write::dumps_oob(value, protocol)?;
    Ok((pickle, buffers.into_iter().map(|b| b.data).collect()))
}

/// [`dumps_with_buffers`] with each buffer's `writeable` flag (false for
/// the memory of a read-only array), as Dask's pickle family sends it.
///
/// # Errors
///
/// As [`dumps`].
pub fn dumps_with_oob(value: &Value, protocol: u8) -> Result<(Vec<u8>, Vec<OobBuffer>)> {
    write::dumps_oob(value, protocol)
}

/// True if [`dumps`] supports this value: plain data (None, bool, int,
/// float, str, bytes, bytearray, list, tuple, set, frozenset, dict),
/// objects of importable, non-builtin classes whose fields are plain data,
/// and numpy arrays (object arrays of such data), nested at most 1024
/// levels deep. Memoryviews, `array.array`s, wrappers and enum members are
/// not plain data.
///
/// The pickle family uses it to decline a value early; [`dumps`] can still
/// fail for protocol-specific reasons (see its errors).
pub fn can_dump(value: &Value) -> bool {
    write::can_dump(value)
}

/// Reads the pickle of a numpy dtype (the `[1, <pickle>]` form of
/// structured and void dtypes, spec §5.5): `numpy.dtype(typestr, False,
/// True)` and its `BUILD` state, interpreted as data. `'='` is the native
/// byte order; byte-order-free types get `'|'`.
///
/// # Errors
///
/// [`Error::Pickle`](crate::Error::Pickle) for what [`loads`] refuses, a
/// pickle that is not of a dtype, object fields, state versions other than
/// 3 and 4, and inconsistent states (names without fields, offsets or
/// sub-arrays outside the item size, unknown datetime units);
/// [`Error::Limit`](crate::Error::Limit) for dtypes nested deeper than
/// `limits.max_nesting`.
pub fn load_dtype(data: &[u8], limits: &Limits) -> Result<crate::DType> {
    read::load_dtype(data, limits)
}

/// Pickles a numpy dtype as CPython's `pickle.dumps(dtype, protocol)`
/// does with numpy 2.4 (Dask uses the default protocol, 4 on Python 3.11,
/// for structured and void dtypes).
///
/// # Errors
///
/// [`Error::Encode`](crate::Error::Encode) for a protocol outside 2..=5 and
/// datetime dtypes with a unit numpy does not know.
pub fn dump_dtype(dtype: &crate::DType, protocol: u8) -> Result<Vec<u8>> {
    write::dump_dtype(dtype, protocol)
}

/// Comparison with CPython's own pickle: Python generates random plain
/// values, Rust reads Python's pickles of them (protocols 0–5) and writes
/// them again (protocols 2–5) byte for byte, and Python reads Rust's
/// pickles back.
///
/// The interpreter is `$DASK_SERDE_PYTHON`, else
/// `<workspace>/target/py-venv/bin/python` (made by
/// `scripts/setup-python.sh`); without one these tests fail. The seed is
/// printed and can be changed with `$DASK_SERDE_PICKLE_SEED`.
#[cfg(test)]
mod python_numpy;

#[cfg(test)]
mod python_tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::path::PathBuf;
    use std::process::{Child, ChildStdin, Command, Stdio};
    use std::sync::mpsc::{self, Receiver};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use num_bigint::BigInt;
    use serde_json::Value as Json;

    use super::*;
    use crate::pytype::PyType;
    use crate::value::Object;

    /// Default seed of the random values.
    const SEED: u64 = 20_260_801;
    /// Number of random values (besides the fixed edge cases).
    const RANDOM_CASES: usize = 300;
    /// Bound on the whole exchange with Python.
    const TIMEOUT: Duration = Duration::from_secs(180);

    /// Generates the values, prints them with CPython's pickles, then (mode
    /// `check`) reads Rust's pickles and says whether each loads equal.
    const HARNESS: &str = r#####"
import json, math, pickle, random, sys, types

MODULES = {
    "dask_serde_pt.models": (
        "class Point:\n    pass\n"
        "class Sample:\n    pass\n"
        "class Empty:\n    pass\n"
        "class Outer:\n"
        "    class Inner:\n"
        "        class Deep:\n"
        "            pass\n"
    ),
    "dask_serde_pt.other": "class Thing:\n    pass\n",
}
FIELDS = ["x", "y", "name", "values", "meta", "blob", "weight", "\u00e9t\u00e9"]
ALPHABET = "abcdefghijklmnopqrstuvwxyz ABCXYZ_0123456789\n\t\\'\"\x00\x1a\x7f\x80\xe9\xff\u0100\u20ac\u4e2d\U0001f600"

def setup():
    pkg = types.ModuleType("dask_serde_pt")
    pkg.__path__ = []
    sys.modules["dask_serde_pt"] = pkg
    classes = []
    for name, src in MODULES.items():
        m = types.ModuleType(name)
        exec(src, m.__dict__)
        sys.modules[name] = m
        setattr(pkg, name.rsplit(".", 1)[1], m)
    models, other = sys.modules["dask_serde_pt.models"], sys.modules["dask_serde_pt.other"]
    return [models.Point, models.Sample, models.Empty, models.Outer, models.Outer.Inner,
            models.Outer.Inner.Deep, other.Thing]

CLASSES = setup()

# Fresh objects, so that the only identity sharing is CPython's own
# (singletons of length <= 1), as the Rust writer models it.
def fstr(s):
    if len(s) == 0 or (len(s) == 1 and ord(s) < 256):
        return (s + "x")[:len(s)]
    return "".join(list(s))

def fbytes(b):
    if len(b) <= 1:
        return (b + b"\0")[:len(b)]
    return bytes(bytearray(b))

def gen_str(rng):
    r = rng.random()
    if r < 0.1:
        n = 0
    elif r < 0.3:
        n = 1
    elif r < 0.95:
        n = rng.randint(2, 12)
    else:
        n = rng.choice([85, 127, 128, 255, 256, 257, 300])
        if rng.random() < 0.5:
            return fstr("".join(rng.choice("abc") for _ in range(n)))
    return fstr("".join(rng.choice(ALPHABET) for _ in range(n)))

def gen_bytes(rng):
    n = rng.choice([0, 1, 1, 2, 3, 5, 8, 13, 255, 256])
    return fbytes(bytes(rng.getrandbits(8) for _ in range(n)))

INT_EDGES = [0, 1, 255, 256, 65535, 65536, -1, -128, -129, -256, 2**31 - 1, 2**31, -2**31,
             -2**31 - 1, 2**32, 2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64, 2**127 - 1, 2**127,
             -2**127, -2**127 - 1, -2**127 + 1, 2**128, -2**128, 10**40, -10**40]

def gen_int(rng):
    r = rng.random()
    if r < 0.4:
        return rng.randint(0, 300)
    if r < 0.6:
        return rng.choice(INT_EDGES)
    bits = rng.choice([8, 16, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 200, 400, 2040, 2048])
    v = rng.getrandbits(bits)
    return -v if rng.random() < 0.5 else v

FLOAT_EDGES = [0.0, -0.0, 1.5, -2.25, float("inf"), float("-inf"), float("nan"), 1e300, -1e-300,
               5e-324, 2.0**127, -2.0**200, 0.1]

def gen_float(rng, nan=True):
    r = rng.random()
    if r < 0.3:
        f = rng.choice(FLOAT_EDGES)
    elif r < 0.7:
        f = rng.uniform(-1e6, 1e6)
    else:
        f = rng.choice([-1, 1]) * rng.random() * 10.0 ** rng.randint(-300, 300)
    if not nan and math.isnan(f):
        f = 0.5
    return f

def gen_hashable(rng, depth):
    r = rng.random()
    if depth < 2 and r < 0.1:
        return tuple(gen_hashable(rng, depth + 1) for _ in range(rng.randint(0, 4)))
    if depth < 2 and r < 0.15:
        return frozenset(gen_hashable(rng, depth + 1) for _ in range(rng.randint(0, 3)))
    return rng.choice([
        lambda: None, lambda: rng.random() < 0.5, lambda: gen_int(rng),
        lambda: gen_float(rng, nan=False), lambda: gen_str(rng), lambda: gen_str(rng),
        lambda: gen_bytes(rng),
    ])()

def gen_object(rng, depth):
    cls = rng.choice(CLASSES)
    o = cls()
    if cls.__name__ != "Empty":
        for name in rng.sample(FIELDS, rng.randint(0, 4)):
            setattr(o, name, gen_value(rng, depth + 1))
    return o

def gen_value(rng, depth=0):
    r = rng.random()
    if depth >= 4 or r < 0.45:
        return rng.choice([
            lambda: None, lambda: rng.random() < 0.5, lambda: gen_int(rng), lambda: gen_float(rng),
            lambda: gen_str(rng), lambda: gen_str(rng), lambda: gen_bytes(rng),
            lambda: bytearray(gen_bytes(rng)),
        ])()
    def n():
        if depth == 0 and rng.random() < 0.03:
            return rng.choice([999, 1000, 1001])
        return rng.randint(0, 5)
    kind = rng.choice(["list", "tuple", "dict", "set", "frozenset", "object", "object"])
    if kind == "list":
        return [gen_value(rng, depth + 1) for _ in range(n())]
    if kind == "tuple":
        return tuple(gen_value(rng, depth + 1) for _ in range(n()))
    if kind == "dict":
        return {gen_hashable(rng, 0): gen_value(rng, depth + 1) for _ in range(n())}
    if kind == "set":
        return {gen_hashable(rng, 0) for _ in range(n())}
    if kind == "frozenset":
        return frozenset(gen_hashable(rng, 0) for _ in range(n()))
    return gen_object(rng, depth)

def obj(cls, **fields):
    o = cls()
    for k, v in fields.items():
        setattr(o, k, v)
    return o

def fixed_cases():
    Point, Sample, Empty, Outer, Inner, Deep, Thing = CLASSES
    big_list = [fstr("s%d" % i) for i in range(20000)]
    return [
        None, True, False, *INT_EDGES, 2**2032, 2**2040 - 1, -2**2039, -2**2039 - 1, 10**1000,
        *FLOAT_EDGES, fstr(""), fstr("a"), fstr("\u00e9"), fstr("\u20ac"), fstr("ab"),
        fstr("x" * 255), fstr("x" * 256), fstr("\u00e9" * 128), fbytes(b""), fbytes(b"a"),
        fbytes(b"\xff" * 255), fbytes(b"\0" * 256), bytearray(), bytearray(b"a"), bytearray(b"xy"),
        [], [[]], [1], (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), list(range(999)),
        list(range(1000)), list(range(1001)), list(range(2000)),
        {i: i for i in range(1)}, {i: i for i in range(999)}, {i: i for i in range(1000)},
        {i: i for i in range(1001)}, {i: None for i in range(2000)},
        set(), {1}, set(range(1000)), set(range(1001)), frozenset(), frozenset(range(5)),
        [fbytes(b""), fbytes(b"")], [fstr(""), fstr("")], [fstr("a"), fstr("a")],
        [fstr("\u0100"), fstr("\u0100")], [fbytes(b"a"), bytearray(b"a"), fstr("a"), fbytes(b"a")],
        [fbytes(b"ab"), fbytes(b"ab"), bytearray(b"ab")], [fstr("latin1"), fbytes(b"latin1")],
        fstr("x" * 70000), fstr("\u00e9" * 40000), fbytes(b"\x01" * 65535), fbytes(b"\x02" * 65536),
        bytearray(b"\x03" * 70000), [fbytes(b"\x04" * 65536), fbytes(b"\x05" * 65536), fstr("tail")],
        [fstr("p" * 65530), 1, fstr("q" * 10)], big_list, list(range(70000)),
        {fstr("k"): fbytes(b"\x06" * 100000)}, [2**(8 * 70000)],
        obj(Point, x=1, y=2.5), obj(Empty), [obj(Point, x=1), obj(Point, x=2, y=fstr("y")), obj(Thing)],
        obj(Inner, name=fstr("inner")), [obj(Deep), obj(Deep, x=[obj(Inner)])],
        obj(Sample, meta={fstr("a"): obj(Outer)}, values=[obj(Thing, x=None)]),
        [obj(Point, x=i) for i in range(300)], {obj(Thing), frozenset([1, 2])},
    ]

def describe(v):
    t = type(v)
    if v is None:
        return None
    if t is bool:
        return {"bool": v}
    if t is int:
        return {"int": format(v, "x")}
    if t is float:
        return {"float": repr(v)}
    if t is str:
        return {"str": v}
    if t is bytes:
        return {"bytes": v.hex()}
    if t is bytearray:
        return {"bytearray": v.hex()}
    if t in (list, tuple, set, frozenset):
        return {t.__name__: [describe(x) for x in v]}
    if t is dict:
        return {"dict": [[describe(k), describe(x)] for k, x in v.items()]}
    return {"object": {"module": t.__module__, "qualname": t.__qualname__,
                       "fields": [[k, describe(x)] for k, x in vars(v).items()]}}

def same(a, b):
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return len(a) == len(b) and all(same(k1, k2) and same(v1, v2)
                                        for (k1, v1), (k2, v2) in zip(a.items(), b.items()))
    if type(a) in (set, frozenset):
        return len(a) == len(b) and all(any(same(x, y) for y in b) for x in a)
    if type(a) in CLASSES:
        return same(vars(a), vars(b))
    return a == b

def main():
    req = json.loads(sys.stdin.readline())
    print(json.dumps({"python": "%d.%d.%d" % sys.version_info[:3]}), flush=True)
    rng = random.Random(req["seed"])
    cases = fixed_cases() + [gen_value(rng) for _ in range(req["count"])]
    for i, v in enumerate(cases):
        pickles = {}
        for p in range(6):
            try:
                pickles[str(p)] = pickle.dumps(v, protocol=p).hex()
            except ValueError:  # protocols 0 and 1 write ints as decimal text
                pickles[str(p)] = None
        print(json.dumps({"id": i, "value": describe(v), "pickles": pickles}))
    print(json.dumps({"done": len(cases)}), flush=True)
    if req["mode"] != "check":
        return
    for line in sys.stdin:
        msg = json.loads(line)
        v = cases[msg["id"]]
        results = {}
        for p, hx in msg["pickles"].items():
            try:
                got = pickle.loads(bytes.fromhex(hx))
                results[p] = "ok" if same(got, v) else "loads a different value: %.300r" % (got,)
            except Exception as e:
                results[p] = "error: %.300r" % (e,)
        print(json.dumps({"id": msg["id"], "results": results}), flush=True)
    print(json.dumps({"done": True}), flush=True)

main()
"#####;

    /// The Python interpreter to compare with; panics (fails the test) when
    /// there is none.
    pub(super) fn python() -> PathBuf {
        let path = match std::env::var_os("DASK_SERDE_PYTHON") {
            Some(p) => PathBuf::from(p),
            None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/py-venv/bin/python"),
        };
        let found = path.is_file()
            || (path.components().count() == 1 && Command::new(&path).arg("-V").output().is_ok());
        assert!(
            found,
            "no Python interpreter at {} — run `bash scripts/setup-python.sh` or set DASK_SERDE_PYTHON \
             (the pickle comparison with CPython cannot be skipped)",
            path.display()
        );
        path
    }

    /// One Python harness process, killed when dropped.
    pub(super) struct Harness {
        child: Child,
        pub(super) stdin: Option<ChildStdin>,
        lines: Receiver<String>,
        stderr: Arc<Mutex<String>>,
        deadline: Instant,
    }

    impl Harness {
        fn start(mode: &str, seed: u64) -> Harness {
            let request = serde_json::json!({"seed": seed, "count": RANDOM_CASES, "mode": mode});
            let (h, hello) = Harness::spawn(HARNESS, &request, TIMEOUT);
            let version = hello["python"].as_str().unwrap_or("?").to_owned();
            assert!(
                version.starts_with("3.11."),
                "the pickle comparison needs CPython 3.11 (the reference of the byte-identical writer), found {version}"
            );
            h
        }

        /// Starts `script`, sends it `request` (one JSON line) and reads
        /// its first answer line; the whole exchange must end within
        /// `timeout`.
        pub(super) fn spawn(script: &str, request: &Json, timeout: Duration) -> (Harness, Json) {
            let mut child = Command::new(python())
                .args(["-I", "-c", script])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("cannot start the Python interpreter");
            let stdout = child.stdout.take().expect("piped stdout");
            let mut stderr_pipe = child.stderr.take().expect("piped stderr");
            let (tx, lines) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            let stderr = Arc::new(Mutex::new(String::new()));
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = stderr_pipe.read_to_string(&mut s);
                *sink.lock().unwrap() = s;
            });
            let mut h = Harness {
                stdin: child.stdin.take(),
                child,
                lines,
                stderr,
                deadline: Instant::now() + timeout,
            };
            h.send(&request.to_string());
            let hello = h.recv();
            (h, hello)
        }

        pub(super) fn send(&mut self, line: &str) {
            let stdin = self.stdin.as_mut().expect("stdin still open");
            writeln!(stdin, "{line}").expect("writing to Python");
            stdin.flush().expect("writing to Python");
        }

        pub(super) fn recv(&mut self) -> Json {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => serde_json::from_str(&line).expect("Python printed invalid JSON"),
                Err(e) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    std::thread::sleep(Duration::from_millis(100));
                    panic!(
                        "no answer from the Python harness ({e}); its stderr:\n{}",
                        self.stderr.lock().unwrap()
                    );
                }
            }
        }

        /// Reads the generated cases: (described value, pickle per protocol).
        /// CPython cannot write some values with protocols 0 and 1 (`None`).
        fn cases(&mut self) -> Vec<(Value, Vec<Option<Vec<u8>>>)> {
            let mut cases = Vec::new();
            loop {
                let msg = self.recv();
                if let Some(n) = msg.get("done") {
                    assert_eq!(n.as_u64(), Some(cases.len() as u64));
                    return cases;
                }
                let pickles = (0..6)
                    .map(|p| msg["pickles"][p.to_string()].as_str().map(unhex))
                    .collect();
                cases.push((from_desc(&msg["value"]), pickles));
            }
        }
    }

    impl Drop for Harness {
        fn drop(&mut self) {
            self.stdin.take();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    pub(super) fn seed() -> u64 {
        let seed = std::env::var("DASK_SERDE_PICKLE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(SEED);
        println!("pickle comparison seed: {seed} (set DASK_SERDE_PICKLE_SEED to change it)");
        seed
    }

    pub(super) fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    pub(super) fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The harness's value description → `Value`.
    pub(super) fn from_desc(j: &Json) -> Value {
        let Json::Object(m) = j else {
            assert!(j.is_null(), "bad description {j}");
            return Value::None;
        };
        let (tag, body) = m.iter().next().expect("a tagged value");
        let items = || body.as_array().unwrap().iter().map(from_desc).collect::<Vec<_>>();
        match tag.as_str() {
            "bool" => Value::Bool(body.as_bool().unwrap()),
            "int" => Value::int(BigInt::parse_bytes(body.as_str().unwrap().as_bytes(), 16).unwrap()),
            "float" => Value::Float(body.as_str().unwrap().parse().unwrap()),
            "str" => Value::Str(body.as_str().unwrap().to_owned()),
            "bytes" => Value::Bytes(Bytes::from(unhex(body.as_str().unwrap()))),
            "bytearray" => Value::ByteArray(Bytes::from(unhex(body.as_str().unwrap()))),
            "list" => Value::List(items()),
            "tuple" => Value::Tuple(items()),
            "set" => Value::Set(items()),
            "frozenset" => Value::FrozenSet(items()),
            "dict" => Value::Dict(
                body.as_array()
                    .unwrap()
                    .iter()
                    .map(|kv| (from_desc(&kv[0]), from_desc(&kv[1])))
                    .collect(),
            ),
            "object" => Value::from(Object {
                class: PyType::new(
                    body["module"].as_str().unwrap(),
                    body["qualname"].as_str().unwrap(),
                ),
                fields: body["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|kv| (kv[0].as_str().unwrap().to_owned(), from_desc(&kv[1])))
                    .collect(),
            }),
            other => panic!("unknown tag {other}"),
        }
    }

    fn preview(v: &Value) -> String {
        let s = format!("{v:?}");
        s.chars().take(200).collect()
    }

    /// Rust reads CPython's pickles of every protocol, and writes the same
    /// bytes as CPython for protocols 2–5.
    #[test]
    fn rust_reads_and_writes_cpython_pickles() {
        let seed = seed();
        let mut py = Harness::start("generate", seed);
        let cases = py.cases();
        let limits = Limits::default();
        let mut loads_ok = [0usize; 6];
        let mut dumps_identical = [0usize; 6];
        let mut failures = Vec::new();
        for (id, (value, pickles)) in cases.iter().enumerate() {
            assert!(
                can_dump(value),
                "case {id}: can_dump is false for {}",
                preview(value)
            );
            for (p, pickle) in pickles.iter().enumerate() {
                let Some(pickle) = pickle else {
                    assert!(p < 2, "case {id}: CPython could not write protocol {p}");
                    continue;
                };
                match loads(pickle, &[], &limits) {
                    Ok(v) if v == *value => loads_ok[p] += 1,
                    Ok(v) => failures.push(format!(
                        "case {id} protocol {p}: loads gave {} instead of {}",
                        preview(&v),
                        preview(value)
                    )),
                    Err(e) => failures.push(format!("case {id} protocol {p}: loads failed: {e}")),
                }
                if p < 2 {
                    continue;
                }
                match dumps(value, p as u8) {
                    Ok(b) if b == *pickle => dumps_identical[p] += 1,
                    Ok(b) => failures.push(format!(
                        "case {id} protocol {p}: dumps differs from CPython for {}\n  rust:   {}\n  python: {}",
                        preview(value),
                        hex(&b[..b.len().min(400)]),
                        hex(&pickle[..pickle.len().min(400)]),
                    )),
                    Err(e) => failures.push(format!("case {id} protocol {p}: dumps failed: {e}")),
                }
            }
        }
        println!(
            "{} values (seed {seed}): loads equal per protocol 0..5: {loads_ok:?}; \
             dumps byte-identical per protocol 2..5: {:?}",
            cases.len(),
            &dumps_identical[2..]
        );
        assert!(
            failures.is_empty(),
            "{} failures (seed {seed}):\n{}",
            failures.len(),
            failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
        );
    }

    /// CPython reads Rust's pickles (protocols 2–5) back into equal values.
    #[test]
    fn cpython_reads_rust_pickles() {
        let seed = seed();
        let mut py = Harness::start("check", seed);
        let cases = py.cases();
        for (id, (value, _)) in cases.iter().enumerate() {
            let pickles: serde_json::Map<String, Json> = (2..=5u8)
                .map(|p| (p.to_string(), Json::String(hex(&dumps(value, p).unwrap()))))
                .collect();
            py.send(&serde_json::json!({"id": id, "pickles": pickles}).to_string());
        }
        py.stdin.take();
        let mut ok = 0;
        let mut failures = Vec::new();
        loop {
            let msg = py.recv();
            if msg.get("done").is_some() {
                break;
            }
            let id = msg["id"].as_u64().unwrap();
            for (p, r) in msg["results"].as_object().unwrap() {
                if r == "ok" {
                    ok += 1;
                } else {
                    failures.push(format!("case {id} protocol {p}: {r}"));
                }
            }
        }
        println!("{ok} Rust pickles loaded equal by CPython (seed {seed})");
        assert_eq!(
            ok + failures.len(),
            cases.len() * 4,
            "missing answers from Python"
        );
        assert!(
            failures.is_empty(),
            "{} failures (seed {seed}):\n{}",
            failures.len(),
            failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
        );
    }
}
