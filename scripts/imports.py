#!/usr/bin/env python3
"""Print the module import graph of dask-serde/src: edges, cycles, upward imports.

Reads every `.rs` file of the library crate (test modules and comments
removed), collects the paths it names through `crate::`, `super::` and
`self::`, resolves each to the module that defines it (names re-exported at
the crate root are followed to their defining module), and prints:

* the edges (module -> modules it imports), with `--edges`;
* every strongly connected component with more than one module (an import
  circle);
* every import that points from a lower layer to a higher one, using the
  layer table below (the layers of docs/ARCHITECTURE.md);
* the non-test line count of each file above 800 lines.

Usage: python3 scripts/imports.py [--edges] [--check] [--src DIR]

Without --check the exit status is 0 (a report). With --check (run by
scripts/test.sh) it is 1 when the structure of docs/ARCHITECTURE.md is
broken: an upward import, an import circle across folders other than the
families <-> registry recursion, a file over 800 non-test lines, or
`impl Registry` outside registry.rs.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# Layer of each module (longest prefix wins). Lower numbers are lower layers:
# a module may import from its own layer or below. The families <-> registry
# recursion is the one circle the design allows (both sit in layer 3/4).
LAYERS: list[tuple[str, int, str]] = [
    # 0: wire primitives
    ("error", 0, "wire"),
    ("limits", 0, "wire"),
    ("msgpack", 0, "wire"),
    ("raw", 0, "wire"),
    ("header", 0, "wire"),
    ("frame", 0, "wire"),
    ("pack", 0, "wire"),
    ("transport::pack", 0, "wire"),
    ("serialized", 0, "wire"),
    ("compression", 0, "wire"),
    ("traits", 0, "wire"),
    # 1: the value model
    ("pytype", 1, "values"),
    ("value", 1, "values"),
    ("builtins::dtype", 1, "values"),
    ("builtins::ndarray", 1, "values"),
    ("json", 1, "values"),
    ("pickle", 1, "values"),
    ("opaque", 1, "values"),
    ("split", 1, "values"),
    # 2: families, built-in types, typed traits, options
    ("context", 2, "families"),
    ("options", 2, "families"),
    ("family", 2, "families"),
    ("generic", 2, "families"),
    ("collection", 2, "families"),
    ("builtins", 2, "families"),
    ("typed", 2, "families"),
    ("traits", 2, "families"),
    ("field", 2, "families"),
    ("__private", 2, "families"),
    ("private", 2, "families"),
    # 3: the registry (serialize/deserialize recursion)
    ("registry", 3, "registry"),
    # 4: protocol (split+serialize, bytes, messages)
    ("protocol", 4, "protocol"),
    ("message", 4, "protocol"),
    ("message_typed", 4, "protocol"),
    # 5: transport
    ("transport", 5, "transport"),
    ("comm", 5, "transport"),
    # crate root: re-exports only
    ("crate", 6, "root"),
]
# Imports between these layer pairs are the allowed recursion (a family
# serializes nested values through the registry).
ALLOWED_UP = {("families", "registry")}

WORD = r"[A-Za-z_][A-Za-z0-9_]*"


def strip(text: str) -> str:
    """Remove comments, string literals and `#[cfg(test)]` items."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = []
    for line in text.splitlines():
        i = line.find("//")
        out.append(line if i < 0 else line[:i])
    text = "\n".join(out)
    text = re.sub(r'r#+".*?"#+', '""', text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text, flags=re.S)
    # drop #[cfg(test)] items (modules, functions) by brace matching
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*", text)
        if not m:
            break
        j = m.end()
        semi = text.find(";", j)
        brace = text.find("{", j)
        if brace < 0 or (0 <= semi < brace):
            text = text[: m.start()] + text[semi + 1 :]
            continue
        depth = 0
        k = brace
        while k < len(text):
            if text[k] == "{":
                depth += 1
            elif text[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        text = text[: m.start()] + text[k + 1 :]
    return text


def non_test_lines(text: str) -> int:
    """Lines before the first `#[cfg(test)]` module (blank lines included)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#[cfg(test)]"):
            rest = "\n".join(lines[i : i + 3])
            if "mod " in rest:
                return i
    return len(lines)


def module_name(src: Path, f: Path) -> str:
    rel = f.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    if parts == ["lib"]:
        return "crate"
    return "::".join(parts)


def expand_use(body: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    body = re.sub(r"\s+", "", body)
    i = body.find("{")
    if i < 0:
        return [re.sub(r"as" + WORD + "$", "", body)]
    prefix = body[:i]
    inner = body[i + 1 : body.rfind("}")]
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    if cur:
        items.append(cur)
    out = []
    for it in items:
        if it in ("", "self"):
            out.append(prefix.rstrip(":"))
        else:
            out.extend(prefix + p for p in expand_use(it))
    return out


def paths_in(text: str) -> list[str]:
    paths = []
    for m in re.finditer(r"\buse\s+((?:crate|super|self)\s*::[^;]*);", text):
        paths.extend(expand_use(m.group(1)))
    for m in re.finditer(r"(?<![:\w])((?:crate|super)(?:::" + WORD + r")+)", text):
        paths.append(m.group(1))
    return paths


def resolve(path: str, here: str, modules: set[str], is_dir_mod: bool, root_exports: dict[str, str]) -> str | None:
    segs = path.split("::")
    if segs[0] == "crate":
        base: list[str] = []
        segs = segs[1:]
    elif segs[0] == "super":
        base = here.split("::") if here != "crate" else []
        if not is_dir_mod:
            base = base[:-1]
        segs = segs[1:]
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
    elif segs[0] == "self":
        base = here.split("::") if here != "crate" else []
        if not is_dir_mod:
            return None  # self:: in a leaf file names its own items
        segs = segs[1:]
    else:
        return None
    best = None
    for n in range(len(segs), -1, -1):
        cand = "::".join(base + segs[:n])
        if cand in modules:
            best = cand
            rest = segs[n:]
            break
    if best is None or best == "":
        best = "crate"
        rest = segs
    if best == "crate" and rest and rest[0] in root_exports:
        return root_exports[rest[0]]
    return best


def layer_of(module: str) -> tuple[int, str]:
    """The layer of a module: the entry of LAYERS with the longest matching prefix."""
    best = None
    for prefix, layer, name in LAYERS:
        if module == prefix or module.startswith(prefix + "::"):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, layer, name)
    if best is None:
        return 99, "unlayered"
    return best[1], best[2]


def sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=str(Path(__file__).resolve().parent.parent / "dask-serde" / "src"))
    ap.add_argument("--edges", action="store_true", help="print every edge")
    ap.add_argument("--check", action="store_true", help="exit 1 if the layering rules are broken")
    args = ap.parse_args()
    src = Path(args.src)
    files = sorted(src.rglob("*.rs"))
    modules = {module_name(src, f) for f in files}
    modules.add("")
    raw_texts = {module_name(src, f): f.read_text() for f in files}
    texts = {m: strip(t) for m, t in raw_texts.items()}

    # names re-exported at the crate root -> defining module
    root_exports: dict[str, str] = {}
    for m in re.finditer(r"pub\s+use\s+([^;]*);", texts.get("crate", "")):
        for p in expand_use(m.group(1)):
            segs = p.split("::")
            name = segs[-1]
            for n in range(len(segs) - 1, 0, -1):
                cand = "::".join(segs[:n])
                if cand in modules:
                    root_exports[name] = cand
                    break

    graph: dict[str, set[str]] = {m: set() for m in modules if m}
    for f in files:
        here = module_name(src, f)
        is_dir = f.name in ("mod.rs", "lib.rs")
        for p in paths_in(texts[here]):
            target = resolve(p, here, modules, is_dir, root_exports)
            if target and target != here and target != "":
                graph[here].add(target)

    edges = sum(len(v) for v in graph.values())
    print(f"modules: {len(graph)}  import edges: {edges}")
    if args.edges:
        print("\n== edges")
        for m in sorted(graph):
            if graph[m]:
                print(f"{m} -> {', '.join(sorted(graph[m]))}")

    print("\n== import circles (strongly connected components of more than one module)")
    comps = [c for c in sccs({m: {t for t in ts if t != 'crate'} for m, ts in graph.items()}) if len(c) > 1]
    if not comps:
        print("none")
    for c in comps:
        tops = {m.split("::")[0] for m in c}
        where = (
            f"inside the folder {next(iter(tops))}/ (one concept over several files)"
            if len(tops) == 1
            else "across folders"
        )
        print(f"{len(c)} modules, {where}: {', '.join(c)}")

    print("\n== upward imports (from a lower layer to a higher one)")
    up = []
    allowed = []
    for m in sorted(graph):
        if m == "crate":
            continue
        lm, nm = layer_of(m)
        for t in sorted(graph[m]):
            if t == "crate":
                continue
            lt, nt = layer_of(t)
            if lt > lm:
                (allowed if (nm, nt) in ALLOWED_UP else up).append(f"{m} [{nm}] -> {t} [{nt}]")
    for line in up:
        print(line)
    print(f"{len(up)} upward imports")
    if allowed:
        print(f"(plus {len(allowed)} allowed family -> registry recursion imports: "
              + ", ".join(a.split(" ")[0] for a in allowed) + ")")

    print("\n== files over 800 non-test lines")
    big = []
    for f in files:
        n = non_test_lines(f.read_text())
        if n > 800:
            big.append((n, str(f.relative_to(src))))
    for n, f in sorted(big, reverse=True):
        print(f"{n:6} {f}")
    if not big:
        print("none")
    print("\n== files defining or extending `impl Registry`")
    registry_impls = []
    for f in files:
        if re.search(r"^\s*impl(<[^>]*>)?\s+Registry\b", strip(f.read_text()), flags=re.M):
            registry_impls.append(str(f.relative_to(src)))
            print(f.relative_to(src))

    if args.check:
        allowed_circle = {"family", "generic", "registry"}
        problems = []
        problems += [f"upward import: {u}" for u in up]
        for c in comps:
            tops = {m.split("::")[0] for m in c}
            if len(tops) > 1 and not tops <= allowed_circle:
                problems.append(f"import circle across folders: {', '.join(c)}")
        problems += [f"file over 800 non-test lines: {f} ({n})" for n, f in big]
        problems += [f"impl Registry outside registry.rs: {f}" for f in registry_impls if f != "registry.rs"]
        if problems:
            print("\n== check failed")
            for p in problems:
                print(p)
            sys.exit(1)
        print("\n== check passed")


if __name__ == "__main__":
    main()
