//! Comparison with real numpy (2.4, in the test venv): numpy pickles random
//! dtypes and arrays, Rust reads them (`dask_serde::pickle::load_dtype`,
//! `loads`) and writes them again byte for byte (`dump_dtype`, `dumps`,
//! `dumps_with_oob`), and numpy reads Rust's pickles back. One Python
//! process per test; the seed is printed and can be changed with
//! `$DASK_SERDE_PICKLE_SEED`.

mod common;
mod pickle_harness;

use std::time::Duration;

use dask_serde::bytes::Bytes;
use dask_serde::pickle::{dump_dtype, dumps, dumps_with_oob, load_dtype, loads, OobBuffer};
use dask_serde::{DType, DTypeField, Error, Limits, NdArray, Value};
use serde_json::Value as Json;

use common::python::{from_hex, to_hex};
use pickle_harness::{from_desc, seed, Harness};

/// Random dtypes and arrays per test (besides the fixed cases).
const RANDOM_CASES: usize = 300;
/// Bound on the whole exchange with Python.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Generates dtypes (mode `dtypes`) or arrays (mode `arrays`), prints
/// numpy's pickles of them and what `pickle.loads` makes of those, then
/// reads Rust's pickles and says whether numpy loads them equal.
const HARNESS: &str = r#####"
import ctypes, json, math, pickle, random, sys
import numpy as np
from numpy.lib.array_utils import byte_bounds

NUMS = ["i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8", "f16", "c8", "c16", "c32"]
UNITS = ["Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"]

def plain_strs():
    out = ["|b1", "|i1", "|u1", "|S1", "|S5", "|V1", "|V4", "|O"]
    for o in "<>":
        out += [o + k for k in NUMS] + [o + "U1", o + "U3", o + "M8", o + "m8"]
        out += [o + "M8[%s]" % u for u in UNITS] + [o + "m8[2us]", o + "M8[25s]", o + "m8[7D]"]
    return out

PLAIN = plain_strs()
FIELD_PLAIN = [s for s in PLAIN if s != "|O"]
IDENTS = ["a", "b", "x", "xy", "f0", "pos", "vel", "name", "value", "t", "dtype", "numpy",
          "ndarray", "id_2", "_p", "C", "V12"]
OTHERS = ["a b", "\u00e9t\u00e9", "x-y", "wert \u00fc", "\u20acuro", "T 1", "\u4e2d\u6587"]

def fresh(s):
    # a str object shared with nothing else (CPython's one-character latin-1
    # strings are singletons whatever one does)
    if len(s) == 1:
        return chr(ord(s))
    return "".join(list(s))

def gen_name(rng, used):
    while True:
        if rng.random() < 0.7:
            s = rng.choice(IDENTS)
            if rng.random() < 0.3:
                s += str(rng.randint(0, 9))
            # names in code are literals, which CPython interns
            s = sys.intern(s)
        else:
            s = fresh(rng.choice(OTHERS) + ("" if rng.random() < 0.7 else str(rng.randint(0, 9))))
        if s not in used:
            used.add(s)
            return s

def gen_fmt(rng, depth):
    if depth < 2 and rng.random() < 0.2:
        return gen_spec(rng, depth + 1)
    return rng.choice(FIELD_PLAIN)

def gen_shape(rng):
    return tuple(rng.choice([1, 2, 2, 3, 0]) for _ in range(rng.randint(1, 2)))

def gen_spec(rng, depth=0):
    used = set()
    spec = []
    for _ in range(rng.randint(1 if depth == 0 else 0, 4)):
        name = gen_name(rng, used)
        key = (gen_name(rng, used), name) if rng.random() < 0.2 else name
        fmt = gen_fmt(rng, depth)
        spec.append((key, fmt, gen_shape(rng)) if rng.random() < 0.2 else (key, fmt))
    return spec

def gen_dict_dtype(rng):
    used = set()
    names, formats, offsets, titles = [], [], [], []
    off = 0
    for _ in range(rng.randint(1, 4)):
        names.append(gen_name(rng, used))
        fmt = gen_fmt(rng, 1)
        formats.append(fmt)
        titles.append(gen_name(rng, used) if rng.random() < 0.3 else None)
        off += rng.choice([0, 0, 1, 3, 8])
        offsets.append(off)
        off += np.dtype(fmt).itemsize
    spec = {"names": names, "formats": formats, "offsets": offsets,
            "itemsize": off + rng.choice([0, 0, 2, 7])}
    if any(t is not None for t in titles):
        spec["titles"] = titles
    if rng.random() < 0.5:
        order = list(range(len(names)))
        rng.shuffle(order)
        spec = {k: ([v[i] for i in order] if isinstance(v, list) else v) for k, v in spec.items()}
    return np.dtype(spec)

def gen_dtype(rng, plain_ok=True):
    r = rng.random()
    if plain_ok and r < 0.2:
        return np.dtype(rng.choice(PLAIN))
    if r < 0.7:
        return np.dtype(gen_spec(rng), align=rng.random() < 0.5)
    if r < 0.9:
        return gen_dict_dtype(rng)
    return np.dtype((gen_fmt(rng, 1), gen_shape(rng)))

def desc(d):
    if d.names is not None:
        fields = []
        for n in d.names:
            f = d.fields[n]
            fields.append({"name": n, "title": f[2] if len(f) > 2 else None, "offset": f[1],
                           "dtype": desc(f[0])})
        return {"fields": fields, "itemsize": d.itemsize, "aligned": bool(d.isalignedstruct)}
    if d.subdtype is not None:
        base, shape = d.subdtype
        return {"sub": desc(base), "shape": list(shape)}
    return {"str": d.str}

def dtype_cases(rng, count):
    cases = [np.dtype(s) for s in PLAIN]
    cases += [
        np.dtype([("a", "<i4"), ("b", "<f8")]),
        np.dtype([("a", "<i4"), ("b", "<f8")], align=True),
        np.dtype([(("T", "t"), "u1"), ("xy", "<f4", (2,))]),
        np.dtype([("n", [("p", "<i2"), ("q", ">f4")]), ("r", "i1")], align=True),
        np.dtype(("<f4", (2, 3))),
        np.dtype({"names": ["a", "b"], "formats": ["<i4", "<f8"], "offsets": [8, 0], "itemsize": 20}),
        np.dtype([]),
        np.dtype([("a", "<f8"), ("b", "<f8"), ("c", ">f8"), ("d", ">f8")]),
        np.dtype([("a", "<M8[ns]"), ("b", "<M8[ns]"), ("c", "S3"), ("d", "S3")]),
        np.dtype([("a", "<f4"), ("b", "<f4", (2,)), ("c", [("x", "<f4")])]),
        np.dtype([("a", ("U2", (2,)))], align=True),
        np.dtype({"names": ["a", "b"], "formats": ["i4", "f8"], "titles": ["TA", None]}),
        np.dtype([(("title with space", "k"), "<i8"), ("m", "|b1")]),
        np.dtype([("x%d" % i, "<u2") for i in range(1001)]),
        np.dtype(("<i4", (0,))),
    ]
    cases += [gen_dtype(rng) for _ in range(count)]
    errors = [np.dtype([("a", "O")]), np.dtype([("a", "<i4"), ("b", [("c", "O")])]),
              np.dtype(("O", (2,)))]
    return [(d, False) for d in cases] + [(d, True) for d in errors]

def memory(a):
    lo, hi = byte_bounds(a)
    ptr = a.__array_interface__["data"][0]
    return (ctypes.string_at(lo, hi - lo) if hi > lo else b""), ptr - lo

def gen_value(rng, depth=0):
    r = rng.random()
    if depth < 2 and r < 0.1:
        return [gen_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 2 and r < 0.15:
        return tuple(gen_value(rng, depth + 1) for _ in range(rng.randint(0, 3)))
    if depth < 2 and r < 0.2:
        return {fresh("k%d" % i): gen_value(rng, depth + 1) for i in range(rng.randint(0, 3))}
    return rng.choice([
        lambda: None, lambda: rng.random() < 0.5, lambda: rng.randint(-2**70, 2**70),
        lambda: rng.randint(0, 300), lambda: rng.uniform(-1e6, 1e6),
        lambda: fresh(rng.choice(["", "a", "xy", "hello", "\u00e9t\u00e9", "\u20ac"])),
        lambda: bytes(bytearray(rng.randbytes(rng.choice([2, 3, 8])))),
    ])()

def gen_object_array(rng):
    shape = tuple(rng.choice([0, 1, 2, 3]) for _ in range(rng.choice([0, 1, 1, 2, 3])))
    a = np.empty(shape, dtype=object)
    flat = a.reshape(-1)
    for i in range(flat.size):
        flat[i] = gen_value(rng)
    if a.ndim >= 2 and rng.random() < 0.2:
        a = np.asfortranarray(a)
    return a

def gen_plain_array(rng):
    layout = rng.choice(["C", "C", "F", "perm", "step", "neg", "bcast"])
    r = rng.random()
    if r < 0.65:
        dt = np.dtype(rng.choice(FIELD_PLAIN))
    else:
        # numpy copies a non-contiguous array field by field when it
        # pickles it in-band, leaving the padding of aligned structs
        # uninitialized: only contiguous arrays get padded dtypes
        dt = np.dtype(gen_spec(rng), align=layout in ("C", "F") and rng.random() < 0.5)
    shape = [rng.choice([0, 1, 1, 2, 3, 4, 5]) if rng.random() < 0.95 else 0
             for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4]))]
    if layout == "step" and shape:
        axis = rng.randrange(len(shape))
        full = list(shape)
        full[axis] *= 2
    else:
        full = shape
    n = int(np.prod(full)) * dt.itemsize
    if dt.itemsize == 0:
        c = np.zeros(full, dt)
    else:
        c = np.frombuffer(bytearray(rng.randbytes(n)), dtype=dt).reshape(full)
    a = c
    if layout == "F":
        a = np.asfortranarray(c)
    elif layout == "perm" and len(shape) >= 2:
        perm = list(range(len(shape)))
        rng.shuffle(perm)
        a = c.transpose(perm)
    elif layout == "step" and shape:
        a = c[tuple(slice(None, None, 2) if i == axis else slice(None) for i in range(len(shape)))]
    elif layout == "neg" and shape:
        a = c[::-1]
    elif layout == "bcast":
        a = np.broadcast_to(c, (2,) + tuple(shape))
    if rng.random() < 0.2:
        a.flags.writeable = False
    return a

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
    if t in (list, tuple):
        return {t.__name__: [describe(x) for x in v]}
    if t is dict:
        return {"dict": [[describe(k), describe(x)] for k, x in v.items()]}
    raise TypeError(t)

def array_memory(a):
    # how Rust rebuilds the very same array: its memory, offset and strides
    d = {"dtype": desc(a.dtype), "shape": list(a.shape), "writeable": bool(a.flags.writeable)}
    if a.dtype.hasobject:
        d["items"] = [describe(x) for x in a.reshape(-1, order="C")]
        d["fortran"] = bool(a.flags.f_contiguous and not a.flags.c_contiguous)
    else:
        mem, off = memory(a)
        d.update(mem=mem.hex(), offset=off, strides=list(a.strides))
    return d

def raw(a):
    # the elements' bytes in C order, padding included (a structured
    # tobytes() copies field by field, leaving padding uninitialized)
    if a.dtype.itemsize == 0:
        return b""
    return a.view(np.dtype((np.void, a.dtype.itemsize))).tobytes(order="C")

def array_loaded(a):
    # what pickle.loads gave
    d = {"dtype": desc(a.dtype), "shape": list(a.shape), "writeable": bool(a.flags.writeable)}
    if a.dtype.hasobject:
        d["items"] = [describe(x) for x in a.reshape(-1, order="C")]
    else:
        d["data"] = raw(a).hex()
    return d

def buffers_for_loads(bufs):
    # as Dask hands out-of-band frames over: writeable ones as bytearray
    return [bytes(b) if ro else bytearray(b) for b, ro in bufs]

def pickles_of(v):
    out = {}
    for p in (0, 1, 2, 3, 4, 5):
        out[str(p)] = {"pickle": pickle.dumps(v, protocol=p), "buffers": []}
    bufs = []
    s = pickle.dumps(v, protocol=5, buffer_callback=bufs.append)
    out["5oob"] = {"pickle": s, "buffers": [(bytes(b.raw()), b.raw().readonly) for b in bufs]}
    return out

def loaded(v):
    return [array_loaded(a) for a in v] if type(v) is list else array_loaded(v)

def array_cases(rng, count):
    cases = [np.arange(5, dtype="u1"), np.array(["a", None, 3], dtype=object),
             np.zeros((0, 3), "f4"), np.array(5.0), np.arange(6, dtype=">i4").reshape(2, 3),
             [np.arange(3.0), np.arange(2.0), np.zeros(2, ">i2"), np.zeros(1, ">i2")],
             np.zeros(3, np.dtype([("a", "<i4"), ("b", "<f8")])),
             np.frombuffer(bytearray(range(240)) * 300, "<f8"), np.array([b"x"], dtype=object)]
    for _ in range(count):
        r = rng.random()
        if r < 0.2:
            cases.append(gen_object_array(rng))
        elif r < 0.27:
            cases.append([gen_plain_array(rng) for _ in range(rng.randint(0, 3))])
        else:
            cases.append(gen_plain_array(rng))
    return cases

def same_loaded(a, b):
    if type(a) is list:
        return type(b) is list and len(a) == len(b) and all(same_loaded(x, y) for x, y in zip(a, b))
    if a.dtype != b.dtype or desc(a.dtype) != desc(b.dtype) or a.shape != b.shape:
        return False
    if a.flags.writeable != b.flags.writeable:
        return False
    if a.dtype.hasobject:
        return describe(list(a.reshape(-1))) == describe(list(b.reshape(-1)))
    return raw(a) == raw(b)

def main():
    req = json.loads(sys.stdin.readline())
    print(json.dumps({"python": "%d.%d.%d" % sys.version_info[:3], "numpy": np.__version__}), flush=True)
    rng = random.Random(req["seed"])
    mode = req["mode"]
    if mode == "dtypes":
        cases = dtype_cases(rng, req["count"])
        for i, (d, error) in enumerate(cases):
            pickles = {str(p): pickle.dumps(d, protocol=p).hex() for p in range(6)}
            print(json.dumps({"id": i, "desc": desc(d), "error": error, "pickles": pickles}))
    else:
        cases = array_cases(rng, req["count"])
        refs = []
        for i, v in enumerate(cases):
            pk = pickles_of(v)
            ref = {}
            out = {}
            for k, x in pk.items():
                ref[k] = pickle.loads(x["pickle"], buffers=buffers_for_loads(x["buffers"]))
                out[k] = {"pickle": x["pickle"].hex(),
                          "buffers": [{"data": b.hex(), "readonly": ro} for b, ro in x["buffers"]],
                          "loaded": loaded(ref[k])}
            refs.append(ref)
            memory_ = [array_memory(a) for a in v] if type(v) is list else array_memory(v)
            print(json.dumps({"id": i, "memory": memory_, "list": type(v) is list, "pickles": out}))
    print(json.dumps({"done": len(cases)}), flush=True)
    for line in sys.stdin:
        msg = json.loads(line)
        results = {}
        for k, x in msg["pickles"].items():
            try:
                data = bytes.fromhex(x["pickle"])
                if mode == "dtypes":
                    got, want = pickle.loads(data), cases[msg["id"]][0]
                    ok = (got == want and desc(got) == desc(want)
                          and got.isalignedstruct == want.isalignedstruct and got.str == want.str)
                else:
                    bufs = [(bytes.fromhex(b["data"]), not b["writeable"]) for b in x["buffers"]]
                    got = pickle.loads(data, buffers=buffers_for_loads(bufs))
                    ok = same_loaded(got, refs[msg["id"]][k])
                results[k] = "ok" if ok else "loads a different value: %.300r" % (got,)
            except Exception as e:
                results[k] = "error: %.300r" % (e,)
        print(json.dumps({"id": msg["id"], "results": results}), flush=True)
    print(json.dumps({"done": True}), flush=True)

main()
"#####;

/// Starts the harness in `mode`, checking the versions it reports.
fn start(mode: &str) -> (Harness, u64) {
    let seed = seed();
    let request = serde_json::json!({"seed": seed, "count": RANDOM_CASES, "mode": mode});
    let (h, hello) = Harness::spawn(HARNESS, &request, TIMEOUT);
    let python = hello["python"].as_str().unwrap_or("?");
    let numpy = hello["numpy"].as_str().unwrap_or("?");
    assert!(
        python.starts_with("3.11.") && numpy.starts_with("2.4."),
        "the numpy comparison needs CPython 3.11 and numpy 2.4, found {python} and {numpy}"
    );
    (h, seed)
}

/// The generated cases, up to the `done` line.
fn cases(py: &mut Harness) -> Vec<Json> {
    let mut cases = Vec::new();
    loop {
        let msg = py.recv();
        if let Some(n) = msg.get("done") {
            assert_eq!(n.as_u64(), Some(cases.len() as u64));
            return cases;
        }
        cases.push(msg);
    }
}

/// Sends Rust's pickles (`{id, pickles}` lines) and collects numpy's
/// verdicts: (number of pickles loaded equal, failures).
fn verdicts(py: &mut Harness, sent: usize) -> (usize, Vec<String>) {
    py.stdin.take();
    let mut ok = 0;
    let mut failures = Vec::new();
    loop {
        let msg = py.recv();
        if msg.get("done").is_some() {
            break;
        }
        for (k, r) in msg["results"].as_object().unwrap() {
            if r == "ok" {
                ok += 1;
            } else {
                failures.push(format!("case {} pickle {k}: numpy says {r}", msg["id"]));
            }
        }
    }
    assert_eq!(ok + failures.len(), sent, "missing answers from Python");
    (ok, failures)
}

/// The harness's dtype description → `DType`.
fn dtype_from_desc(j: &Json) -> DType {
    if let Some(s) = j["str"].as_str() {
        return DType::parse(s).unwrap();
    }
    if let Some(fields) = j["fields"].as_array() {
        let fields = fields
            .iter()
            .map(|f| DTypeField {
                name: f["name"].as_str().unwrap().to_owned(),
                dtype: dtype_from_desc(&f["dtype"]),
                offset: f["offset"].as_u64().unwrap() as usize,
                title: f["title"].as_str().map(str::to_owned),
            })
            .collect();
        return DType::with_fields(
            fields,
            j["itemsize"].as_u64().unwrap() as usize,
            j["aligned"].as_bool().unwrap(),
        )
        .unwrap();
    }
    let shape = j["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    DType::subarray(dtype_from_desc(&j["sub"]), shape).unwrap()
}

fn usizes(j: &Json) -> Vec<usize> {
    j.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

/// The array the harness describes by its memory: the very same layout.
fn array_from_memory(j: &Json) -> NdArray {
    let dtype = dtype_from_desc(&j["dtype"]);
    let shape = usizes(&j["shape"]);
    let a = if let Some(items) = j["items"].as_array() {
        NdArray::from_objects(shape, items.iter().map(from_desc).collect()).unwrap()
    } else {
        let strides = j["strides"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_i64().unwrap() as isize)
            .collect();
        let mem = Bytes::from(from_hex(j["mem"].as_str().unwrap()));
        NdArray::new(dtype, shape, strides, j["offset"].as_u64().unwrap() as usize, mem).unwrap()
    };
    a.with_writeable(j["writeable"].as_bool().unwrap())
}

/// Checks an array Rust loaded against what numpy loaded.
fn check_loaded(got: &NdArray, want: &Json) -> std::result::Result<(), String> {
    let dtype = dtype_from_desc(&want["dtype"]);
    if got.dtype() != &dtype {
        return Err(format!("dtype {:?} instead of {:?}", got.dtype(), dtype));
    }
    if got.shape() != usizes(&want["shape"]).as_slice() {
        return Err(format!("shape {:?} instead of {}", got.shape(), want["shape"]));
    }
    if got.is_writeable() != want["writeable"].as_bool().unwrap() {
        return Err(format!(
            "writeable {} instead of {}",
            got.is_writeable(),
            want["writeable"]
        ));
    }
    if let Some(items) = want["items"].as_array() {
        let items: Vec<Value> = items.iter().map(from_desc).collect();
        if got.objects() != Some(items.as_slice()) {
            return Err(format!("items {:?} instead of {items:?}", got.objects()));
        }
    } else if to_hex(&got.to_c_bytes()) != want["data"].as_str().unwrap() {
        return Err("different elements".into());
    }
    Ok(())
}

/// Rust reads numpy's pickles of every kind of dtype (protocols 0–5) into
/// the right `DType`, writes them again byte for byte (protocols 2–5), and
/// numpy reads Rust's pickles back into equal dtypes (offsets, item size,
/// alignment flag, titles included).
#[test]
fn dtypes_round_trip_with_numpy() {
    let (mut py, seed) = start("dtypes");
    let cases = cases(&mut py);
    let limits = Limits::default();
    let mut loads_ok = 0;
    let mut refused = 0;
    let mut identical = [0usize; 4];
    let mut failures = Vec::new();
    let mut sent = 0;
    for case in &cases {
        let id = &case["id"];
        let error = case["error"].as_bool().unwrap();
        let want = if error {
            DType::object()
        } else {
            dtype_from_desc(&case["desc"])
        };
        for p in 0..6 {
            let pickle = from_hex(case["pickles"][p.to_string()].as_str().unwrap());
            match (load_dtype(&pickle, &limits), error) {
                (Ok(d), false) if d == want => loads_ok += 1,
                (Ok(d), false) => failures.push(format!(
                    "case {id} protocol {p}: loaded {d:?}, numpy has {want:?}"
                )),
                (Ok(d), true) => {
                    failures.push(format!("case {id} protocol {p}: loaded {d:?} but must refuse"))
                }
                (Err(Error::Pickle { message, .. }), true) if message.contains("Python objects") => {
                    refused += 1
                }
                (Err(e), true) => failures.push(format!("case {id} protocol {p}: unexpected refusal {e}")),
                (Err(e), false) => failures.push(format!("case {id} protocol {p}: {e}")),
            }
        }
        if error {
            continue;
        }
        let mut ours = serde_json::Map::new();
        for p in 2..=5u8 {
            let theirs = from_hex(case["pickles"][p.to_string()].as_str().unwrap());
            match dump_dtype(&want, p) {
                Ok(b) => {
                    if b == theirs {
                        identical[usize::from(p) - 2] += 1;
                    } else {
                        failures.push(format!(
                            "case {id} protocol {p}: dump_dtype differs from numpy for {:?}\n  rust:  {}\n  numpy: {}",
                            case["desc"],
                            to_hex(&b[..b.len().min(600)]),
                            to_hex(&theirs[..theirs.len().min(600)])
                        ));
                    }
                    ours.insert(p.to_string(), serde_json::json!({"pickle": to_hex(&b)}));
                    sent += 1;
                }
                Err(e) => failures.push(format!("case {id} protocol {p}: dump_dtype failed: {e}")),
            }
        }
        py.send(&serde_json::json!({"id": id, "pickles": ours}).to_string());
    }
    let (numpy_ok, numpy_failures) = verdicts(&mut py, sent);
    failures.extend(numpy_failures);
    println!(
        "{} dtypes (seed {seed}): loads equal {loads_ok} (protocols 0-5), object fields refused {refused}, \
         dump_dtype byte-identical per protocol 2..5 {identical:?}, Rust pickles loaded equal by numpy {numpy_ok}/{sent}",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures (seed {seed}):\n{}",
        failures.len(),
        failures.iter().take(15).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// Rust reads numpy's pickles of random arrays (object arrays, every
/// plain dtype kind, structured dtypes, C/F/permuted/strided/broadcast
/// layouts, read-only) written with protocols 2–5 and protocol 5 with a
/// `buffer_callback` into the array numpy itself loads (out-of-band
/// buffers shared, not copied), writes the same bytes and buffers, and
/// numpy loads Rust's pickles into equal arrays.
#[test]
fn arrays_round_trip_with_numpy() {
    let (mut py, seed) = start("arrays");
    let cases = cases(&mut py);
    let limits = Limits::default();
    // protocols 0 and 1 are read only
    let variants = ["0", "1", "2", "3", "4", "5", "5oob"];
    let mut loads_ok = 0;
    let mut zero_copy = 0;
    let mut identical = [0usize; 5];
    let mut not_comparable = 0;
    let mut failures = Vec::new();
    let mut sent = 0;
    for case in &cases {
        let id = &case["id"];
        let is_list = case["list"].as_bool().unwrap();
        let arrays: Vec<NdArray> = if is_list {
            case["memory"]
                .as_array()
                .unwrap()
                .iter()
                .map(array_from_memory)
                .collect()
        } else {
            vec![array_from_memory(&case["memory"])]
        };
        // Rust's object arrays are C-ordered: numpy writes is_fortran=True
        // for a Fortran-ordered one
        let comparable = is_list || case["memory"]["fortran"] != true;
        let value = if is_list {
            Value::List(arrays.iter().cloned().map(Value::from).collect())
        } else {
            Value::from(arrays[0].clone())
        };
        let mut ours = serde_json::Map::new();
        for (vi, k) in variants.iter().enumerate() {
            let x = &case["pickles"][k];
            let theirs = from_hex(x["pickle"].as_str().unwrap());
            let oob: Vec<OobBuffer> = x["buffers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| OobBuffer {
                    data: Bytes::from(from_hex(b["data"].as_str().unwrap())),
                    writeable: !b["readonly"].as_bool().unwrap(),
                })
                .collect();
            // Rust reads numpy's pickle
            let got = loads(&theirs, &oob, &limits);
            let check = match (&got, is_list) {
                (Ok(Value::NdArray(a)), false) => check_loaded(a, &x["loaded"]).map(|()| vec![a]),
                (Ok(Value::List(items)), true) => items
                    .iter()
                    .zip(x["loaded"].as_array().unwrap())
                    .map(|(v, want)| match v {
                        Value::NdArray(a) => check_loaded(a, want).map(|()| a),
                        other => Err(format!("a {} instead of an array", other.type_name())),
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .and_then(|v| {
                        if v.len() == x["loaded"].as_array().unwrap().len() {
                            Ok(v)
                        } else {
                            Err("a list of another length".into())
                        }
                    }),
                (Ok(other), _) => Err(format!("loaded {}", other.type_name())),
                (Err(e), _) => Err(e.to_string()),
            };
            match check {
                Ok(loaded) => {
                    loads_ok += 1;
                    for a in loaded {
                        if let Some(b) = oob.iter().find(|b| b.data.as_ptr() == a.buffer().as_ptr()) {
                            assert_eq!(b.data.len(), a.buffer().len());
                            zero_copy += 1;
                        }
                    }
                    if *k == "5oob" && oob.len() == usize::from(!is_list) && !is_list {
                        // the one array of the pickle is a view of its buffer
                        let Ok(Value::NdArray(a)) = &got else {
                            unreachable!()
                        };
                        assert_eq!(
                            a.buffer().as_ptr(),
                            oob[0].data.as_ptr(),
                            "case {id}: out-of-band buffer copied"
                        );
                    }
                }
                Err(e) => failures.push(format!(
                    "case {id} pickle {k}: Rust loads: {e} (the array: {})",
                    case["memory"].to_string().chars().take(700).collect::<String>()
                )),
            }
            if vi < 2 {
                continue;
            }
            // Rust writes the same pickle
            let (ours_pickle, ours_buffers) = if *k == "5oob" {
                match dumps_with_oob(&value, 5) {
                    Ok(x) => x,
                    Err(e) => {
                        failures.push(format!("case {id} pickle {k}: dumps failed: {e}"));
                        continue;
                    }
                }
            } else {
                match dumps(&value, k.parse().unwrap()) {
                    Ok(p) => (p, Vec::new()),
                    Err(e) => {
                        failures.push(format!("case {id} pickle {k}: dumps failed: {e}"));
                        continue;
                    }
                }
            };
            let same_buffers = ours_buffers.len() == oob.len()
                && ours_buffers
                    .iter()
                    .zip(&oob)
                    .all(|(a, b)| a.data == b.data && a.writeable == b.writeable);
            if ours_pickle == theirs && same_buffers {
                identical[vi - 2] += 1;
            } else if !comparable {
                not_comparable += 1;
            } else {
                failures.push(format!(
                    "case {id} pickle {k}: Rust's pickle differs from numpy's (buffers equal: {same_buffers}) for {}\n  rust:  {}\n  numpy: {}",
                    case["memory"].to_string().chars().take(300).collect::<String>(),
                    to_hex(&ours_pickle[..ours_pickle.len().min(500)]),
                    to_hex(&theirs[..theirs.len().min(500)])
                ));
            }
            let buffers: Vec<Json> = ours_buffers
                .iter()
                .map(|b| serde_json::json!({"data": to_hex(&b.data), "writeable": b.writeable}))
                .collect();
            ours.insert(
                (*k).to_owned(),
                serde_json::json!({"pickle": to_hex(&ours_pickle), "buffers": buffers}),
            );
            sent += 1;
        }
        py.send(&serde_json::json!({"id": id, "pickles": ours}).to_string());
    }
    let (numpy_ok, numpy_failures) = verdicts(&mut py, sent);
    failures.extend(numpy_failures);
    println!(
        "{} array cases (seed {seed}): Rust loads equal to numpy {loads_ok}/{} ({zero_copy} arrays zero-copy over \
         out-of-band buffers); Rust pickles byte-identical per variant {:?}: {identical:?} \
         (+{not_comparable} Fortran-ordered object arrays Rust keeps in C order); numpy loads Rust's pickles equal {numpy_ok}/{sent}",
        cases.len(),
        cases.len() * variants.len(),
        &variants[2..],
    );
    assert!(
        failures.is_empty(),
        "{} failures (seed {seed}):\n{}",
        failures.len(),
        failures.iter().take(15).cloned().collect::<Vec<_>>().join("\n")
    );
}
