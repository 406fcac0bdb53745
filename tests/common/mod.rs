//! Shared helpers of the integration tests: the golden vectors, the
//! canonical comparison rules of PROTOCOL.md §13.3, and encoding parameters.
#![allow(dead_code)]

pub mod cluster;
pub mod python;

use std::path::{Path, PathBuf};

use dask_serde::bytes::Bytes;
use dask_serde::{Context, Header, MsgValue, OnError, SerializeOptions, Value};
use serde_json::Value as Json;

/// One golden vector: its name, JSON document and `.frames` bytes.
pub struct Vector {
    pub name: String,
    pub doc: Json,
    pub blob: Bytes,
}

impl Vector {
    pub fn level(&self) -> &str {
        self.doc["level"].as_str().unwrap_or("serialize")
    }
    pub fn api(&self) -> &str {
        self.doc["params"]["api"].as_str().unwrap_or("serialize")
    }
    pub fn expects_error(&self) -> bool {
        self.doc["expect"].as_str() == Some("error")
    }
    pub fn reproducible(&self) -> bool {
        self.doc["reproducible"].as_bool() == Some(true)
    }
    pub fn value(&self) -> Value {
        Value::from_json(&self.doc["value"]).unwrap_or_else(|e| panic!("{}: bad value JSON: {e}", self.name))
    }
    pub fn deserializers(&self) -> Option<Vec<String>> {
        self.doc["decode_params"]["deserializers"]
            .as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Every vector in `tests/fixtures/vectors`, sorted by name.
pub fn vectors() -> Vec<Vector> {
    let dir = root().join("tests/fixtures/vectors");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| {
            let n = e.ok()?.file_name().into_string().ok()?;
            n.strip_suffix(".json").map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 43,
        "expected the 43 public vectors, found {}",
        names.len()
    );
    names
        .into_iter()
        .map(|name| {
            let doc: Json =
                serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap();
            let blob = Bytes::from(std::fs::read(dir.join(format!("{name}.frames"))).unwrap());
            Vector { name, doc, blob }
        })
        .collect()
}

/// The vector with this name.
pub fn vector(name: &str) -> Vector {
    vectors()
        .into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
}

/// `SerializeOptions` from a vector's `params`.
pub fn serialize_options(doc: &Json) -> SerializeOptions {
    let p = &doc["params"];
    let mut o = SerializeOptions::new();
    if let Some(s) = p["serializers"].as_array() {
        o = o.serializers(s.iter().map(|x| x.as_str().unwrap().to_owned()));
    }
    if p["on_error"].as_str() == Some("raise") {
        o = o.on_error(OnError::Raise);
    }
    if let Some(b) = p["iterate_collection"].as_bool() {
        o = o.iterate_collection(Some(b));
    }
    if let Some(c) = p["context"].as_object() {
        let mut ctx = Context::new();
        for (k, v) in c {
            let val = match v {
                Json::Null => Value::None,
                Json::String(s) => Value::from(s.as_str()),
                Json::Number(n) => Value::from(n.as_i64().unwrap()),
                Json::Bool(b) => Value::from(*b),
                other => panic!("unsupported context value {other}"),
            };
            ctx.insert(k, val);
        }
        o = o.context(ctx);
    }
    o
}

// ---------------------------------------------------------------------------
// Canonical comparison (PROTOCOL.md §13.3), walking the header alongside the value.

/// Compares a decoded value with the expected one. `header` tells which
/// parts travelled through msgpack (where list≈tuple and bytearray≈bytes).
pub fn check_decoded(decoded: &Value, expected: &Value, header: &Header) -> Result<(), String> {
    walk(decoded, expected, &header.clone().into_value(), "value")
}

fn walk(d: &Value, e: &Value, h: &MsgValue, path: &str) -> Result<(), String> {
    if h.get("is-collection").is_some() {
        let subs = h.get("sub-headers").and_then(MsgValue::as_array).unwrap_or(&[]);
        return match (d, e) {
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => {
                same_len(a.len(), b.len(), path)?;
                for (i, ((x, y), sh)) in a.iter().zip(b).zip(subs).enumerate() {
                    walk(x, y, sh, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            (Value::Set(a), Value::Set(b)) => {
                same_len(a.len(), b.len(), path)?;
                // order need not match: every decoded item must match some expected item
                for (i, (x, sh)) in a.iter().zip(subs).enumerate() {
                    if !b.iter().any(|y| walk(x, y, sh, path).is_ok()) {
                        return Err(format!("{path}: set item {i} {x:?} not expected"));
                    }
                }
                Ok(())
            }
            (Value::Dict(a), Value::Dict(b)) => {
                same_len(a.len(), b.len(), path)?;
                for (i, (((k1, v1), (k2, v2)), sh)) in a.iter().zip(b).zip(subs).enumerate() {
                    loose(k1, k2, &format!("{path}.key[{i}]"))?;
                    walk(v1, v2, sh, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            _ => Err(format!(
                "{path}: decoded {} but expected {}",
                d.type_name(),
                e.type_name()
            )),
        };
    }
    match h.get("serializer").and_then(MsgValue::as_str) {
        Some("msgpack") => loose(d, e, path),
        Some("dask") => match (d, e, h.get("sub-header")) {
            (Value::Object(a), Value::Object(b), Some(sub)) => {
                if a.class != b.class {
                    return Err(format!("{path}: class {} != {}", a.class, b.class));
                }
                same_len(a.fields.len(), b.fields.len(), path)?;
                for (name, v) in &a.fields {
                    let want = b
                        .get(name)
                        .ok_or_else(|| format!("{path}: unexpected field {name}"))?;
                    let fp = format!("{path}.{name}");
                    if let Some(ch) = sub.get("complex").and_then(|c| c.get(name)) {
                        walk_complex(v, want, ch, &fp)?;
                    } else {
                        loose(v, want, &fp)?;
                    }
                }
                Ok(())
            }
            _ => exact(d, e, path),
        },
        _ => exact(d, e, path),
    }
}

fn walk_complex(d: &Value, e: &Value, entry: &MsgValue, path: &str) -> Result<(), String> {
    let h = entry
        .get("header")
        .ok_or_else(|| format!("{path}: complex entry without header"))?;
    if let Some(nested) = h.get("nested-dict") {
        return match (d, e) {
            (Value::Dict(a), Value::Dict(b)) => {
                same_len(a.len(), b.len(), path)?;
                for (k, v) in a {
                    let want = b
                        .iter()
                        .find(|(k2, _)| loose(k, k2, path).is_ok())
                        .map(|(_, v)| v)
                        .ok_or_else(|| format!("{path}: unexpected key {k:?}"))?;
                    let name = k.clone();
                    let ch = nested.get("complex").and_then(|c| {
                        c.as_map()?
                            .iter()
                            .find(|(ck, _)| dask_serde::family::msgpack::from_msgpack(ck.clone()) == name)
                            .map(|(_, v)| v)
                    });
                    match ch {
                        Some(ch) => walk_complex(v, want, ch, &format!("{path}[{k:?}]"))?,
                        None => loose(v, want, &format!("{path}[{k:?}]"))?,
                    }
                }
                Ok(())
            }
            _ => Err(format!("{path}: expected a dict")),
        };
    }
    walk(d, e, h, path)
}

fn same_len(a: usize, b: usize, path: &str) -> Result<(), String> {
    if a == b {
        Ok(())
    } else {
        Err(format!("{path}: {a} items decoded, {b} expected"))
    }
}

/// Exact comparison (type-preserving paths); sets are unordered.
fn exact(d: &Value, e: &Value, path: &str) -> Result<(), String> {
    if d.same_set(e) {
        Ok(())
    } else {
        Err(format!("{path}: decoded {d:?}\n expected {e:?}"))
    }
}

/// Comparison for values that went through msgpack: list≈tuple,
/// bytearray≈bytes.
pub fn loose(d: &Value, e: &Value, path: &str) -> Result<(), String> {
    let ok = match (d, e) {
        (Value::Tuple(a) | Value::List(a), Value::Tuple(b) | Value::List(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| loose(x, y, path).is_ok())
        }
        (Value::Bytes(a) | Value::ByteArray(a), Value::Bytes(b) | Value::ByteArray(b)) => a == b,
        (Value::Dict(a), Value::Dict(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((k1, v1), (k2, v2))| loose(k1, k2, path).is_ok() && loose(v1, v2, path).is_ok())
        }
        _ => d.same_set(e),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{path}: decoded {d:?}\n expected {e:?}"))
    }
}

// ---------------------------------------------------------------------------
// Every level and API of the vectors.

use dask_serde::compression::CompressionOptions;
use dask_serde::message::{dumps, loads};
use dask_serde::pack::{pack_frames, unpack_frames};
use dask_serde::{deserialize_bytes, serialize_and_split, serialize_bytes};
use dask_serde::{DeserializeOptions, Limits, OwnedSerialized};

/// Decodes a blob as the document says (level, api, allow-list). Returns
/// the value and, for serialize-level data, the header (for the comparison
/// rules).
pub fn decode_doc(doc: &Json, blob: &[u8]) -> Result<(Value, Option<Header>), dask_serde::Error> {
    let limits = Limits::default();
    let blob = Bytes::copy_from_slice(blob);
    let mut opts = DeserializeOptions::new();
    opts.deserializers = doc["decode_params"]["deserializers"].as_array().map(|a| {
        a.iter()
            .map(|x| x.as_str().unwrap_or_default().to_owned())
            .collect()
    });
    if doc["level"].as_str() == Some("message") {
        let frames = unpack_frames(&blob, &limits)?;
        let v = loads(&frames, &opts)?;
        return Ok((v, None));
    }
    match doc["params"]["api"].as_str().unwrap_or("serialize") {
        "serialize_bytes" => {
            let s = OwnedSerialized::from_packed(&blob, &limits)
                .ok()
                .map(|s| s.header);
            Ok((deserialize_bytes(&blob, &opts)?, s))
        }
        _ => {
            let s = OwnedSerialized::from_packed(&blob, &limits)?;
            let frames = dask_serde::split::merge_frames(&s.header, s.frame_bytes(), Some(&blob))?;
            let v = dask_serde::deserialize_any(&s.header, &frames, &opts)?;
            Ok((v, Some(s.header)))
        }
    }
}

/// Rust's encoding of the document's value with its level and params.
pub fn encode_doc(doc: &Json) -> Result<Vec<u8>, dask_serde::Error> {
    let value = Value::from_json(&doc["value"])?;
    let p = &doc["params"];
    if doc["level"].as_str() == Some("message") {
        let mut opts = SerializeOptions::new();
        if let Some(s) = p["serializers"].as_array() {
            opts = opts.serializers(s.iter().map(|x| x.as_str().unwrap().to_owned()));
        }
        opts.context = serialize_options(doc).context;
        opts.frame_split_size = p["frame_split_size"].as_u64().map(|n| n as usize);
        return Ok(pack_frames(&dumps(&value, &opts)?));
    }
    let mut sopts = serialize_options(doc);
    sopts.frame_split_size = p["size"].as_u64().map(|n| n as usize);
    match p["api"].as_str().unwrap_or("serialize") {
        "serialize_and_split" => serialize_and_split(&value, &sopts)?.to_packed(),
        "serialize_bytes" => {
            let codec = p["compression"].as_str().map(str::to_owned);
            sopts.compression = Some(CompressionOptions {
                codec,
                ..CompressionOptions::default()
            });
            serialize_bytes(&value, &sopts)
        }
        _ => dask_serde::serialize(&value, &sopts)?.to_packed(),
    }
}

/// Checks a decoded value against the document: the expected error, or the
/// value under the canonical comparison rules.
pub fn check_doc(
    doc: &Json,
    result: Result<(Value, Option<Header>), dask_serde::Error>,
) -> Result<(), String> {
    let expects_error = doc["expect"].as_str() == Some("error");
    match result {
        Ok((v, header)) => {
            if expects_error {
                return Err(format!("decoded {v:?} but an error was expected"));
            }
            let want = Value::from_json(&doc["value"]).map_err(|e| e.to_string())?;
            match header {
                Some(h) => check_decoded(&v, &want, &h),
                None => loose_message(&v, &want, "value"),
            }
        }
        Err(e) if expects_error => {
            if let Some(m) = doc["error_message"].as_str() {
                if e.to_string() != m {
                    return Err(format!("error {:?}, expected {m:?}", e.to_string()));
                }
            }
            if let Some(t) = doc["error_type"].as_str() {
                if e.python_type() != t {
                    return Err(format!("error type {}, expected {t}", e.python_type()));
                }
            }
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Message bodies travel through msgpack (list≈tuple, bytearray≈bytes);
/// `serialized` payloads are compared with the value they wrap, `pickled`
/// ones exactly.
fn loose_message(d: &Value, e: &Value, path: &str) -> Result<(), String> {
    match (d, e) {
        (_, Value::Serialize(inner)) => {
            if d.same_set(inner) || loose(d, inner, path).is_ok() {
                Ok(())
            } else {
                Err(format!("{path}: decoded {d:?}\n expected payload {inner:?}"))
            }
        }
        (_, Value::ToPickle(inner)) => exact_or_err(d, inner, path),
        (Value::Dict(a), Value::Dict(b)) if a.len() == b.len() => {
            for ((k1, v1), (k2, v2)) in a.iter().zip(b) {
                loose(k1, k2, path)?;
                loose_message(v1, v2, &format!("{path}[{k1:?}]"))?;
            }
            Ok(())
        }
        (Value::Tuple(a) | Value::List(a), Value::Tuple(b) | Value::List(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                loose_message(x, y, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ => loose(d, e, path),
    }
}

fn exact_or_err(d: &Value, e: &Value, path: &str) -> Result<(), String> {
    if d.same_set(e) {
        Ok(())
    } else {
        Err(format!("{path}: decoded {d:?}\n expected {e:?}"))
    }
}
