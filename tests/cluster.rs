//! Against real Dask processes (scheduler + worker from the venv, on
//! 127.0.0.1): handshake, RPC both ways, scatter/gather, Python computing
//! on Rust data, hostile peers.

mod common;
#[path = "../examples/dask_cluster/demo.rs"]
mod demo;

use common::cluster::Cluster;
use dask_serde::transport::comm::Comm;
use dask_serde::transport::options::CommOptions;
use dask_serde::transport::proto::get;
use dask_serde::transport::rpc::Rpc;
use dask_serde::Value;

#[test]
fn rust_calls_the_scheduler() {
    let cluster = Cluster::start(1);
    let mut rpc = Rpc::connect(&cluster.scheduler, &CommOptions::default()).unwrap();
    let id = rpc.call("identity", vec![]).unwrap();
    assert_eq!(get(&id, "type"), Some(&Value::from("Scheduler")));
    let echo = rpc.call("echo", vec![("data", Value::from("hello"))]).unwrap();
    assert_eq!(echo, Value::from("hello"));
    let none = rpc.call("no-such-op", vec![]).unwrap();
    assert_eq!(none, Value::None);
    // the handshake negotiated Dask's defaults
    let hs = rpc.comm().handshake().clone();
    assert_eq!(hs.pickle_protocol, 5);
    assert_eq!(hs.compression, None);
    rpc.close();
}

#[test]
fn handshake_on_a_raw_comm() {
    let cluster = Cluster::start(0);
    let comm = Comm::connect(&cluster.scheduler, &CommOptions::default()).unwrap();
    let peer = &comm.handshake().peer;
    assert!(get(peer, "compression").is_some() && get(peer, "pickle-protocol").is_some());
}

use std::io::{Read, Write};

use dask_serde::bytes::Bytes;
use dask_serde::transport::server::Server;
use dask_serde::{Array, DaskDeserialize, DaskSerialize, Limits, PyType};

/// The Python side of the derived struct: created in a module on the
/// workers' path and registered with register_generic at import.
const MODELS: &str = r#"
from distributed.protocol.serialize import register_generic

class Chunk:
    pass

register_generic(Chunk)
"#;

#[derive(Debug, PartialEq, Clone, DaskSerialize, DaskDeserialize)]
#[dask(python = "dask_serde_cluster_models.Chunk")]
struct Chunk {
    name: String,
    index: u32,
    values: Vec<f64>,
    payload: Bytes,
}

fn scatter(rpc: &mut Rpc, key: &str, value: Value) -> Value {
    rpc.call(
        "scatter",
        vec![
            (
                "data",
                Value::Dict(vec![(Value::from(key), Value::Serialize(Box::new(value)))]),
            ),
            ("workers", Value::None),
            ("client", Value::from("rust-client")),
            ("broadcast", Value::Bool(false)),
            ("timeout", Value::from(20)),
        ],
    )
    .unwrap()
}

fn gather(rpc: &mut Rpc, key: &str) -> Value {
    let reply = rpc
        .call("gather", vec![("keys", Value::List(vec![Value::from(key)]))])
        .unwrap();
    assert_eq!(get(&reply, "status"), Some(&Value::from("OK")), "{reply:?}");
    let data = get(&reply, "data").expect("data");
    get(data, key).cloned().expect("the key")
}

#[test]
fn scatter_gather_and_python_computes_on_rust_data() {
    let models_dir = std::env::temp_dir().join(format!("dask-serde-models-{}", std::process::id()));
    std::fs::create_dir_all(&models_dir).unwrap();
    std::fs::write(models_dir.join("dask_serde_cluster_models.py"), MODELS).unwrap();
    let cluster = Cluster::start_with(1, &[("PYTHONPATH", &models_dir)]);
    // small shards so that several MiB travel as split frames
    let opts = CommOptions {
        frame_split_size: 1 << 20,
        ..CommOptions::default()
    };
    let mut rpc = Rpc::connect(&cluster.scheduler, &opts).unwrap();

    // bytes
    let keys = scatter(&mut rpc, "rust-bytes", Value::from(vec![7u8; 1000]));
    assert_eq!(keys, Value::Tuple(vec![Value::from("rust-bytes")]));
    assert_eq!(gather(&mut rpc, "rust-bytes"), Value::from(vec![7u8; 1000]));

    // a 4 MiB float64 array, sent in 1 MiB shards
    let n = 512 * 1024;
    let arr = Array::from_vec((0..n).map(|i| i as f64).collect());
    scatter(&mut rpc, "rust-array", Value::from(arr.clone().into_ndarray()));
    let back = gather(&mut rpc, "rust-array");
    let Value::NdArray(back) = back else {
        panic!("not an array: {back:?}")
    };
    assert_eq!(Array::<f64>::from_ndarray(*back).unwrap(), arr);

    // a derived struct: a real Chunk object on the worker
    let chunk = Chunk {
        name: "c0".into(),
        index: 3,
        values: vec![0.5, 1.5],
        payload: Bytes::from_static(b"raw"),
    };
    let s = chunk.dask_serialize().unwrap().into_owned();
    let opaque = dask_serde::Opaque {
        kind: dask_serde::PayloadKind::Serialized,
        header: s.header.clone(),
        frames: s.frame_bytes(),
    };
    scatter(&mut rpc, "rust-chunk", Value::Opaque(Box::new(opaque)));
    // Python computes on both Rust values and keeps the results for Rust
    let out = cluster.python(
        r#"
import os
from distributed import Client, Future
c = Client(os.environ["ADDR"], timeout=30)
arr = Future("rust-array", client=c)
chunk = Future("rust-chunk", client=c)
total = c.submit(lambda a: float(a.sum()), arr, key="py-sum", pure=False)
desc = c.submit(lambda ch: (type(ch).__name__, ch.name, ch.index, float(ch.values.sum()), ch.payload), chunk, key="py-desc", pure=False)
doubled = c.submit(lambda ch: ch.values * 2, chunk, key="py-doubled", pure=False)
print(total.result())
print(desc.result())
c.publish_dataset(total=total, desc=desc, doubled=doubled)
c.close()
"#,
    );
    let mut lines = out.lines();
    let total: f64 = lines.next().unwrap().trim().parse().unwrap();
    assert_eq!(total, (0..n).map(|i| i as f64).sum::<f64>());
    assert_eq!(lines.next().unwrap().trim(), "('Chunk', 'c0', 3, 2.0, b'raw')");
    // Rust gathers what Python computed
    assert_eq!(gather(&mut rpc, "py-sum"), Value::Float(total));
    let doubled = gather(&mut rpc, "py-doubled");
    let Value::NdArray(d) = doubled else {
        panic!("{doubled:?}")
    };
    assert_eq!(Array::<f64>::from_ndarray(*d).unwrap().to_vec(), vec![1.0, 3.0]);
    // and the struct comes back as the Rust type
    let back = gather(&mut rpc, "rust-chunk");
    let Value::Object(o) = &back else {
        panic!("{back:?}")
    };
    assert_eq!(o.class, PyType::new("dask_serde_cluster_models", "Chunk"));
    rpc.close();
    let _ = std::fs::remove_dir_all(&models_dir);
    let _ = Limits::default();
}

#[test]
fn python_calls_the_rust_server() {
    let cluster = Cluster::start(0);
    let mut server = Server::bind("127.0.0.1:0", "rust-1", &CommOptions::default()).unwrap();
    server.handle("add", |req| match (get(req, "x"), get(req, "y")) {
        (Some(Value::Int(x)), Some(Value::Int(y))) => Ok(Value::Int(x + y)),
        _ => Err(dask_serde::Error::Encode("x and y must be ints".into())),
    });
    let addr = server.spawn();
    let out = cluster.python(&format!(
        r#"
import asyncio
from distributed.core import rpc
async def main():
    r = rpc("{addr}")
    print(await r.identity())
    print(await r.echo(data=b"bytes!"))
    print(await r.add(x=2, y=40))
    try:
        await r.add(x="a")
    except Exception as e:
        print("raised", type(e).__name__)
    await r.close_rpc()
asyncio.run(main())
"#
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "{'type': 'RustServer', 'id': 'rust-1'}");
    assert_eq!(lines[1], "b'bytes!'");
    assert_eq!(lines[2], "42");
    assert!(lines[3].starts_with("raised"), "{out}");

    // a Rust client against the Rust server, including the error path
    let mut rpc = Rpc::connect(&addr, &CommOptions::default()).unwrap();
    assert_eq!(
        rpc.call("add", vec![("x", Value::from(1)), ("y", Value::from(2))])
            .unwrap(),
        Value::from(3)
    );
    let err = rpc.call("add", vec![("x", Value::from("a"))]).unwrap_err();
    assert!(matches!(err, dask_serde::Error::RemoteCall { .. }), "{err}");
}

#[test]
fn hostile_peers_get_errors_and_the_server_keeps_serving() {
    let server = Server::bind("127.0.0.1:0", "rust-2", &CommOptions::default()).unwrap();
    let addr = server.spawn();
    let plain = addr.trim_start_matches("tcp://").to_owned();
    // garbage instead of a handshake
    let mut s = std::net::TcpStream::connect(&plain).unwrap();
    s.write_all(&[0xff; 64]).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf); // the server closes the connection
                                     // a disconnect in the middle of a message
    let mut s = std::net::TcpStream::connect(&plain).unwrap();
    s.write_all(&1000u64.to_le_bytes()).unwrap();
    s.write_all(&3u64.to_le_bytes()).unwrap();
    drop(s);
    // a well-behaved client is still served
    let mut rpc = Rpc::connect(&addr, &CommOptions::default()).unwrap();
    assert_eq!(
        rpc.call("echo", vec![("data", Value::from(5))]).unwrap(),
        Value::from(5)
    );

    // our client against a peer that sends garbage: an error, no panic
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bad = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.write_all(&[0x41; 100]);
        }
    });
    let err = Comm::connect(&bad, &CommOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            dask_serde::Error::Frames(_) | dask_serde::Error::Limit { .. } | dask_serde::Error::CommClosed(_)
        ),
        "{err}"
    );
}

/// Idle or slow peers cannot take every thread: beyond `max_connections`
/// a connection is closed at once, and well-behaved clients are served
/// again as soon as a slot frees.
#[test]
fn connections_beyond_the_cap_are_closed() {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};
    let mut server = Server::bind("127.0.0.1:0", "rust-cap", &CommOptions::default()).unwrap();
    server.max_connections(2);
    let active = server.connections();
    let addr = server.spawn();
    let plain = addr.trim_start_matches("tcp://").to_owned();
    let wait_for = |n: usize| {
        let until = Instant::now() + Duration::from_secs(10);
        while active.load(Ordering::SeqCst) != n {
            assert!(
                Instant::now() < until,
                "{} connections, expected {n}",
                active.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    // two idle peers (slowloris: connected, silent) fill the server
    let idle1 = std::net::TcpStream::connect(&plain).unwrap();
    let idle2 = std::net::TcpStream::connect(&plain).unwrap();
    wait_for(2);
    // a third connection is closed at once: end of stream, not a hang
    let mut third = std::net::TcpStream::connect(&plain).unwrap();
    third.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        third.read(&mut buf).unwrap(),
        0,
        "the connection over the cap is closed"
    );
    assert!(Rpc::connect(&addr, &CommOptions::default()).is_err());
    // a slot frees: a well-behaved client is served
    drop(idle1);
    wait_for(1);
    let mut rpc = Rpc::connect(&addr, &CommOptions::default()).unwrap();
    assert_eq!(
        rpc.call("echo", vec![("data", Value::from(9))]).unwrap(),
        Value::from(9)
    );
    drop(idle2);
}

/// The cluster demo end to end: the example's code scatters, the example's
/// Python client computes, the example's code gathers and checks.
#[test]
fn cluster_demo_runs_end_to_end() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let cluster = Cluster::start_with(1, &[("PYTHONPATH", &examples)]);
    let n = 1 << 20;
    demo::scatter_inputs(&cluster.scheduler, n).unwrap();
    let script = std::fs::read_to_string(examples.join("dask_cluster_compute.py")).unwrap();
    let code = format!(
        "import sys, os\nsys.path.insert(0, {:?})\n{}\nmain(os.environ['ADDR'])\n",
        examples.display().to_string(),
        script.replace("if __name__ == \"__main__\":\n    main(sys.argv[1])", "")
    );
    let out = cluster.python(&code);
    assert!(out.contains("python: sum ="), "{out}");
    let report = demo::gather_results(&cluster.scheduler, n, std::time::Duration::from_secs(60)).unwrap();
    assert_eq!(report.sum, (0..n).map(|i| i as f64).sum::<f64>());
    assert_eq!(report.scaled.name, "chunk-0-scaled");
    assert_eq!(report.scaled.payload, Bytes::from_static(b"tsur"));
}

/// The blocking comm's errors say what failed: a silent peer is a timeout,
/// a handshake without Dask's keys a protocol error, a refused connection
/// an I/O error that keeps its source, a foreign scheme an address error.
#[test]
fn blocking_comm_errors_say_what_failed() {
    use dask_serde::Error;
    use std::time::Duration;

    let quick = CommOptions {
        timeout: Some(Duration::from_millis(300)),
        ..CommOptions::default()
    };
    // a silent peer: the read of its handshake times out
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = listener.local_addr().unwrap().to_string();
    let hold = std::thread::spawn(move || {
        let conn = listener.accept();
        std::thread::sleep(Duration::from_secs(2));
        drop(conn);
    });
    let err = Comm::connect(&silent, &quick).unwrap_err();
    assert!(
        matches!(err, Error::Timeout { ref what, after } if what == "read" && after == Duration::from_millis(300)),
        "{err}"
    );
    hold.join().unwrap();

    // a handshake without pickle-protocol
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let odd = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let hs = Value::Dict(vec![(Value::from("compression"), Value::None)]);
            let opts = dask_serde::SerializeOptions::new();
            let frames = dask_serde::message::dumps(&hs, &opts).unwrap();
            dask_serde::transport::framing::write_message(&mut s, &frames).unwrap();
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let err = Comm::connect(&odd, &quick).unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ref m) if m.contains("pickle-protocol")),
        "{err}"
    );

    // nobody listening: an I/O error with its source
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let err = Comm::connect(&closed, &quick).unwrap_err();
    match &err {
        Error::Io { what, source } => {
            assert_eq!(what, &format!("connect to {closed}"));
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
            assert!(std::error::Error::source(&err).is_some());
        }
        other => panic!("{other}"),
    }

    // not a tcp:// address
    let err = Rpc::connect("inproc://x", &quick).unwrap_err();
    assert!(matches!(err, Error::Address { .. }), "{err}");
}
