//! numpy dtypes in pickles: `numpy.dtype(typestr, False, True)` and its
//! `BUILD` state read as a [`DType`], and the state `dtype.__reduce__`
//! gives for a [`DType`], which the writer writes.

use std::collections::{HashMap, HashSet};

use super::{dims, dtype_of, int, message, text, tuple, NATIVE, R};
use crate::error::{Error, Result};
use crate::pickle::read::node::{unexpected, Arena, DTypeNode, Node, Ref};
use crate::value::dtype::{DType, DTypeField, Layout};

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

// ----- reading -----

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

/// The dtype a `BUILD` state makes of `numpy.dtype(typestr)` (numpy's
/// `arraydescr_setstate`, versions 3 and 4), with its nesting depth.
pub(crate) fn build_dtype(a: &mut Arena, inst: Ref, state: Ref) -> R<DTypeNode> {
    let base = match a.node(inst) {
        Node::DType(d) if d.built => return Err("a numpy dtype takes a single state".into()),
        Node::DType(d) => d.dtype.clone(),
        other => return Err(format!("{} is not a dtype", other.a_kind())),
    };
    let st = dtype_setstate(a, state)?;
    let none = |r: Ref| matches!(a.node(r), Node::None);
    let (dtype, depth) = match (none(st.subarray), none(st.names), none(st.fields)) {
        (true, true, true) => (plain_from_state(a, &base, &st)?, 1),
        (sub, n, f) => void_from_state(a, &base, &st, (sub, n, f))?,
    };
    Ok(DTypeNode {
        dtype,
        built: true,
        depth,
    })
}

/// The parts of a dtype's `BUILD` state `(version, byteorder, subarray,
/// names, fields, elsize, alignment, flags[, metadata])` that make the
/// dtype.
struct SetState {
    /// The byte-order character.
    endian: char,
    /// `(base dtype, shape)` or `None`.
    subarray: Ref,
    /// The field names tuple or `None`.
    names: Ref,
    /// The fields dict or `None`.
    fields: Ref,
    /// The item size (−1 when it goes without saying).
    elsize: i64,
    /// The `NPY_ALIGNED_STRUCT` flag.
    aligned: bool,
    /// The datetime metadata, if given.
    metadata: Option<Ref>,
}

/// Checks and splits a dtype's `BUILD` state (versions 3 and 4).
fn dtype_setstate(a: &Arena, state: Ref) -> R<SetState> {
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
    Ok(SetState {
        endian,
        subarray,
        names,
        fields,
        elsize,
        aligned: flags as u64 & NPY_ALIGNED_STRUCT != 0,
        metadata,
    })
}

/// The message of a state whose item size does not match the dtype's
/// `want` bytes.
fn size_mismatch(st: &SetState, base: &DType, want: usize) -> String {
    format!(
        "the state's item size {} does not match the dtype {} ({want} bytes)",
        st.elsize,
        base.str()
    )
}

/// The dtype of a state without sub-array and fields: `base` with the
/// state's byte order (and datetime unit).
fn plain_from_state(a: &Arena, base: &DType, st: &SetState) -> R<DType> {
    let kind = base.kind();
    let elsize = st.elsize;
    let itemsize = base.itemsize();
    let extended = matches!(kind, 'S' | 'U' | 'V');
    if (extended && usize::try_from(elsize) != Ok(itemsize))
        || (!extended && elsize != -1 && usize::try_from(elsize) != Ok(itemsize))
    {
        return Err(size_mismatch(st, base, itemsize));
    }
    let endian = st.endian;
    Ok(match kind {
        'O' => DType::object(),
        'M' | 'm' => {
            let unit = datetime_unit(a, st.metadata)?;
            plain_dtype(kind, &format!("8{unit}"), endian)?
        }
        'U' => plain_dtype(kind, &(itemsize / 4).to_string(), endian)?,
        _ => plain_dtype(kind, &itemsize.to_string(), endian)?,
    })
}

/// The void dtype of a state with a sub-array or fields (`none`: whether
/// the sub-array, names and fields are `None`), with its nesting depth.
fn void_from_state(
    a: &mut Arena,
    base: &DType,
    st: &SetState,
    none: (bool, bool, bool),
) -> R<(DType, usize)> {
    let (sub, n, f) = none;
    if base.kind() != 'V' {
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
    if usize::try_from(st.elsize) != Ok(base.itemsize()) {
        return Err(size_mismatch(st, base, base.itemsize()));
    }
    let itemsize = base.itemsize();
    if sub {
        return structured(a, st.names, st.fields, itemsize, st.aligned);
    }
    let parts = tuple(a, st.subarray).unwrap_or_default();
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
    Ok((d, depth + 1))
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

/// numpy's `dtype.flags` of a dtype without fields or sub-array.
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
