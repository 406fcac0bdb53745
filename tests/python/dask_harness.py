#!/usr/bin/env python3
"""Interop harness: real Dask (distributed 2026.8.0) behind a JSON-lines pipe.

A long-lived batch process. Each line on stdin is one JSON request; for each
request exactly one JSON line is written to stdout and flushed. Everything
else (warnings, logs, tracebacks) goes to stderr. Blank input lines are
ignored. End of input ends the process (exit status 0).

Ops (see tests/python/README.md for the full protocol):

  encode  {"case": DOC}                  -> {"frames": HEX}
  check   {"case": DOC, "frames": HEX[, "reference": true][, "placement": "dask"|"decoded"]}
                                         -> {"compared": N, "reference": ...} or {"error": ...}
  decode  {"case": DOC, "frames": HEX}   -> {"value": CANON}
  random  {"seed": N, "count": K, "kind": "plain"|"collections"|"generic"}
                                         -> {"cases": [DOC, ...]}
  ping                                   -> {"versions": {...}}

DOC is a vector document as in docs/PROTOCOL.md §13.2, CANON the
tagged-JSON value notation of PROTOCOL.md §13.3, HEX lowercase hex of a pack_frames blob.
Every response has "ok": true/false; on false, "error" is one line of text.
A request may carry "id"; it is echoed back unchanged.

The harness must run with PYTHONHASHSEED=0 (set iteration order is part of
the bytes); it re-executes itself with that setting if the environment lacks
it.
"""

from __future__ import annotations

import array
import enum
import importlib
import itertools
import json
import logging
import math
import os
import random
import re
import struct
import sys
import threading
import traceback
import types


def _bootstrap() -> None:
    """Run only when executed as a program: fix the hash seed, protect stdout."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ)
        env["PYTHONHASHSEED"] = "0"
        sys.stderr.write(
            "dask_harness: PYTHONHASHSEED is not 0; re-executing with PYTHONHASHSEED=0\n"
        )
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]], env)
    # Responses go to a private duplicate of fd 1; fd 1 itself (and sys.stdout)
    # is pointed at stderr so that no stray print() or C-level write can
    # corrupt the response stream.
    global _RESPONSES
    _RESPONSES = os.fdopen(os.dup(1), "w", encoding="utf-8", newline="\n")
    os.dup2(2, 1)
    sys.stdout = sys.stderr


_RESPONSES = None
if __name__ == "__main__":
    _bootstrap()

import msgpack  # noqa: E402
import numpy as np  # noqa: E402

import dask  # noqa: E402
import dask.config  # noqa: E402
import distributed  # noqa: E402
from distributed.protocol import core as dcore  # noqa: E402
import distributed.protocol.serialize  # noqa: E402
from distributed.protocol.serialize import (  # noqa: E402
    Serialize,
    ToPickle,
    deserialize,
    deserialize_bytes,
    merge_and_deserialize,
    register_generic,
    serialize,
    serialize_and_split,
    serialize_bytes,
)
from distributed.protocol.utils import msgpack_opts, pack_frames, unpack_frames  # noqa: E402

# The module (distributed.protocol re-exports a *function* named serialize).
dser = sys.modules["distributed.protocol.serialize"]

# Reference configuration only: ignore user/system dask config files and
# DASK_* environment variables (they could change split sizes, allowed
# imports, zstd level...).
dask.config.refresh(paths=[], env={})

# Dask logs (at CRITICAL) every failed protocol.loads/dumps, and pickle logs
# failures; expected errors would flood stderr. DASK_HARNESS_VERBOSE=1 keeps them.
if os.environ.get("DASK_HARNESS_VERBOSE") != "1":
    for _name in ("distributed.protocol", "distributed.protocol.core", "distributed.protocol.pickle"):
        logging.getLogger(_name).setLevel(logging.CRITICAL + 1)

SYNTH_ROOT = "dask_serde_test"
UNSERIALIZABLE_MODULE = "dask_serde_test.unserializable"


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class HarnessError(Exception):
    """A request the harness cannot carry out (bad case, bad hint, ...)."""


class Mismatch(Exception):
    """The decoded value differs from the expected one."""


def _one_line(text: str, limit: int = 4000) -> str:
    text = str(text).replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + "...(truncated)"


def _short(x, limit: int = 160) -> str:
    try:
        r = repr(x)
    except Exception as e:  # pragma: no cover
        r = f"<unrepresentable {type(x).__name__}: {e}>"
    return r if len(r) <= limit else r[:limit] + "..."


def _tname(x) -> str:
    t = type(x)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


# ---------------------------------------------------------------------------
# Canonical notation helpers
# ---------------------------------------------------------------------------

TAGS = (
    "bool", "int", "float", "str", "bytes", "bytearray", "memoryview", "pyarray",
    "list", "tuple", "set", "dict", "ndarray", "object", "serialized", "pickled",
    "enum", "unserializable",
)
_HEX_RE = re.compile(r"^(?:[0-9a-fA-F]{2})*$")
_FLOAT_RE = re.compile(
    r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)$", re.IGNORECASE
)
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TYPE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
NDARRAY_KEYS = {"dtype", "shape", "data", "items", "order", "noncontiguous", "broadcast_axes", "writeable"}


def split_tag(v, path: str):
    """Return (tag, body) of a canonical value; 'null' for JSON null."""
    if v is None:
        return "null", None
    if not isinstance(v, dict) or len(v) != 1:
        raise HarnessError(f"{path}: not a canonical value (need null or a one-key object): {_short(v)}")
    ((tag, body),) = v.items()
    if tag not in TAGS:
        raise HarnessError(f"{path}: unknown tag {tag!r}")
    return tag, body


def parse_hex(s, path: str) -> bytes:
    if not isinstance(s, str) or not _HEX_RE.match(s):
        raise HarnessError(f"{path}: expected a hex string, got {_short(s)}")
    return bytes.fromhex(s)


def parse_float(s, path: str) -> float:
    if not isinstance(s, str) or not _FLOAT_RE.match(s):
        raise HarnessError(f"{path}: float must be a repr string like \"1.5\"/\"nan\"/\"-0.0\", got {_short(s)}")
    return float(s)


def float_eq(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _int_list(v, path: str, what: str) -> list:
    if not isinstance(v, list) or not all(type(i) is int and i >= 0 for i in v):
        raise HarnessError(f"{path}: {what} must be a list of non-negative integers, got {_short(v)}")
    return v


def key_path(path: str, key_canon) -> str:
    if isinstance(key_canon, dict) and "str" in key_canon and len(key_canon) == 1:
        return f"{path}[{json.dumps(key_canon['str'], ensure_ascii=False)}]"
    return f"{path}[{json.dumps(key_canon, ensure_ascii=False, separators=(',', ':'))}]"


# ---------------------------------------------------------------------------
# Synthetic modules and classes
# ---------------------------------------------------------------------------

_OBJECT_CLASSES: dict[str, type] = {}
_ENUM_CLASSES: dict[str, type] = {}
_UNSER_CLASSES: dict[str, type] = {}


def _split_type(typ, path: str) -> tuple[str, str]:
    if not isinstance(typ, str) or not _TYPE_RE.match(typ):
        raise HarnessError(f"{path}: type must be a dotted name 'pkg.mod.Class', got {_short(typ)}")
    mod, _, name = typ.rpartition(".")
    return mod, name


def _is_synthetic(mod) -> bool:
    return getattr(mod, "__dask_serde_synthetic__", False) is True


def _synthetic_module(modname: str, path: str) -> types.ModuleType:
    """Return (creating if needed) a synthetic module; never touches real ones."""
    existing = sys.modules.get(modname)
    if existing is not None:
        if _is_synthetic(existing):
            return existing
        raise HarnessError(f"{path}: module {modname!r} is a real module; classes are only created in synthetic modules")
    parts = modname.split(".")
    if parts[0] == "__main__":
        raise HarnessError(f"{path}: classes in __main__ are not supported")
    try:
        importlib.import_module(modname)
    except ModuleNotFoundError:
        pass
    else:
        raise HarnessError(f"{path}: module {modname!r} exists on disk; refusing to define classes in it")
    parent = None
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        mod = sys.modules.get(name)
        if mod is None:
            mod = types.ModuleType(name, "synthetic module created by dask_harness.py")
            mod.__dask_serde_synthetic__ = True
            mod.__path__ = []  # a package, so that submodules are legal names
            sys.modules[name] = mod
            if parent is not None:
                setattr(parent, parts[i - 1], mod)
        elif not _is_synthetic(mod):
            raise HarnessError(
                f"{path}: cannot create synthetic module {modname!r} under the real package {name!r}"
            )
        parent = mod
    return parent


def object_class(typ: str, path: str) -> type:
    """Class for an `object` value: created on demand and register_generic'd."""
    cls = _OBJECT_CLASSES.get(typ)
    if cls is not None:
        return cls
    if typ in _ENUM_CLASSES:
        raise HarnessError(f"{path}: {typ!r} is already an Enum type, cannot be an object type")
    modname, name = _split_type(typ, path)
    mod = _synthetic_module(modname, path)
    if hasattr(mod, name):
        raise HarnessError(f"{path}: {modname}.{name} already exists as {_short(getattr(mod, name))}")
    cls = type(name, (), {"__module__": modname, "__qualname__": name,
                          "__doc__": "synthetic register_generic class (dask_harness.py)"})
    setattr(mod, name, cls)
    register_generic(cls)
    _OBJECT_CLASSES[typ] = cls
    return cls


def enum_member(typ: str, member, path: str):
    """Member of a real Enum class (if the module is importable) or of a synthetic one."""
    if not isinstance(member, str) or not _IDENT_RE.match(member):
        raise HarnessError(f"{path}: enum member name must be an identifier, got {_short(member)}")
    modname, name = _split_type(typ, path)
    if typ in _OBJECT_CLASSES:
        raise HarnessError(f"{path}: {typ!r} is already an object type, cannot be an Enum")
    cls = _ENUM_CLASSES.get(typ)
    if cls is None:
        mod = sys.modules.get(modname)
        if mod is None:
            try:
                mod = importlib.import_module(modname)
            except ModuleNotFoundError:
                mod = None
        if mod is not None and not _is_synthetic(mod):
            real = getattr(mod, name, None)
            if not (isinstance(real, type) and issubclass(real, enum.Enum)):
                raise HarnessError(f"{path}: {typ} is not an Enum class in the real module {modname!r}")
            if member not in real.__members__:
                raise HarnessError(f"{path}: {typ} has no member {member!r}")
            return real[member]
    if cls is None or member not in cls.__members__:
        members = list(cls.__members__) if cls is not None else []
        members.append(member)
        mod = _synthetic_module(modname, path)
        if cls is None and hasattr(mod, name):
            raise HarnessError(f"{path}: {modname}.{name} already exists as {_short(getattr(mod, name))}")
        cls = enum.Enum(name, [(m, i + 1) for i, m in enumerate(members)], module=modname, qualname=name)
        setattr(mod, name, cls)
        _ENUM_CLASSES[typ] = cls
    return cls[member]


def _refuse_reduce(self, *args):
    raise NotImplementedError(f"{type(self).__name__} refuses to be pickled (dask_harness 'unserializable')")


def unserializable_instance(name, path: str):
    if not isinstance(name, str) or not _IDENT_RE.match(name):
        raise HarnessError(f"{path}: unserializable name must be an identifier, got {_short(name)}")
    cls = _UNSER_CLASSES.get(name)
    if cls is None:
        mod = _synthetic_module(UNSERIALIZABLE_MODULE, path)
        # No dask serializer, not msgpack-able, and pickle/cloudpickle raise
        # NotImplementedError, which Dask's families treat as "not me": the
        # result is the 'error' family with exactly one message frame.
        cls = type(name, (), {"__module__": UNSERIALIZABLE_MODULE, "__qualname__": name,
                              "__reduce__": _refuse_reduce, "__reduce_ex__": _refuse_reduce,
                              "__repr__": lambda self: f"<unserializable {type(self).__name__}>"})
        setattr(mod, name, cls)
        _UNSER_CLASSES[name] = cls
    return object.__new__(cls)


def is_synthetic_object(x) -> bool:
    t = type(x)
    return _OBJECT_CLASSES.get(f"{t.__module__}.{t.__qualname__}") is t


# ---------------------------------------------------------------------------
# Canonical JSON -> Python
# ---------------------------------------------------------------------------


def parse_dtype(spec, path: str) -> np.dtype:
    if isinstance(spec, str):
        try:
            dt = np.dtype(spec)
        except Exception as e:
            raise HarnessError(f"{path}: bad dtype {spec!r}: {e}")
        if dt.str != spec:
            raise HarnessError(f"{path}: dtype must be written as numpy's dtype.str ({dt.str!r}), got {spec!r}")
        return dt
    if isinstance(spec, list):
        def conv(fields, p):
            if not isinstance(fields, list) or not fields:
                raise HarnessError(f"{p}: structured dtype descr must be a non-empty list")
            out = []
            for i, f in enumerate(fields):
                if not isinstance(f, list) or len(f) not in (2, 3):
                    raise HarnessError(f"{p}[{i}]: descr field must be [name, format] or [name, format, shape]")
                name = f[0]
                if isinstance(name, list) and len(name) == 2 and all(isinstance(n, str) for n in name):
                    name = tuple(name)
                elif not isinstance(name, str):
                    raise HarnessError(f"{p}[{i}]: field name must be a string or [title, name]")
                fmt = conv(f[1], f"{p}[{i}][1]") if isinstance(f[1], list) else f[1]
                if not isinstance(fmt, (str, list)):
                    raise HarnessError(f"{p}[{i}][1]: field format must be a string or a nested descr")
                if len(f) == 3:
                    out.append((name, fmt, tuple(_int_list(f[2], f"{p}[{i}][2]", "field shape"))))
                else:
                    out.append((name, fmt))
            return out
        try:
            return np.dtype(conv(spec, path))
        except HarnessError:
            raise
        except Exception as e:
            raise HarnessError(f"{path}: bad structured dtype {_short(spec)}: {e}")
    raise HarnessError(f"{path}: dtype must be a string or a descr list, got {_short(spec)}")


def descr_to_json(descr):
    out = []
    for f in descr:
        name = list(f[0]) if isinstance(f[0], tuple) else f[0]
        fmt = descr_to_json(f[1]) if isinstance(f[1], list) else f[1]
        item = [name, fmt]
        if len(f) == 3:
            item.append(list(f[2]))
        out.append(item)
    return out


def dtype_to_json(dt: np.dtype):
    return descr_to_json(dt.descr) if dt.fields is not None else dt.str


def build_ndarray(body, path: str) -> np.ndarray:
    if not isinstance(body, dict):
        raise HarnessError(f"{path}: ndarray body must be an object")
    extra = set(body) - NDARRAY_KEYS
    if extra:
        raise HarnessError(f"{path}: unknown ndarray keys {sorted(extra)}")
    if "dtype" not in body or "shape" not in body:
        raise HarnessError(f"{path}: ndarray needs 'dtype' and 'shape'")
    dt = parse_dtype(body["dtype"], path + ".dtype")
    shape = tuple(_int_list(body["shape"], path + ".shape", "shape"))
    n = math.prod(shape)
    if dt.hasobject:
        if "data" in body or "items" not in body:
            raise HarnessError(f"{path}: object arrays take 'items', not 'data'")
        if dt.fields is not None:
            raise HarnessError(f"{path}: structured dtypes with object fields are not supported")
        items = body["items"]
        if not isinstance(items, list) or len(items) != n:
            raise HarnessError(f"{path}.items: need a list of {n} values (C order)")
        flat = np.empty(n, dtype=dt)
        for i, it in enumerate(items):
            flat[i] = build(it, f"{path}.items[{i}]")
        a = flat.reshape(shape)
    else:
        if "items" in body or "data" not in body:
            raise HarnessError(f"{path}: non-object arrays take 'data', not 'items'")
        data = parse_hex(body["data"], path + ".data")
        if len(data) != n * dt.itemsize:
            raise HarnessError(
                f"{path}.data: {len(data)} bytes, but shape {list(shape)} x itemsize {dt.itemsize} needs {n * dt.itemsize}"
            )
        a = np.empty(shape, dtype=dt)  # numpy's own constructor (zero-size arrays get zero strides)
        if n:
            a[...] = np.frombuffer(data, dtype=dt).reshape(shape)

    order = body.get("order", "C")
    if order not in ("C", "F"):
        raise HarnessError(f"{path}.order: must be \"C\" or \"F\", got {_short(order)}")
    nonc = body.get("noncontiguous", False)
    if type(nonc) is not bool:
        raise HarnessError(f"{path}.noncontiguous: must be a boolean")
    writeable = body.get("writeable", True)
    if type(writeable) is not bool:
        raise HarnessError(f"{path}.writeable: must be a boolean")
    baxes = body.get("broadcast_axes")
    if sum([order == "F", nonc, baxes is not None]) > 1:
        raise HarnessError(f"{path}: 'order', 'noncontiguous' and 'broadcast_axes' cannot be combined")

    if order == "F":
        a = np.asfortranarray(a)
    elif nonc:
        if a.ndim == 0 or a.size < 2:
            raise HarnessError(f"{path}: a non-contiguous layout needs at least 2 elements")
        big = np.empty(shape[:-1] + (2 * shape[-1],), dtype=dt)
        view = big[..., ::2]
        view[...] = a
        a = view
        if a.flags.c_contiguous or a.flags.f_contiguous:
            raise HarnessError(f"{path}: could not build a non-contiguous view of shape {list(shape)}")
    elif baxes is not None:
        axes = _int_list(baxes, path + ".broadcast_axes", "broadcast_axes")
        if not axes or len(set(axes)) != len(axes) or any(ax >= a.ndim for ax in axes):
            raise HarnessError(f"{path}.broadcast_axes: need distinct axes < ndim={a.ndim}, got {axes}")
        if n == 0:
            raise HarnessError(f"{path}: broadcast_axes on a zero-size array")
        base = a[tuple(slice(0, 1) if i in axes else slice(None) for i in range(a.ndim))].copy()
        if np.ascontiguousarray(np.broadcast_to(base, shape)).tobytes() != np.ascontiguousarray(a).tobytes():
            raise HarnessError(f"{path}: data is not constant along broadcast_axes {axes}")
        if writeable:
            strides = tuple(0 if i in axes else s for i, s in enumerate(base.strides))
            a = np.lib.stride_tricks.as_strided(base, shape=shape, strides=strides, writeable=True)
        else:
            a = np.broadcast_to(base, shape)
    if not writeable:
        a.flags.writeable = False
    return a


def _set_in_order(s: set, items: list) -> set:
    """A set whose iteration order is `items` (the sender's order, PROTOCOL.md §13.3).

    Inserting in the listed order usually reproduces it; with colliding
    hashes it may not, so small sets try other insertion orders. If no
    insertion order gives the listed order, the natural set is returned (the
    encoding then follows Python's order, as a Python sender's would)."""
    want = [id(x) for x in items]
    if [id(x) for x in s] == want or len(items) > 7:
        return s
    for perm in itertools.permutations(items):
        t = set(perm)
        if [id(x) for x in t] == want:
            return t
    return s


def _fields_of(body, path: str) -> list[tuple[str, object]]:
    fields = body.get("fields")
    if isinstance(fields, dict):
        pairs = list(fields.items())
    elif isinstance(fields, list):
        pairs = []
        for i, p in enumerate(fields):
            if not isinstance(p, list) or len(p) != 2:
                raise HarnessError(f"{path}.fields[{i}]: need a [name, value] pair")
            pairs.append((p[0], p[1]))
    else:
        raise HarnessError(f"{path}.fields: must be an object or a list of [name, value] pairs")
    seen = set()
    for name, _ in pairs:
        if not isinstance(name, str):
            raise HarnessError(f"{path}.fields: field names must be strings, got {_short(name)}")
        if name in seen:
            raise HarnessError(f"{path}.fields: duplicate field {name!r}")
        seen.add(name)
    return pairs


def _check_keys(body, keys: set, path: str, what: str) -> None:
    if not isinstance(body, dict) or set(body) != keys:
        raise HarnessError(f"{path}: {what} body must be an object with exactly the keys {sorted(keys)}, got {_short(body)}")


def build(v, path: str = "value"):
    """Canonical tagged JSON (PROTOCOL.md §13.3) -> real Python object."""
    tag, body = split_tag(v, path)
    if tag == "null":
        return None
    if tag == "bool":
        if type(body) is not bool:
            raise HarnessError(f"{path}: bool body must be true/false")
        return body
    if tag == "int":
        if type(body) is not int:
            raise HarnessError(f"{path}: int body must be a JSON integer, got {_short(body)}")
        return body
    if tag == "float":
        return parse_float(body, path)
    if tag == "str":
        if not isinstance(body, str):
            raise HarnessError(f"{path}: str body must be a string")
        return body
    if tag == "bytes":
        return parse_hex(body, path)
    if tag == "bytearray":
        return bytearray(parse_hex(body, path))
    if tag == "memoryview":
        _check_keys(body, {"format", "shape", "data"}, path, "memoryview")
        fmt, data = body["format"], parse_hex(body["data"], path + ".data")
        shape = _int_list(body["shape"], path + ".shape", "shape")
        if not isinstance(fmt, str):
            raise HarnessError(f"{path}.format: must be a string")
        try:
            itemsize = struct.calcsize(fmt)
            if math.prod(shape) * itemsize != len(data):
                raise HarnessError(f"{path}: {len(data)} data bytes do not fit shape {shape} of format {fmt!r}")
            mv = memoryview(bytearray(data))
            if not data:
                if shape != [0]:
                    raise HarnessError(f"{path}: an empty memoryview can only have shape [0] (Python cannot cast to {shape})")
                return mv.cast(fmt)
            return mv.cast(fmt, shape) if (fmt != "B" or shape != [len(data)]) else mv
        except HarnessError:
            raise
        except Exception as e:
            raise HarnessError(f"{path}: cannot build memoryview format={fmt!r} shape={shape}: {e}")
    if tag == "pyarray":
        _check_keys(body, {"typecode", "data"}, path, "pyarray")
        tc, data = body["typecode"], parse_hex(body["data"], path + ".data")
        if not isinstance(tc, str) or len(tc) != 1 or tc not in array.typecodes:
            raise HarnessError(f"{path}.typecode: not an array.array typecode: {_short(tc)}")
        a = array.array(tc)
        if len(data) % a.itemsize:
            raise HarnessError(f"{path}.data: {len(data)} bytes is not a multiple of itemsize {a.itemsize}")
        a.frombytes(data)
        return a
    if tag in ("list", "tuple", "set"):
        if not isinstance(body, list):
            raise HarnessError(f"{path}: {tag} body must be a list")
        items = [build(x, f"{path}[{i}]") for i, x in enumerate(body)]
        if tag == "list":
            return items
        if tag == "tuple":
            return tuple(items)
        s = set()
        for i, x in enumerate(items):
            try:
                s.add(x)
            except TypeError:
                raise HarnessError(f"{path}[{i}]: set item of type {_tname(x)} is not hashable")
            if len(s) != i + 1:
                raise HarnessError(f"{path}[{i}]: duplicate set item {_short(x)}")
        return _set_in_order(s, items)
    if tag == "dict":
        if not isinstance(body, list):
            raise HarnessError(f"{path}: dict body must be a list of [key, value] pairs")
        d = {}
        for i, p in enumerate(body):
            if not isinstance(p, list) or len(p) != 2:
                raise HarnessError(f"{path}[{i}]: need a [key, value] pair")
            k = build(p[0], f"{path}[{i}].key")
            try:
                if k in d:
                    raise HarnessError(f"{path}[{i}]: duplicate key {_short(k)}")
            except TypeError:
                raise HarnessError(f"{path}[{i}]: key of type {_tname(k)} is not hashable")
            d[k] = build(p[1], key_path(path, p[0]))
        return d
    if tag == "ndarray":
        return build_ndarray(body, path)
    if tag == "object":
        if not isinstance(body, dict) or set(body) != {"type", "fields"}:
            raise HarnessError(f"{path}: object body needs exactly 'type' and 'fields'")
        cls = object_class(body["type"], path + ".type")
        obj = object.__new__(cls)
        for name, fv in _fields_of(body, path):
            obj.__dict__[name] = build(fv, f"{path}.fields.{name}")
        return obj
    if tag == "serialized":
        return Serialize(build(body, path + ".serialized"))
    if tag == "pickled":
        return ToPickle(build(body, path + ".pickled"))
    if tag == "enum":
        _check_keys(body, {"type", "name"}, path, "enum")
        return enum_member(body["type"], body["name"], path)
    if tag == "unserializable":
        return unserializable_instance(body, path)
    raise AssertionError(tag)  # pragma: no cover


# ---------------------------------------------------------------------------
# Python -> canonical JSON
# ---------------------------------------------------------------------------


def ndarray_to_canon(x: np.ndarray, path: str):
    out = {"dtype": dtype_to_json(x.dtype), "shape": list(x.shape)}
    if x.dtype.hasobject:
        out["items"] = [to_canon(x[idx], f"{path}.items[{i}]") for i, idx in enumerate(np.ndindex(x.shape))]
    else:
        out["data"] = np.ascontiguousarray(x).tobytes().hex()
    if x.size > 0:
        baxes = [i for i, (s, st) in enumerate(zip(x.shape, x.strides)) if st == 0 and s > 1]
        if baxes:
            out["broadcast_axes"] = baxes
        elif x.ndim > 1 and x.flags.f_contiguous and not x.flags.c_contiguous:
            out["order"] = "F"
        elif not (x.flags.c_contiguous or x.flags.f_contiguous):
            out["noncontiguous"] = True
    if not x.flags.writeable:
        out["writeable"] = False
    return {"ndarray": out}


def to_canon(x, path: str = "value"):
    """Real Python object -> canonical tagged JSON (exact types)."""
    t = type(x)
    if x is None:
        return None
    if t is bool:
        return {"bool": x}
    if t is int:
        return {"int": x}
    if t is float:
        return {"float": repr(x)}
    if t is str:
        return {"str": x}
    if t is bytes:
        return {"bytes": x.hex()}
    if t is bytearray:
        return {"bytearray": x.hex()}
    if t is memoryview:
        return {"memoryview": {"format": x.format, "shape": list(x.shape), "data": x.tobytes().hex()}}
    if t is array.array:
        return {"pyarray": {"typecode": x.typecode, "data": x.tobytes().hex()}}
    if t is list:
        return {"list": [to_canon(v, f"{path}[{i}]") for i, v in enumerate(x)]}
    if t is tuple:
        return {"tuple": [to_canon(v, f"{path}[{i}]") for i, v in enumerate(x)]}
    if t is set:
        return {"set": [to_canon(v, f"{path}[{i}]") for i, v in enumerate(x)]}
    if t is dict:
        pairs = []
        for i, (k, v) in enumerate(x.items()):
            kc = to_canon(k, f"{path}[{i}].key")
            pairs.append([kc, to_canon(v, key_path(path, kc))])
        return {"dict": pairs}
    if t is np.ndarray:
        return ndarray_to_canon(x, path)
    if isinstance(x, enum.Enum):
        return {"enum": {"type": f"{t.__module__}.{t.__qualname__}", "name": x.name}}
    if is_synthetic_object(x):
        return {"object": {"type": f"{t.__module__}.{t.__qualname__}",
                           "fields": {k: to_canon(v, f"{path}.fields.{k}") for k, v in x.__dict__.items()}}}
    raise HarnessError(f"{path}: no canonical notation for a value of type {_tname(x)}: {_short(x)}")


# ---------------------------------------------------------------------------
# Message frame-0 structure (raw msgpack tree, no object hooks)
# ---------------------------------------------------------------------------


def raw_kind(raw) -> str:
    """How Dask's protocol.loads interprets a map of frame 0."""
    if not isinstance(raw, dict):
        return "tuple" if isinstance(raw, tuple) else "plain"
    try:
        if raw.get("__Serialized__", 0) > 0:
            return "serialized"
        if raw.get("__Pickled__", 0) > 0:
            return "pickled"
    except TypeError:
        return "invalid"
    if "__Enum__" in raw:
        return "enum"
    if "__Set__" in raw:
        return "set"
    if "__Serialized__" in raw:
        return "nested-serialized"
    return "map"


def load_sub_header(frames, offset):
    return msgpack.loads(frames[offset], object_hook=dser.msgpack_decode_default, use_list=False, **msgpack_opts)


# ---------------------------------------------------------------------------
# Decoding with real Dask
# ---------------------------------------------------------------------------


SER_PARAMS = {
    "serialize": {"api", "serializers", "on_error", "context", "iterate_collection"},
    "serialize_and_split": {"api", "serializers", "on_error", "context", "size"},
    "serialize_bytes": {"api", "serializers", "on_error", "context", "size", "compression"},
}
MSG_PARAMS = {"serializers", "on_error", "context", "frame_split_size"}


def case_settings(case) -> tuple[str, dict, str | None, list | None]:
    """Validate a case document; return (level, params, api, deserializers)."""
    if not isinstance(case, dict):
        raise HarnessError("case must be a JSON object (a vector document)")
    level = case.get("level")
    if level not in ("serialize", "message"):
        raise HarnessError(f"case.level must be \"serialize\" or \"message\", got {_short(level)}")
    params = case.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise HarnessError("case.params must be an object")
    api = None
    if level == "serialize":
        api = params.get("api", "serialize")
        if api not in SER_PARAMS:
            raise HarnessError(f"case.params.api: unknown api {_short(api)}")
        extra = set(params) - SER_PARAMS[api]
    else:
        extra = set(params) - MSG_PARAMS
    if extra:
        raise HarnessError(f"case.params: unknown or inapplicable keys {sorted(extra)} for level={level} api={api}")
    ser = params.get("serializers")
    if ser is not None and (not isinstance(ser, list) or not all(isinstance(s, str) for s in ser)):
        raise HarnessError("case.params.serializers must be a list of family names")
    dparams = case.get("decode_params", {}) or {}
    if not isinstance(dparams, dict) or set(dparams) - {"deserializers"}:
        raise HarnessError(f"case.decode_params: only 'deserializers' is supported, got {_short(dparams)}")
    deser = dparams.get("deserializers")
    if deser is not None and (not isinstance(deser, list) or not all(isinstance(s, str) for s in deser)):
        raise HarnessError("case.decode_params.deserializers must be a list of family names or null")
    if deser is not None and api == "serialize_bytes":
        raise HarnessError("deserialize_bytes() has no deserializers argument; drop decode_params.deserializers")
    expect = case.get("expect")
    if expect not in (None, "error"):
        raise HarnessError(f"case.expect must be absent or \"error\", got {_short(expect)}")
    return level, params, api, deser


class Decoded:
    """What real Dask decoded, plus the wire structure needed to compare it."""

    def __init__(self, value, frames, header=None, raw=None):
        self.value = value
        self.frames = frames  # list of memoryviews (all frames of the blob)
        self.header = header  # serialize level: frame 0 decoded afresh
        self.raw = raw  # message level: frame 0 without object hooks


def dask_decode(level: str, params: dict, api: str | None, deser, blob: bytes) -> Decoded:
    """Decode a pack_frames blob exactly as Dask's receiving side does."""
    buf = bytearray(blob)  # writeable, like a comm's receive buffer
    if level == "message":
        frames = unpack_frames(buf)
        value = dcore.loads(frames, deserializers=deser)
        raw = msgpack.loads(frames[0], use_list=False, **msgpack_opts)
        return Decoded(value, frames, raw=raw)
    if api == "serialize_bytes":
        value = deserialize_bytes(buf)
        frames = unpack_frames(bytes(blob))
    else:
        frames = unpack_frames(buf)
        header = msgpack.loads(frames[0], raw=False, use_list=False, strict_map_key=False)
        if api == "serialize_and_split":
            value = merge_and_deserialize(header, frames[1:], deserializers=deser)
        else:
            value = deserialize(header, frames[1:], deserializers=deser)
    # Dask mutates headers while decoding (pops 'key'): decode frame 0 afresh.
    header = msgpack.loads(frames[0], use_list=False, **msgpack_opts) if len(frames[0]) else {}
    return Decoded(value, frames, header=header)


# ---------------------------------------------------------------------------
# Frame accounting (Python silently clamps frame ranges; we do not)
# ---------------------------------------------------------------------------


def check_pack_frames_layout(blob: bytes) -> None:
    if len(blob) < 8:
        raise Mismatch(f"pack_frames blob: {len(blob)} bytes, too short for the frame count")
    (n,) = struct.unpack_from("<Q", blob, 0)
    if 8 + 8 * n > len(blob):
        raise Mismatch(f"pack_frames blob: frame count {n} needs {8 + 8 * n} prelude bytes, blob has {len(blob)}")
    lengths = struct.unpack_from(f"<{n}Q", blob, 8)
    total = 8 + 8 * n + sum(lengths)
    if total != len(blob):
        raise Mismatch(f"pack_frames blob: prelude describes {total} bytes, blob has {len(blob)}")


def _is_generic_sub(sub) -> bool:
    return isinstance(sub, dict) and "simple" in sub and "complex" in sub and "type-serialized" in sub


def frames_needed(h, path: str):
    """Frames a (merged) serialize header consumes, or None if unknowable."""
    if not isinstance(h, dict):
        raise Mismatch(f"{path}: header is not a map: {_short(h)}")
    if "is-collection" in h:
        subs, lens = h.get("sub-headers"), h.get("frame-lengths")
        if not isinstance(subs, tuple) or not isinstance(lens, tuple) or len(subs) != len(lens):
            raise Mismatch(f"{path}: collection header needs sub-headers and frame-lengths of equal length")
        for i, (s, n) in enumerate(zip(subs, lens)):
            need = frames_needed(s, f"{path}.sub-headers[{i}]")
            if need is not None and need != n:
                raise Mismatch(f"frame accounting: {path}.frame-lengths[{i}] is {n} but that element's header uses {need} frame(s)")
        return sum(lens)
    ser = h.get("serializer")
    if ser == "dask":
        sub = h.get("sub-header")
        if _is_generic_sub(sub):
            return generic_needed(sub, path + ".sub-header")
        typ = h.get("type")
        if typ in ("bytes", "bytearray", "memoryview", "array.array"):
            return 1
        if typ == "numpy.ndarray" and isinstance(sub, dict) and not sub.get("pickle"):
            return 1
        return None
    if ser == "pickle":
        w = h.get("writeable", ())
        return 1 + len(w) if isinstance(w, tuple) else None
    if ser == "msgpack":
        return 1
    return None


def generic_needed(sub, path: str) -> int:
    pos = 0
    cx = sub.get("complex")
    if not isinstance(cx, dict):
        raise Mismatch(f"{path}.complex: not a map")
    for name, e in cx.items():
        p = f"{path}.complex[{name!r}]"
        if not isinstance(e, dict) or not {"header", "start", "stop"} <= set(e):
            raise Mismatch(f"{p}: needs header/start/stop")
        start, stop, h = e["start"], e["stop"], e["header"]
        if start != pos or type(stop) is not int or stop < start:
            raise Mismatch(f"frame accounting: {p} has start={start} stop={stop}, expected start={pos}")
        nd = h.get("nested-dict") if isinstance(h, dict) else None
        need = generic_needed(nd, p + ".header.nested-dict") if nd else frames_needed(h, p + ".header")
        if need is not None and need != stop - start:
            raise Mismatch(f"frame accounting: {p} spans {stop - start} frame(s) but its header uses {need}")
        pos = stop
    return pos


def check_split_accounting(h, nframes: int, path: str) -> int:
    """Validate split keys against nframes; return the merged frame count."""
    if "split-num-sub-frames" not in h:
        if "split-offsets" in h:
            raise Mismatch(f"{path}: split-offsets without split-num-sub-frames")
        return nframes
    nsub, offs = h["split-num-sub-frames"], h.get("split-offsets")
    if not isinstance(nsub, tuple) or not isinstance(offs, tuple) or len(nsub) != len(offs):
        raise Mismatch(f"{path}: split-num-sub-frames and split-offsets must be arrays of equal length")
    pos = 0
    for i, (n, o) in enumerate(zip(nsub, offs)):
        if o != pos:
            raise Mismatch(f"frame accounting: {path}.split-offsets[{i}] is {o}, expected {pos}")
        pos += n
    if pos != nframes:
        raise Mismatch(f"frame accounting: split-num-sub-frames add up to {pos} but {nframes} frame(s) follow")
    return len(nsub)


def check_serialize_accounting(dec: Decoded, api: str) -> None:
    h, n = dec.header, len(dec.frames) - 1
    if api == "serialize_bytes" and h.get("count") != n:
        raise Mismatch(f"frame accounting: header count={h.get('count')!r} but {n} frame(s) follow")
    comp = h.get("compression")
    if api in ("serialize_and_split", "serialize_bytes") and comp is not None and len(comp) != n:
        raise Mismatch(f"frame accounting: compression has {len(comp)} entries for {n} frame(s)")
    merged = check_split_accounting(h, n, "header")
    need = frames_needed(h, "header")
    if need is not None and need != merged:
        raise Mismatch(f"frame accounting: the header uses {need} frame(s) but {merged} are present")


def check_message_accounting(dec: Decoded) -> None:
    nframes = len(dec.frames)

    def walk(node, path):
        kind = raw_kind(node)
        if kind in ("serialized", "pickled"):
            k = int(node["__Serialized__" if kind == "serialized" else "__Pickled__"])
            if k >= nframes:
                raise Mismatch(f"frame accounting: {path} references frame {k}, message has {nframes}")
            sub = load_sub_header(dec.frames, k) if kind == "serialized" else msgpack.loads(dec.frames[k])
            n = sub.get("num-sub-frames")
            if type(n) is not int or k + 1 + n > nframes:
                raise Mismatch(f"frame accounting: {path} sub-header num-sub-frames={n!r} runs past the {nframes} frames")
            comp = sub.get("compression")
            if comp is not None and len(comp) != n:
                raise Mismatch(f"frame accounting: {path} compression has {len(comp)} entries for {n} frame(s)")
            if kind == "serialized":
                merged = check_split_accounting(sub, n, path + ".sub-header")
                need = frames_needed(sub, path + ".sub-header")
                if need is not None and need != merged:
                    raise Mismatch(f"frame accounting: {path} header uses {need} frame(s), payload has {merged}")
            return
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}[{_short(k, 40)}]")
        elif isinstance(node, tuple):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(dec.raw, "frame0")


# ---------------------------------------------------------------------------
# Comparison (PROTOCOL.md §13.3 rules)
# ---------------------------------------------------------------------------


class Comparer:
    """Walks the expected canonical value, the decoded value and the wire
    structure together. `loose` = the value travelled through msgpack
    (list≈tuple, bytearray≈bytes)."""

    def __init__(self, frames=None, strict_placement=True):
        self.count = 0
        self.frames = frames
        # False: a register_generic attribute may travel in 'simple' or
        # 'complex' whatever Dask itself would choose (the Rust derive sends
        # buffers as frames on purpose); the decoded value must still match.
        self.strict_placement = strict_placement

    def fail(self, path, msg):
        raise Mismatch(f"{path}: {msg}")

    def expect_type(self, act, types_, path, what):
        if type(act) not in types_:
            self.fail(path, f"expected {what}, decoded {_tname(act)} {_short(act)}")

    # -- plain walk -----------------------------------------------------
    def plain(self, exp, act, path, loose, dask_sub=None):
        tag, body = split_tag(exp, path)
        self.count += 1
        if tag == "null":
            if act is not None:
                self.fail(path, f"expected None, decoded {_tname(act)} {_short(act)}")
        elif tag == "bool":
            self.expect_type(act, (bool,), path, "bool")
            if act != body:
                self.fail(path, f"expected {body}, decoded {act}")
        elif tag == "int":
            self.expect_type(act, (int,), path, "int")
            if act != body:
                self.fail(path, f"expected {body}, decoded {act}")
        elif tag == "float":
            self.expect_type(act, (float,), path, "float")
            if not float_eq(parse_float(body, path), act):
                self.fail(path, f"expected {body}, decoded {act!r}")
        elif tag == "str":
            self.expect_type(act, (str,), path, "str")
            if act != body:
                self.fail(path, f"expected {_short(body)}, decoded {_short(act)}")
        elif tag in ("bytes", "bytearray"):
            want = parse_hex(body, path)
            allowed = (bytes, bytearray) if (loose and tag == "bytearray") else ((bytes,) if tag == "bytes" else (bytearray,))
            self.expect_type(act, allowed, path, tag + (" (or bytes: travelled through msgpack)" if len(allowed) == 2 else ""))
            if bytes(act) != want:
                self.fail(path, f"bytes differ: expected {len(want)} bytes {_short(want)}, decoded {len(act)} bytes {_short(bytes(act))}")
        elif tag == "memoryview":
            mv = build(exp, path)
            if loose and type(act) is bytes:
                if act != mv.tobytes():
                    self.fail(path, "memoryview data differs (decoded as bytes: travelled through msgpack)")
                return
            self.expect_type(act, (memoryview,), path, "memoryview")
            if act.format != mv.format:
                self.fail(path + ".format", f"expected {mv.format!r}, decoded {act.format!r}")
            if list(act.shape) != list(mv.shape):
                self.fail(path + ".shape", f"expected {list(mv.shape)}, decoded {list(act.shape)}")
            if act.tobytes() != mv.tobytes():
                self.fail(path + ".data", f"data differs: expected {mv.tobytes().hex()[:80]}, decoded {act.tobytes().hex()[:80]}")
        elif tag == "pyarray":
            a = build(exp, path)
            self.expect_type(act, (array.array,), path, "array.array")
            if act.typecode != a.typecode:
                self.fail(path + ".typecode", f"expected {a.typecode!r}, decoded {act.typecode!r}")
            if act.tobytes() != a.tobytes():
                self.fail(path + ".data", "data differs")
        elif tag in ("list", "tuple"):
            allowed = (list, tuple) if loose else ((list,) if tag == "list" else (tuple,))
            self.expect_type(act, allowed, path, tag + (" (list or tuple: travelled through msgpack)" if loose else ""))
            self.seq_len(body, act, path)
            for i, (e, a) in enumerate(zip(body, act)):
                self.plain(e, a, f"{path}[{i}]", loose)
        elif tag == "set":
            self.expect_type(act, (set,), path, "set")
            self.set_items(body, act, path, loose)
        elif tag == "dict":
            self.expect_type(act, (dict,), path, "dict")
            self.seq_len(body, act, path, "entries")
            for i, (p, (ak, av)) in enumerate(zip(body, act.items())):
                self.pair(p, path, i)
                self.plain(p[0], ak, f"{path}.keys[{i}]", loose)
                self.plain(p[1], av, key_path(path, p[0]), loose)
        elif tag == "ndarray":
            self.ndarray(body, act, path, dask_sub)
        elif tag == "object":
            self.obj_type(body, act, path)
            fields = _fields_of(body, path)
            names = [n for n, _ in fields]
            order_ok = list(act.__dict__) == names
            if not self.strict_placement:
                # the decoded order follows the simple/complex split, which
                # is free under placement "decoded": compare as sets
                order_ok = sorted(act.__dict__) == sorted(names)
            if not order_ok:
                self.fail(path + ".fields", f"expected fields {names} (in this order), decoded {list(act.__dict__)}")
            for n, fv in fields:
                self.plain(fv, act.__dict__[n], f"{path}.fields.{n}", loose)
        elif tag == "enum":
            self.enum(body, act, path)
        elif tag in ("serialized", "pickled"):
            self.fail(path, f"'{tag}' marks a message payload; it cannot appear inside this value")
        elif tag == "unserializable":
            self.fail(path, f"an unserializable value cannot decode successfully, decoded {_tname(act)} {_short(act)}")
        else:  # pragma: no cover
            raise AssertionError(tag)

    def pair(self, p, path, i):
        if not isinstance(p, list) or len(p) != 2:
            raise HarnessError(f"{path}[{i}]: need a [key, value] pair")

    def seq_len(self, body, act, path, what="items"):
        if not isinstance(body, list):
            raise HarnessError(f"{path}: body must be a list")
        if len(body) != len(act):
            self.fail(path, f"expected {len(body)} {what}, decoded {len(act)}: {_short(act)}")

    def set_items(self, body, act, path, loose):
        self.seq_len(body, act, path)
        remaining = list(act)
        for i, e in enumerate(body):
            for j, a in enumerate(remaining):
                saved = self.count
                try:
                    self.plain(e, a, f"{path}[{i}]", loose)
                except Mismatch:
                    self.count = saved
                    continue
                del remaining[j]
                break
            else:
                self.fail(f"{path}[{i}]", f"no item of the decoded set matches the expected {_short(e)}; unmatched decoded items: {_short(remaining)}")

    def obj_type(self, body, act, path):
        if not isinstance(body, dict) or "type" not in body:
            raise HarnessError(f"{path}: object body needs 'type'")
        t = type(act)
        got = f"{t.__module__}.{t.__qualname__}"
        if got != body["type"] or not hasattr(act, "__dict__"):
            self.fail(path, f"expected an instance of {body['type']}, decoded {_tname(act)} {_short(act)}")

    def enum(self, body, act, path):
        _check_keys(body, {"type", "name"}, path, "enum")
        if not isinstance(act, enum.Enum):
            self.fail(path, f"expected enum {body['type']}.{body['name']}, decoded {_tname(act)} {_short(act)}")
        t = type(act)
        got = f"{t.__module__}.{t.__qualname__}"
        if got != body["type"] or act.name != body["name"]:
            self.fail(path, f"expected enum {body['type']}.{body['name']}, decoded {got}.{act.name}")

    def ndarray(self, body, act, path, dask_sub):
        if not isinstance(body, dict) or set(body) - NDARRAY_KEYS:
            raise HarnessError(f"{path}: bad ndarray body")
        if type(act) is not np.ndarray:
            self.fail(path, f"expected numpy.ndarray, decoded {_tname(act)} {_short(act)}")
        dt = parse_dtype(body["dtype"], path + ".dtype")
        want_dt, got_dt = dtype_to_json(dt), dtype_to_json(act.dtype)
        if want_dt != got_dt or act.dtype != dt:
            self.fail(path + ".dtype", f"expected {json.dumps(want_dt)}, decoded {json.dumps(got_dt)}")
        shape = _int_list(body["shape"], path + ".shape", "shape")
        if list(act.shape) != shape:
            self.fail(path + ".shape", f"expected {shape}, decoded {list(act.shape)}")
        if dt.hasobject:
            items = body.get("items")
            if not isinstance(items, list) or len(items) != act.size:
                raise HarnessError(f"{path}.items: need {act.size} items")
            for i, (idx, e) in enumerate(zip(np.ndindex(act.shape), items)):
                self.plain(e, act[idx], f"{path}.items[{i}]", False)
        else:
            want = parse_hex(body.get("data"), path + ".data")
            got = np.ascontiguousarray(act).tobytes()
            if got != want:
                off = next((i for i, (x, y) in enumerate(zip(got, want)) if x != y), min(len(got), len(want)))
                self.fail(path + ".data", f"data differs at byte {off} (expected {len(want)} bytes, decoded {len(got)}): "
                          f"expected ...{want[off:off + 16].hex()}, decoded ...{got[off:off + 16].hex()}")
        # Layout hints with a decode-side meaning.
        if body.get("order") == "F" and act.ndim > 1 and act.size > 1:
            if not act.flags.f_contiguous:
                self.fail(path + ".order", f"expected a Fortran-contiguous array, decoded strides {act.strides}")
            if sum(1 for s in act.shape if s > 1) > 1 and act.flags.c_contiguous:
                self.fail(path + ".order", "expected Fortran order, decoded a C-contiguous array")
        want_w = body.get("writeable", True)
        on_wire = isinstance(dask_sub, dict) and not dask_sub.get("pickle")
        if want_w is False and act.flags.writeable:
            self.fail(path + ".writeable", "expected a read-only array, decoded a writeable one")
        if on_wire and want_w is True and not act.flags.writeable:
            self.fail(path + ".writeable", "expected a writeable array, decoded a read-only one")
        if on_wire and body.get("broadcast_axes") and act.size > 0:
            for ax in body["broadcast_axes"]:
                if ax < act.ndim and act.shape[ax] > 1 and act.strides[ax] != 0:
                    self.fail(path + ".broadcast_axes", f"axis {ax} should decode as a broadcast (stride 0) axis, strides are {act.strides}")

    # -- serialize-level walk (header-aware) ----------------------------
    def ser(self, exp, act, h, path):
        tag, body = split_tag(exp, path)
        if tag == "serialized":  # to_serialize(...) given directly to serialize()
            return self.ser(body, act, h, path + ".serialized")
        if not isinstance(h, dict):
            self.fail(path, f"header is not a map: {_short(h)}")
        if "is-collection" in h:
            ts = h.get("type-serialized")
            self.count += 1
            if tag not in ("list", "tuple", "set", "dict"):
                self.fail(path, f"the wire has a {ts!r} collection header but the expected value is a {tag}")
            if ts != tag:
                self.fail(path, f"expected a {tag}, the collection header says {ts!r}")
            self.expect_type(act, ({"list": list, "tuple": tuple, "set": set, "dict": dict}[tag],), path, tag)
            subs = h.get("sub-headers", ())
            self.seq_len(body, act, path)
            if len(subs) != len(body):
                self.fail(path, f"collection header has {len(subs)} sub-headers for {len(body)} expected items")
            if tag == "set":
                self.set_items(body, act, path, False)
            elif tag == "dict":
                for i, (p, (ak, av), sh) in enumerate(zip(body, act.items(), subs)):
                    self.pair(p, path, i)
                    self.plain(p[0], ak, f"{path}.keys[{i}]", True)  # keys travelled in msgpack ('key')
                    self.ser(p[1], av, sh, key_path(path, p[0]))
            else:
                for i, (e, a, sh) in enumerate(zip(body, act, subs)):
                    self.ser(e, a, sh, f"{path}[{i}]")
            return
        fam = h.get("serializer")
        if fam == "dask":
            sub = h.get("sub-header")
            if _is_generic_sub(sub):
                return self.generic(exp, act, sub, path)
            return self.plain(exp, act, path, False, dask_sub=sub)
        if fam == "pickle":
            return self.plain(exp, act, path, False)
        if fam == "msgpack":
            return self.plain(exp, act, path, True)
        self.fail(path, f"header serializer {fam!r} decoded without error; expected dask/pickle/msgpack")

    def generic(self, exp, act, sub, path, nested_dict=False):
        tag, body = split_tag(exp, path)
        self.count += 1
        simple, cx = sub.get("simple"), sub.get("complex")
        if not isinstance(simple, dict) or not isinstance(cx, dict):
            self.fail(path, "register_generic header needs 'simple' and 'complex' maps")
        if nested_dict or tag == "dict":
            if tag != "dict":
                self.fail(path, f"the wire has a nested-dict but the expected value is a {tag}")
            self.expect_type(act, (dict,), path, "dict")
            fields = []
            for i, p in enumerate(body):
                self.pair(p, path, i)
                fields.append((build(p[0], f"{path}[{i}].key"), p[1], key_path(path, p[0])))
            actd = act
        else:
            if tag != "object":
                self.fail(path, f"the wire has a register_generic object but the expected value is a {tag}")
            self.obj_type(body, act, path)
            fields = [(n, v, f"{path}.fields.{n}") for n, v in _fields_of(body, path)]
            actd = act.__dict__
        names = [n for n, _, _ in fields]
        dup = set(simple) & set(cx)
        if dup:
            self.fail(path, f"fields {sorted(map(repr, dup))} are in both 'simple' and 'complex'")
        wire = set(simple) | set(cx)
        if wire != set(names):
            self.fail(path, f"wire fields {sorted(map(repr, wire))} differ from expected {sorted(map(repr, names))}")
        # Dask rebuilds __dict__ simple-first, each part in wire order; the
        # expected decoded order is the expected order split the same way.
        want_order = [n for n in names if n in simple] + [n for n in names if n in cx]
        if list(actd) != want_order:
            self.fail(path, f"decoded field order {list(actd)}, expected {want_order} (simple fields first, then complex, each in __dict__ order)")
        for n, ev, p in fields:
            is_simple = dser._is_msgpack_serializable(build(ev, p))
            if self.strict_placement and is_simple != (n in simple):
                self.fail(p, f"travelled in {'simple' if n in simple else 'complex'}, but Dask's register_generic puts this value in {'simple' if is_simple else 'complex'}")
            if n in simple:
                self.plain(ev, actd[n], p, True)
            else:
                hh = cx[n].get("header") if isinstance(cx[n], dict) else None
                nd = hh.get("nested-dict") if isinstance(hh, dict) else None
                if nd:
                    self.generic(ev, actd[n], nd, p, nested_dict=True)
                else:
                    self.ser(ev, actd[n], hh, p)

    # -- message-level walk ---------------------------------------------
    def msg(self, exp, act, raw, path):
        tag, body = split_tag(exp, path)
        kind = raw_kind(raw)
        if tag == "serialized":
            self.count += 1
            if kind != "serialized":
                self.fail(path, f"expected a to_serialize payload ({{'__Serialized__': k}}), frame 0 has {_short(raw)}")
            h = load_sub_header(self.frames, int(raw["__Serialized__"]))
            return self.ser(body, act, h, path + ".serialized")
        if tag == "pickled":
            self.count += 1
            if kind != "pickled":
                self.fail(path, f"expected a ToPickle payload ({{'__Pickled__': k}}), frame 0 has {_short(raw)}")
            return self.plain(body, act, path + ".pickled", False)
        if kind in ("serialized", "pickled", "nested-serialized", "invalid"):
            self.fail(path, f"frame 0 has a {kind} payload {_short(raw)} where a plain {tag} is expected")
        if tag == "enum" and kind != "enum":
            self.fail(path, f"expected an __Enum__ map, frame 0 has {_short(raw)}")
        if tag == "set" and kind != "set":
            self.fail(path, f"expected a __Set__ map, frame 0 has {_short(raw)}")
        if tag == "dict":
            if kind != "map":
                self.fail(path, f"expected a plain map, frame 0 has a {kind}: {_short(raw)}")
            self.count += 1
            self.expect_type(act, (dict,), path, "dict")
            self.seq_len(body, act, path, "entries")
            if len(raw) != len(act):  # pragma: no cover - same decoder
                self.fail(path, "frame 0 map and decoded dict differ in size")
            for i, (p, (ak, av), rv) in enumerate(zip(body, act.items(), raw.values())):
                self.pair(p, path, i)
                self.plain(p[0], ak, f"{path}.keys[{i}]", True)
                self.msg(p[1], av, rv, key_path(path, p[0]))
            return
        if tag in ("list", "tuple"):
            if kind != "tuple":
                self.fail(path, f"expected a msgpack array, frame 0 has {_short(raw)}")
            self.count += 1
            self.expect_type(act, (list, tuple), path, f"{tag} (list or tuple: travelled through msgpack)")
            self.seq_len(body, act, path)
            for i, (e, a, r) in enumerate(zip(body, act, raw)):
                self.msg(e, a, r, f"{path}[{i}]")
            return
        return self.plain(exp, act, path, True)


def compare(case, level, api, dec: Decoded, strict_placement: bool = True) -> int:
    cmp = Comparer(dec.frames, strict_placement)
    if level == "message":
        cmp.msg(case["value"], dec.value, dec.raw, "value")
    else:
        cmp.ser(case["value"], dec.value, dec.header, "value")
    if cmp.count == 0:  # pragma: no cover - every walk compares its root
        raise AssertionError("comparison compared nothing")
    return cmp.count


# ---------------------------------------------------------------------------
# Encoding with real Dask
# ---------------------------------------------------------------------------


def dask_encode(case) -> bytes:
    level, params, api, _ = case_settings(case)
    if "value" not in case:
        raise HarnessError("case has no 'value' to encode")
    value = build(case["value"])
    kw = {k: params[k] for k in ("serializers", "on_error", "context") if k in params}
    if level == "message":
        if "frame_split_size" in params:
            kw["frame_split_size"] = params["frame_split_size"]
        return pack_frames(dcore.dumps(value, **kw))
    if api == "serialize":
        if "iterate_collection" in params:
            kw["iterate_collection"] = params["iterate_collection"]
        header, frames = serialize(value, **kw)
    elif api == "serialize_and_split":
        header, frames = serialize_and_split(value, size=params.get("size"), **kw)
    else:
        if "size" in params:
            kw["size"] = params["size"]
        # PROTOCOL.md §13.2: absent compression means no compression (Dask's own default is "auto").
        return serialize_bytes(value, compression=params.get("compression"), **kw)
    return pack_frames([msgpack.dumps(header, use_bin_type=True), *frames])


# ---------------------------------------------------------------------------
# Type discovery for `decode` without an expected value
# ---------------------------------------------------------------------------


def _parse_class_pickle(b: bytes):
    """(module, qualname) of a PROTOCOL.md §5.1 reference class pickle, or None."""
    try:
        if b[:3] != b"\x80\x05\x95" or len(b) < 11:
            return None
        pos = 11
        out = []
        for _ in range(2):
            op = b[pos]
            if op == 0x8C:
                n = b[pos + 1]
                s, pos = b[pos + 2: pos + 2 + n], pos + 2 + n
            elif op == 0x58:
                (n,) = struct.unpack_from("<I", b, pos + 1)
                s, pos = b[pos + 5: pos + 5 + n], pos + 5 + n
            else:
                return None
            if b[pos] != 0x94:
                return None
            pos += 1
            out.append(s.decode("utf-8"))
        if b[pos:] != b"\x93\x94\x2e":
            return None
        return out[0], out[1]
    except (IndexError, UnicodeDecodeError, struct.error):
        return None


def discover_classes(node) -> None:
    """Create synthetic register_generic classes named by type-serialized
    pickles whose module is not importable (for `decode` without a value)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "type-serialized" and isinstance(v, bytes):
                ref = _parse_class_pickle(v)
                if ref and _TYPE_RE.match(f"{ref[0]}.{ref[1]}"):
                    typ = f"{ref[0]}.{ref[1]}"
                    if typ not in _OBJECT_CLASSES:
                        try:
                            object_class(typ, "header")
                        except HarnessError:
                            pass  # real module or clash: leave it to Dask
            else:
                discover_classes(v)
    elif isinstance(node, (tuple, list)):
        for v in node:
            discover_classes(v)


def discover_from_blob(level, api, blob) -> None:
    try:
        frames = unpack_frames(bytes(blob))
        if level == "serialize":
            discover_classes(msgpack.loads(frames[0], use_list=False, **msgpack_opts))
        else:
            for f in frames[1:]:
                try:
                    discover_classes(msgpack.loads(f, use_list=False, **msgpack_opts))
                except Exception:
                    pass
    except Exception:
        pass  # malformed: the real decode will report it


# ---------------------------------------------------------------------------
# Random case generation
# ---------------------------------------------------------------------------

U64_MAX = 2**64 - 1
I64_MIN = -(2**63)
_STR_POOL = ["", "a", "hello", "é", "日本語", "emoji 🎉", "tab\tnew\nline", "nul\x00byte",
             "x" * 31, "y" * 32, "Ω≈ç√", "key", "data", "__Set__-lookalike"]
_NP_DTYPES = ["|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8",
              "<c8", "<c16", "|b1", ">i4", ">f8", "<M8[ns]", "<m8[s]", "<U3", "|S4"]
_TYPECODES = ["b", "B", "h", "H", "i", "I", "l", "L", "q", "Q", "f", "d"]
_FIELD_NAMES = ["a", "b", "x", "y", "name", "count", "data", "meta", "child", "items",
                "weights", "flag", "tags", "raw", "extra", "value"]


class Gen:
    def __init__(self, seed: int):
        self.r = random.Random(seed)

    # scalars ---------------------------------------------------------------
    def int_(self, msgpack_ok: bool):
        r = self.r
        pool = [0, 1, -1, 5, 127, 128, -32, -33, 255, 256, 65535, 65536, -129, 2**31 - 1, -2**31,
                2**32, 2**53 + 1, 2**63 - 1, 2**63, U64_MAX, I64_MIN]
        c = r.random()
        if c < 0.4:
            return r.choice(pool)
        if c < 0.85 or msgpack_ok:
            return r.randint(-10**6, 10**6)
        return r.choice([2**64, 2**70 + r.randint(0, 999), I64_MIN - 1, -(2**100), 10**30])

    def float_(self, allow_nan=True):
        r = self.r
        pool = [0.0, -0.0, 1.5, -2.25, 1e300, -1e-300, 5e-324, float("inf"), float("-inf"), 0.1]
        if allow_nan:
            pool.append(float("nan"))
        return r.choice(pool) if r.random() < 0.5 else r.uniform(-1e6, 1e6)

    def str_(self):
        r = self.r
        if r.random() < 0.6:
            return r.choice(_STR_POOL)
        chars = "abcXYZ019 _-é中😀\u00a0"
        return "".join(r.choice(chars) for _ in range(r.randint(0, 12)))

    def bytes_(self, n_max=12):
        return self.r.randbytes(self.r.randint(0, n_max))

    def scalar(self, msgpack_ok):
        c = self.r.randrange(9)
        return [None, self.r.random() < 0.5, self.int_(msgpack_ok), self.float_(), self.str_(),
                self.bytes_(), bytearray(self.bytes_()), self.int_(msgpack_ok), self.str_()][c]

    def hashable(self, depth=0):
        c = self.r.randrange(7 if depth < 2 else 6)
        if c == 0:
            return None
        if c == 1:
            return self.r.random() < 0.5
        if c == 2:
            return self.int_(False)
        if c == 3:
            return self.float_(allow_nan=False)
        if c == 4:
            return self.str_()
        if c == 5:
            return self.bytes_()
        return tuple(self.hashable(depth + 1) for _ in range(self.r.randint(0, 3)))

    def key(self, msgpack_ok):
        c = self.r.randrange(3)
        if c == 0:
            return self.str_()
        if c == 1:
            return self.int_(msgpack_ok)
        return tuple(self.r.choice([self.str_(), self.int_(True)]) for _ in range(self.r.randint(1, 2)))

    # plain -----------------------------------------------------------------
    def plain(self, depth, msgpack_ok):
        r = self.r
        if depth >= 4 or r.random() < 0.35:
            return self.scalar(msgpack_ok)
        n = r.randint(0, 4)
        c = r.randrange(4 if msgpack_ok else 5)
        if c == 0:
            return [self.plain(depth + 1, msgpack_ok) for _ in range(n)]
        if c == 1:
            return tuple(self.plain(depth + 1, msgpack_ok) for _ in range(n))
        if c in (2, 3):
            return {self.key(msgpack_ok): self.plain(depth + 1, msgpack_ok) for _ in range(n)}
        return {self.hashable() for _ in range(n)}

    # dask-serializable leaves ---------------------------------------------
    def nparray(self, layouts=False):
        r = self.r
        dt = np.dtype(r.choice(_NP_DTYPES))
        if layouts:
            shape = r.choice([(r.randint(0, 5),), (r.randint(1, 3), r.randint(1, 4)), (), (0, 3), (2, 2, 2)])
        else:
            shape = (r.randint(0, 5),)
        n = math.prod(shape)
        if dt.kind == "b":
            raw = bytes(r.randint(0, 1) for _ in range(n))
        elif dt.kind == "U":
            raw = np.array([self.str_()[:3] for _ in range(n)], dtype=dt).tobytes()
        elif dt.kind == "S":
            raw = np.array([self.bytes_(4) for _ in range(n)], dtype=dt).tobytes()
        else:
            raw = r.randbytes(n * dt.itemsize)
        a = np.empty(shape, dtype=dt)
        if n:
            a[...] = np.frombuffer(raw, dtype=dt).reshape(shape)
        if not layouts:
            return a
        c = r.randrange(7)
        if c == 0 and a.ndim > 1:
            return np.asfortranarray(a)
        if c == 1 and a.ndim >= 1 and a.size >= 2:
            big = np.empty(a.shape[:-1] + (2 * a.shape[-1],), dtype=dt)
            big[..., ::2] = a
            return big[..., ::2]
        if c == 2 and a.size:
            base = a[tuple(slice(0, 1) if i == 0 else slice(None) for i in range(a.ndim))] if a.ndim else a
            return np.broadcast_to(base, (3,) + base.shape[1:] if a.ndim else (3,))
        if c == 3:
            a.flags.writeable = False
        return a

    def ndarray_any(self):
        """A random array for the numpy property test: random dtype, 0-4
        dimensions, sizes including zero, C/F order, strided (sliced,
        negative-step) and broadcast views, read-only flags."""
        r = self.r
        dt = np.dtype(r.choice(_NP_DTYPES + ["|V4", "<M8[us]", ">u2", ">c16", "<U1", "|S1"]))
        ndim = r.randint(0, 4)
        shape = tuple(r.choice([0, 1, 1, 2, 3, 4]) for _ in range(ndim))
        n = math.prod(shape)
        if dt.kind == "b":
            raw = bytes(r.randint(0, 1) for _ in range(n))
        elif dt.kind == "U":
            raw = np.array([self.str_()[: dt.itemsize // 4] for _ in range(n)], dtype=dt).tobytes()
        elif dt.kind == "S":
            raw = np.array([self.bytes_(dt.itemsize) for _ in range(n)], dtype=dt).tobytes()
        else:
            raw = r.randbytes(n * dt.itemsize)
        a = np.empty(shape, dtype=dt) if r.random() < 0.5 else np.zeros(shape, dtype=dt)
        if n:
            a[...] = np.frombuffer(raw, dtype=dt).reshape(shape)
        c = r.randrange(6)
        if c == 0 and a.ndim > 1:
            a = np.asfortranarray(a)
        elif c == 1 and a.ndim >= 1 and a.size >= 2:
            big = np.empty(a.shape[:-1] + (2 * a.shape[-1],), dtype=dt)
            big[..., ::2] = a
            a = big[..., ::2]
        elif c == 2 and a.ndim >= 1 and a.size >= 2:
            a = a[::-1]
        elif c == 3 and a.size:
            base = a[tuple(slice(0, 1) for _ in range(a.ndim))] if a.ndim else a
            target = tuple(r.choice([1, 2, 3]) for _ in range(max(a.ndim, 1)))
            a = np.broadcast_to(base, target)
        # (Dask sends a read-only non-contiguous array as a writeable copy,
        # so only contiguous arrays are made read-only here.)
        contiguous = a.flags.c_contiguous or a.flags.f_contiguous
        if r.random() < 0.2 and a.flags.writeable and contiguous:
            a.flags.writeable = False
        return a

    def dask_leaf(self, hashable_only=False):
        r = self.r
        if hashable_only:
            return self.bytes_()
        c = r.randrange(6)
        if c == 0:
            return self.bytes_()
        if c == 1:
            return bytearray(self.bytes_())
        if c == 2:
            b = self.bytes_()
            if len(b) % 4 == 0 and b and r.random() < 0.5:
                return memoryview(b).cast("i")
            return memoryview(b)
        if c == 3:
            a = array.array(r.choice(_TYPECODES))
            a.frombytes(r.randbytes(a.itemsize * r.randint(0, 4)))
            return a
        return self.nparray()

    def collection(self, depth, msgpack_ok):
        r = self.r
        kind = r.choice(["list", "tuple", "set", "dict"])
        n = r.randint(0, 3)

        def first():
            if depth < 3 and r.random() < 0.3 and kind != "set":
                return self.collection(depth + 1, msgpack_ok)
            return self.dask_leaf(hashable_only=(kind == "set"))

        def other():
            c = r.random()
            if kind == "set":
                return self.bytes_() if msgpack_ok else self.hashable()
            if c < 0.35:
                return self.dask_leaf()
            if c < 0.5 and depth < 3:
                return self.collection(depth + 1, msgpack_ok)
            return self.plain(depth + 2, msgpack_ok) if not msgpack_ok else self.msgpack_plain(depth + 2)

        items = [first()] + [other() for _ in range(n)]
        if kind == "list":
            return items
        if kind == "tuple":
            return tuple(items)
        if kind == "set":
            # Iteration is decided by the first item in *iteration* order; keep
            # every collection iterated so leaves travel as their own family
            # (a memoryview inside a pickled collection decodes as bytes).
            s = set(items)
            for _ in range(20):
                if type(next(iter(s))) is bytes:
                    return s
                s = set([self.bytes_()] + [other() for _ in range(n)])
            return {x for x in s if type(x) is bytes} or {b""}
        d = {}
        for v in items:
            k = self.key(True)
            while k in d:  # a repeated key would replace the dask-serializable first value
                k = self.key(True)
            d[k] = v
        return d

    def msgpack_plain(self, depth):
        # plain values encodable by the msgpack family on their own (no sets)
        return self.plain(depth, True)

    # register_generic objects ---------------------------------------------
    def obj(self, depth):
        r = self.r
        cls = object_class(f"{SYNTH_ROOT}.models.Rand{r.randrange(4)}", "random")
        o = object.__new__(cls)
        for name in r.sample(_FIELD_NAMES, r.randint(1, 5)):
            o.__dict__[name] = self.field(depth)
        return o

    def simple_value(self, depth):
        r = self.r
        if depth >= 3 or r.random() < 0.6:
            return r.choice([None, r.random() < 0.5, self.int_(True), self.float_(), self.str_(), self.bytes_()])
        c = r.randrange(3)
        n = r.randint(0, 3)
        if c == 0:
            return [self.simple_value(depth + 1) for _ in range(n)]
        if c == 1:
            return tuple(self.simple_value(depth + 1) for _ in range(n))
        return {self.str_(): self.simple_value(depth + 1) for _ in range(n)}

    def field(self, depth):
        r = self.r
        c = r.random()
        if c < 0.4 or depth >= 3:
            return self.simple_value(depth + 1) if c < 0.9 or depth >= 3 else self.nparray(layouts=True)
        c = r.randrange(7)
        if c == 0:
            return self.nparray(layouts=True)
        if c == 1:
            return self.obj(depth + 1)
        if c == 2:  # dict holding arrays -> nested-dict (sometimes non-str keys)
            d = {}
            for _ in range(r.randint(1, 3)):
                k = self.str_() if r.random() < 0.8 else r.randint(-5, 5)
                d[k] = self.nparray() if r.random() < 0.6 else self.field(depth + 1)
            return d
        if c == 3:
            return bytearray(self.bytes_())
        if c == 4:
            return {r.randint(0, 100) for _ in range(r.randint(0, 3))}
        if c == 5:
            return [self.nparray() for _ in range(r.randint(1, 3))]
        return (self.bytes_(), self.nparray())

    # cases -----------------------------------------------------------------
    def case(self, kind: str, i: int, seed: int):
        for _ in range(100):
            doc = self._case(kind, i, seed)
            if doc is not None:
                return doc
        raise AssertionError(f"random {kind} seed {seed} case {i}: no value with a stable set order in 100 draws")

    def _case(self, kind: str, i: int, seed: int):
        r = self.r
        params = None
        if kind == "plain":
            mode = r.choice(["default", "pickle", "msgpack"])
            value = self.plain(0, mode == "msgpack")
            if mode != "default":
                params = {"serializers": [mode]}
        elif kind == "collections":
            mode = r.choice(["default", "dask+pickle", "dask+msgpack"])
            value = self.collection(0, mode == "dask+msgpack")
            if mode != "default":
                params = {"serializers": mode.split("+")}
        elif kind == "generic":
            value = self.obj(0) if r.random() < 0.8 else [self.obj(0) for _ in range(r.randint(1, 3))]
        elif kind == "ndarray":
            value = self.ndarray_any()
        else:
            raise HarnessError(f"random: unknown kind {kind!r} (plain, collections, generic, ndarray)")
        canon = to_canon(build(to_canon(value)))  # set order as rebuilt from JSON
        if to_canon(build(canon)) != canon:
            # Python cannot rebuild this set order from JSON: draw another value.
            return None
        doc = {"level": "serialize", "description": f"random {kind} case #{i} (seed {seed})", "value": canon}
        if params:
            doc["params"] = params
        return doc


def not_reproducible_reasons(header) -> list[str]:
    reasons = []

    def walk(h):
        if isinstance(h, dict):
            if h.get("serializer") == "pickle" and "pickle-family" not in reasons:
                reasons.append("pickle-family")
            sub = h.get("sub-header")
            if isinstance(sub, dict):
                if sub.get("pickle") is True and "object-array-pickle" not in reasons:
                    reasons.append("object-array-pickle")
                dt = sub.get("dtype")
                if isinstance(dt, tuple) and dt and dt[0] == 1 and "pickled-dtype" not in reasons:
                    reasons.append("pickled-dtype")
            for v in h.values():
                walk(v)
        elif isinstance(h, (tuple, list)):
            for v in h:
                walk(v)

    walk(header)
    return reasons


# ---------------------------------------------------------------------------
# Ops
# ---------------------------------------------------------------------------


def op_encode(req):
    return {"frames": dask_encode(_req_case(req)).hex()}


def _req_case(req):
    if "case" not in req:
        raise HarnessError("request needs 'case'")
    return req["case"]


def _req_blob(req) -> bytes:
    if "frames" not in req:
        raise HarnessError("request needs 'frames' (hex of a pack_frames blob)")
    return parse_hex(req["frames"], "frames")


def run_check(case, blob: bytes, reference: bool = True, strict_placement: bool = True) -> dict:
    level, params, api, deser = case_settings(case)
    expect_error = case.get("expect") == "error"
    if "value" in case:
        build(case["value"])  # validates the case and creates classes before decoding
    elif not expect_error:
        raise HarnessError("case has no 'value' to compare against (and does not expect an error)")
    try:
        dec = dask_decode(level, params, api, deser, blob)
    except Exception as e:  # the decode error is the result under test
        if not expect_error:
            return {"ok": False, "error": _one_line(f"decode raised {type(e).__name__}: {e}")}
        want_t, want_m = case.get("error_type"), case.get("error_message")
        if want_t is not None and type(e).__name__ != want_t:
            return {"ok": False, "error": _one_line(f"decode raised {type(e).__name__} ({e}), expected {want_t}")}
        if want_m is not None and str(e) != want_m:
            return {"ok": False, "error": _one_line(f"decode raised {type(e).__name__} with message {str(e)!r}, expected {want_m!r}")}
        return {"ok": True, "compared": int(want_t is not None) + int(want_m is not None) + 1}
    if expect_error:
        try:
            got = json.dumps(to_canon(dec.value), ensure_ascii=False)
        except Exception:
            got = _short(dec.value)
        return {"ok": False, "error": _one_line(
            f"decoding succeeded but the case expects an error ({case.get('error_type')}: {case.get('error_message')}); decoded {got[:300]}")}
    try:
        check_pack_frames_layout(blob)
        if level == "message":
            check_message_accounting(dec)
        else:
            check_serialize_accounting(dec, api)
        n = compare(case, level, api, dec, strict_placement)
    except Mismatch as e:
        return {"ok": False, "error": _one_line(str(e))}
    resp = {"ok": True, "compared": n}
    if reference:
        note = reference_check(case, level, params, api, deser, dec, strict_placement)
        if note is not None and note.startswith("MISMATCH"):
            return {"ok": False, "error": _one_line(note[len("MISMATCH "):])}
        resp["reference"] = note or "ok"
    return resp


def reference_check(case, level, params, api, deser, dec: Decoded, strict_placement: bool = True) -> str | None:
    """Compare what Dask decoded from the bytes under test with what Dask
    decodes from its *own* encoding of the same value and params, exact
    types (set order free). PROTOCOL.md §13.3's list≈tuple / bytearray≈bytes allowance
    only holds when the reference also went through msgpack; this catches an
    encoder that picked another path than Dask (e.g. a list sent whole via
    msgpack decodes as a tuple where Dask's iterated list decodes as a list).
    Returns None/"ok", "unavailable: ..." or "MISMATCH <message>"."""
    try:
        ref_blob = dask_encode(case)
        ref = dask_decode(level, params, api, deser, ref_blob)
        ref_canon = to_canon(ref.value)
    except Exception as e:
        return _one_line(f"unavailable: {type(e).__name__}: {e}", 300)
    try:
        Comparer(dec.frames, strict_placement).plain(ref_canon, dec.value, "value", False)
    except Mismatch as e:
        return f"MISMATCH differs from what Dask decodes from its own encoding of this value: {e}"
    return None


def op_check(req):
    reference = req.get("reference", True)
    if type(reference) is not bool:
        raise HarnessError("check: 'reference' must be a boolean")
    placement = req.get("placement", "dask")
    if placement not in ("dask", "decoded"):
        raise HarnessError("check: 'placement' must be \"dask\" or \"decoded\"")
    return run_check(_req_case(req), _req_blob(req), reference, placement == "dask")


def op_decode(req):
    case = _req_case(req)
    level, params, api, deser = case_settings(case)
    blob = _req_blob(req)
    if "value" in case:
        build(case["value"])  # creates the classes it names
    discover_from_blob(level, api, blob)
    try:
        dec = dask_decode(level, params, api, deser, blob)
    except Exception as e:
        return {"ok": False, "decode_error": True, "error_type": type(e).__name__,
                "error": _one_line(f"{type(e).__name__}: {e}"), "error_message": str(e)}
    if level == "message":
        return {"ok": True, "value": msg_to_canon(dec.value, dec.raw, "value")}
    return {"ok": True, "value": to_canon(dec.value)}


def msg_to_canon(act, raw, path):
    kind = raw_kind(raw)
    if kind == "serialized":
        return {"serialized": to_canon(act, path + ".serialized")}
    if kind == "pickled":
        return {"pickled": to_canon(act, path + ".pickled")}
    if kind == "map" and type(act) is dict:
        pairs = []
        for i, ((k, v), rv) in enumerate(zip(act.items(), raw.values())):
            kc = to_canon(k, f"{path}.keys[{i}]")
            pairs.append([kc, msg_to_canon(v, rv, key_path(path, kc))])
        return {"dict": pairs}
    if kind == "tuple" and type(act) is tuple:
        return {"tuple": [msg_to_canon(v, r, f"{path}[{i}]") for i, (v, r) in enumerate(zip(act, raw))]}
    return to_canon(act, path)


def op_random(req):
    seed, count, kind = req.get("seed"), req.get("count", 10), req.get("kind")
    verify = req.get("verify", True)
    if type(seed) is not int:
        raise HarnessError("random: 'seed' must be an integer")
    if type(count) is not int or not 0 <= count <= 10000:
        raise HarnessError("random: 'count' must be an integer in 0..10000")
    if kind not in ("plain", "collections", "generic", "ndarray"):
        raise HarnessError(f"random: 'kind' must be plain, collections, generic or ndarray, got {_short(kind)}")
    if type(verify) is not bool:
        raise HarnessError("random: 'verify' must be a boolean")
    g = Gen(seed)
    cases = []
    for i in range(count):
        doc = g.case(kind, i, seed)
        blob = dask_encode(doc)  # every case must be encodable by Dask
        frames = unpack_frames(blob)
        header = msgpack.loads(frames[0], use_list=False, **msgpack_opts)
        if header.get("serializer") == "error":
            raise AssertionError(f"random {kind} seed {seed} case {i}: Dask could not encode it: {bytes(frames[1]).decode()}")
        reasons = not_reproducible_reasons(header)
        doc["reproducible"] = not reasons
        if reasons:
            doc["not_reproducible_because"] = reasons
        if verify:
            res = run_check(doc, blob)
            if not res["ok"]:
                raise AssertionError(f"random {kind} seed {seed} case {i} fails its own check: {res['error']}")
        cases.append(doc)
    return {"cases": cases}


def op_ping(req):
    import cloudpickle
    import lz4
    import zstandard

    return {"versions": {"python": sys.version.split()[0], "distributed": distributed.__version__,
                         "dask": dask.__version__, "numpy": np.__version__, "msgpack": msgpack.version and ".".join(map(str, msgpack.version)),
                         "lz4": lz4.__version__, "zstandard": zstandard.__version__, "cloudpickle": cloudpickle.__version__},
            "pythonhashseed": os.environ.get("PYTHONHASHSEED")}


OPS = {"encode": op_encode, "check": op_check, "decode": op_decode, "random": op_random, "ping": op_ping}


def handle_line(line: str) -> dict:
    try:
        req = json.loads(line, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        return {"ok": False, "error": _one_line(f"bad request: not valid JSON: {e}")}
    if not isinstance(req, dict):
        return {"ok": False, "error": "bad request: must be a JSON object"}
    rid = req.get("id")
    op = req.get("op")
    fn = OPS.get(op) if isinstance(op, str) else None
    if fn is None:
        resp = {"ok": False, "error": _one_line(f"bad request: unknown op {_short(op)} (known: {', '.join(OPS)})")}
    else:
        try:
            resp = fn(req)
            resp = {"ok": resp.pop("ok", True), **resp}
        except HarnessError as e:
            resp = {"ok": False, "error": _one_line(f"{op}: {e}")}
        except Mismatch as e:
            resp = {"ok": False, "error": _one_line(str(e))}
        except Exception as e:
            sys.stderr.write(f"dask_harness: {op} raised {type(e).__name__} (innermost frames):\n")
            traceback.print_exc(limit=-12, file=sys.stderr)
            resp = {"ok": False, "error": _one_line(f"{op}: {type(e).__name__}: {e}")}
    if "id" in req:
        resp["id"] = rid
    return resp


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def serve(inp, out) -> None:
    for line in inp:
        if not line.strip():
            continue
        resp = handle_line(line)
        try:
            text = json.dumps(resp, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
        except (ValueError, TypeError) as e:  # pragma: no cover - bug guard
            text = json.dumps({"ok": False, "error": _one_line(f"internal: response not serializable: {e}"),
                               **({"id": resp["id"]} if "id" in resp else {})})
        out.write(text + "\n")
        out.flush()


def main() -> int:
    sys.setrecursionlimit(20000)
    threading.stack_size(256 * 1024 * 1024)  # deep values recurse in C too
    inp = open(sys.stdin.fileno(), "r", encoding="utf-8", errors="surrogateescape", closefd=False)
    result = []

    def run():
        try:
            serve(inp, _RESPONSES)
        except BrokenPipeError:
            pass
        except BaseException:
            traceback.print_exc(file=sys.stderr)
            result.append(1)

    t = threading.Thread(target=run, name="dask-harness")
    t.start()
    t.join()
    return result[0] if result else 0


if __name__ == "__main__":
    sys.exit(main())
