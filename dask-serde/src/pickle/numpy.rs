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

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use super::read::{unexpected, Arena, Node, Ref};
use crate::builtins::dtype::{DType, DTypeField, Layout};
use crate::builtins::ndarray::NdArray;
use crate::error::{Error, Result};
use crate::pytype::PyType;
use crate::value::Value;

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

/// `dtype.flags` bits (`ndarraytypes.h`).
const NPY_NEEDS_INIT: u64 = 0x08;
const NPY_NEEDS_PYAPI: u64 = 0x10;
const NPY_ALIGNED_STRUCT: u64 = 0x80;
/// Flags a structured or sub-array dtype inherits from its fields.
const NPY_FROM_FIELDS: u64 = 0x1b;
/// `NPY_OBJECT_DTYPE_FLAGS`.
const NPY_OBJECT_FLAGS: u64 = 0x3f;

/// numpy's datetime units (`_datetime_strings`), `generic` last.
const DATETIME_UNITS: &[&str] = &[
    "Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as", "generic",
];

/// The spellings of `numpy.ndarray` accepted as `_reconstruct`'s class.
const NDARRAY_CLASSES: &[(&str, &str)] = &[
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "ndarray"),
    ("numpy._core.multiarray", "ndarray"),
    ("numpy.core._multiarray_umath", "ndarray"),
    ("numpy._core._multiarray_umath", "ndarray"),
];

/// A dtype under construction: `numpy.dtype(typestr, …)` gave a plain dtype,
/// a `BUILD` state completes it.
#[derive(Debug)]
pub(crate) struct DTypeNode {
    /// The dtype so far.
    pub(crate) dtype: DType,
    /// `BUILD` already set its state.
    pub(crate) built: bool,
    /// Nesting depth (1 for a dtype without fields or sub-array).
    pub(crate) depth: usize,
}

/// An object array after its `BUILD`: the shape and the items (C order).
#[derive(Debug)]
pub(crate) struct ObjectArrayNode {
    /// The shape.
    pub(crate) shape: Vec<usize>,
    /// One item per element, in C order.
    pub(crate) items: Vec<Ref>,
}

fn is_ndarray_class(t: &PyType) -> bool {
    NDARRAY_CLASSES
        .iter()
        .any(|(m, n)| t.module() == *m && t.qualname() == *n)
}

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

/// A plain dtype from its kind, the rest of its `dtype.str` (size and
/// datetime unit) and a byte order as pickled: byte-order-free types get
/// `'|'`, `'='` (and a meaningless `'|'`) the native order.
fn plain_dtype(kind: char, rest: &str, endian: char) -> R<DType> {
    let size: Option<usize> = rest.split('[').next().and_then(|d| d.parse().ok());
    let free = matches!(kind, 'b' | 'S' | 'V' | 'O') || (matches!(kind, 'i' | 'u') && size == Some(1));
    let order = match (free, endian) {
        (true, _) => '|',
        (false, '<' | '>') => endian,
        (false, _) => NATIVE,
    };
    DType::parse(&format!("{order}{kind}{rest}")).map_err(message)
}

/// The dtype `numpy.dtype(typestr)` gives before its state is set.
fn dtype_from_typestr(s: &str) -> R<DType> {
    let bad = || format!("invalid dtype typestr {s:?}");
    let (endian, rest) = match s.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &s[1..]),
        _ => ('=', s),
    };
    let mut chars = rest.chars();
    let kind = chars.next().ok_or_else(bad)?;
    if !matches!(
        kind,
        'b' | 'i' | 'u' | 'f' | 'c' | 'S' | 'U' | 'V' | 'O' | 'M' | 'm'
    ) {
        return Err(bad());
    }
    let rest = chars.as_str();
    if kind == 'O' {
        return match rest {
            "" | "8" | "4" => Ok(DType::object()),
            _ => Err(bad()),
        };
    }
    plain_dtype(kind, rest, endian).map_err(|_| bad())
}

// ----- handlers (`REDUCE`) -----

/// `numpy.dtype(typestr, align, copy)`: a plain dtype, completed by `BUILD`.
pub(crate) fn reduce_dtype(a: &mut Arena, args: &[Ref]) -> R<Node> {
    const EXPECTED: &str = "(typestr, False, True) with a typestr such as 'f8', 'U3' or 'V12'";
    let Some((t, flags)) = args.split_first() else {
        return Err(unexpected(a, args, EXPECTED));
    };
    if flags.len() > 2 || !flags.iter().all(|&f| matches!(int(a, f), Some(0 | 1))) {
        return Err(unexpected(a, args, EXPECTED));
    }
    let Some(typestr) = text(a, *t) else {
        if let Some(g) = a.global(*t) {
            return Err(format!(
                "a dtype of the scalar type {g} (such as numpy.record) is not supported; only plain typestrs are"
            ));
        }
        return Err(unexpected(a, args, EXPECTED));
    };
    Ok(Node::DType(Box::new(DTypeNode {
        dtype: dtype_from_typestr(&typestr)?,
        built: false,
        depth: 1,
    })))
}

/// `_reconstruct(numpy.ndarray, shape, dtype)`: an empty array waiting for
/// its `BUILD` state. Subclasses are refused (their methods would run).
pub(crate) fn reduce_reconstruct(a: &mut Arena, args: &[Ref]) -> R<Node> {
    const EXPECTED: &str = "(numpy.ndarray, (0,), b'b')";
    let [cls, shape, _dtype] = args else {
        return Err(unexpected(a, args, EXPECTED));
    };
    match a.global(*cls) {
        Some(t) if is_ndarray_class(t) => {}
        Some(t) => {
            return Err(format!(
                "{t} is not numpy.ndarray: reconstructing another class is refused"
            ))
        }
        None => return Err(unexpected(a, args, EXPECTED)),
    }
    if tuple(a, *shape).is_none() {
        return Err(unexpected(a, args, EXPECTED));
    }
    Ok(Node::NdArrayPending)
}

/// `_frombuffer(buffer, dtype, shape, order[, axis_order])`: an array over
/// the buffer's bytes, shared (an out-of-band buffer is not copied).
/// `bytes` give a read-only array, `bytearray` a writeable one, an
/// out-of-band buffer its own flag.
pub(crate) fn reduce_frombuffer(a: &mut Arena, args: &[Ref]) -> R<Node> {
    const EXPECTED: &str = "(buffer, dtype, shape, order) or (buffer, dtype, shape, 'K', axis_order)";
    let (buf, dt, shape, order, axis_order) = match args {
        [b, d, s, o] => (*b, *d, *s, *o, None),
        [b, d, s, o, x] => (*b, *d, *s, *o, Some(*x)),
        _ => return Err(unexpected(a, args, EXPECTED)),
    };
    let (data, writeable) = match a.node(buf) {
        Node::Bytes(b) => (b.clone(), false),
        Node::ByteArray(b) => (b.clone(), true),
        Node::Buffer(b) => (b.data.clone(), b.writeable),
        other => return Err(format!("the buffer must be bytes-like, found {}", other.a_kind())),
    };
    let (dtype, _) = dtype_of(a, dt, "the dtype")?;
    if dtype.has_object() {
        return Err("an object array cannot be made from a buffer".into());
    }
    let itemsize = dtype.itemsize();
    if itemsize == 0 {
        return Err(format!("the item size of {} is zero", dtype.str()));
    }
    if data.len() % itemsize != 0 {
        return Err(format!(
            "a buffer of {} bytes is not a multiple of the item size {itemsize}",
            data.len()
        ));
    }
    let n = data.len() / itemsize;
    let shape = dims(a, shape, "the shape", true)?;
    if count(&shape) != Some(n) {
        return Err(format!(
            "cannot reshape an array of size {n} into shape {shape:?}"
        ));
    }
    let order = text(a, order).unwrap_or_default();
    let array = match (order.as_str(), axis_order) {
        ("C" | "A", None) => NdArray::from_c_order(dtype, shape, data),
        ("F", None) => NdArray::from_f_order(dtype, shape, data),
        ("K", Some(x)) => {
            let perm = dims(a, x, "the axis order", false)?;
            let mut seen = vec![false; shape.len()];
            if perm.len() != shape.len()
                || !perm
                    .iter()
                    .all(|&p| p < seen.len() && !std::mem::replace(&mut seen[p], true))
            {
                return Err(format!(
                    "{perm:?} is not an axis order of {} dimensions",
                    shape.len()
                ));
            }
            // the buffer holds the C-order array of `shape`, transposed by `perm`
            let mut strides = vec![0isize; shape.len()];
            if n > 0 {
                let mut acc = itemsize;
                for i in (0..shape.len()).rev() {
                    strides[i] = isize::try_from(acc).map_err(|_| "the array is too large".to_owned())?;
                    acc = acc.saturating_mul(shape[i]);
                }
            }
            let out_shape = perm.iter().map(|&p| shape[p]).collect();
            let out_strides = perm.iter().map(|&p| strides[p]).collect();
            NdArray::new(dtype, out_shape, out_strides, 0, data)
        }
        _ => return Err(unexpected(a, args, EXPECTED)),
    }
    .map_err(message)?;
    Ok(Node::Built(Box::new(Value::NdArray(
        array.with_writeable(writeable),
    ))))
}

/// `scalar(dtype, bytes)`: a numpy scalar as the matching plain value
/// (bool, int, float, bytes, str); other kinds are refused.
pub(crate) fn reduce_scalar(a: &mut Arena, args: &[Ref]) -> R<Node> {
    const EXPECTED: &str = "(dtype, bytes)";
    let [dt, data] = args else {
        return Err(unexpected(a, args, EXPECTED));
    };
    let (dtype, _) = dtype_of(a, *dt, "the dtype of a scalar")?;
    let b = match a.node(*data) {
        Node::Bytes(b) => b.clone(),
        // Python 2 pickles hold the bytes as a latin-1 str
        Node::Str(s) if s.chars().all(|c| u32::from(c) < 256) => {
            s.chars().map(|c| u32::from(c) as u8).collect::<Vec<u8>>().into()
        }
        other => {
            return Err(format!(
                "a numpy scalar of dtype {} holding {} is not supported",
                dtype.str(),
                other.a_kind()
            ))
        }
    };
    if b.len() != dtype.itemsize() {
        return Err(format!(
            "a scalar of dtype {} needs {} bytes, got {}",
            dtype.str(),
            dtype.itemsize(),
            b.len()
        ));
    }
    Ok(Node::from_value(scalar_value(&dtype, &b)?))
}

/// The plain value of a numpy scalar's bytes.
fn scalar_value(dtype: &DType, b: &[u8]) -> R<Value> {
    let big = dtype.byteorder() == '>';
    let uint = |b: &[u8]| -> u64 {
        let mut x = 0u64;
        for i in 0..b.len() {
            let byte = if big { b[i] } else { b[b.len() - 1 - i] };
            x = (x << 8) | u64::from(byte);
        }
        x
    };
    let n = b.len();
    Ok(match (dtype.kind(), n) {
        ('b', 1) => Value::Bool(b[0] != 0),
        ('u', 1 | 2 | 4 | 8) => Value::Int(i128::from(uint(b))),
        ('i', 1 | 2 | 4 | 8) => {
            let shift = 64 - 8 * n as u32;
            Value::Int(i128::from(((uint(b) << shift) as i64) >> shift))
        }
        ('f', 2) => Value::Float(half_to_f64(uint(b) as u16)),
        ('f', 4) => Value::Float(f64::from(f32::from_bits(uint(b) as u32))),
        ('f', 8) => Value::Float(f64::from_bits(uint(b))),
        ('S', _) => {
            let end = b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
            Value::Bytes(Bytes::copy_from_slice(&b[..end]))
        }
        ('U', _) => {
            let mut s = String::new();
            for c in b.chunks_exact(4) {
                let v = uint(c) as u32;
                s.push(char::from_u32(v).ok_or_else(|| format!("U+{v:X} is not a character"))?);
            }
            Value::Str(s.trim_end_matches('\0').to_owned())
        }
        _ => {
            return Err(format!(
                "a numpy scalar of dtype {} has no plain value (bool, int, float, bytes and str scalars are read)",
                dtype.str()
            ))
        }
    })
}

/// An IEEE half-precision float.
fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

// ----- BUILD -----

/// The dtype a `BUILD` state makes of `numpy.dtype(typestr)` (numpy's
/// `arraydescr_setstate`, versions 3 and 4), with its nesting depth.
pub(crate) fn build_dtype(a: &mut Arena, inst: Ref, state: Ref) -> R<DTypeNode> {
    let base = match a.node(inst) {
        Node::DType(d) if d.built => return Err("a numpy dtype takes a single state".into()),
        Node::DType(d) => d.dtype.clone(),
        other => return Err(format!("{} is not a dtype", other.a_kind())),
    };
    let items = tuple(a, state).ok_or_else(|| {
        format!(
            "the state of a numpy dtype must be a tuple, found {}",
            a.node(state).a_kind()
        )
    })?;
    let (version, endian, subarray, names, fields, elsize, alignment, flags, metadata) = match items[..] {
        [v, e, s, n, f, el, al, fl] => (v, e, s, n, f, el, al, fl, None),
        [v, e, s, n, f, el, al, fl, md] => (v, e, s, n, f, el, al, fl, Some(md)),
        _ => {
            return Err(format!(
                "a numpy dtype state of {} items is not supported (versions 3 and 4 have 8 or 9)",
                items.len()
            ))
        }
    };
    match int(a, version) {
        Some(3 | 4) => {}
        Some(v) => {
            return Err(format!(
                "version {v} of the numpy dtype pickle is not supported (3 and 4 are)"
            ))
        }
        None => return Err("the dtype pickle version must be an int".into()),
    }
    let endian = match text(a, endian)
        .as_deref()
        .map(str::chars)
        .map(|mut c| (c.next(), c.next()))
    {
        Some((Some(c @ ('<' | '>' | '|' | '=')), None)) => c,
        _ => return Err("the byte order must be one of '<', '>', '|', '='".into()),
    };
    let (Some(elsize), Some(_alignment), Some(flags)) = (int(a, elsize), int(a, alignment), int(a, flags))
    else {
        return Err("elsize, alignment and flags must be ints".into());
    };
    let flags = match flags {
        // numpy once stored the flags as a signed char
        -128..=-1 => flags + 128,
        0.. => flags,
        _ => return Err(format!("invalid dtype flags {flags}")),
    };
    let aligned = flags as u64 & NPY_ALIGNED_STRUCT != 0;
    let none = |r: Ref| matches!(a.node(r), Node::None);
    let kind = base.kind();
    let size_mismatch = |want: usize| {
        format!(
            "the state's item size {elsize} does not match the dtype {} ({want} bytes)",
            base.str()
        )
    };
    let (dtype, depth) = match (none(subarray), none(names), none(fields)) {
        (true, true, true) => {
            let itemsize = base.itemsize();
            let extended = matches!(kind, 'S' | 'U' | 'V');
            if (extended && usize::try_from(elsize) != Ok(itemsize))
                || (!extended && elsize != -1 && usize::try_from(elsize) != Ok(itemsize))
            {
                return Err(size_mismatch(itemsize));
            }
            let dtype = match kind {
                'O' => DType::object(),
                'M' | 'm' => {
                    let unit = datetime_unit(a, metadata)?;
                    plain_dtype(kind, &format!("8{unit}"), endian)?
                }
                'U' => plain_dtype(kind, &(itemsize / 4).to_string(), endian)?,
                _ => plain_dtype(kind, &itemsize.to_string(), endian)?,
            };
            (dtype, 1)
        }
        (sub, n, f) => {
            if kind != 'V' {
                return Err(format!(
                    "only void dtypes have fields or a sub-array, not {}",
                    base.str()
                ));
            }
            if n != f {
                return Err("inconsistent fields and names in the dtype state".into());
            }
            if !sub && !n {
                return Err("a dtype with both a sub-array and fields is not supported".into());
            }
            if usize::try_from(elsize) != Ok(base.itemsize()) {
                return Err(size_mismatch(base.itemsize()));
            }
            let itemsize = base.itemsize();
            if !sub {
                let parts = tuple(a, subarray).unwrap_or_default();
                let [b, shape] = parts[..] else {
                    return Err("the sub-array must be a (dtype, shape) tuple".into());
                };
                let (b, depth) = dtype_of(a, b, "a sub-array's base")?;
                let shape = dims(a, shape, "a sub-array shape", true)?;
                let d = DType::subarray(b, shape).map_err(message)?;
                if d.itemsize() != itemsize {
                    return Err(format!(
                        "the sub-array needs {} bytes, the dtype has {itemsize}",
                        d.itemsize()
                    ));
                }
                (d, depth + 1)
            } else {
                structured(a, names, fields, itemsize, aligned)?
            }
        }
    };
    Ok(DTypeNode {
        dtype,
        built: true,
        depth,
    })
}

/// The `[unit]` of a datetime dtype from its state's metadata
/// `(metadata, (unit, num[, den, events]))`; `""` for the generic unit.
fn datetime_unit(a: &Arena, metadata: Option<Ref>) -> R<String> {
    let bad = || "a datetime dtype needs its unit: (metadata, (unit, num, 1, 1))".to_owned();
    let md = tuple(a, metadata.ok_or_else(bad)?).ok_or_else(bad)?;
    let [_, info] = md[..] else { return Err(bad()) };
    let info = tuple(a, info).ok_or_else(bad)?;
    let (unit, num) = match info[..] {
        [u, n] => (u, n),
        [u, n, den, _events] => {
            if int(a, den) != Some(1) {
                return Err("a datetime unit with a denominator is not supported".into());
            }
            (u, n)
        }
        _ => return Err(bad()),
    };
    let unit = text(a, unit).ok_or_else(bad)?;
    if !DATETIME_UNITS.contains(&unit.as_str()) {
        return Err(format!("unknown datetime unit {unit:?}"));
    }
    let num = int(a, num)
        .filter(|n| (1..=i64::from(i32::MAX)).contains(n))
        .ok_or_else(bad)?;
    Ok(match (unit.as_str(), num) {
        ("generic", 1) => String::new(),
        ("generic", _) => return Err("the generic datetime unit takes no multiplier".into()),
        (u, 1) => format!("[{u}]"),
        (u, n) => format!("[{n}{u}]"),
    })
}

/// A structured dtype from `names` and the `fields` dict
/// `{name: (dtype, offset[, title]), title: (same tuple)}`.
fn structured(a: &mut Arena, names: Ref, fields: Ref, itemsize: usize, aligned: bool) -> R<(DType, usize)> {
    let name_refs = tuple(a, names).ok_or("the names must be a tuple")?;
    let pairs = match a.node(fields) {
        Node::Dict(p) => p.clone(),
        other => return Err(format!("the fields must be a dict, found {}", other.a_kind())),
    };
    a.charge(name_refs.len() + pairs.len())?;
    let names = name_refs
        .iter()
        .map(|&r| text(a, r).ok_or_else(|| "field names must be str".to_owned()))
        .collect::<R<Vec<String>>>()?;
    let mut by_key: HashMap<String, Ref> = HashMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        let k = text(a, k).ok_or("the keys of the fields dict must be str")?;
        by_key.insert(k, v);
    }
    let mut out = Vec::with_capacity(names.len());
    let mut titles: HashSet<String> = HashSet::new();
    let mut depth = 0;
    for name in names {
        let v = *by_key
            .get(&name)
            .ok_or_else(|| format!("field {name:?} is in names but not in fields"))?;
        let parts = tuple(a, v).unwrap_or_default();
        let (d, offset, title) = match parts[..] {
            [d, o] => (d, o, None),
            [d, o, t] => (d, o, Some(t)),
            _ => return Err(format!("field {name:?} must be (dtype, offset[, title])")),
        };
        let (dtype, d) = dtype_of(a, d, &format!("the dtype of field {name:?}"))?;
        depth = depth.max(d);
        let offset = int(a, offset)
            .and_then(|o| usize::try_from(o).ok())
            .ok_or_else(|| format!("field {name:?} needs a non-negative int offset"))?;
        let title = match title {
            None => None,
            Some(t) if matches!(a.node(t), Node::None) => None,
            Some(t) => Some(
                text(a, t)
                    .ok_or_else(|| format!("field {name:?} has a title that is not a str (not supported)"))?,
            ),
        };
        if let Some(t) = &title {
            if !titles.insert(t.clone()) {
                return Err(format!("the title {t:?} is used twice"));
            }
        }
        out.push(DTypeField {
            name,
            dtype,
            offset,
            title,
        });
    }
    for f in &out {
        if let Some(t) = &f.title {
            if out.iter().any(|g| &g.name == t) {
                return Err(format!("the title {t:?} is also a field name"));
            }
        }
    }
    let names: HashSet<&str> = out.iter().map(|f| f.name.as_str()).collect();
    if let Some(k) = by_key
        .keys()
        .find(|k| !names.contains(k.as_str()) && !titles.contains(k.as_str()))
    {
        return Err(format!(
            "the fields hold {k:?}, which is neither a field name nor a title"
        ));
    }
    let d = DType::with_fields(out, itemsize, aligned).map_err(message)?;
    Ok((d, depth + 1))
}

/// The array a `BUILD` state `(1, shape, dtype, is_fortran, data)` makes of
/// `_reconstruct(...)` (numpy's `array_setstate`): a plain array over the
/// data's bytes — byte-swapped to the native order when its dtype is not
/// native, as numpy does when unpickling — or an object array of the
/// list's items.
pub(crate) fn build_array(a: &mut Arena, state: Ref) -> R<Node> {
    const EXPECTED: &str = "(1, shape, dtype, is_fortran, data)";
    let items = tuple(a, state).ok_or_else(|| {
        format!(
            "the state of a numpy array must be a tuple {EXPECTED}, found {}",
            a.node(state).a_kind()
        )
    })?;
    let (shape, dt, fortran, raw) = match items[..] {
        [v, s, d, f, r] => match int(a, v) {
            Some(1) => (s, d, f, r),
            _ => {
                return Err(format!(
                    "unsupported numpy array state version: expected {EXPECTED}"
                ))
            }
        },
        // version 0
        [s, d, f, r] => (s, d, f, r),
        _ => return Err(format!("a numpy array state must be {EXPECTED}")),
    };
    if tuple(a, shape).is_none() {
        return Err("the shape of an array must be a tuple".into());
    }
    let shape = dims(a, shape, "the shape", false)?;
    let (dtype, _) = dtype_of(a, dt, "the dtype of an array")?;
    let fortran = int(a, fortran).ok_or("is_fortran must be a bool")? != 0;
    let n = count(&shape).ok_or_else(|| format!("an array of shape {shape:?} is too large"))?;
    if dtype.has_object() {
        if !matches!(a.node(raw), Node::List(_)) {
            return Err(format!(
                "the data of an object array must be a list, found {}",
                a.node(raw).a_kind()
            ));
        }
        let items = a.items(raw)?;
        if items.len() != n {
            return Err(format!(
                "an object array of shape {shape:?} needs {n} items, the list has {}",
                items.len()
            ));
        }
        return Ok(Node::ObjectArray(Box::new(ObjectArrayNode { shape, items })));
    }
    let data = match a.node(raw) {
        Node::Bytes(b) => b.clone(),
        // Python 2 pickles hold the data as a latin-1 str
        Node::Str(s) if s.chars().all(|c| u32::from(c) < 256) => {
            s.chars().map(|c| u32::from(c) as u8).collect::<Vec<u8>>().into()
        }
        other => {
            return Err(format!(
                "the data of an array must be bytes, found {}",
                other.a_kind()
            ))
        }
    };
    let nbytes = n
        .checked_mul(dtype.itemsize())
        .ok_or_else(|| format!("an array of shape {shape:?} is too large"))?;
    if data.len() != nbytes {
        return Err(format!(
            "an array of shape {shape:?} and dtype {} needs {nbytes} bytes, the data has {}",
            dtype.str(),
            data.len()
        ));
    }
    let (dtype, data) = to_native(dtype, data)?;
    let array = if fortran {
        NdArray::from_f_order(dtype, shape, data)
    } else {
        NdArray::from_c_order(dtype, shape, data)
    }
    .map_err(message)?;
    Ok(Node::Built(Box::new(Value::NdArray(array))))
}

/// numpy's byte swap on pickle read: data of a plain dtype in the
/// non-native byte order becomes native data of the native dtype.
fn to_native(dtype: DType, data: Bytes) -> R<(DType, Bytes)> {
    let order = dtype.byteorder();
    if dtype.layout().is_some() || !matches!(order, '<' | '>') || order == NATIVE {
        return Ok((dtype, data));
    }
    let unit = match dtype.kind() {
        'c' => dtype.itemsize() / 2,
        'U' => 4,
        _ => dtype.itemsize(),
    };
    let mut v = data.to_vec();
    if unit > 1 {
        for chunk in v.chunks_exact_mut(unit) {
            chunk.reverse();
        }
    }
    let native = DType::parse(&format!("{NATIVE}{}", &dtype.str()[1..])).map_err(message)?;
    Ok((native, Bytes::from(v)))
}

// ----- writing -----

/// What numpy's `dtype.__reduce__` says about a dtype.
pub(crate) struct DTypeState {
    /// The `typestr` argument: `kind` + size (`'f8'`, `'U3'`, `'V12'`).
    pub(crate) typestr: String,
    /// The byte-order character of the state.
    pub(crate) endian: char,
    /// 4 for datetimes (they carry their unit), else 3.
    pub(crate) version: u8,
    /// `elsize` (−1 except for `S`, `U`, `V`).
    pub(crate) elsize: i64,
    /// `alignment` (−1 except for `S`, `U`, `V`).
    pub(crate) alignment: i64,
    /// `dtype.flags`.
    pub(crate) flags: u64,
    /// The datetime unit (`b'ns'`, `b'generic'`) and multiplier.
    pub(crate) datetime: Option<(Vec<u8>, i64)>,
    /// For numpy's builtin descriptors (native or byte-order-free numbers,
    /// bool, object), which are singletons shared by identity: their
    /// `dtype.str`.
    pub(crate) singleton: Option<String>,
}

/// numpy's `dtype.flags` and `dtype.alignment` of `d`, and its nesting
/// depth, computed without recursion.
fn flags_alignment(root: &DType) -> (u64, usize, usize) {
    enum Step<'a> {
        Enter(&'a DType),
        Exit(&'a DType, usize),
    }
    let mut work = vec![Step::Enter(root)];
    let mut done: Vec<(u64, usize, usize)> = Vec::new();
    while let Some(step) = work.pop() {
        match step {
            Step::Enter(d) => match d.layout() {
                None => done.push((leaf_flags(d), leaf_alignment(d), 1)),
                Some(Layout::Fields { fields, .. }) => {
                    work.push(Step::Exit(d, fields.len()));
                    work.extend(fields.iter().rev().map(|f| Step::Enter(&f.dtype)));
                }
                Some(Layout::SubArray { base, .. }) => {
                    work.push(Step::Exit(d, 1));
                    work.push(Step::Enter(base));
                }
            },
            Step::Exit(d, n) => {
                let kids = done.split_off(done.len().saturating_sub(n));
                let depth = kids.iter().map(|k| k.2).max().unwrap_or(0) + 1;
                done.push(match d.layout() {
                    Some(Layout::Fields { aligned, .. }) => {
                        let inherited = kids.iter().fold(0, |f, k| f | (k.0 & NPY_FROM_FIELDS));
                        let flags =
                            NPY_NEEDS_PYAPI | inherited | if *aligned { NPY_ALIGNED_STRUCT } else { 0 };
                        let align = if *aligned {
                            kids.iter().map(|k| k.1).max().unwrap_or(1).max(1)
                        } else {
                            1
                        };
                        (flags, align, depth)
                    }
                    _ => {
                        let (flags, align, _) = kids.first().copied().unwrap_or((0, 1, 0));
                        (flags, align, depth)
                    }
                });
            }
        }
    }
    done.pop().unwrap_or((0, 1, 1))
}

fn leaf_flags(d: &DType) -> u64 {
    match d.kind() {
        'O' => NPY_OBJECT_FLAGS,
        'U' => NPY_NEEDS_INIT,
        _ => 0,
    }
}

/// numpy's `dtype.alignment` of a dtype without fields or sub-array.
fn leaf_alignment(d: &DType) -> usize {
    match d.kind() {
        'b' | 'S' | 'V' => 1,
        'U' => 4,
        'c' => (d.itemsize() / 2).max(1),
        'O' | 'M' | 'm' => 8,
        _ => d.itemsize().max(1),
    }
}

/// The datetime unit and multiplier of a datetime `dtype.str`.
fn datetime_info(d: &DType) -> Result<(Vec<u8>, i64)> {
    let s = d.str();
    let bad = || Error::Encode(format!("cannot pickle the datetime dtype {s:?}: unknown unit"));
    let unit = s.get(3..).ok_or_else(bad)?;
    if unit.is_empty() {
        return Ok((b"generic".to_vec(), 1));
    }
    let inner = unit
        .strip_prefix('[')
        .and_then(|u| u.strip_suffix(']'))
        .ok_or_else(bad)?;
    let split = inner.find(|c: char| !c.is_ascii_digit()).unwrap_or(inner.len());
    let (num, unit) = inner.split_at(split);
    let num: i64 = if num.is_empty() {
        1
    } else {
        num.parse().map_err(|_| bad())?
    };
    let unit = if unit == "μs" { "us" } else { unit };
    if !(1..=i64::from(i32::MAX)).contains(&num) || !DATETIME_UNITS.contains(&unit) || unit == "generic" {
        return Err(bad());
    }
    Ok((unit.as_bytes().to_vec(), num))
}

/// What `dtype.__reduce__()` gives for `d` (see [`DTypeState`]).
pub(crate) fn dtype_state(d: &DType) -> Result<DTypeState> {
    let kind = d.kind();
    let (flags, alignment, _) = flags_alignment(d);
    let typestr = match (kind, d.layout()) {
        (_, Some(_)) | ('V', None) => format!("V{}", d.itemsize()),
        ('O', None) => "O8".into(),
        ('U', None) => format!("U{}", d.itemsize() / 4),
        ('M' | 'm', None) => format!("{kind}8"),
        _ => format!("{kind}{}", d.itemsize()),
    };
    let free = d.layout().is_some()
        || matches!(kind, 'b' | 'S' | 'V' | 'O')
        || (matches!(kind, 'i' | 'u') && d.itemsize() == 1);
    let endian = match (free, d.byteorder()) {
        (true, _) => '|',
        (false, o @ ('<' | '>')) => o,
        (false, _) => NATIVE,
    };
    let (elsize, alignment) = if matches!(kind, 'S' | 'U' | 'V') {
        let elsize = i64::try_from(d.itemsize()).map_err(|_| Error::Encode("dtype too large".into()))?;
        (elsize, alignment as i64)
    } else {
        (-1, -1)
    };
    let datetime = if matches!(kind, 'M' | 'm') {
        Some(datetime_info(d)?)
    } else {
        None
    };
    let singleton = (d.layout().is_none()
        && matches!(kind, 'b' | 'i' | 'u' | 'f' | 'c' | 'O')
        && (endian == NATIVE || endian == '|'))
        .then(|| format!("{endian}{typestr}"));
    Ok(DTypeState {
        typestr,
        endian,
        version: if datetime.is_some() { 4 } else { 3 },
        elsize,
        alignment,
        flags,
        datetime,
        singleton,
    })
}

/// Why `d` cannot be pickled, if it cannot (checked for every nested
/// dtype, without recursion).
pub(crate) fn dtype_problem(root: &DType, max_depth: usize) -> Option<String> {
    let mut todo = vec![(root, 1usize)];
    while let Some((d, depth)) = todo.pop() {
        if depth > max_depth {
            return Some(format!("the dtype nests deeper than {max_depth} levels"));
        }
        match d.layout() {
            Some(Layout::Fields { fields, .. }) => todo.extend(fields.iter().map(|f| (&f.dtype, depth + 1))),
            Some(Layout::SubArray { base, .. }) => todo.push((base, depth + 1)),
            None => {
                if let Err(e) = dtype_state(d) {
                    return Some(message(e));
                }
            }
        }
    }
    None
}

/// `true` for names CPython interns when they appear as literals in code:
/// identifier characters only. (CPython 3.11's interned one-character
/// names are not its latin-1 singletons, so `'b'` from a literal and the
/// `'b'` of `b'b'.decode('latin1')` are different objects.)
pub(crate) fn is_interned_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether numpy can export an array of this dtype through the buffer
/// protocol (`_buffer_format_string`): not with datetimes, with fields out
/// of order or overlapping, with `':'` in a field name, or with a
/// non-native `long double`. When it cannot, `PickleBuffer(array)` fails
/// and numpy pickles the array in-band.
pub(crate) fn buffer_exportable(root: &DType) -> bool {
    buffer_extent(root).is_some()
}

/// The end offset `_buffer_format_string` reaches for `root`, `None` if it
/// fails (computed without recursion).
fn buffer_extent(root: &DType) -> Option<usize> {
    enum Frame<'a> {
        Sub {
            start: usize,
            count: usize,
        },
        Struct {
            fields: &'a [DTypeField],
            i: usize,
            start: usize,
        },
    }
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut next = Some((root, 0usize));
    // the end of what was formatted last (inside a struct: its cursor)
    let mut end = 0usize;
    loop {
        if let Some((d, start)) = next.take() {
            match d.layout() {
                None => {
                    let long_double = matches!((d.kind(), d.itemsize()), ('f', 16) | ('c', 32));
                    let native = !matches!(d.byteorder(), '<' | '>') || d.byteorder() == NATIVE;
                    if matches!(d.kind(), 'M' | 'm') || (long_double && !native) {
                        return None;
                    }
                    end = start.checked_add(d.itemsize())?;
                }
                Some(Layout::SubArray { base, shape }) => {
                    stack.push(Frame::Sub {
                        start,
                        count: count(shape)?,
                    });
                    next = Some((base, start));
                    continue;
                }
                Some(Layout::Fields { fields, .. }) => {
                    stack.push(Frame::Struct { fields, i: 0, start });
                    end = start;
                }
            }
        }
        match stack.last_mut() {
            None => return Some(end),
            Some(Frame::Sub { start, count }) => {
                end = start.checked_add(end.checked_sub(*start)?.checked_mul(*count)?)?;
                stack.pop();
            }
            Some(Frame::Struct { fields, i, start }) => {
                let Some(f) = fields.get(*i) else {
                    stack.pop();
                    continue;
                };
                *i += 1;
                let at = start.checked_add(f.offset)?;
                if end > at || f.name.contains(':') {
                    return None;
                }
                next = Some((&f.dtype, at));
            }
        }
    }
}

/// How numpy 2's `__reduce_ex__(5)` hands an array's memory to a
/// `PickleBuffer`.
pub(crate) enum BufferLayout {
    /// C-contiguous: `order='C'`.
    C,
    /// Fortran-contiguous: `order='F'`.
    F,
    /// Contiguous with permuted axes: `order='K'`, the shape of the
    /// C-ordered memory and the axis order that transposes it back.
    K {
        /// The shape of the memory in C order.
        shape: Vec<usize>,
        /// The `transpose` argument that gives the array back.
        axis_order: Vec<usize>,
    },
}

/// numpy's choice in `array_reduce_ex_picklebuffer`: `None` when the array
/// is not contiguous in any axis order (then it is pickled in-band with
/// `_reconstruct`).
pub(crate) fn buffer_layout(a: &NdArray) -> Option<BufferLayout> {
    if a.is_c_contiguous() {
        return Some(BufferLayout::C);
    }
    if a.is_f_contiguous() {
        return Some(BufferLayout::F);
    }
    // sort the axes by |stride|, descending, ties by axis (numpy's
    // PyArray_CreateSortedStridePerm), and check the transposed array
    let strides = a.strides();
    let mut perm: Vec<usize> = (0..strides.len()).collect();
    perm.sort_by_key(|&i| std::cmp::Reverse(strides[i].unsigned_abs()));
    let shape: Vec<usize> = perm.iter().map(|&p| a.shape()[p]).collect();
    let mut expected = a.dtype().itemsize() as isize;
    for &p in perm.iter().rev() {
        let d = a.shape()[p];
        if d != 1 {
            if strides[p] != expected {
                return None;
            }
            expected = expected.checked_mul(d as isize)?;
        }
    }
    let mut axis_order = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        axis_order[p] = i;
    }
    Some(BufferLayout::K { shape, axis_order })
}

/// The memory of a contiguous array (in any axis order), shared.
pub(crate) fn memory(a: &NdArray) -> Bytes {
    let n = a.size() * a.dtype().itemsize();
    if n == 0 {
        return Bytes::new();
    }
    a.buffer().slice(a.offset()..a.offset() + n)
}
