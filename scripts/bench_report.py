#!/usr/bin/env python3
"""Turns one benchmark run into BENCHMARKS.md and the W2 plot (SVG).

Inputs (all written by scripts/bench.sh in the same run):
  * criterion results: <criterion>/**/<baseline>/{benchmark,estimates}.json
  * Python Dask results: target/bench/python.json (scripts/bench_python.py)
  * W1 instruction counts: target/bench/callgrind.tsv
  * frame 0 of dask-serde's W1 dumps in hex (checked against Dask's)

Standard library only; the SVG is written by hand.
"""

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys

PEERS = ["rmp-serde", "bincode", "postcard", "rkyv"]
DASK = "Dask (Python)"
OPS = ["ser", "de", "de-zc", "rt", "rt-owned"]
OP_NAMES = {
    "ser": "serialize",
    "de": "deserialize (owned)",
    "de-zc": "deserialize (zero-copy)",
    "rt": "round trip",
    "rt-owned": "round trip (owned)",
}
# which Dask measurement an op is compared with
DASK_OP = {"ser": "ser", "de": "de", "de-zc": "de", "rt": "rt", "rt-owned": "rt"}
W2_SIZES = [("64KiB", 64 << 10), ("1MiB", 1 << 20), ("16MiB", 16 << 20), ("64MiB", 64 << 20)]


# --------------------------------------------------------------------------- data


def load_criterion(root, baseline):
    """{group: {codec: {op: median_ns}}} from a criterion output tree."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) != baseline or "estimates.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as fh:
            b = json.load(fh)
        with open(os.path.join(dirpath, "estimates.json")) as fh:
            e = json.load(fh)
        out.setdefault(b["group_id"], {}).setdefault(b["function_id"], {})[b["value_str"]] = e["median"][
            "point_estimate"
        ]
    return out


def load_python(path):
    with open(path) as fh:
        d = json.load(fh)
    res = {}
    for group, ops in d["results"].items():
        for op, r in ops.items():
            if not op.startswith("_"):
                res.setdefault(group, {})[op] = r["median_ns"]
    return d, res


def load_callgrind(path):
    out = {}
    if not path or not os.path.exists(path):
        return out
    with open(path) as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3 and parts[2].isdigit():
                out.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return out


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine():
    cpu = "unknown"
    mem = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal"):
                    mem = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "rustc": sh(["rustc", "-V"]),
        "valgrind": sh(["valgrind", "--version"]),
        "commit": sh(["git", "rev-parse", "--short", "HEAD"])
        + (" (with uncommitted changes)" if sh(["git", "status", "--porcelain"]) not in ("", "unknown") else ""),
    }


# --------------------------------------------------------------------------- formatting


def fmt_t(ns):
    if ns is None:
        return "–"
    if ns < 1e3:
        return f"{ns:.1f} ns" if ns < 100 else f"{ns:.0f} ns"
    if ns < 1e6:
        v = ns / 1e3
        return f"{v:.2f} µs" if v < 10 else f"{v:.1f} µs" if v < 100 else f"{v:.0f} µs"
    if ns < 1e9:
        v = ns / 1e6
        return f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms" if v < 100 else f"{v:.0f} ms"
    return f"{ns / 1e9:.2f} s"


def fmt_ratio(x):
    if x is None:
        return "–"
    if x < 0.01:
        return f"{x:.1e}×"
    if x >= 100:
        return f"{x:.0f}×"
    if x >= 10:
        return f"{x:.1f}×"
    return f"{x:.2f}×"


def fmt_decade(ns):
    """Axis label of a power of ten in ns."""
    for unit, scale in [("s", 1e9), ("ms", 1e6), ("µs", 1e3), ("ns", 1)]:
        if ns >= scale:
            v = ns / scale
            return f"{v:.0f} {unit}"
    return f"{ns:g} ns"


DASK_SERDE_ORDER = ["(Value)", "(typed)", "(Array)", "(Vec)", "(Array fields)", "(Vec fields)",
                    "(Vec<Array>)", "(Vec<Vec>)"]


def dask_order(codec):
    """Report order of the dask-serde variants (zero-copy before owned)."""
    for i, suffix in enumerate(DASK_SERDE_ORDER):
        if codec.endswith(suffix):
            return (i, codec)
    return (len(DASK_SERDE_ORDER), codec)


def lock_versions(path="Cargo.lock"):
    """{crate: version} of the peers and criterion from Cargo.lock."""
    out = {}
    try:
        with open(path) as fh:
            name = None
            for line in fh:
                if line.startswith("name = "):
                    name = line.split('"')[1]
                elif line.startswith("version = ") and name:
                    out.setdefault(name, line.split('"')[1])
                    name = None
    except OSError:
        pass
    return out


def best_peer(group, op):
    """(codec, ns) of the fastest Rust peer for `op` in `group`."""
    cands = [(c, group[c][op]) for c in PEERS if c in group and op in group[c]]
    return min(cands, key=lambda x: x[1]) if cands else (None, None)


def workload_table(name, group, dask_ops, lines):
    """Long table: codec, op, median, ÷ best peer (same op), Dask ÷ this."""
    lines.append(
        f"| codec | operation | median | ÷ best Rust peer (same op) | speed-up over Dask (Dask ÷ this) |"
    )
    lines.append("|---|---|---:|---:|---:|")
    ours = sorted((c for c in group if c.startswith("dask-serde")), key=dask_order)
    codecs = ours + [c for c in PEERS if c in group]
    for codec in codecs:
        for op in OPS:
            if op not in group[codec]:
                continue
            t = group[codec][op]
            peer, pt = best_peer(group, op)
            r_peer = f"{fmt_ratio(t / pt)} ({peer})" if pt else "–"
            d = dask_ops.get(DASK_OP[op]) if dask_ops else None
            r_dask = fmt_ratio(d / t) if d else "–"
            bold = "**" if codec.startswith("dask-serde") else ""
            lines.append(f"| {bold}{codec}{bold} | {OP_NAMES[op]} | {fmt_t(t)} | {r_peer} | {r_dask} |")
    if dask_ops:
        for op in ["ser", "de", "rt"]:
            if op in dask_ops:
                lines.append(f"| {DASK} | {OP_NAMES[op]} | {fmt_t(dask_ops[op])} | | 1.00× |")
    lines.append("")


# --------------------------------------------------------------------------- SVG


def svg_plot(series, path, title):
    """Log-log plot: payload size (x) against serialize time (y)."""
    W, H = 760, 470
    L, R, T, B = 80, 210, 40, 60
    pw, ph = W - L - R, H - T - B
    xs = [s for _, s in W2_SIZES]
    ys = [v for pts in series.values() for _, v in pts if v]
    if not ys:
        return
    x0, x1 = math.log10(min(xs)), math.log10(max(xs))
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    if y1 == y0:
        y1 += 1

    def px(x):
        return L + (math.log10(x) - x0) / (x1 - x0) * pw

    def py(y):
        return T + ph - (math.log10(y) - y0) / (y1 - y0) * ph

    colors = ["#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#7f7f7f", "#e377c2"]
    o = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="DejaVu Sans, Arial, sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{L + pw / 2}" y="22" text-anchor="middle" font-size="15">{title}</text>',
    ]
    # grid + y labels (decades)
    for e in range(y0, y1 + 1):
        y = py(10**e)
        o.append(f'<line x1="{L}" y1="{y:.1f}" x2="{L + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        o.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt_decade(10 ** e)}</text>')
        for m in range(2, 10):
            if e < y1:
                ym = py(m * 10**e)
                o.append(f'<line x1="{L}" y1="{ym:.1f}" x2="{L + pw}" y2="{ym:.1f}" stroke="#f3f3f3"/>')
    for label, size in W2_SIZES:
        x = px(size)
        o.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{T + ph}" stroke="#ddd"/>')
        o.append(f'<text x="{x:.1f}" y="{T + ph + 18}" text-anchor="middle">{label.replace("KiB", " KiB").replace("MiB", " MiB")}</text>')
    o.append(f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    o.append(f'<text x="{L + pw / 2}" y="{H - 18}" text-anchor="middle">payload size (one f64 array)</text>')
    o.append(
        f'<text x="18" y="{T + ph / 2}" text-anchor="middle" transform="rotate(-90 18 {T + ph / 2})">'
        "serialize time (median, log scale)</text>"
    )
    for i, (name, pts) in enumerate(series.items()):
        c = colors[i % len(colors)]
        pts = [(x, y) for x, y in pts if y]
        dash = ' stroke-dasharray="6 4"' if name == DASK else ""
        width = 3 if name.startswith("dask-serde") else 2
        o.append(
            f'<polyline fill="none" stroke="{c}" stroke-width="{width}"{dash} points="'
            + " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
            + '"/>'
        )
        for x, y in pts:
            o.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{c}"/>')
        ly = T + 14 + i * 22
        o.append(f'<line x1="{L + pw + 14}" y1="{ly}" x2="{L + pw + 44}" y2="{ly}" stroke="{c}" '
                 f'stroke-width="{width}"{dash}/>')
        o.append(f'<text x="{L + pw + 50}" y="{ly + 4}">{name}</text>')
    o.append("</svg>")
    with open(path, "w") as fh:
        fh.write("\n".join(o) + "\n")


# --------------------------------------------------------------------------- report


def verdict(ok):
    return "**met**" if ok else "**missed**"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--criterion", default="target/criterion")
    p.add_argument("--baseline", default="dask-serde-bench")
    p.add_argument("--python", default="target/bench/python.json")
    p.add_argument("--callgrind", default="target/bench/callgrind.tsv")
    p.add_argument("--w1-hex", default="target/bench/w1_frame0.hex")
    p.add_argument("--svg", default="benches/w2_serialize.svg")
    p.add_argument("--out", default="BENCHMARKS.md")
    p.add_argument("--elapsed", type=int, default=None, help="seconds the whole run took")
    a = p.parse_args()

    crit = load_criterion(a.criterion, a.baseline)
    if not crit:
        sys.exit(f"bench_report: no criterion results for baseline {a.baseline!r} under {a.criterion}")
    pyjson, py = load_python(a.python)
    cg = load_callgrind(a.callgrind)
    m = machine()
    meta = pyjson["meta"]

    def t(group, codec, op):
        return crit.get(group, {}).get(codec, {}).get(op)

    L = []
    L.append("# Benchmarks")
    L.append("")
    L.append("Regenerate everything on this page (criterion, Python Dask, callgrind, this file and the plot) with")
    L.append("")
    L.append("```sh")
    L.append("bash scripts/bench.sh          # full run, rewrites BENCHMARKS.md and benches/w2_serialize.svg")
    L.append("bash scripts/bench.sh --quick  # smoke run into target/bench/ (numbers not for publishing)")
    L.append("```")
    L.append("")
    L.append(
        "Workloads and targets are those of docs/WORKLOADS.md. Every number below comes from **one run** "
        "on the machine described next: the Rust side with criterion (median of the samples), Python Dask "
        "with `timeit` (median of repeats), W1 also in instructions (callgrind). Wall times on these shared "
        "2-core machines vary by up to 2× between runs; ratios within one run are steadier, instruction "
        "counts steadier still."
    )
    L.append("")
    L.append("## Machine")
    L.append("")
    L.append("| | |")
    L.append("|---|---|")
    L.append(f"| CPU | {m['cpu']} ({m['nproc']} cores available) |")
    L.append(f"| memory | {m['memory']} |")
    L.append(f"| OS | {m['os']} |")
    L.append(f"| Rust | {m['rustc']} (bench profile: release) |")
    L.append(
        f"| Python | {meta['implementation']} {meta['python']}, distributed {meta['distributed']}, "
        f"dask {meta['dask']}, numpy {meta['numpy']}, msgpack {meta['msgpack']} |"
    )
    L.append(f"| valgrind | {m['valgrind']} |")
    v = lock_versions()
    L.append(f"| peers | rmp-serde {v.get('rmp-serde', '?')}, bincode {v.get('bincode', '?')} (native "
             f"`Encode`/`Decode`, standard config), postcard {v.get('postcard', '?')}, rkyv {v.get('rkyv', '?')} "
             f"(`bytecheck` validation on every access); criterion {v.get('criterion', '?')} |")
    L.append(f"| commit | {m['commit']} |")
    L.append(f"| date | {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}"
             + (f", whole run {a.elapsed // 60} min {a.elapsed % 60} s" if a.elapsed else "") + " |")
    L.append("")

    # ----------------------------------------------------------- targets
    L.append("## Targets")
    L.append("")
    L.append("| workload | target | measured | verdict |")
    L.append("|---|---|---|---|")
    tg = []

    rmp_rt = t("W1", "rmp-serde", "rt")
    for codec in ["dask-serde (typed)", "dask-serde (Value)"]:
        x = t("W1", codec, "rt")
        if x and rmp_rt:
            r = x / rmp_rt
            tg.append(("W1", f"{codec} dumps+loads ≤ 1.2× rmp-serde encode+decode (time)",
                       f"{fmt_t(x)} vs {fmt_t(rmp_rt)} = {fmt_ratio(r)}", r <= 1.2))
    key = {"dask-serde (typed)": "dask-serde-typed", "dask-serde (Value)": "dask-serde-value"}
    for codec, k in key.items():
        x = cg.get(k, {}).get("rt")
        y = cg.get("rmp-serde", {}).get("rt")
        if x and y:
            tg.append(("W1", f"{codec} ≤ 1.2× rmp-serde (instructions)",
                       f"{x:,} vs {y:,} Ir = {fmt_ratio(x / y)}", x / y <= 1.2))

    arr = "dask-serde (Array)"
    for op, what in [("ser", "serialize"), ("de-zc", "zero-copy deserialize")]:
        big, small = t("W2/64MiB", arr, op), t("W2/64KiB", arr, op)
        if big and small:
            tg.append(("W2", f"{what} of 64 MiB < 1 µs", fmt_t(big), big < 1000))
            r = max(big, small) / min(big, small)
            tg.append(("W2", f"{what}: 64 MiB vs 64 KiB ≤ 1.5×",
                       f"{fmt_t(big)} vs {fmt_t(small)} = {fmt_ratio(r)}", r <= 1.5))
    x, d = t("W2/64MiB", arr, "rt"), py.get("W2/64MiB", {}).get("rt")
    if x and d:
        tg.append(("W2", "round trip ≥ 10× faster than Dask (64 MiB)",
                   f"{fmt_t(x)} vs Dask {fmt_t(d)} = {fmt_ratio(d / x)} faster", d / x >= 10))
    x = t("W3", "dask-serde (Array fields)", "rt")
    if x:
        tg.append(("W3", "round trip ≤ 5 µs (Array fields)", fmt_t(x), x <= 5000))
    x = t("W4", "dask-serde (Vec<Array>)", "rt")
    peer, pt = best_peer(crit.get("W4", {}), "rt")
    if x and pt:
        tg.append(("W4", "round trip ≤ 1.0× the best Rust peer",
                   f"{fmt_t(x)} vs {peer} {fmt_t(pt)} = {fmt_ratio(x / pt)}", x / pt <= 1.0))
    d = py.get("W4", {}).get("rt")
    if x and d:
        tg.append(("W4", "round trip ≥ 50× faster than Dask",
                   f"{fmt_t(x)} vs Dask {fmt_t(d)} = {fmt_ratio(d / x)} faster", d / x >= 50))
    raw = t("W5", "raw socket", "64MiB")
    # the target is for pooled receive buffers (docs/WORKLOADS.md); the unpooled
    # framing row stays in the W5 table as a diagnostic
    for codec in ["dask-serde (framing, pooled)", "dask-serde (Comm)", "dask-serde (typed message, pooled)"]:
        x = t("W5", codec, "64MiB")
        if x and raw:
            tg.append(("W5", f"{codec} ≥ 0.9× raw-socket throughput",
                       f"{(64 / 1024) / (x / 1e9):.2f} vs {(64 / 1024) / (raw / 1e9):.2f} GiB/s = "
                       f"{fmt_ratio(raw / x)}", raw / x >= 0.9))
    for w, what, meas, ok in tg:
        L.append(f"| {w} | {what} | {meas} | {verdict(ok)} |")
    L.append("")
    met = sum(1 for *_, ok in tg if ok)
    L.append(f"{met} of {len(tg)} target checks met in this run.")
    L.append("")

    # ----------------------------------------------------------- method
    L.append("## How to read the tables")
    L.append("")
    L.append("* **serialize**: value → serialized form. dask-serde: header + frames (frames borrow from or share "
             "the value's buffers, never copied); peers: one `Vec<u8>`/`AlignedVec`; Dask: "
             "`serialize(x)` / `protocol.dumps(msg)`.")
    L.append("* **deserialize (owned)**: serialized form → a value owning its data (every buffer copied out).")
    L.append("* **deserialize (zero-copy)**: dask-serde `Array<f64>` fields/values viewing the received frames; "
             "rkyv `access` with validation. Dask's `deserialize` of numpy arrays is zero-copy too and is the "
             "Dask figure in both deserialize rows.")
    L.append("* **round trip**: serialize then the cheapest deserialize of that codec (zero-copy where it has "
             "one); **round trip (owned)**: serialize then owned deserialize.")
    L.append("* **÷ best Rust peer**: this time divided by the fastest of rmp-serde, bincode, postcard and rkyv "
             "for the same operation (below 1 = faster than every peer). **speed-up over Dask**: Dask's time "
             "divided by this one (above 1 = faster than Dask).")
    L.append("* dask-serde rows: `(Value)` is the dynamic message API (`message::dumps`/`loads`), `(typed)` "
             "`message::typed::dumps_typed`/`loads_typed` of a serde struct, `(Array …)` Bytes-backed "
             "`Array<f64>`, `(Vec …)` `Vec<f64>`. Peers always encode the plain Rust types "
             "(`Vec<f64>`, `Vec<Vec<f64>>`, the struct).")
    L.append("")

    # ----------------------------------------------------------- W1
    L.append("## W1: small admin message")
    L.append("")
    L.append("A `task-finished`-like map of 8 fields (op, key, status, nbytes, type, a `startstops` list of two "
             "maps, worker address, a 2-entry metadata map). dask-serde `dumps`/`loads`; "
             "rmp-serde writes the struct as a named map.")
    L.append("")
    hexfile = a.w1_hex
    py_hex = pyjson["results"].get("W1", {}).get("_frame0_hex")
    if hexfile and os.path.exists(hexfile) and py_hex:
        with open(hexfile) as fh:
            rust_hex = fh.read().strip()
        same = rust_hex == py_hex
        L.append(f"Frame 0 of dask-serde's `dumps` is {len(rust_hex) // 2} bytes and "
                 + ("**byte-identical** to Dask's `protocol.dumps` of the same dict."
                    if same else "**differs** from Dask's `protocol.dumps` of the same dict."))
    L.append("")
    workload_table("W1", crit.get("W1", {}), py.get("W1"), L)
    if cg:
        L.append("Instructions per operation (callgrind, `benches/w1_instructions.rs`; stable across runs):")
        L.append("")
        L.append("| codec | serialize | deserialize | round trip | round trip ÷ rmp-serde |")
        L.append("|---|---:|---:|---:|---:|")
        base = cg.get("rmp-serde", {}).get("rt")
        names = {"dask-serde-value": "dask-serde (Value)", "dask-serde-typed": "dask-serde (typed)"}
        for k in ["dask-serde-value", "dask-serde-typed"] + PEERS:
            if k not in cg:
                continue
            c = cg[k]
            f = lambda v: f"{v:,}" if v is not None else "–"  # noqa: E731
            rt = c.get("rt")
            L.append(f"| {names.get(k, k)} | {f(c.get('ser'))} | {f(c.get('de'))} | {f(rt)} | "
                     f"{fmt_ratio(rt / base) if rt and base else '–'} |")
            if k == "rkyv" and "rt-owned" in c:
                L.append(f"| rkyv (owned) | | {f(c.get('de-owned'))} | {f(c.get('rt-owned'))} | "
                         f"{fmt_ratio(c['rt-owned'] / base) if base else '–'} |")
        L.append("")
        L.append("rkyv's deserialize/round trip rows use validated zero-copy `access`; `rkyv (owned)` deserializes.")
        L.append("")

    # ----------------------------------------------------------- W2
    L.append("## W2: one f64 array")
    L.append("")
    L.append("One contiguous `f64` array (numpy `<f8`), serialize time against payload size for every codec:")
    L.append("")
    L.append(f"![W2 serialize time against payload size]({os.path.relpath(a.svg, os.path.dirname(os.path.abspath(a.out)) or '.')})")
    L.append("")
    codecs = ["dask-serde (Array)", "dask-serde (Vec)"] + PEERS
    L.append("| codec | " + " | ".join(label for label, _ in W2_SIZES) + " | 64 MiB ÷ 64 KiB |")
    L.append("|---|" + "---:|" * (len(W2_SIZES) + 1))
    series = {}
    for codec in codecs + [DASK]:
        row = []
        pts = []
        for label, size in W2_SIZES:
            v = py.get(f"W2/{label}", {}).get("ser") if codec == DASK else t(f"W2/{label}", codec, "ser")
            row.append(fmt_t(v))
            pts.append((size, v))
        series[codec] = pts
        a0, a1 = pts[0][1], pts[-1][1]
        ratio = fmt_ratio(a1 / a0) if a0 and a1 else "–"
        L.append(f"| {codec} | " + " | ".join(row) + f" | {ratio} |")
    L.append("")
    svg_plot(series, a.svg, "W2: serialize one f64 array (median)")
    for label in ["64KiB", "64MiB"]:
        L.append(f"### W2 at {label.replace('KiB', ' KiB').replace('MiB', ' MiB')}")
        L.append("")
        workload_table("W2", crit.get(f"W2/{label}", {}), py.get(f"W2/{label}"), L)

    # ----------------------------------------------------------- W3
    L.append("## W3: derived struct, 3 MiB of arrays + 10 small fields")
    L.append("")
    L.append("`#[derive(DaskSerialize, DaskDeserialize)]` struct with three 1 MiB `f64` arrays and ten small "
             "fields (str, u32, i64, f64, bool, `Option<String>`, `Vec<String>`, str, u64, a map); in Python an "
             "object of a class registered with `register_generic` (3 frames).")
    L.append("")
    workload_table("W3", crit.get("W3", {}), py.get("W3"), L)

    # ----------------------------------------------------------- W4
    L.append("## W4: 10,000 arrays of 100 f64")
    L.append("")
    L.append("A list collection: dask-serde `Vec<Array<f64>>` / `Vec<Vec<f64>>` (one sub-header and one frame "
             "per array, 10,000 frames); peers `Vec<Vec<f64>>`; Dask `serialize(list_of_arrays)`.")
    L.append("")
    workload_table("W4", crit.get("W4", {}), py.get("W4"), L)

    # ----------------------------------------------------------- W5
    L.append("## W5: W2 over loopback TCP")
    L.append("")
    L.append("The 64 MiB array serialized, sent, received and deserialized, sender and receiver in separate "
             "threads, messages streamed back to back over one connection (time per message = sustained "
             "throughput). dask-serde through `transport::framing::write_message`/`read_message` (header "
             "msgpack + frames, zero-copy `Array` decode), through typed messages, and through the blocking "
             "`Comm` (handshake done before measuring, receive `BufferPool` set); `pooled` rows read "
             "large frames into a `BufferPool` (the targets compare the pooled rows and `Comm`, as docs/WORKLOADS.md "
             "asks); `(framing)` without a pool is a diagnostic; "
             "the baseline writes an 8-byte length and the bytes in "
             "one `write_all` and `read_exact`s into a reused (pooled) buffer; `raw socket (fresh buffer)` is a "
             "diagnostic that reads every message into a newly allocated buffer instead, as `read_message` does. Dask: `distributed.comm` TCP "
             "comms in one process (asyncio), `{\"op\": \"data\", \"data\": to_serialize(array)}`, "
             "compression off.")
    L.append("")
    L.append("| codec | time per 64 MiB message | throughput | ÷ raw socket throughput | speed-up over Dask |")
    L.append("|---|---:|---:|---:|---:|")
    w5 = crit.get("W5", {})
    d = py.get("W5", {}).get("64MiB")
    for codec in ["dask-serde (framing, pooled)", "dask-serde (Comm)", "dask-serde (typed message, pooled)",
                  "dask-serde (framing)", "raw socket", "raw socket (fresh buffer)"]:
        x = w5.get(codec, {}).get("64MiB")
        if not x:
            continue
        gib = (64 / 1024) / (x / 1e9)
        rr = fmt_ratio(raw / x) if raw else "–"
        L.append(f"| {codec} | {fmt_t(x)} | {gib:.2f} GiB/s | {rr} | {fmt_ratio(d / x) if d else '–'} |")
    if d:
        L.append(f"| {DASK} | {fmt_t(d)} | {(64 / 1024) / (d / 1e9):.2f} GiB/s | "
                 f"{fmt_ratio(raw / d) if raw else '–'} | 1.00× |")
    L.append("")
    L.append("## Profiling a workload")
    L.append("")
    L.append("`benches/profile.rs` runs one dask-serde operation in a loop (`--list` names them: W1 message "
             "encode/decode, W2-W4 serialize/deserialize/round trip, W5 framing receive) for perf or callgrind:")
    L.append("")
    L.append("```sh")
    L.append("CARGO_PROFILE_BENCH_DEBUG=line-tables-only cargo bench --no-run --bench profile")
    L.append("P=$(ls -t target/release/deps/profile-* | grep -v '\\.d$' | head -1)")
    L.append("valgrind --tool=callgrind --toggle-collect='*profiled_region*' --callgrind-out-file=cg.out $P w4-rt 5")
    L.append("callgrind_annotate --inclusive=yes cg.out | head -60")
    L.append("perf record -g $P w5-framing 40 && perf report --no-children --sort pid,sym")
    L.append("```")
    L.append("")
    with open(a.out, "w") as fh:
        fh.write("\n".join(L))
    print(f"bench_report: wrote {a.out} and {a.svg}", file=sys.stderr)


if __name__ == "__main__":
    main()
