#!/usr/bin/env python3
"""Workloads W1-W5 of docs/WORKLOADS.md measured with real Python Dask.

The same data as the Rust benchmarks (benches/common/mod.rs), encoded with
`distributed.protocol` (`dumps`/`loads` for messages, `serialize`/
`deserialize` for values, numpy arrays) and, for W5, sent through
`distributed.comm` over loopback TCP. Timed with `timeit`: the median of
several repeats of an auto-ranged loop, in nanoseconds per call.

    target/py-venv/bin/python scripts/bench_python.py [--out target/bench/python.json] [--quick]

Run by scripts/bench.sh; scripts/bench_report.py reads the JSON.
"""

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import timeit

import dask
import distributed
import msgpack
import numpy as np
from distributed.protocol import deserialize, dumps, loads, serialize, to_serialize
from distributed.protocol.serialize import register_generic

CODEC = "Dask (Python)"
REPEAT = 5


def bench(fn, min_time=0.2, repeat=None):
    """ns per call: median (and min) over `repeat` loops of >= min_time."""
    repeat = repeat or REPEAT
    timer = timeit.Timer(fn)
    number = 1
    while True:
        t = timer.timeit(number)
        if t >= min_time:
            break
        number = max(number * 2, int(number * min_time / max(t, 1e-9) * 1.1))
    per = sorted(x / number * 1e9 for x in timer.repeat(repeat=repeat, number=number))
    return {"median_ns": statistics.median(per), "min_ns": per[0], "number": number, "repeat": repeat}


def f64_data(n, seed):
    return seed + np.arange(n, dtype="<f8") * 0.5


# --- W1 -----------------------------------------------------------------------

W1_MSG = {
    "op": "task-finished",
    "key": "('inc-5a3b2e8f0c1d4e6f9a7b8c0d1e2f3a4b', 17)",
    "status": "OK",
    "nbytes": 8_000_128,
    "type": "numpy.ndarray",
    "startstops": [
        {"action": "transfer", "start": 1_700_000_000.125, "stop": 1_700_000_000.25},
        {"action": "compute", "start": 1_700_000_000.5, "stop": 1_700_000_001.75},
    ],
    "worker": "tcp://127.0.0.1:40123",
    "metadata": {"priority": "high", "span_id": "9f2c1e0a-b7d4-4c3e-8e55-0a1b2c3d4e5f"},
}


def w1(results):
    frames = dumps(W1_MSG)
    assert len(frames) == 1
    results["W1"] = {
        "ser": bench(lambda: dumps(W1_MSG)),
        "de": bench(lambda: loads(frames)),
        "rt": bench(lambda: loads(dumps(W1_MSG))),
        "_frame0_hex": bytes(frames[0]).hex(),
    }


# --- W2 -----------------------------------------------------------------------

W2_SIZES = [(64 << 10, "64KiB"), (1 << 20, "1MiB"), (16 << 20, "16MiB"), (64 << 20, "64MiB")]


def w2(results):
    for size, label in W2_SIZES:
        a = f64_data(size // 8, 0.25)
        h, f = serialize(a)
        back = deserialize(h, f)
        assert back.shape == a.shape and back[-1] == a[-1]
        results[f"W2/{label}"] = {
            "ser": bench(lambda: serialize(a)),
            "de": bench(lambda: deserialize(h, f)),
            "rt": bench(lambda: deserialize(*serialize(a))),
        }


# --- W3 -----------------------------------------------------------------------

W3_LEN = (1 << 20) // 8


class Chunk:
    """The W3 object (Rust: ChunkArrays / ChunkVecs / ChunkPeer)."""


register_generic(Chunk)


def w3_obj():
    c = Chunk()
    c.name = "chunk-0042"
    c.index = 42
    c.offset = -1_048_576
    c.scale = 0.001
    c.valid = True
    c.tag = "calibrated"
    c.dims = ["time", "channel"]
    c.units = "mV"
    c.version = 3
    c.attrs = {"rows": 131_072, "cols": 3}
    c.x = f64_data(W3_LEN, 1.0)
    c.y = f64_data(W3_LEN, 2.0)
    c.z = f64_data(W3_LEN, 3.0)
    return c


def w3(results):
    c = w3_obj()
    h, f = serialize(c)
    assert len(f) == 3, len(f)
    back = deserialize(h, f)
    assert back.index == 42 and back.z[-1] == c.z[-1]
    results["W3"] = {
        "ser": bench(lambda: serialize(c)),
        "de": bench(lambda: deserialize(h, f)),
        "rt": bench(lambda: deserialize(*serialize(c))),
    }


# --- W4 -----------------------------------------------------------------------


def w4(results):
    arrays = [f64_data(100, float(i)) for i in range(10_000)]
    h, f = serialize(arrays)
    assert len(f) == 10_000, len(f)
    back = deserialize(h, f)
    assert len(back) == 10_000 and back[-1][-1] == arrays[-1][-1]
    results["W4"] = {
        "ser": bench(lambda: serialize(arrays), repeat=min(REPEAT, 3)),
        "de": bench(lambda: deserialize(h, f), repeat=min(REPEAT, 3)),
        "rt": bench(lambda: deserialize(*serialize(arrays)), repeat=min(REPEAT, 3)),
    }


# --- W5 -----------------------------------------------------------------------


async def w5_async(n_messages, rounds):
    from distributed.comm import connect, listen

    a = f64_data((64 << 20) // 8, 0.25)
    server_comms = asyncio.Queue()
    done = asyncio.Event()

    async def handle(comm):
        await server_comms.put(comm)
        await done.wait()

    listener = listen("tcp://127.0.0.1:0", handle, deserialize=True)
    await listener.start()
    client = await connect(listener.contact_address)
    server = await server_comms.get()
    msg = {"op": "data", "data": to_serialize(a)}

    async def send(n):
        for _ in range(n):
            await client.write(msg)

    async def recv(n):
        for _ in range(n):
            m = await server.read()
            assert m["data"].shape == a.shape

    await asyncio.gather(send(1), recv(1))  # warm up
    per = []
    for _ in range(rounds):
        t = time.perf_counter()
        await asyncio.gather(send(n_messages), recv(n_messages))
        per.append((time.perf_counter() - t) / n_messages * 1e9)
    done.set()
    await client.close()
    await server.close()
    listener.stop()
    per.sort()
    return {"median_ns": statistics.median(per), "min_ns": per[0], "number": n_messages, "repeat": rounds}


def w5(results, quick):
    with dask.config.set({"distributed.comm.compression": False}):
        r = asyncio.run(w5_async(2 if quick else 6, 3 if quick else 5))
    results["W5"] = {"64MiB": r}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="target/bench/python.json")
    p.add_argument("--quick", action="store_true", help="fewer repeats (a smoke test)")
    args = p.parse_args()
    global REPEAT
    if args.quick:
        REPEAT = 3

    results = {}
    t0 = time.perf_counter()
    for name, fn in [("W1", w1), ("W2", w2), ("W3", w3), ("W4", w4)]:
        fn(results)
        print(f"bench_python: {name} done ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    w5(results, args.quick)
    print(f"bench_python: W5 done ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)

    out = {
        "codec": CODEC,
        "meta": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "distributed": distributed.__version__,
            "dask": dask.__version__,
            "numpy": np.__version__,
            "msgpack": ".".join(map(str, msgpack.version)),
            "timer": "timeit, median of repeats",
        },
        "results": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"bench_python: wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
