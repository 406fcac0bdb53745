//! Comparison with CPython's own pickle: Python generates random plain
//! values, Rust reads Python's pickles of them (protocols 0–5) with
//! `dask_serde::pickle::loads` and writes them again (protocols 2–5) byte
//! for byte with `dask_serde::pickle::dumps`, and Python reads Rust's
//! pickles back.
//!
//! Python is required (see `tests/pickle_harness`); the seed is printed and
//! can be changed with `$DASK_SERDE_PICKLE_SEED`.

mod common;
mod pickle_harness;

use std::time::Duration;

use dask_serde::pickle::{can_dump, dumps, loads};
use dask_serde::{Limits, Value};
use serde_json::Value as Json;

use common::python::{from_hex, to_hex};
use pickle_harness::{from_desc, seed, Harness};

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

impl Harness {
    /// Starts the CPython script in `mode` (`generate` or `check`).
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
                .map(|p| msg["pickles"][p.to_string()].as_str().map(from_hex))
                .collect();
            cases.push((from_desc(&msg["value"]), pickles));
        }
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
                    to_hex(&b[..b.len().min(400)]),
                    to_hex(&pickle[..pickle.len().min(400)]),
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
            .map(|p| (p.to_string(), Json::String(to_hex(&dumps(value, p).unwrap()))))
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
