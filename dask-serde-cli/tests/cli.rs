//! The `dask-serde` binary as a process: every public vector through
//! decode / encode / inspect, and malformed input (exit 1, one `error:`
//! line, never a panic).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use dask_serde::bytes::Bytes;
use dask_serde::pack::pack_frames;
use dask_serde::MsgValue;
use serde_json::Value as Json;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dask-serde"))
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/vectors")
}

struct Vector {
    name: String,
    doc: Json,
    frames: PathBuf,
    json: PathBuf,
}

fn vectors() -> Vec<Vector> {
    let dir = vectors_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .into_string()
                .ok()?
                .strip_suffix(".json")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 43);
    names
        .into_iter()
        .map(|name| {
            let json = dir.join(format!("{name}.json"));
            let doc = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
            Vector {
                frames: dir.join(format!("{name}.frames")),
                json,
                doc,
                name,
            }
        })
        .collect()
}

fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn dask-serde");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn decode_args(v: &Vector) -> Vec<String> {
    let mut args = vec!["decode".to_string()];
    if v.doc["level"] == "message" {
        args.extend(["--level".into(), "message".into()]);
    }
    if let Some(d) = v.doc["decode_params"]["deserializers"].as_array() {
        let list: Vec<&str> = d.iter().map(|x| x.as_str().unwrap()).collect();
        args.extend(["--deserializers".into(), list.join(",")]);
    }
    args
}

/// Asserts a failure is exit 1 with exactly one line starting `error:`.
fn assert_clean_error(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: expected exit 1, got {:?}; stderr: {stderr}",
        out.status
    );
    assert!(
        stderr.starts_with("error: "),
        "{what}: stderr must start with `error:`: {stderr:?}"
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{what}: one line on stderr: {stderr:?}"
    );
    assert!(out.stdout.is_empty(), "{what}: nothing on stdout");
    stderr
}

#[test]
fn decode_every_vector() {
    let mut ok = 0;
    for v in vectors() {
        let mut cmd = bin();
        cmd.args(decode_args(&v)).arg(&v.frames);
        let out = run(cmd, None);
        if v.doc["expect"] == "error" {
            let stderr = assert_clean_error(&out, &v.name);
            if let Some(m) = v.doc["error_message"].as_str() {
                assert!(stderr.contains(m), "{}: {stderr} lacks {m:?}", v.name);
            }
            ok += 1;
            continue;
        }
        assert!(
            out.status.success(),
            "{}: {}",
            v.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Json = serde_json::from_slice(&out.stdout).unwrap();
        // same canonical JSON as the library's own decoding (which the
        // vector tests compare with the expected values)
        let want = dask_serde::Value::from_json(&v.doc["value"]).unwrap();
        let decoded =
            dask_serde::Value::from_json(&got).unwrap_or_else(|e| panic!("{}: bad JSON out: {e}", v.name));
        assert!(
            normalize(&decoded).same_set(&normalize(&want)),
            "{}: decoded {got}, expected {}\n{:?}\n{:?}",
            v.name,
            v.doc["value"],
            normalize(&decoded),
            normalize(&want)
        );
        ok += 1;
    }
    assert_eq!(ok, 43);
}

/// The loosest canonical comparison (lists as tuples, bytearray as bytes,
/// object fields in name order, payload wrappers dropped): the CLI prints
/// what the library decodes, whose exact rules are tested elsewhere.
fn normalize(v: &dask_serde::Value) -> dask_serde::Value {
    use dask_serde::Value as V;
    match v {
        V::List(items) | V::Tuple(items) => V::Tuple(items.iter().map(normalize).collect()),
        V::Set(items) => V::Set(items.iter().map(normalize).collect()),
        V::ByteArray(b) => V::Bytes(b.clone()),
        V::Dict(entries) => {
            // nested dicts of generic objects decode simple-first, as in Python
            let mut e: Vec<(V, V)> = entries
                .iter()
                .map(|(k, v)| (normalize(k), normalize(v)))
                .collect();
            e.sort_by_key(|(k, _)| format!("{k:?}"));
            V::Dict(e)
        }
        V::Serialize(inner) | V::ToPickle(inner) => normalize(inner),
        V::Object(o) => {
            let mut fields: Vec<(String, V)> =
                o.fields.iter().map(|(k, v)| (k.clone(), normalize(v))).collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            V::from(dask_serde::Object {
                class: o.class.clone(),
                fields,
            })
        }
        other => other.clone(),
    }
}

#[test]
fn decode_reads_stdin() {
    let v = vectors()
        .into_iter()
        .find(|v| v.name == "ser_bytes_hello")
        .unwrap();
    let mut cmd = bin();
    cmd.args(["decode", "-"]);
    let out = run(cmd, Some(&std::fs::read(&v.frames).unwrap()));
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"bytes":"68656c6c6f"}"#
    );
}

#[test]
fn encode_every_vector() {
    let tmp = std::env::temp_dir().join(format!("dask-serde-cli-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut identical = 0;
    let mut encoded = 0;
    for v in vectors() {
        if v.doc.get("value").is_none() {
            continue;
        }
        let out_path = tmp.join(format!("{}.frames", v.name));
        let mut cmd = bin();
        cmd.arg("encode").arg(&v.json).arg("-o").arg(&out_path);
        let out = run(cmd, None);
        assert!(
            out.status.success(),
            "{}: {}",
            v.name,
            String::from_utf8_lossy(&out.stderr)
        );
        encoded += 1;
        let ours = std::fs::read(&out_path).unwrap();
        if v.doc["reproducible"] == true {
            assert_eq!(
                ours,
                std::fs::read(&v.frames).unwrap(),
                "{}: not byte-identical",
                v.name
            );
            identical += 1;
        }
        // our output decodes like the fixture
        if v.doc["expect"] != "error" {
            let decode = |path: &Path| {
                let mut cmd = bin();
                cmd.args(decode_args(&v)).arg(path);
                run(cmd, None)
            };
            let a = decode(&out_path);
            let b = decode(&v.frames);
            assert!(
                a.status.success(),
                "{}: {}",
                v.name,
                String::from_utf8_lossy(&a.stderr)
            );
            let (ja, jb): (Json, Json) = (
                serde_json::from_slice(&a.stdout).unwrap(),
                serde_json::from_slice(&b.stdout).unwrap(),
            );
            let (va, vb) = (
                dask_serde::Value::from_json(&ja).unwrap(),
                dask_serde::Value::from_json(&jb).unwrap(),
            );
            assert!(
                va.same_set(&vb),
                "{}: our encoding decodes to {ja}, the fixture to {jb}",
                v.name
            );
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert_eq!(encoded, 43);
    assert_eq!(identical, 32);
}

#[test]
fn inspect_every_vector() {
    for v in vectors() {
        let mut cmd = bin();
        cmd.arg("inspect").arg(&v.frames);
        let out = run(cmd, None);
        assert!(
            out.status.success(),
            "{}: {}",
            v.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(" frames,"), "{}: {text}", v.name);
        let level = if v.doc["level"] == "message" {
            "level: message"
        } else {
            "level: serialize"
        };
        assert!(
            text.contains(level),
            "{}: guessed the wrong level:\n{text}",
            v.name
        );
    }
}

fn u64s(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn malformed_input_is_a_clean_error() {
    let hello = std::fs::read(vectors_dir().join("ser_bytes_hello.frames")).unwrap();
    let lz4 = std::fs::read(vectors_dir().join("ser_bytes_lz4.frames")).unwrap();
    let msg = std::fs::read(vectors_dir().join("msg_serialized_ndarray.frames")).unwrap();
    let mut corrupt_lz4 = lz4.clone();
    let n = corrupt_lz4.len();
    for b in &mut corrupt_lz4[n - 40..] {
        *b ^= 0x5a;
    }
    let mut huge_lz4 = lz4.clone();
    // the lz4 frame's 4-byte size prefix sits right after the header frame
    let hlen = u64::from_le_bytes(lz4[16..24].try_into().unwrap()) as usize;
    let pre = 8 + 8 * u64::from_le_bytes(lz4[..8].try_into().unwrap()) as usize;
    huge_lz4[pre + hlen..pre + hlen + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    // a message whose reference points past the end
    let bad_ref = {
        let frame0 = b"\x81\xa4data\x81\xae__Serialized__\x07";
        pack_frames(&[&frame0[..]])
    };
    // a sub-header claiming more frames than the message has
    let bad_count = {
        let frames = dask_serde::pack::unpack_frames(&Bytes::from(msg.clone()), &Default::default()).unwrap();
        let mut h = dask_serde::Header::decode(&frames[1], &Default::default()).unwrap();
        h.insert("num-sub-frames", 99u64);
        let h = h.encode().unwrap();
        pack_frames(&[&frames[0][..], &h[..], &frames[2][..]])
    };
    // a numpy header whose zero-stride shape holds more items than any array
    // can (it once panicked with `capacity overflow`, or printed "data": ""
    // when the product wrapped)
    let too_big = |shape: Vec<MsgValue>| {
        let sub = MsgValue::Map(vec![
            ("dtype".into(), MsgValue::Array(vec![0.into(), "|u1".into()])),
            ("strides".into(), MsgValue::Array(vec![0.into(); shape.len()])),
            ("shape".into(), MsgValue::Array(shape)),
            ("writeable".into(), MsgValue::Array(vec![true.into()])),
        ]);
        let h = dask_serde::family::dask::dask_header(sub, &dask_serde::PyType::ndarray());
        pack_frames(&[&h.encode().unwrap()[..], &b"x"[..]])
    };
    let shape_max = too_big(vec![MsgValue::from(u64::MAX)]);
    let shape_wraps = too_big(vec![MsgValue::from(1u64 << 32), MsgValue::from(1u64 << 32)]);
    let cases: Vec<(&str, Vec<&str>, Vec<u8>)> = vec![
        (
            "zero-stride shape of 2**64-1 items",
            vec!["decode", "-"],
            shape_max,
        ),
        (
            "zero-stride shape whose product wraps",
            vec!["decode", "-"],
            shape_wraps,
        ),
        ("empty input", vec!["decode", "-"], vec![]),
        ("truncated prelude", vec!["decode", "-"], hello[..12].to_vec()),
        (
            "truncated frame",
            vec!["decode", "-"],
            hello[..hello.len() - 1].to_vec(),
        ),
        ("absurd frame count", vec!["decode", "-"], u64s(&[1 << 60, 1, 2])),
        (
            "absurd frame length",
            vec!["decode", "-"],
            [u64s(&[1, u64::MAX]), vec![0; 8]].concat(),
        ),
        ("lengths overflow", vec!["decode", "-"], u64s(&[2, u64::MAX, 2])),
        ("zero frames", vec!["decode", "-"], u64s(&[0])),
        (
            "header not msgpack",
            vec!["decode", "-"],
            pack_frames(&[&b"\xc1"[..]]),
        ),
        (
            "header not a map",
            vec!["decode", "-"],
            pack_frames(&[&b"\x93\x01\x02\x03"[..]]),
        ),
        ("corrupt lz4", vec!["decode", "-"], corrupt_lz4),
        ("lz4 size above the limit", vec!["decode", "-"], huge_lz4),
        (
            "reference past the end",
            vec!["decode", "--level", "message", "-"],
            bad_ref,
        ),
        (
            "num-sub-frames past the end",
            vec!["decode", "--level", "message", "-"],
            bad_count,
        ),
        ("message given as header", vec!["decode", "-"], msg.clone()),
        (
            "garbage JSON",
            vec!["encode", "-", "-o", "-"],
            b"{not json".to_vec(),
        ),
        (
            "unknown tag",
            vec!["encode", "-", "-o", "-"],
            br#"{"level":"serialize","value":{"nope":1}}"#.to_vec(),
        ),
        (
            "unknown level",
            vec!["encode", "-", "-o", "-"],
            br#"{"level":"wire","value":null}"#.to_vec(),
        ),
        (
            "unknown params key",
            vec!["encode", "-", "-o", "-"],
            br#"{"value":null,"params":{"serialisers":[]}}"#.to_vec(),
        ),
        (
            "unknown family",
            vec!["encode", "-", "-o", "-"],
            br#"{"value":{"int":1},"params":{"serializers":["nope"]}}"#.to_vec(),
        ),
        ("inspect garbage", vec!["inspect", "-"], b"garbage!".to_vec()),
    ];
    for (what, args, input) in cases {
        let mut cmd = bin();
        cmd.args(&args);
        let out = run(cmd, Some(&input));
        assert_clean_error(&out, what);
    }
    // a missing file
    let mut cmd = bin();
    cmd.args(["decode", "/nonexistent/file.frames"]);
    assert_clean_error(&run(cmd, None), "missing file");
}

#[test]
fn random_bytes_never_panic() {
    let mut s: u64 = 0x9e3779b97f4a7c15;
    for i in 0..200 {
        let len = (i * 7) % 300;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect();
        for level in ["serialize", "message"] {
            let mut cmd = bin();
            cmd.args(["decode", "--level", level, "-"]);
            let out = run(cmd, Some(&data));
            assert!(
                matches!(out.status.code(), Some(0) | Some(1)),
                "exit {:?} on {data:?}",
                out.status
            );
        }
    }
}

#[test]
fn help_documents_every_command_and_option() {
    let out = run(
        {
            let mut c = bin();
            c.arg("--help");
            c
        },
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["decode", "encode", "inspect"] {
        assert!(text.contains(word), "--help lacks {word}");
    }
    for (cmd, words) in [
        (
            "decode",
            vec![
                "--level",
                "--deserializers",
                "--max-output",
                "serialize",
                "message",
            ],
        ),
        (
            "encode",
            vec!["--output", "serializers", "iterate_collection", "compression"],
        ),
        ("inspect", vec!["--level"]),
    ] {
        let out = run(
            {
                let mut c = bin();
                c.args([cmd, "--help"]);
                c
            },
            None,
        );
        let text = String::from_utf8_lossy(&out.stdout);
        for w in words {
            assert!(text.contains(w), "{cmd} --help lacks {w}:\n{text}");
        }
    }
}

/// The `error` family carries untrusted text, which the `error:` line
/// quotes: it is printed escaped (no CR, NUL or ESC reaches the terminal)
/// and cut to a bounded length.
#[test]
fn untrusted_error_text_is_escaped_and_bounded() {
    let mut text = b"remote says \x1b[2J\x1b]0;owned\x07 hello\r\0 ".to_vec();
    text.extend(std::iter::repeat_n(b'A', 1 << 20));
    let mut h = dask_serde::Header::new();
    h.insert("serializer", "error");
    let blob = pack_frames(&[&h.encode().unwrap()[..], &text[..]]);
    let mut cmd = bin();
    cmd.args(["decode", "-"]);
    let out = run(cmd, Some(&blob));
    let stderr = assert_clean_error(&out, "error family with control characters");
    assert!(
        !stderr.trim_end().bytes().any(|b| b < 0x20 || b == 0x7f),
        "control bytes reached stderr: {:?}",
        &stderr[..200]
    );
    assert!(stderr.contains("remote says \\u{1b}[2J"), "{}", &stderr[..200]);
    assert!(stderr.len() < 1200, "error line of {} bytes", stderr.len());
    assert!(
        stderr.trim_end().ends_with("more bytes)"),
        "{}",
        &stderr[stderr.len() - 80..]
    );
}

/// `inspect` describes each frame once: its output grows with the input,
/// not with counts or references the input claims (a 69-byte message once
/// printed one line per index of a `num-sub-frames` of 2**40).
#[test]
fn inspect_output_is_bounded_by_the_input() {
    let mut sub = dask_serde::Header::new();
    sub.insert("serializer", "dask");
    sub.insert("num-sub-frames", 1u64 << 40);
    let sub = sub.encode().unwrap();
    let frame0 = b"\x81\xa4data\x81\xae__Serialized__\x01";
    let claims = pack_frames(&[&frame0[..], &sub[..], &b"payload"[..]]);
    // a thousand references to one sub-header of 10,000 list items
    let mut big = dask_serde::Header::new();
    big.insert("serializer", "pickle");
    big.insert("num-sub-frames", 0u64);
    big.insert("pad", MsgValue::Array(vec![MsgValue::from(7u64); 10_000]));
    let big = big.encode().unwrap();
    let mut many = vec![0xdc, 0x03, 0xe8]; // array of 1000
    for _ in 0..1000 {
        many.extend_from_slice(b"\x81\xae__Serialized__\x01");
    }
    let refs = pack_frames(&[&many[..], &big[..]]);
    for (what, input) in [("num-sub-frames of 2**40", claims), ("1000 references", refs)] {
        let mut cmd = bin();
        cmd.args(["inspect", "--level", "message", "-"]);
        let out = run(cmd, Some(&input));
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.len() < 40 * input.len() + 4096,
            "{what}: {} bytes of output for {} bytes of input",
            text.len(),
            input.len()
        );
        if what.starts_with("num") {
            assert!(
                text.contains("1099511627775 missing (num-sub-frames = 1099511627776"),
                "{text}"
            );
        } else {
            assert_eq!(text.matches("the sub-header shown above").count(), 999, "{text}");
        }
    }
}

/// `decode` measures its output before making it: a broadcast view of
/// billions of elements (a 176-byte file once asked for 8 GB) or an int of
/// millions of digits is refused at once with `error:`, and `--max-output`
/// moves the bound.
#[test]
fn decode_output_is_bounded() {
    // one byte broadcast to 2**33 elements
    let sub = MsgValue::Map(vec![
        ("dtype".into(), MsgValue::Array(vec![0.into(), "|u1".into()])),
        ("shape".into(), MsgValue::Array(vec![MsgValue::from(1u64 << 33)])),
        ("strides".into(), MsgValue::Array(vec![0.into()])),
        ("writeable".into(), MsgValue::Array(vec![true.into()])),
    ]);
    let h = dask_serde::family::dask::dask_header(sub, &dask_serde::PyType::ndarray());
    let broadcast = pack_frames(&[&h.encode().unwrap()[..], &b"x"[..]]);
    assert!(broadcast.len() < 200);
    // a pickled int of 2**22 bytes (10 million decimal digits)
    let mut pickle = b"\x80\x04\x8b".to_vec(); // PROTO 4, LONG4
    pickle.extend_from_slice(&(1u32 << 22).to_le_bytes());
    pickle.extend(std::iter::repeat_n(0x11, 1 << 22));
    pickle.push(b'.');
    let mut ph = dask_serde::Header::new();
    ph.insert("serializer", "pickle");
    let big_int = pack_frames(&[&ph.encode().unwrap()[..], &pickle[..]]);
    // a message referencing one 1 MiB payload a thousand times (zero-copy
    // when decoded; 2 GB of hex if printed)
    let mut sub = dask_serde::Header::new();
    sub.insert("serializer", "dask");
    sub.insert(
        "type-serialized",
        MsgValue::Bin(Bytes::from(dask_serde::PyType::bytes().type_serialized())),
    );
    sub.insert("sub-header", MsgValue::Map(vec![]));
    sub.insert("num-sub-frames", 1u64);
    let mut many = vec![0xdc, 0x03, 0xe8]; // array of 1000
    for _ in 0..1000 {
        many.extend_from_slice(b"\x81\xae__Serialized__\x01");
    }
    let payload = vec![0u8; 1 << 20];
    let repeated = pack_frames(&[&many[..], &sub.encode().unwrap()[..], &payload[..]]);
    for (what, level, input, needle) in [
        ("broadcast", "serialize", broadcast, "JSON output"),
        ("big int", "serialize", big_int, "decimal digits"),
        (
            "1000 references to one payload",
            "message",
            repeated,
            "JSON output",
        ),
    ] {
        let mut cmd = bin();
        cmd.args(["decode", "--level", level, "-"]);
        let started = std::time::Instant::now();
        let out = run(cmd, Some(&input));
        let line = assert_clean_error(&out, what);
        assert!(line.contains(needle), "{what}: {line}");
        assert!(
            started.elapsed().as_secs() < 10,
            "{what} took {:?}",
            started.elapsed()
        );
    }
    // a small value passes a small bound, and fails a smaller one
    let hello = std::fs::read(vectors_dir().join("ser_bytes_hello.frames")).unwrap();
    let mut cmd = bin();
    cmd.args(["decode", "--max-output", "100", "-"]);
    assert!(run(cmd, Some(&hello)).status.success());
    let mut cmd = bin();
    cmd.args(["decode", "--max-output", "10", "-"]);
    assert_clean_error(&run(cmd, Some(&hello)), "bound below the value");
}
