//! The shared client of the Python scripts that compare
//! `dask_serde::pickle` with CPython's own pickle (`tests/pickle_cpython.rs`)
//! and with numpy (`tests/pickle_numpy.rs`): one Python process per test,
//! spoken to in JSON lines within a deadline, and the value descriptions
//! those scripts print.
//!
//! The interpreter is found as by the other interop tests
//! ([`python`]: `$DASK_SERDE_PYTHON`, else `target/py-venv/bin/python`,
//! made by `scripts/setup-python.sh`); without one these tests fail. The
//! seed is printed and can be changed with `$DASK_SERDE_PICKLE_SEED`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dask_serde::bytes::Bytes;
use dask_serde::{Object, PyType, Value};
use num_bigint::BigInt;
use serde_json::Value as Json;

use crate::common::python::{from_hex, python};

/// Default seed of the random values.
const SEED: u64 = 20_260_801;

/// One Python harness process, killed when dropped.
pub struct Harness {
    child: Child,
    pub stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    deadline: Instant,
}

impl Harness {
    /// Starts `script`, sends it `request` (one JSON line) and reads
    /// its first answer line; the whole exchange must end within
    /// `timeout`.
    pub fn spawn(script: &str, request: &Json, timeout: Duration) -> (Harness, Json) {
        let mut child = Command::new(python())
            .args(["-I", "-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start the Python interpreter");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr_pipe.read_to_string(&mut s);
            *sink.lock().unwrap() = s;
        });
        let mut h = Harness {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            deadline: Instant::now() + timeout,
        };
        h.send(&request.to_string());
        let hello = h.recv();
        (h, hello)
    }

    /// Sends one line to the script.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("writing to Python");
        stdin.flush().expect("writing to Python");
    }

    /// The next JSON line of the script; panics with its stderr when none
    /// comes before the deadline.
    pub fn recv(&mut self) -> Json {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => serde_json::from_str(&line).expect("Python printed invalid JSON"),
            Err(e) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "no answer from the Python harness ({e}); its stderr:\n{}",
                    self.stderr.lock().unwrap()
                );
            }
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The seed of the random cases: `$DASK_SERDE_PICKLE_SEED`, else [`SEED`];
/// printed.
pub fn seed() -> u64 {
    let seed = std::env::var("DASK_SERDE_PICKLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    println!("pickle comparison seed: {seed} (set DASK_SERDE_PICKLE_SEED to change it)");
    seed
}

/// The harness's value description → `Value`.
pub fn from_desc(j: &Json) -> Value {
    let Json::Object(m) = j else {
        assert!(j.is_null(), "bad description {j}");
        return Value::None;
    };
    let (tag, body) = m.iter().next().expect("a tagged value");
    let items = || body.as_array().unwrap().iter().map(from_desc).collect::<Vec<_>>();
    match tag.as_str() {
        "bool" => Value::Bool(body.as_bool().unwrap()),
        "int" => Value::int(BigInt::parse_bytes(body.as_str().unwrap().as_bytes(), 16).unwrap()),
        "float" => Value::Float(body.as_str().unwrap().parse().unwrap()),
        "str" => Value::Str(body.as_str().unwrap().to_owned()),
        "bytes" => Value::Bytes(Bytes::from(from_hex(body.as_str().unwrap()))),
        "bytearray" => Value::ByteArray(Bytes::from(from_hex(body.as_str().unwrap()))),
        "list" => Value::List(items()),
        "tuple" => Value::Tuple(items()),
        "set" => Value::Set(items()),
        "frozenset" => Value::FrozenSet(items()),
        "dict" => Value::Dict(
            body.as_array()
                .unwrap()
                .iter()
                .map(|kv| (from_desc(&kv[0]), from_desc(&kv[1])))
                .collect(),
        ),
        "object" => Value::from(Object {
            class: PyType::new(
                body["module"].as_str().unwrap(),
                body["qualname"].as_str().unwrap(),
            ),
            fields: body["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|kv| (kv[0].as_str().unwrap().to_owned(), from_desc(&kv[1])))
                .collect(),
        }),
        other => panic!("unknown tag {other}"),
    }
}
