#!/usr/bin/env python3
"""Self-test of tests/python/dask_harness.py against the golden vectors.

Run with the venv interpreter (scripts/setup-python.sh prints it):

    target/py-venv/bin/python tests/python/selftest.py [--vectors DIR] [--seeds 1,2,3] [--count 15] [-v]

It starts the harness once (PYTHONHASHSEED=0) and talks to it over the
JSON-lines protocol, exactly like the Rust tests do:

1. every vector: `encode` must reproduce NAME.frames byte for byte when the
   document says "reproducible": true (otherwise the fresh encoding must pass
   `check`); `check` must pass on NAME.frames (for "expect": "error" it
   verifies the error type and message); `decode` + `check` of the decoded
   value must pass (or decode must fail with the expected error type);
2. mutation testing: every leaf of every vector value is changed in turn and
   `check` must then FAIL (proves the checker compares what it claims to);
3. wire variants: bytes Dask wrote for a subtly different value (list sent
   as tuple, F array sent C, ...) or hand-tampered bytes (simple field moved
   to complex, undeclared frame) must FAIL `check`; equivalent expectations
   (set order, list≈tuple through msgpack, float spelling) must pass;
4. random cases (`random` op, each kind, a few seeds): encode -> check,
   decode -> check, re-encode of the decoded value -> check (what the Rust
   round-trip test does), and a few mutations that must fail;
5. protocol robustness: malformed requests get ok:false and the process
   keeps serving; ids are echoed; trailing bytes and orphan frames are
   reported.

Prints a summary and a final line "N passed, N failed"; exits 1 on failure.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


class Harness:
    def __init__(self, python: str, verbose: bool):
        env = dict(os.environ, PYTHONHASHSEED="0")
        self.proc = subprocess.Popen(
            [python, os.path.join(HERE, "dask_harness.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=None if verbose else subprocess.DEVNULL,
            text=True, encoding="utf-8", env=env,
        )
        self.n = 0

    def raw(self, line: str) -> dict:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline()
        if not out:
            raise RuntimeError(f"harness died (exit status {self.proc.poll()})")
        return json.loads(out)

    def __call__(self, **req) -> dict:
        self.n += 1
        req["id"] = self.n
        resp = self.raw(json.dumps(req))
        if resp.get("id") != self.n:
            raise RuntimeError(f"response id {resp.get('id')!r} does not match request id {self.n}")
        return resp

    def close(self) -> int:
        self.proc.stdin.close()
        return self.proc.wait(timeout=60)


# ---------------------------------------------------------------------------
# Mutations of canonical values (each one must make `check` fail)
# ---------------------------------------------------------------------------


def _flip_hex(h: str) -> str:
    b = bytearray.fromhex(h)
    b[-1] ^= 0x01
    return b.hex()


def mutations(v, path="value"):
    """Yield (description, mutated value) pairs, one per leaf/container change."""
    if v is None:
        yield path + ": null -> int 0", {"int": 0}
        return
    (tag, body), = v.items()
    if tag == "bool":
        yield f"{path}: flip bool", {"bool": not body}
    elif tag == "int":
        yield f"{path}: int + 1", {"int": body + 1}
    elif tag == "float":
        f = float(body)
        if f != f:
            new = "1.0"
        elif f == 0.0:
            new = "0.0" if body.startswith("-") else "-0.0"  # sign of zero must matter
        elif f in (float("inf"), float("-inf")):
            new = repr(-f)
        else:
            new = repr(f * 2 + 1)
        yield f"{path}: float {body} -> {new}", {"float": new}
    elif tag == "str":
        yield f"{path}: str + 'x'", {"str": body + "x"}
    elif tag in ("bytes", "bytearray"):
        yield f"{path}: {tag} changed", {tag: _flip_hex(body) if body else "00"}
    elif tag == "memoryview":
        if body["data"]:
            yield f"{path}: memoryview data flipped", {tag: dict(body, data=_flip_hex(body["data"]))}
    elif tag == "pyarray":
        if body["data"]:
            yield f"{path}: pyarray data flipped", {tag: dict(body, data=_flip_hex(body["data"]))}
        other = "i" if body["typecode"] != "i" else "I"
        if not body["data"]:
            yield f"{path}: pyarray typecode changed", {tag: dict(body, typecode=other)}
    elif tag in ("list", "tuple", "set"):
        for i, x in enumerate(body):
            for d, m in mutations(x, f"{path}[{i}]"):
                nb = list(body)
                nb[i] = m
                yield d, {tag: nb}
        if body:
            yield f"{path}: last item dropped", {tag: body[:-1]}
        else:
            yield f"{path}: item added", {tag: [{"int": 1}]}
    elif tag == "dict":
        for i, (k, x) in enumerate(body):
            for d, m in mutations(x, f"{path}[{i}].value"):
                nb = [list(p) for p in body]
                nb[i][1] = m
                yield d, {tag: nb}
        if body:
            for d, m in list(mutations(body[0][0], f"{path}[0].key"))[:1]:
                nb = [list(p) for p in body]
                nb[0][0] = m
                if m not in [p[0] for p in body]:
                    yield d, {tag: nb}
            yield f"{path}: last entry dropped", {tag: body[:-1]}
        else:
            yield f"{path}: entry added", {tag: [[{"str": "k"}, None]]}
    elif tag == "ndarray":
        if "items" in body:
            for i, x in enumerate(body["items"]):
                for d, m in mutations(x, f"{path}.items[{i}]"):
                    items = list(body["items"])
                    items[i] = m
                    yield d, {tag: dict(body, items=items)}
        elif body["data"] and not body.get("broadcast_axes"):
            yield f"{path}: ndarray data flipped", {tag: dict(body, data=_flip_hex(body["data"]))}
        if isinstance(body["dtype"], str) and body["dtype"][1:] in ("f8", "i8"):
            other = body["dtype"][0] + ("i8" if body["dtype"][1:] == "f8" else "f8")
            yield f"{path}: dtype {body['dtype']} -> {other}", {tag: dict(body, dtype=other)}
        shape = body["shape"]
        if len(shape) > 1 and shape != shape[::-1] and not body.get("broadcast_axes"):
            yield f"{path}: shape reversed", {tag: dict(body, shape=shape[::-1])}
        if (len(shape) > 1 and sum(1 for s in shape if s > 1) > 1 and "order" not in body
                and not body.get("broadcast_axes")):
            yield f"{path}: order F hint added", {tag: dict(body, order="F")}
    elif tag == "object":
        fields = body["fields"]
        pairs = list(fields.items()) if isinstance(fields, dict) else [tuple(p) for p in fields]
        for i, (n, x) in enumerate(pairs):
            for d, m in mutations(x, f"{path}.fields.{n}"):
                np_ = list(pairs)
                np_[i] = (n, m)
                yield d, {tag: {"type": body["type"], "fields": dict(np_)}}
        if pairs:
            yield f"{path}: last field dropped", {tag: {"type": body["type"], "fields": dict(pairs[:-1])}}
        yield f"{path}: type renamed", {tag: {"type": body["type"] + "Mutant", "fields": dict(pairs)}}
    elif tag in ("serialized", "pickled"):
        for d, m in mutations(body, f"{path}.{tag}"):
            yield d, {tag: m}
    elif tag == "enum":
        return  # changing the member name only tests the harness' own lookup
    elif tag == "unserializable":
        return


def sample(seq, limit):
    if len(seq) <= limit:
        return seq
    step = len(seq) / limit
    return [seq[int(i * step)] for i in range(limit)]


# ---------------------------------------------------------------------------


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures: list[str] = []

    def ok(self, cond: bool, what: str) -> bool:
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append(what)
            print("FAIL " + what, flush=True)
        return cond


def run_vectors(h: Harness, t: Tally, vdir: str, max_mut: int, verbose: bool) -> dict:
    names = sorted(f[:-5] for f in os.listdir(vdir) if f.endswith(".json"))
    st = {"vectors": len(names), "reproducible": 0, "identical": 0, "encoded": 0, "nonrepro": 0, "nonrepro_identical": 0,
          "checked": 0, "decoded": 0, "mutations": 0, "mutations_caught": 0}
    for name in names:
        with open(os.path.join(vdir, name + ".json"), encoding="utf-8") as f:
            case = json.load(f)
        with open(os.path.join(vdir, name + ".frames"), "rb") as f:
            frames = f.read().hex()
        expect_error = case.get("expect") == "error"

        # encode
        if "value" in case:
            r = h(op="encode", case=case)
            if t.ok(r["ok"], f"{name}: encode failed: {r.get('error')}"):
                st["encoded"] += 1
                if case.get("reproducible") is True:
                    st["reproducible"] += 1
                    if t.ok(r["frames"] == frames, f"{name}: encode is not byte-identical "
                            f"({len(r['frames']) // 2} vs {len(frames) // 2} bytes; first difference at byte "
                            f"{next((i // 2 for i in range(0, min(len(r['frames']), len(frames)), 2) if r['frames'][i:i + 2] != frames[i:i + 2]), min(len(r['frames']), len(frames)) // 2)})"):
                        st["identical"] += 1
                else:
                    st["nonrepro"] += 1
                    st["nonrepro_identical"] += r["frames"] == frames
                    r2 = h(op="check", case=case, frames=r["frames"])
                    t.ok(r2["ok"], f"{name}: check of the fresh Python encoding failed: {r2.get('error')}")

        # check the golden frames
        r = h(op="check", case=case, frames=frames)
        if t.ok(r["ok"], f"{name}: check failed: {r.get('error')}"):
            st["checked"] += 1
        if verbose:
            print(f"  {name}: check -> {r}")

        # decode, then check what was decoded
        r = h(op="decode", case={k: v for k, v in case.items() if k != "value"}, frames=frames)
        if expect_error:
            good = (not r["ok"] and r.get("decode_error") is True
                    and r.get("error_type") == case.get("error_type", r.get("error_type"))
                    and r.get("error_message") == case.get("error_message", r.get("error_message")))
            if t.ok(good, f"{name}: decode should fail with {case.get('error_type')}: {case.get('error_message')}, got {r}"):
                st["decoded"] += 1
        elif t.ok(r["ok"], f"{name}: decode failed: {r.get('error')}"):
            c2 = dict(case, value=r["value"])
            r2 = h(op="check", case=c2, frames=frames)
            if t.ok(r2["ok"], f"{name}: check of the decoded value failed: {r2.get('error')}"):
                st["decoded"] += 1

        # mutations must be caught
        muts = []
        if "value" in case and not expect_error:
            muts = sample(list(mutations(case["value"])), max_mut)
        if expect_error and "error_message" in case:
            muts.append(("error_message changed", None))
        for desc, m in muts:
            mc = copy.deepcopy(case)
            if m is None:
                mc["error_message"] += "!"
            else:
                mc["value"] = m
            r = h(op="check", case=mc, frames=frames)
            st["mutations"] += 1
            if t.ok(not r["ok"], f"{name}: mutation not detected: {desc}"):
                st["mutations_caught"] += 1
            if verbose and not r["ok"]:
                print(f"  {name}: {desc} -> {r['error'][:200]}")
    return st


def run_random(h: Harness, t: Tally, seeds, count: int) -> dict:
    st = {"cases": 0, "roundtrips": 0, "mutations": 0, "mutations_caught": 0, "reproducible": 0}
    for kind in ("plain", "collections", "generic"):
        for seed in seeds:
            r = h(op="random", seed=seed, count=count, kind=kind)
            if not t.ok(r["ok"], f"random {kind} seed {seed}: {r.get('error')}"):
                continue
            r_again = h(op="random", seed=seed, count=count, kind=kind, verify=False)
            t.ok(r_again.get("cases") == r["cases"], f"random {kind} seed {seed}: not deterministic")
            for i, case in enumerate(r["cases"]):
                st["cases"] += 1
                st["reproducible"] += bool(case.get("reproducible"))
                tag = f"random {kind} seed {seed} #{i}"
                e = h(op="encode", case=case)
                if not t.ok(e["ok"], f"{tag}: encode failed: {e.get('error')}"):
                    continue
                c = h(op="check", case=case, frames=e["frames"])
                ok = t.ok(c["ok"], f"{tag}: check failed: {c.get('error')} case={json.dumps(case)[:2000]}")
                d = h(op="decode", case={k: v for k, v in case.items() if k != "value"}, frames=e["frames"])
                if t.ok(d["ok"], f"{tag}: decode failed: {d.get('error')}"):
                    c2 = h(op="check", case=dict(case, value=d["value"]), frames=e["frames"])
                    ok &= t.ok(c2["ok"], f"{tag}: check of decoded value failed: {c2.get('error')}")
                if d["ok"]:
                    # what tests/interop.rs does with a perfect Rust port:
                    # re-encode the *decoded* value, check against the case
                    e2 = h(op="encode", case=dict(case, value=d["value"]))
                    if t.ok(e2["ok"], f"{tag}: re-encoding the decoded value failed: {e2.get('error')}"):
                        c4 = h(op="check", case=case, frames=e2["frames"])
                        ok &= t.ok(c4["ok"], f"{tag}: re-encoded decoded value fails check: {c4.get('error')}")
                st["roundtrips"] += ok
                for desc, m in sample(list(mutations(case["value"])), 4):
                    c3 = h(op="check", case=dict(case, value=m), frames=e["frames"])
                    st["mutations"] += 1
                    if t.ok(not c3["ok"], f"{tag}: mutation not detected: {desc}"):
                        st["mutations_caught"] += 1
    return st


def _pairs(v):
    (tag, body), = v.items()
    return body


def _set_field_order(case, order):
    f = case["value"]["object"]["fields"]
    case["value"]["object"]["fields"] = {k: f[k] for k in order}


def _simple_to_complex(frames_hex: str, field: str) -> str:
    """Move a register_generic 'simple' field into 'complex' (as a msgpack-family
    payload in an extra frame): decodes to the same value, but is not what Dask
    writes."""
    import msgpack
    import struct

    blob = bytes.fromhex(frames_hex)
    (n,) = struct.unpack_from("<Q", blob)
    lens = struct.unpack_from(f"<{n}Q", blob, 8)
    pos, frames = 8 + 8 * n, []
    for ln in lens:
        frames.append(blob[pos:pos + ln])
        pos += ln
    h = msgpack.loads(frames[0], strict_map_key=False)
    sub = h["sub-header"]
    value = sub["simple"].pop(field)
    nframes = len(frames) - 1
    sub["complex"][field] = {"header": {"serializer": "msgpack"}, "start": nframes, "stop": nframes + 1}
    frames[0] = msgpack.dumps(h, use_bin_type=True)
    frames.append(msgpack.dumps(value, use_bin_type=True))
    out = struct.pack(f"<{len(frames) + 1}Q", len(frames), *map(len, frames)) + b"".join(frames)
    return out.hex()


def _append_empty_split_piece(frames_hex: str) -> str:
    """Add a zero-length frame after a split payload without declaring it."""
    import struct

    blob = bytes.fromhex(frames_hex)
    (n,) = struct.unpack_from("<Q", blob)
    lens = struct.unpack_from(f"<{n}Q", blob, 8)
    return (struct.pack(f"<{n + 2}Q", n + 1, *lens, 0) + blob[8 + 8 * n:]).hex()


# (vector, description, transform of the case used to *encode*): the frames
# Dask writes for the altered case must FAIL `check` against the original case.
WIRE_NEGATIVE = [
    ("ser_collection_list_msgpack", "list sent as tuple",
     lambda c: c["value"].update({"tuple": c["value"].pop("list")})),
    ("ser_collection_dict", "dict entries in another order",
     lambda c: _pairs(c["value"]).reverse()),
    ("ser_ndarray_f4_fortran", "Fortran array sent in C order", lambda c: c["value"]["ndarray"].pop("order")),
    ("ser_ndarray_u1_readonly", "read-only array sent writeable", lambda c: c["value"]["ndarray"].pop("writeable")),
    ("ser_ndarray_broadcast", "broadcast array sent in full", lambda c: c["value"]["ndarray"].pop("broadcast_axes")),
    ("ser_ndarray_f8_1d", "writeable array sent read-only", lambda c: c["value"]["ndarray"].update(writeable=False)),
    ("ser_pickle_int", "int sent as float", lambda c: c.update(value={"float": "42.0"})),
    ("ser_bytes_hello", "bytes sent as bytearray",
     lambda c: c["value"].update({"bytearray": c["value"].pop("bytes")})),
    ("ser_generic_simple", "register_generic fields in another order",
     lambda c: _set_field_order(c, ["y", "x", "label", "tags", "meta", "raw"])),
    ("msg_serialized_ndarray", "to_serialize payload sent as ToPickle",
     lambda c: _pairs(c["value"])[1][1].update({"pickled": _pairs(c["value"])[1][1].pop("serialized")})),
    ("msg_scalars", "set sent as a list",
     lambda c: [p[1].update({"list": p[1].pop("set")}) for p in _pairs(c["value"]) if p[1] and "set" in p[1]]),
]

# Hand-altered wire bytes that real Dask decodes to the right value but that
# break Dask's encoding rules; `check` must FAIL on them.
WIRE_TAMPERED = [
    ("ser_generic_complex", "simple field 'count' moved to complex", lambda fr: _simple_to_complex(fr, "count")),
    ("ser_split_ndarray", "undeclared empty frame after the split pieces", _append_empty_split_piece),
]

# Equivalent expected values (PROTOCOL.md §13.3 rules) that must PASS `check` on the golden frames.
def _rev_set(v):
    if isinstance(v, dict):
        for tag, body in v.items():
            if tag == "set":
                body.reverse()
            if isinstance(body, (list, dict)):
                _rev_set(body)
    elif isinstance(v, list):
        for x in v:
            _rev_set(x)


WIRE_POSITIVE = [
    ("ser_collection_nested", "set items in another order", lambda c: _rev_set(c["value"])),
    ("msg_scalars", "message set items in another order", lambda c: _rev_set(c["value"])),
    # reference=False: pure PROTOCOL.md §13.3 rules. (With the reference check on, this
    # one fails on purpose: Dask would have iterated a list, decoding a list.)
    ("ser_msgpack_tuple", "tuple expected as list (msgpack family, PROTOCOL.md §13.3 rules only)",
     lambda c: c["value"].update({"list": c["value"].pop("tuple")}), False),
    ("ser_msgpack_nested", "list expected as tuple (msgpack family)",
     lambda c: _pairs(c["value"])[0][1].update({"tuple": _pairs(c["value"])[0][1].pop("list")})),
    ("ser_generic_simple", "simple list field expected as tuple",
     lambda c: c["value"]["object"]["fields"]["tags"].update({"tuple": c["value"]["object"]["fields"]["tags"].pop("list")})),
    ("ser_generic_simple", "fields given as [name, value] pairs",
     lambda c: c["value"]["object"].update(fields=[[k, v] for k, v in c["value"]["object"]["fields"].items()])),
    ("ser_generic_simple", "float written as 2.50", lambda c: c["value"]["object"]["fields"].update(y={"float": "2.50"})),
    ("msg_handshake", "message tuple expected as list",
     lambda c: _pairs(c["value"])[1][1].update({"list": _pairs(c["value"])[1][1].pop("tuple")})),
]


def run_wire(h: Harness, t: Tally, vdir: str) -> dict:
    st = {"negative": 0, "negative_caught": 0, "positive": 0, "positive_ok": 0}

    def load(name):
        with open(os.path.join(vdir, name + ".json"), encoding="utf-8") as f:
            case = json.load(f)
        with open(os.path.join(vdir, name + ".frames"), "rb") as f:
            return case, f.read().hex()

    for name, desc, fn in WIRE_NEGATIVE:
        if not os.path.exists(os.path.join(vdir, name + ".json")):
            continue
        case, _ = load(name)
        alt = copy.deepcopy(case)
        fn(alt)
        e = h(op="encode", case=alt)
        if not t.ok(e["ok"], f"wire negative {name} ({desc}): encode of the altered case failed: {e.get('error')}"):
            continue
        r = h(op="check", case=case, frames=e["frames"])
        st["negative"] += 1
        if t.ok(not r["ok"], f"wire negative {name}: not detected: {desc}"):
            st["negative_caught"] += 1
    for name, desc, fn in WIRE_TAMPERED:
        if not os.path.exists(os.path.join(vdir, name + ".json")):
            continue
        case, frames = load(name)
        d = h(op="decode", case={k: v for k, v in case.items() if k != "value"}, frames=fn(frames))
        t.ok(d["ok"], f"wire tampered {name} ({desc}): Dask should still decode it: {d.get('error')}")
        r = h(op="check", case=case, frames=fn(frames))
        st["negative"] += 1
        if t.ok(not r["ok"], f"wire tampered {name}: not detected: {desc}"):
            st["negative_caught"] += 1
    for name, desc, fn, *ref in WIRE_POSITIVE:
        if not os.path.exists(os.path.join(vdir, name + ".json")):
            continue
        case, frames = load(name)
        alt = copy.deepcopy(case)
        fn(alt)
        r = h(op="check", case=alt, frames=frames, reference=ref[0] if ref else True)
        st["positive"] += 1
        if t.ok(r["ok"], f"wire positive {name} ({desc}): check should pass: {r.get('error')}"):
            st["positive_ok"] += 1
    return st


def run_protocol(h: Harness, t: Tally) -> None:
    def bad(line, what):
        r = h.raw(line)
        t.ok(r.get("ok") is False and isinstance(r.get("error"), str) and "\n" not in r["error"],
             f"protocol: {what}: expected ok:false with a one-line error, got {r}")

    bad("this is not json", "invalid JSON")
    bad("[1, 2]", "non-object request")
    bad(json.dumps({"op": "no-such-op"}), "unknown op")
    bad(json.dumps({"op": "check"}), "check without case")
    bad(json.dumps({"op": "encode", "case": {"level": "serialize", "value": {"bogus": 1}}}), "unknown tag")
    bad(json.dumps({"op": "encode", "case": {"level": "serialize", "value": {"int": 1, "str": "x"}}}), "two-key value")
    bad(json.dumps({"op": "encode", "case": {"level": "wire", "value": None}}), "unknown level")
    bad(json.dumps({"op": "encode", "case": {"level": "serialize", "value": None, "params": {"sise": 4}}}), "unknown param")
    bad(json.dumps({"op": "check", "case": {"level": "serialize", "value": None}, "frames": "zz"}), "bad hex")
    bad(json.dumps({"op": "check", "case": {"level": "serialize", "value": None}, "frames": "0100000000000000ff"}),
        "truncated blob")
    bad(json.dumps({"op": "check", "case": {"level": "serialize"}, "frames": "00"}), "check without value")
    bad(json.dumps({"op": "random", "seed": 1, "count": 1, "kind": "nope"}), "random unknown kind")
    bad(json.dumps({"op": "decode", "case": {"level": "message"}, "frames": "0000000000000000"}), "empty message")
    # a trailing byte after a valid blob must be reported by check
    r = h(op="encode", case={"level": "serialize", "value": {"bytes": "00"}})
    r2 = h(op="check", case={"level": "serialize", "value": {"bytes": "00"}}, frames=r["frames"] + "00")
    t.ok(not r2["ok"] and "pack_frames" in r2.get("error", ""), f"protocol: trailing byte not reported: {r2}")
    # an extra (orphan) frame in a serialize-level blob must be reported
    n = int.from_bytes(bytes.fromhex(r["frames"][:16]), "little")
    blob = bytes.fromhex(r["frames"])
    lens = blob[8:8 + 8 * n]
    extra = (n + 1).to_bytes(8, "little") + lens + (3).to_bytes(8, "little") + blob[8 + 8 * n:] + b"xyz"
    r3 = h(op="check", case={"level": "serialize", "value": {"bytes": "00"}}, frames=extra.hex())
    t.ok(not r3["ok"] and "frame accounting" in r3.get("error", ""), f"protocol: orphan frame not reported: {r3}")
    r = h.raw(json.dumps({"op": "ping", "id": "abc"}))
    t.ok(r.get("ok") is True and r.get("id") == "abc" and r.get("pythonhashseed") == "0",
         f"protocol: ping after errors: {r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vectors", default=os.path.join(ROOT, "tests", "fixtures", "vectors"))
    ap.add_argument("--python", default=sys.executable, help="interpreter that runs the harness (the venv's)")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--count", type=int, default=15, help="random cases per kind and seed")
    ap.add_argument("--max-mutations", type=int, default=40, help="per vector")
    ap.add_argument("-v", "--verbose", action="store_true", help="show harness stderr and details")
    args = ap.parse_args()

    t0 = time.time()
    h = Harness(args.python, args.verbose)
    t = Tally()
    try:
        ping = h(op="ping")
        print(f"harness: {ping.get('versions')}")
        vs = run_vectors(h, t, args.vectors, args.max_mutations, args.verbose)
        ws = run_wire(h, t, args.vectors)
        rs = run_random(h, t, [int(s) for s in args.seeds.split(",") if s], args.count)
        run_protocol(h, t)
    finally:
        status = h.close()
    t.ok(status == 0, f"harness exit status {status}")

    print()
    print(f"vectors: {vs['vectors']} in {args.vectors}")
    print(f"  encode: {vs['encoded']} encoded; {vs['identical']}/{vs['reproducible']} reproducible vectors byte-identical "
          f"(and {vs['nonrepro_identical']}/{vs['nonrepro']} non-reproducible ones, same library versions)")
    print(f"  check:  {vs['checked']}/{vs['vectors']} golden .frames files checked OK")
    print(f"  decode: {vs['decoded']}/{vs['vectors']} decoded (value re-checked, or expected error)")
    print(f"  mutations: {vs['mutations_caught']}/{vs['mutations']} detected by check")
    print(f"  wire variants: {ws['negative_caught']}/{ws['negative']} wrong encodings rejected, "
          f"{ws['positive_ok']}/{ws['positive']} equivalent expectations accepted")
    print(f"random: {rs['cases']} cases ({rs['reproducible']} reproducible), {rs['roundtrips']} encode/check/decode round trips OK, "
          f"mutations {rs['mutations_caught']}/{rs['mutations']} detected")
    print(f"requests: {h.n} in {time.time() - t0:.1f} s")
    if t.failures:
        print(f"\n{len(t.failures)} failure(s):")
        for f in t.failures[:50]:
            print("  - " + f[:500])
    print(f"{t.passed} passed, {t.failed} failed")
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
