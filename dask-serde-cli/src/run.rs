//! The three commands, as functions from input bytes to output.

use std::fmt::Write as _;

use dask_serde::bytes::Bytes;
use dask_serde::compression::{decompress_frames, CompressionOptions};
use dask_serde::message::{dumps, loads};
use dask_serde::pack::{pack_frames, unpack_frames};
use dask_serde::{
    deserialize_any, serialize, serialize_and_split, serialize_bytes, Context, DeserializeOptions, Header,
    Limits, MsgValue, OnError, PyType, SerializeOptions, Value,
};
use serde_json::Value as Json;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// `decode`: frames → canonical JSON of at most `max_output` bytes.
pub fn decode(
    data: &[u8],
    message: bool,
    deserializers: Option<Vec<String>>,
    max_output: u64,
) -> Result<String, String> {
    let limits = Limits::default();
    let blob = Bytes::copy_from_slice(data);
    let frames = unpack_frames(&blob, &limits).map_err(err)?;
    let mut opts = DeserializeOptions::new().limits(limits);
    opts.deserializers = deserializers;
    let value = if message {
        loads(&frames, &opts).map_err(err)?
    } else {
        let (first, rest) = frames
            .split_first()
            .ok_or("no header frame (the file holds 0 frames)")?;
        let header = Header::decode(first, &limits).map_err(|e| format!("frame 0 is not a header: {e}"))?;
        let rest = decompress_frames(
            header.compression().map_err(err)?.as_deref(),
            rest.to_vec(),
            &limits,
        )
        .map_err(err)?;
        let rest = dask_serde::split::merge_frames(&header, rest, Some(&blob)).map_err(err)?;
        deserialize_any(&header, &rest, &opts).map_err(err)?
    };
    let json = value.to_json_bounded(max_output).map_err(|e| {
        format!("{e} (the decoded value is too large to print; raise --max-output to allow more)")
    })?;
    serde_json::to_string(&json).map_err(err)
}

fn str_list(v: &Json, key: &str) -> Result<Option<Vec<String>>, String> {
    match v.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("params.{key} must be a list of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("params.{key} must be a list of strings")),
    }
}

fn context(params: &Json) -> Result<Option<Context>, String> {
    let Some(c) = params.get("context") else {
        return Ok(None);
    };
    let obj = c.as_object().ok_or("params.context must be an object")?;
    let mut ctx = Context::new();
    for (k, v) in obj {
        let value = match v {
            Json::Null => Value::None,
            Json::Bool(b) => Value::Bool(*b),
            Json::String(s) => Value::from(s.as_str()),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::from(i),
                None => return Err(format!("params.context.{k}: only integers are supported")),
            },
            _ => Value::from_json(v).map_err(|e| format!("params.context.{k}: {e}"))?,
        };
        ctx.insert(k, value);
    }
    Ok(Some(ctx))
}

fn size(params: &Json, key: &str) -> Result<Option<usize>, String> {
    match params.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| format!("params.{key} must be a positive integer")),
    }
}

/// `encode`: JSON document → frames.
pub fn encode(data: &[u8]) -> Result<Vec<u8>, String> {
    let doc: Json = serde_json::from_slice(data).map_err(|e| format!("invalid JSON: {e}"))?;
    let level = doc.get("level").and_then(Json::as_str).unwrap_or("serialize");
    let value_json = doc.get("value").ok_or("the document has no \"value\"")?;
    let value = Value::from_json(value_json).map_err(err)?;
    let params = doc.get("params").cloned().unwrap_or(Json::Null);
    let known = [
        "api",
        "serializers",
        "on_error",
        "iterate_collection",
        "context",
        "size",
        "frame_split_size",
        "compression",
    ];
    if let Some(obj) = params.as_object() {
        if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("unknown params key {k:?} (known: {})", known.join(", ")));
        }
    } else if !params.is_null() {
        return Err("params must be an object".into());
    }
    let on_error = match params.get("on_error").and_then(Json::as_str) {
        None | Some("message") => OnError::Message,
        Some("raise") => OnError::Raise,
        Some(other) => {
            return Err(format!(
                "params.on_error must be \"message\" or \"raise\", got {other:?}"
            ))
        }
    };
    let serializers = str_list(&params, "serializers")?;
    let ctx = context(&params)?;
    match level {
        "serialize" => {
            let mut opts = SerializeOptions::new().on_error(on_error);
            if let Some(s) = serializers {
                opts = opts.serializers(s);
            }
            if let Some(c) = ctx {
                opts = opts.context(c);
            }
            opts.iterate_collection = params.get("iterate_collection").and_then(Json::as_bool);
            match params.get("api").and_then(Json::as_str).unwrap_or("serialize") {
                "serialize" => serialize(&value, &opts).and_then(|s| s.to_packed()).map_err(err),
                "serialize_and_split" => {
                    opts.frame_split_size = size(&params, "size")?;
                    serialize_and_split(&value, &opts)
                        .and_then(|s| s.to_packed())
                        .map_err(err)
                }
                "serialize_bytes" => {
                    let codec = match params.get("compression") {
                        None | Some(Json::Null) | Some(Json::Bool(false)) => None,
                        Some(Json::String(s)) => Some(s.clone()),
                        Some(_) => return Err("params.compression must be a codec name or null".into()),
                    };
                    opts.compression = Some(CompressionOptions {
                        codec,
                        ..CompressionOptions::default()
                    });
                    opts.frame_split_size = size(&params, "size")?;
                    serialize_bytes(&value, &opts).map_err(err)
                }
                other => Err(format!(
                    "params.api must be serialize, serialize_and_split or serialize_bytes, got {other:?}"
                )),
            }
        }
        "message" => {
            let mut opts = SerializeOptions::new();
            opts.on_error = on_error;
            if let Some(s) = serializers {
                opts = opts.serializers(s);
            }
            opts.context = ctx;
            opts.frame_split_size = size(&params, "frame_split_size")?;
            let frames = dumps(&value, &opts).map_err(err)?;
            Ok(pack_frames(&frames))
        }
        other => Err(format!(
            "level must be \"serialize\" or \"message\", got {other:?}"
        )),
    }
}

/// `inspect`: a readable summary.
pub fn inspect(data: &[u8], message: Option<bool>) -> Result<String, String> {
    let limits = Limits::default();
    let blob = Bytes::copy_from_slice(data);
    let frames = unpack_frames(&blob, &limits).map_err(err)?;
    let mut out = String::new();
    let total: usize = frames.iter().map(Bytes::len).sum();
    let _ = writeln!(
        out,
        "{} frames, {} bytes of frame data ({} bytes in all)",
        frames.len(),
        total,
        blob.len()
    );
    let Some(first) = frames.first() else {
        return Ok(out);
    };
    let m0 = MsgValue::decode(first, &limits).map_err(|e| format!("frame 0 is not msgpack: {e}"))?;
    let is_header = m0.as_map().is_some_and(|m| {
        m.iter()
            .any(|(k, _)| matches!(k.as_str(), Some("serializer" | "is-collection" | "sub-header")))
    });
    let message = message.unwrap_or(!is_header);
    if message {
        let _ = writeln!(out, "level: message");
        let _ = writeln!(out, "frame 0: message ({} bytes)", first.len());
        pretty(&m0, 1, &mut out);
        let mut referenced = vec![false; frames.len()];
        referenced[0] = true;
        let mut refs = Vec::new();
        collect_refs(&m0, &mut refs);
        // each sub-header and payload is described once, so the output
        // grows with the input, not with what references or counts claim
        let mut shown = vec![false; frames.len()];
        for (kind, k) in refs {
            let Some(sub) = frames.get(k) else {
                let _ = writeln!(out, "{kind} {k}: points past the {} frames", frames.len());
                continue;
            };
            referenced[k] = true;
            if std::mem::replace(&mut shown[k], true) {
                let _ = writeln!(out, "{kind} {k}: the sub-header shown above");
                continue;
            }
            let _ = writeln!(out, "frame {k}: {kind} sub-header ({} bytes)", sub.len());
            match MsgValue::decode(sub, &limits) {
                Ok(h) => {
                    pretty(&h, 1, &mut out);
                    // a claim beyond usize is as missing as one beyond the frames
                    let n = h
                        .get("num-sub-frames")
                        .and_then(MsgValue::as_int)
                        .map_or(0, |n| usize::try_from(n.max(0)).unwrap_or(usize::MAX));
                    let comp = h
                        .get("compression")
                        .and_then(MsgValue::as_array)
                        .map(<[MsgValue]>::to_vec);
                    let present = n.min(frames.len() - (k + 1));
                    for i in 0..present {
                        let idx = k + 1 + i;
                        let f = &frames[idx];
                        referenced[idx] = true;
                        let c = comp.as_ref().and_then(|c| c.get(i)).and_then(MsgValue::as_str);
                        let _ = writeln!(
                            out,
                            "frame {idx}: payload {i} of {kind} {k}, {} bytes{}",
                            f.len(),
                            c.map(|c| format!(", compressed with {c}")).unwrap_or_default()
                        );
                    }
                    if present < n {
                        let _ = writeln!(
                            out,
                            "frames {}..: {} missing (num-sub-frames = {n}, the message has {} frames)",
                            k + 1 + present,
                            n - present,
                            frames.len()
                        );
                    }
                }
                Err(e) => {
                    let _ = writeln!(out, "  (not msgpack: {e})");
                }
            }
        }
        for (i, r) in referenced.iter().enumerate() {
            if !r {
                let _ = writeln!(
                    out,
                    "frame {i}: orphan, {} bytes (not referenced by the message)",
                    frames[i].len()
                );
            }
        }
    } else {
        let _ = writeln!(out, "level: serialize");
        let _ = writeln!(out, "frame 0: header ({} bytes)", first.len());
        pretty(&m0, 1, &mut out);
        let comp = m0
            .get("compression")
            .and_then(MsgValue::as_array)
            .map(<[MsgValue]>::to_vec);
        for (i, f) in frames.iter().enumerate().skip(1) {
            let c = comp
                .as_ref()
                .and_then(|c| c.get(i - 1))
                .and_then(MsgValue::as_str);
            let _ = writeln!(
                out,
                "frame {i}: {} bytes{}{}",
                f.len(),
                c.map(|c| format!(", compressed with {c}")).unwrap_or_default(),
                preview(f)
            );
        }
    }
    Ok(out)
}

fn preview(f: &[u8]) -> String {
    if f.is_empty() {
        return String::new();
    }
    let n = f.len().min(16);
    let hex: String = f[..n].iter().map(|b| format!("{b:02x}")).collect();
    format!(": {hex}{}", if f.len() > n { "…" } else { "" })
}

fn collect_refs(m: &MsgValue, out: &mut Vec<(&'static str, usize)>) {
    let mut stack = vec![m];
    while let Some(v) = stack.pop() {
        match v {
            MsgValue::Array(items) => stack.extend(items.iter().rev()),
            MsgValue::Map(entries) => {
                for (kind, key) in [
                    ("__Serialized__", "__Serialized__"),
                    ("__Pickled__", "__Pickled__"),
                ] {
                    if let Some(MsgValue::Int(k)) = v.get(key) {
                        if *k > 0 {
                            out.push((kind, *k as usize));
                        }
                    }
                }
                for (k, val) in entries.iter().rev() {
                    stack.push(val);
                    stack.push(k);
                }
            }
            _ => {}
        }
    }
    out.sort_by_key(|(_, k)| *k);
}

/// Indented rendering of a msgpack value; `type-serialized` pickles are
/// shown as the class they name.
fn pretty(m: &MsgValue, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    match m {
        MsgValue::Map(entries) if !entries.is_empty() => {
            for (k, v) in entries {
                let key = match k {
                    MsgValue::Str(s) => s.clone(),
                    other => scalar(other),
                };
                if matches!(v, MsgValue::Map(e) if !e.is_empty())
                    || matches!(v, MsgValue::Array(a) if a.iter().any(|x| matches!(x, MsgValue::Map(_))))
                {
                    let _ = writeln!(out, "{pad}{key}:");
                    pretty(v, indent + 1, out);
                } else if key == "type-serialized" || key == "pickled-obj" {
                    let shown = match v.as_bin().map(|b| PyType::from_type_serialized(b)) {
                        Some(Ok(t)) => format!("<class {t}>"),
                        _ => scalar(v),
                    };
                    let _ = writeln!(out, "{pad}{key}: {shown}");
                } else {
                    let _ = writeln!(out, "{pad}{key}: {}", scalar(v));
                }
            }
        }
        MsgValue::Array(items) if items.iter().any(|x| matches!(x, MsgValue::Map(_))) => {
            for (i, v) in items.iter().enumerate() {
                let _ = writeln!(out, "{pad}[{i}]:");
                pretty(v, indent + 1, out);
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", scalar(other));
        }
    }
}

fn scalar(m: &MsgValue) -> String {
    match m {
        MsgValue::Nil => "nil".into(),
        MsgValue::Bool(b) => b.to_string(),
        MsgValue::Int(i) => i.to_string(),
        MsgValue::Float(f) => f.to_string(),
        MsgValue::Str(s) => format!("{s:?}"),
        MsgValue::Bin(b) => format!("<{} bytes>{}", b.len(), preview(b)),
        MsgValue::Array(items) => format!("[{}]", items.iter().map(scalar).collect::<Vec<_>>().join(", ")),
        MsgValue::Map(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", scalar(k), scalar(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
