//! Shared helpers of the integration tests: the golden vectors, the
//! canonical comparison rules of spec §13.3, and encoding parameters.
#![allow(dead_code)]

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
// Canonical comparison (spec §13.3), walking the header alongside the value.

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
