//! Conversion between [`Value`] and the canonical tagged JSON notation of
//! the test vectors (PROTOCOL.md §13.3). Enabled by the `json` feature.

use bytes::Bytes;
use serde_json::{Map, Number, Value as Json};

use crate::error::{Error, Result};
use crate::pytype::PyType;
use crate::value::dtype::DType;
use crate::value::ndarray::NdArray;
use crate::value::{EnumMember, MemoryView, Object, PyArray, Value};

fn err(path: &str, message: impl Into<String>) -> Error {
    Error::Json {
        path: if path.is_empty() {
            "<root>".into()
        } else {
            path.into()
        },
        message: message.into(),
    }
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Parses hex (either case).
///
/// # Errors
///
/// Odd length or a non-hex digit.
pub fn from_hex(s: &str) -> Result<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return Err(err("", "hex string of odd length"));
    }
    let digit = |c: u8| -> Result<u8> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(err("", format!("invalid hex digit {:?}", c as char))),
        }
    };
    b.chunks(2)
        .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// Python's `repr(float)`: shortest round-trip digits, scientific notation
/// when the exponent is below -4 or at least 16.
pub fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.2345e17".
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let m = if rest.is_empty() {
            first.to_string()
        } else {
            format!("{first}.{rest}")
        };
        let es = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{es}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        format!("{sign}0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{sign}{}{}.0", digits, "0".repeat(point as usize - digits.len()))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{sign}{a}.{b}")
    }
}

/// Parses a Python float repr (`"1.5"`, `"nan"`, `"-inf"`, `"1e+300"`).
///
/// # Errors
///
/// Text that is not a float.
pub fn parse_py_float(s: &str) -> Result<f64> {
    match s {
        "nan" | "-nan" => Ok(f64::NAN),
        "inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        _ => s
            .parse()
            .map_err(|_| err("", format!("invalid float text {s:?}"))),
    }
}

/// The most decimal digits an int is written with: Python's default
/// `sys.get_int_max_str_digits()`. Turning a larger int into text takes
/// time quadratic in its length (Python refuses it too).
pub const MAX_INT_DIGITS: u64 = 4300;

impl Value {
    /// [`Value::to_json`] for values from untrusted input: first measures
    /// what the JSON would hold (without building anything: a broadcast
    /// array is not expanded, an int not turned into text) and refuses
    /// more than `max_output` bytes of text, or an int of more than
    /// [`MAX_INT_DIGITS`] decimal digits, before any of it is made.
    ///
    /// The measure counts the payload text (hex digits, strings with their
    /// escapes, digits of ints) exactly and allows a small constant (at
    /// most 64 bytes) per value for tags and punctuation, so it is never
    /// far below the printed size and never more than that constant above.
    ///
    /// # Examples
    ///
    /// ```
    /// use dask_serde::bytes::Bytes;
    /// use dask_serde::{NdArray, Value};
    ///
    /// // one float64 broadcast to 2**30 elements: 8 bytes of data, 16 GiB of hex
    /// let one = NdArray::from_c_order("<f8", vec![1], Bytes::from(vec![0u8; 8]))?;
    /// let view = Value::from(one.broadcast_to(&[1 << 30])?);
    /// assert!(view.to_json_bounded(1 << 20).is_err()); // refused, nothing allocated
    /// assert!(Value::from(7).to_json_bounded(64).is_ok());
    /// # Ok::<(), dask_serde::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Limit`](crate::Error::Limit) for output beyond `max_output`
    /// or an int beyond [`MAX_INT_DIGITS`].
    pub fn to_json_bounded(&self, max_output: u64) -> Result<Json> {
        let need = json_size(self, max_output)?;
        if need > max_output {
            return Err(Error::Limit {
                what: "JSON output (bytes)",
                limit: max_output,
                got: need,
            });
        }
        Ok(self.to_json())
    }

    /// The canonical tagged JSON of this value (PROTOCOL.md §13.3).
    ///
    /// This builds everything it is given: a broadcast array is expanded,
    /// every int is written out. For values decoded from untrusted input
    /// use [`Value::to_json_bounded`].
    pub fn to_json(&self) -> Json {
        // containers recurse here with a small stack frame; leaves are
        // converted in a separate function
        let tag = |t: &str, v: Json| {
            let mut m = Map::new();
            m.insert(t.to_owned(), v);
            Json::Object(m)
        };
        match self {
            Value::List(v) => tag("list", Json::Array(v.iter().map(Value::to_json).collect())),
            Value::Tuple(v) => tag("tuple", Json::Array(v.iter().map(Value::to_json).collect())),
            Value::Set(v) => tag("set", Json::Array(v.iter().map(Value::to_json).collect())),
            Value::Dict(entries) => tag(
                "dict",
                Json::Array(
                    entries
                        .iter()
                        .map(|(k, v)| Json::Array(vec![k.to_json(), v.to_json()]))
                        .collect(),
                ),
            ),
            other => other.leaf_to_json(),
        }
    }

    #[inline(never)]
    fn leaf_to_json(&self) -> Json {
        let tag = |t: &str, v: Json| {
            let mut m = Map::new();
            m.insert(t.to_owned(), v);
            Json::Object(m)
        };
        let seq = |items: &[Value]| Json::Array(items.iter().map(Value::to_json).collect());
        match self {
            Value::None => Json::Null,
            Value::Bool(b) => tag("bool", Json::Bool(*b)),
            Value::Int(i) => tag("int", int_json(&i.to_string())),
            Value::BigInt(i) => tag("int", int_json(&i.to_string())),
            Value::Float(f) => tag("float", Json::String(py_float_repr(*f))),
            Value::Str(s) => tag("str", Json::String(s.clone())),
            Value::Bytes(b) => tag("bytes", Json::String(to_hex(b))),
            Value::ByteArray(b) => tag("bytearray", Json::String(to_hex(b))),
            Value::List(v) => tag("list", seq(v)),
            Value::Tuple(v) => tag("tuple", seq(v)),
            Value::Set(v) => tag("set", seq(v)),
            Value::FrozenSet(v) => tag("frozenset", seq(v)),
            Value::Dict(entries) => tag(
                "dict",
                Json::Array(
                    entries
                        .iter()
                        .map(|(k, v)| Json::Array(vec![k.to_json(), v.to_json()]))
                        .collect(),
                ),
            ),
            Value::MemoryView(m) => {
                let mut o = Map::new();
                o.insert("format".into(), Json::String(m.format.clone()));
                o.insert(
                    "shape".into(),
                    Json::Array(m.shape.iter().map(|d| Json::from(*d as u64)).collect()),
                );
                o.insert("data".into(), Json::String(to_hex(&m.data)));
                tag("memoryview", Json::Object(o))
            }
            Value::PyArray(a) => {
                let mut o = Map::new();
                o.insert("typecode".into(), Json::String(a.typecode.to_string()));
                o.insert("data".into(), Json::String(to_hex(&a.data)));
                tag("pyarray", Json::Object(o))
            }
            Value::NdArray(a) => tag("ndarray", ndarray_to_json(a)),
            Value::Object(o) => {
                let mut body = Map::new();
                body.insert("type".into(), Json::String(o.class.path()));
                let mut fields = Map::new();
                for (k, v) in &o.fields {
                    fields.insert(k.clone(), v.to_json());
                }
                body.insert("fields".into(), Json::Object(fields));
                tag("object", Json::Object(body))
            }
            Value::Serialize(v) => tag("serialized", v.to_json()),
            Value::ToPickle(v) => tag("pickled", v.to_json()),
            Value::Enum(e) => {
                let mut body = Map::new();
                body.insert("type".into(), Json::String(e.class.path()));
                body.insert("name".into(), Json::String(e.name.clone()));
                tag("enum", Json::Object(body))
            }
            Value::Unserializable(n) => tag("unserializable", Json::String(n.clone())),
            Value::Opaque(o) => {
                // extension tag: an undecoded payload (kind, sub-header as
                // msgpack hex, frames as hex)
                let mut body = Map::new();
                let kind = match o.kind {
                    crate::opaque::PayloadKind::Serialized => "serialized",
                    crate::opaque::PayloadKind::Pickled => "pickled",
                };
                body.insert("kind".into(), Json::String(kind.into()));
                body.insert(
                    "header".into(),
                    Json::String(o.header.encode().map(|h| to_hex(&h)).unwrap_or_default()),
                );
                body.insert(
                    "frames".into(),
                    Json::Array(o.frames.iter().map(|f| Json::String(to_hex(f))).collect()),
                );
                tag("opaque", Json::Object(body))
            }
        }
    }

    /// Parses canonical tagged JSON (PROTOCOL.md §13.3).
    ///
    /// # Errors
    ///
    /// [`Error::Json`] naming the path of the first problem.
    pub fn from_json(json: &Json) -> Result<Value> {
        from_json_at(json, "", 0)
    }
}

fn int_json(text: &str) -> Json {
    // `arbitrary_precision` keeps any integer exactly.
    serde_json::from_str::<Number>(text)
        .map(Json::Number)
        .unwrap_or_else(|_| Json::String(text.to_owned()))
}

fn ndarray_to_json(a: &NdArray) -> Json {
    let mut o = Map::new();
    o.insert("dtype".into(), a.dtype().to_descr_json());
    o.insert(
        "shape".into(),
        Json::Array(a.shape().iter().map(|d| Json::from(*d as u64)).collect()),
    );
    if let Some(items) = a.objects() {
        o.insert(
            "items".into(),
            Json::Array(items.iter().map(Value::to_json).collect()),
        );
        return Json::Object(o);
    }
    o.insert("data".into(), Json::String(to_hex(&a.to_c_bytes())));
    let nontrivial = a.shape().iter().filter(|d| **d > 1).count() > 1;
    if nontrivial && a.is_f_contiguous() && !a.is_c_contiguous() {
        o.insert("order".into(), Json::String("F".into()));
    }
    let bcast: Vec<Json> = a
        .shape()
        .iter()
        .zip(a.strides())
        .enumerate()
        .filter(|(_, (d, s))| **s == 0 && **d > 1)
        .map(|(i, _)| Json::from(i as u64))
        .collect();
    if !bcast.is_empty() && a.size() > 0 {
        o.insert("broadcast_axes".into(), Json::Array(bcast));
    }
    if !a.is_writeable() {
        o.insert("writeable".into(), Json::Bool(false));
    }
    Json::Object(o)
}

/// Bytes of JSON text `v` becomes (see [`Value::to_json_bounded`]),
/// stopping as soon as the sum passes `budget` (the result is then some
/// number above it). Every count saturates, so no input overflows it.
fn json_size(v: &Value, budget: u64) -> Result<u64> {
    const TAG: u64 = 16;
    let hex = |n: usize| (n as u64).saturating_mul(2).saturating_add(TAG);
    let text = |s: &str| {
        let escapes = s
            .bytes()
            .filter(|b| *b < 0x20 || *b == b'"' || *b == b'\\')
            .count() as u64;
        (s.len() as u64)
            .saturating_add(escapes.saturating_mul(5))
            .saturating_add(TAG)
    };
    let items = |vs: &[Value]| -> Result<u64> {
        let mut n = TAG;
        for x in vs {
            if n > budget {
                break;
            }
            n = n
                .saturating_add(json_size(x, budget.saturating_sub(n))?)
                .saturating_add(2);
        }
        Ok(n)
    };
    Ok(match v {
        Value::None | Value::Bool(_) | Value::Int(_) | Value::Float(_) => 64,
        Value::BigInt(i) => {
            // decimal digits of an int of `bits` bits: at most bits * log10(2) + 1
            let digits = (i.bits() as f64 * std::f64::consts::LOG10_2).floor() as u64 + 1;
            if digits > MAX_INT_DIGITS {
                return Err(Error::Limit {
                    what: "decimal digits of an int written as text",
                    limit: MAX_INT_DIGITS,
                    got: digits,
                });
            }
            digits.saturating_add(TAG)
        }
        Value::Str(s) | Value::Unserializable(s) => text(s),
        Value::Bytes(b) | Value::ByteArray(b) => hex(b.len()),
        Value::List(xs) | Value::Tuple(xs) | Value::Set(xs) | Value::FrozenSet(xs) => items(xs)?,
        Value::Dict(entries) => {
            let mut n = TAG;
            for (k, x) in entries {
                if n > budget {
                    break;
                }
                n = n
                    .saturating_add(json_size(k, budget.saturating_sub(n))?)
                    .saturating_add(json_size(x, budget.saturating_sub(n))?)
                    .saturating_add(4);
            }
            n
        }
        Value::MemoryView(m) => hex(m.data.len())
            .saturating_add(text(&m.format))
            .saturating_add(24u64.saturating_mul(m.shape.len() as u64)),
        Value::PyArray(a) => hex(a.data.len()).saturating_add(TAG),
        Value::NdArray(a) => {
            let meta = 24u64.saturating_mul(a.shape().len() as u64).saturating_add(128);
            match a.objects() {
                Some(xs) => items(xs)?.saturating_add(meta),
                // size() * itemsize fits isize for every array (checked when
                // it was made); a broadcast view counts its expanded bytes
                None => (a.size() as u64)
                    .saturating_mul(a.dtype().itemsize() as u64)
                    .saturating_mul(2)
                    .saturating_add(meta),
            }
        }
        Value::Object(o) => {
            let mut n = text(&o.class.path());
            for (k, x) in &o.fields {
                if n > budget {
                    break;
                }
                n = n
                    .saturating_add(text(k))
                    .saturating_add(json_size(x, budget.saturating_sub(n))?);
            }
            n
        }
        Value::Serialize(x) | Value::ToPickle(x) => json_size(x, budget)?.saturating_add(TAG),
        Value::Enum(e) => text(&e.class.path()).saturating_add(text(&e.name)),
        Value::Opaque(o) => {
            let frames: u64 = o.frames.iter().map(|f| hex(f.len())).fold(0, u64::saturating_add);
            let header = o.header.encode().map_or(0, |h| hex(h.len()));
            frames.saturating_add(header).saturating_add(TAG)
        }
    })
}

const MAX_JSON_DEPTH: usize = 128;

/// Light recursive entry: containers recurse from here, every other tag
/// is parsed in a separate (non-recursive) function, so the stack used per
/// nesting level stays small even in debug builds.
fn from_json_at(json: &Json, path: &str, depth: usize) -> Result<Value> {
    if depth > MAX_JSON_DEPTH {
        return Err(err(path, "nested too deeply"));
    }
    if let Json::Object(o) = json {
        if o.len() == 1 {
            if let Some(body) = o.get("object") {
                return json_object(body, &format!("{path}.object"), depth);
            }
            if let Some((tag, Json::Array(items))) = o.iter().next() {
                let kind = match tag.as_str() {
                    "list" => Some(0),
                    "tuple" => Some(1),
                    "set" => Some(2),
                    "frozenset" => Some(3),
                    _ => None,
                };
                if tag == "dict" {
                    return json_dict(&o[tag], &format!("{path}.dict"), depth);
                }
                if let Some(kind) = kind {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, v) in items.iter().enumerate() {
                        out.push(from_json_at(v, &format!("{path}.{tag}[{i}]"), depth + 1)?);
                    }
                    return Ok(match kind {
                        0 => Value::List(out),
                        1 => Value::Tuple(out),
                        2 => Value::Set(out),
                        _ => Value::FrozenSet(out),
                    });
                }
            }
        }
    }
    from_json_other(json, path, depth)
}

#[inline(never)]
fn from_json_other(json: &Json, path: &str, depth: usize) -> Result<Value> {
    if depth > MAX_JSON_DEPTH {
        return Err(err(path, "nested too deeply"));
    }
    let obj = match json {
        Json::Null => return Ok(Value::None),
        Json::Object(o) if o.len() == 1 => o,
        _ => return Err(err(path, "expected null or an object with exactly one tag")),
    };
    let Some((tag, body)) = obj.iter().next() else {
        return Err(err(path, "empty object"));
    };
    let p = |s: &str| format!("{path}.{s}");
    let here = p(tag);
    let str_body = || body.as_str().ok_or_else(|| err(&here, "expected a string"));
    let seq = |name: &str| -> Result<Vec<Value>> {
        body.as_array()
            .ok_or_else(|| err(&here, format!("{name} body must be an array")))?
            .iter()
            .enumerate()
            .map(|(i, v)| from_json_at(v, &format!("{here}[{i}]"), depth + 1))
            .collect()
    };
    Ok(match tag.as_str() {
        "bool" => Value::Bool(body.as_bool().ok_or_else(|| err(&here, "expected a boolean"))?),
        "int" => {
            let text = match body {
                Json::Number(n) => n.to_string(),
                Json::String(s) => s.clone(),
                _ => return Err(err(&here, "expected an integer")),
            };
            let big: num_bigint::BigInt = text
                .parse()
                .map_err(|_| err(&here, format!("invalid integer {text}")))?;
            Value::int(big)
        }
        "float" => Value::Float(parse_py_float(str_body()?).map_err(|_| err(&here, "invalid float text"))?),
        "str" => Value::Str(str_body()?.to_owned()),
        "bytes" => Value::Bytes(Bytes::from(hex_at(str_body()?, &here)?)),
        "bytearray" => Value::ByteArray(Bytes::from(hex_at(str_body()?, &here)?)),
        "list" => Value::List(seq("list")?),
        "tuple" => Value::Tuple(seq("tuple")?),
        "set" => Value::Set(seq("set")?),
        "frozenset" => Value::FrozenSet(seq("frozenset")?),
        "dict" => json_dict(body, &here, depth)?,
        "memoryview" => {
            let format = field_str(body, "format", &here)?.to_owned();
            let shape = field_dims(body, "shape", &here)?;
            let data = Bytes::from(hex_at(field_str(body, "data", &here)?, &format!("{here}.data"))?);
            Value::from(MemoryView { format, shape, data })
        }
        "pyarray" => {
            let tc = field_str(body, "typecode", &here)?;
            let mut chars = tc.chars();
            let typecode = match (chars.next(), chars.next()) {
                (Some(c), None) if PyArray::itemsize(c).is_some() => c,
                _ => return Err(err(&here, format!("invalid array typecode {tc:?}"))),
            };
            let data = Bytes::from(hex_at(field_str(body, "data", &here)?, &format!("{here}.data"))?);
            Value::PyArray(PyArray { typecode, data })
        }
        "ndarray" => Value::from(ndarray_from_json(body, &here, depth)?),
        "object" => json_object(body, &here, depth)?,
        "serialized" => Value::Serialize(Box::new(from_json_at(body, &here, depth + 1)?)),
        "pickled" => Value::ToPickle(Box::new(from_json_at(body, &here, depth + 1)?)),
        "enum" => Value::from(EnumMember {
            class: PyType::parse(field_str(body, "type", &here)?).map_err(|e| err(&here, e.to_string()))?,
            name: field_str(body, "name", &here)?.to_owned(),
        }),
        "unserializable" => Value::Unserializable(str_body()?.to_owned()),
        other => return Err(err(path, format!("unknown tag {other:?}"))),
    })
}

#[inline(never)]
fn json_dict(body: &Json, here: &str, depth: usize) -> Result<Value> {
    let here = here.to_owned();
    let pairs = body
        .as_array()
        .ok_or_else(|| err(&here, "dict body must be an array of pairs"))?;
    let mut entries = Vec::with_capacity(pairs.len());
    for (i, pair) in pairs.iter().enumerate() {
        let at = format!("{here}[{i}]");
        match pair.as_array().map(Vec::as_slice) {
            Some([k, v]) => entries.push((
                from_json_at(k, &format!("{at}[0]"), depth + 1)?,
                from_json_at(v, &format!("{at}[1]"), depth + 1)?,
            )),
            _ => return Err(err(&at, "expected a [key, value] pair")),
        }
    }
    Ok(Value::Dict(entries))
}

#[inline(never)]
fn json_object(body: &Json, here: &str, depth: usize) -> Result<Value> {
    let here = here.to_owned();
    let class = PyType::parse(field_str(body, "type", &here)?).map_err(|e| err(&here, e.to_string()))?;
    let fields_json = body
        .get("fields")
        .ok_or_else(|| err(&here, "missing \"fields\""))?;
    let mut fields = Vec::new();
    match fields_json {
        Json::Object(m) => {
            for (k, v) in m {
                fields.push((
                    k.clone(),
                    from_json_at(v, &format!("{here}.fields.{k}"), depth + 1)?,
                ));
            }
        }
        Json::Array(pairs) => {
            for (i, pair) in pairs.iter().enumerate() {
                let at = format!("{here}.fields[{i}]");
                match pair.as_array().map(Vec::as_slice) {
                    Some([Json::String(k), v]) => fields.push((k.clone(), from_json_at(v, &at, depth + 1)?)),
                    _ => return Err(err(&at, "expected a [name, value] pair")),
                }
            }
        }
        _ => return Err(err(&here, "\"fields\" must be an object or a list of pairs")),
    }
    Ok(Value::from(Object { class, fields }))
}

fn hex_at(s: &str, path: &str) -> Result<Vec<u8>> {
    from_hex(s).map_err(|e| match e {
        Error::Json { message, .. } => err(path, message),
        e => e,
    })
}

fn field_str<'a>(body: &'a Json, key: &str, path: &str) -> Result<&'a str> {
    body.get(key)
        .and_then(Json::as_str)
        .ok_or_else(|| err(path, format!("missing string field {key:?}")))
}

fn field_dims(body: &Json, key: &str, path: &str) -> Result<Vec<usize>> {
    body.get(key)
        .and_then(Json::as_array)
        .ok_or_else(|| err(path, format!("missing array field {key:?}")))?
        .iter()
        .map(|d| {
            d.as_u64()
                .and_then(|d| usize::try_from(d).ok())
                .ok_or_else(|| err(&format!("{path}.{key}"), "expected non-negative integers"))
        })
        .collect()
}

fn ndarray_from_json(body: &Json, path: &str, depth: usize) -> Result<NdArray> {
    let dtype = DType::from_descr_json(body.get("dtype").ok_or_else(|| err(path, "missing \"dtype\""))?)
        .map_err(|e| err(&format!("{path}.dtype"), e.to_string()))?;
    if let Some(items) = body.get("items") {
        let shape = field_dims(body, "shape", path)?;
        let items = items
            .as_array()
            .ok_or_else(|| err(path, "\"items\" must be a list"))?
            .iter()
            .enumerate()
            .map(|(i, v)| from_json_at(v, &format!("{path}.items[{i}]"), depth + 1))
            .collect::<Result<Vec<_>>>()?;
        return NdArray::from_objects(shape, items).map_err(|e| err(path, e.to_string()));
    }
    let shape = field_dims(body, "shape", path)?;
    let data = Bytes::from(hex_at(field_str(body, "data", path)?, &format!("{path}.data"))?);
    let wrap = |e: Error| err(path, e.to_string());
    let mut a = NdArray::from_c_order(&dtype, shape.clone(), data).map_err(wrap)?;
    if body.get("order").and_then(Json::as_str) == Some("F") {
        a = to_f_order(&a).map_err(wrap)?;
    }
    if body.get("noncontiguous").and_then(Json::as_bool) == Some(true) {
        a = to_strided(&a).map_err(wrap)?;
    }
    if let Some(axes) = body.get("broadcast_axes").and_then(Json::as_array) {
        let axes: Vec<usize> = axes
            .iter()
            .filter_map(|v| v.as_u64().map(|x| x as usize))
            .collect();
        let mut small = shape.clone();
        for &ax in &axes {
            if ax >= small.len() {
                return Err(err(path, format!("broadcast axis {ax} out of range")));
            }
            small[ax] = 1;
        }
        // take index 0 along the broadcast axes, then broadcast back
        let full = NdArray::from_c_order(&dtype, shape.clone(), a.to_c_bytes()).map_err(wrap)?;
        let first = NdArray::new(
            &dtype,
            small.clone(),
            full.strides().to_vec(),
            0,
            full.buffer().clone(),
        )
        .map_err(wrap)?;
        let small_arr = NdArray::from_c_order(&dtype, small, first.to_c_bytes()).map_err(wrap)?;
        a = small_arr.broadcast_to(&shape).map_err(wrap)?;
    }
    if body.get("writeable").and_then(Json::as_bool) == Some(false) {
        a.set_writeable(false);
    }
    Ok(a)
}

fn to_f_order(a: &NdArray) -> Result<NdArray> {
    let isz = a.dtype().itemsize();
    let shape = a.shape().to_vec();
    let c = a.to_c_bytes();
    let n = a.size();
    let mut out = vec![0u8; n * isz];
    let cstr = NdArray::from_c_order(a.dtype(), shape.clone(), c.clone())?
        .strides()
        .to_vec();
    let f = NdArray::from_f_order(a.dtype(), shape.clone(), Bytes::from(vec![0u8; n * isz]))?;
    let fstr = f.strides().to_vec();
    // walk all indices
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        let co: isize = idx.iter().zip(&cstr).map(|(i, s)| *i as isize * s).sum();
        let fo: isize = idx.iter().zip(&fstr).map(|(i, s)| *i as isize * s).sum();
        out[fo as usize..fo as usize + isz].copy_from_slice(&c[co as usize..co as usize + isz]);
        for ax in (0..shape.len()).rev() {
            idx[ax] += 1;
            if idx[ax] < shape[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    Ok(NdArray::from_f_order(a.dtype(), shape, Bytes::from(out))?.with_writeable(a.is_writeable()))
}

/// The same logical content as a strided view (every other element of a
/// buffer twice as long along the last axis).
fn to_strided(a: &NdArray) -> Result<NdArray> {
    let isz = a.dtype().itemsize();
    let c = a.to_c_bytes();
    let mut buf = Vec::with_capacity(c.len() * 2);
    for chunk in c.chunks(isz.max(1)) {
        buf.extend_from_slice(chunk);
        buf.extend(std::iter::repeat_n(0u8, chunk.len()));
    }
    let shape = a.shape().to_vec();
    let mut strides = NdArray::from_c_order(a.dtype(), shape.clone(), c)?
        .strides()
        .to_vec();
    for s in strides.iter_mut() {
        *s *= 2;
    }
    Ok(NdArray::new(a.dtype(), shape, strides, 0, Bytes::from(buf))?.with_writeable(a.is_writeable()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_json_measures_before_building() {
        use num_bigint::BigInt;
        // ints: Python's 4300-digit rule
        let ok = Value::BigInt(BigInt::from(1) << 10_000); // 3011 digits
        assert_eq!(ok.to_json_bounded(1 << 20).unwrap(), ok.to_json());
        let huge = Value::BigInt(BigInt::from(1) << 20_000); // 6021 digits
        let e = huge.to_json_bounded(u64::MAX).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Limit {
                    limit: MAX_INT_DIGITS,
                    ..
                }
            ),
            "{e}"
        );
        // a broadcast view counts its expanded bytes
        let one = NdArray::from_c_order("|u1", vec![1], Bytes::from_static(b"x")).unwrap();
        let view = Value::from(one.broadcast_to(&[1 << 40]).unwrap());
        let e = view.to_json_bounded(1 << 30).unwrap_err();
        assert!(matches!(e, Error::Limit { got, .. } if got > 1 << 40), "{e}");
        // the measure covers the text actually produced
        let v = Value::List(vec![
            Value::from("a\"b\n"),
            Value::Bytes(Bytes::from(vec![7u8; 1000])),
            Value::Dict(vec![(Value::from("k"), Value::from(1.5))]),
        ]);
        let text = serde_json::to_string(&v.to_json()).unwrap().len() as u64;
        // the measure is the text plus at most a small constant per value
        assert!(v.to_json_bounded(text + 8 * 64).is_ok());
        assert!(v.to_json_bounded(text / 2).is_err());
        // containers stop measuring once over the budget
        let many = Value::List(vec![Value::Bytes(Bytes::from(vec![0u8; 1 << 20])); 1 << 12]);
        assert!(many.to_json_bounded(1 << 20).is_err());
    }

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (1.5, "1.5"),
            (0.1, "0.1"),
            (1e300, "1e+300"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (-2.5e-7, "-2.5e-07"),
            (3.0, "3.0"),
            (-0.0, "-0.0"),
            (f64::INFINITY, "inf"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ];
        for (f, s) in cases {
            assert_eq!(py_float_repr(f), s);
            assert!(float_eq(parse_py_float(s).unwrap(), f));
        }
    }

    fn float_eq(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits()
    }

    #[test]
    fn json_round_trip() {
        let doc = serde_json::json!({"dict": [
            [{"str": "a"}, {"list": [{"int": 1}, {"float": "nan"}, null, {"bool": true}]}],
            [{"int": 18446744073709551615u64}, {"tuple": [{"bytes": "00ff"}, {"bytearray": ""}]}],
            [{"str": "big"}, {"int": -9223372036854775808i64}],
            [{"str": "o"}, {"object": {"type": "m.C", "fields": {"x": {"set": []}}}}]
        ]});
        let v = Value::from_json(&doc).unwrap();
        assert_eq!(v.to_json(), doc);
        let bad = [
            serde_json::json!({"nope": 1}),
            serde_json::json!({"int": "x"}),
            serde_json::json!({"bytes": "0"}),
        ];
        for b in bad {
            assert!(Value::from_json(&b).is_err());
        }
    }
}
