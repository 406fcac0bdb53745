//! The async transport (feature `tokio`) against real Dask processes
//! (scheduler + worker from the venv, on 127.0.0.1), against the blocking
//! `Comm` and `Server`, and against hostile peers. Every test is bounded in
//! time.

mod common;

use std::future::Future;
use std::time::Duration;

use common::cluster::Cluster;
use dask_serde::bytes::Bytes;
use dask_serde::message::{dumps, loads};
use dask_serde::transport::async_comm::AsyncComm;
use dask_serde::transport::async_rpc::AsyncRpc;
use dask_serde::transport::codec::DaskCodec;
use dask_serde::transport::comm::Comm;
use dask_serde::transport::framing::message_prefix;
use dask_serde::transport::options::CommOptions;
use dask_serde::transport::proto::get;
use dask_serde::transport::server::Server;
use dask_serde::{Array, Context, Error, Limits, Value};
use dask_serde::{DeserializeOptions, SerializeOptions};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every test body runs under this bound.
async fn bounded<T>(secs: u64, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish within {secs} s"))
}

fn dict(entries: Vec<(&str, Value)>) -> Value {
    Value::Dict(entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
}

/// One message on the wire: prefix and frames.
fn wire<B: AsRef<[u8]>>(frames: &[B]) -> Vec<u8> {
    let mut w = message_prefix(frames);
    for f in frames {
        w.extend_from_slice(f.as_ref());
    }
    w
}

/// A handshake as Python writes it (optionally without one of its keys).
fn handshake_bytes(without: Option<&str>) -> Vec<u8> {
    let mut entries = vec![
        ("compression", Value::None),
        (
            "python",
            Value::Tuple(vec![Value::from(3), Value::from(11), Value::from(7)]),
        ),
        ("pickle-protocol", Value::from(5)),
    ];
    entries.retain(|(k, _)| Some(*k) != without);
    let opts = SerializeOptions::new().context(Context::new().with("compression", Value::None));
    wire(&dumps(&dict(entries), &opts).unwrap())
}

/// A listener whose single connection is served by `peer`.
async fn raw_peer<F, Fut>(peer: F) -> String
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("tcp://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        if let Ok((s, _)) = listener.accept().await {
            peer(s).await;
        }
    });
    addr
}

fn quick() -> CommOptions {
    CommOptions {
        timeout: Some(Duration::from_secs(5)),
        ..CommOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_and_raw_comm_against_the_scheduler() {
    let cluster = Cluster::start(0);
    let addr = cluster.scheduler.clone();
    bounded(120, async move {
        let mut rpc = AsyncRpc::connect(&addr, &CommOptions::default()).await.unwrap();
        // the handshake negotiated Dask's defaults
        let hs = rpc.comm().handshake().clone();
        assert_eq!(hs.pickle_protocol, 5);
        assert_eq!(hs.compression, None);
        assert!(get(&hs.peer, "compression").is_some() && get(&hs.peer, "pickle-protocol").is_some());
        assert_eq!(rpc.comm().peer_address(), addr);
        assert!(rpc.comm().local_address().starts_with("tcp://127.0.0.1:"));

        let id = rpc.call("identity", vec![]).await.unwrap();
        assert_eq!(get(&id, "type"), Some(&Value::from("Scheduler")));
        let echo = rpc
            .call("echo", vec![("data", Value::from("hello"))])
            .await
            .unwrap();
        assert_eq!(echo, Value::from("hello"));
        let payload = Value::Bytes(Bytes::from(vec![1u8; 100_000]));
        let echo = rpc.call("echo", vec![("data", payload.clone())]).await.unwrap();
        assert_eq!(echo, payload);
        assert_eq!(rpc.call("no-such-op", vec![]).await.unwrap(), Value::None);
        // a handler that raises: uncaught-error becomes RemoteCall
        let err = rpc
            .call("identity", vec![("no_such_argument", Value::from(1))])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::RemoteCall { op, .. } if op == "identity"),
            "{err}"
        );
        // the comm is still in step after the error
        assert_eq!(
            rpc.call("echo", vec![("data", Value::from(7))]).await.unwrap(),
            Value::from(7)
        );
        rpc.close().await;

        // a raw comm: write / read, write_frames / read_frames
        let mut comm = AsyncComm::connect(&addr, &CommOptions::default()).await.unwrap();
        let request = dict(vec![
            ("op", Value::from("identity")),
            ("reply", Value::Bool(true)),
        ]);
        comm.write(&request).await.unwrap();
        let id = comm.read().await.unwrap();
        assert_eq!(get(&id, "type"), Some(&Value::from("Scheduler")));
        // the exact bytes of PROTOCOL.md §11.2
        let frames = dumps(&request, &SerializeOptions::new()).unwrap();
        assert_eq!(comm.write_frames(&frames).await.unwrap(), 36 + 8);
        let back = comm.read_frames().await.unwrap().expect("a reply");
        let id = loads(&back, &DeserializeOptions::new()).unwrap();
        assert_eq!(get(&id, "type"), Some(&Value::from("Scheduler")));
        comm.close().await;

        // several clients at once, each on its own task
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let addr = addr.clone();
                tokio::spawn(async move {
                    let mut rpc = AsyncRpc::connect(&addr, &CommOptions::default()).await?;
                    let mut out = Vec::new();
                    for j in 0..5 {
                        out.push(rpc.call("echo", vec![("data", Value::from(i * 100 + j))]).await?);
                    }
                    rpc.close().await;
                    Ok::<_, Error>(out)
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            let out = t.await.unwrap().unwrap();
            let want: Vec<Value> = (0..5).map(|j| Value::from(i as i64 * 100 + j)).collect();
            assert_eq!(out, want);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_and_gather_a_multi_mib_array_in_1_mib_shards() {
    let cluster = Cluster::start(1);
    let addr = cluster.scheduler.clone();
    // a 6 MiB float64 array, sent in 1 MiB shards
    let n = 768 * 1024;
    let values: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
    let arr = Array::from_vec(values.clone());
    let opts = CommOptions {
        frame_split_size: 1 << 20,
        ..CommOptions::default()
    };
    let mut rpc = bounded(120, async {
        let mut rpc = AsyncRpc::connect(&addr, &opts).await.unwrap();
        let keys = rpc
            .call(
                "scatter",
                vec![
                    (
                        "data",
                        dict(vec![(
                            "async-array",
                            Value::Serialize(Box::new(Value::from(arr.clone().into_ndarray()))),
                        )]),
                    ),
                    ("workers", Value::None),
                    ("client", Value::from("rust-async-client")),
                    ("broadcast", Value::Bool(false)),
                    ("timeout", Value::from(20)),
                ],
            )
            .await
            .unwrap();
        assert_eq!(keys, Value::Tuple(vec![Value::from("async-array")]));
        rpc
    })
    .await;
    // Python sees the same numbers
    let out = cluster.python(
        r#"
import os
from distributed import Client, Future
c = Client(os.environ["ADDR"], timeout=30)
a = Future("async-array", client=c)
s = c.submit(lambda a: (str(a.dtype), a.shape, float(a.sum())), a, key="async-sum", pure=False)
print(*s.result(timeout=60))
c.close()
"#,
    );
    let want_sum: f64 = values.iter().sum();
    assert_eq!(out.trim(), format!("float64 ({n},) {want_sum:?}"));
    bounded(120, async {
        let gather = vec![("keys", Value::List(vec![Value::from("async-array")]))];
        let reply = rpc.call("gather", gather.clone()).await.unwrap();
        assert_eq!(get(&reply, "status"), Some(&Value::from("OK")), "{reply:?}");
        let got = get(get(&reply, "data").unwrap(), "async-array").cloned().unwrap();
        let Value::NdArray(got) = got else {
            panic!("not an array: {got:?}")
        };
        assert_eq!(Array::<f64>::from_ndarray(*got).unwrap(), arr);
        // and straight into a typed value
        let reply = rpc.call_opaque("gather", gather).await.unwrap();
        let Some(Value::Opaque(payload)) = get(get(&reply, "data").unwrap(), "async-array").cloned() else {
            panic!("not opaque: {reply:?}")
        };
        let typed: Vec<f64> = payload.decode(&Limits::default()).unwrap();
        assert_eq!(typed, values);
        rpc.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_the_blocking_server() {
    let mut server = Server::bind("127.0.0.1:0", "rust-async-1", &CommOptions::default()).unwrap();
    server.handle("add", |req| match (get(req, "x"), get(req, "y")) {
        (Some(Value::Int(x)), Some(Value::Int(y))) => Ok(Value::Int(x + y)),
        _ => Err(Error::Encode("x and y must be ints".into())),
    });
    let addr = server.spawn();
    bounded(60, async move {
        let mut rpc = AsyncRpc::connect(&addr, &quick()).await.unwrap();
        assert_eq!(
            rpc.call("identity", vec![]).await.unwrap(),
            dict(vec![
                ("type", Value::from("RustServer")),
                ("id", Value::from("rust-async-1"))
            ])
        );
        let data = Value::Bytes(Bytes::from(vec![9u8; 3 << 20]));
        assert_eq!(
            rpc.call("echo", vec![("data", data.clone())]).await.unwrap(),
            data
        );
        assert_eq!(
            rpc.call("add", vec![("x", Value::from(2)), ("y", Value::from(40))])
                .await
                .unwrap(),
            Value::from(42)
        );
        let err = rpc.call("add", vec![("x", Value::from("a"))]).await.unwrap_err();
        assert!(
            matches!(&err, Error::RemoteCall { exception, .. } if exception.contains("ints")),
            "{err}"
        );
        assert_eq!(rpc.call("nope", vec![]).await.unwrap(), Value::None);
        rpc.close().await;

        // "close" with a reply: "OK", then the server ends the connection
        let mut comm = AsyncComm::connect(&addr, &quick()).await.unwrap();
        comm.write(&dict(vec![
            ("op", Value::from("close")),
            ("reply", Value::Bool(true)),
        ]))
        .await
        .unwrap();
        assert_eq!(comm.read().await.unwrap(), Value::from("OK"));
        assert!(comm.read_frames().await.unwrap().is_none(), "a clean close");
        assert!(matches!(comm.read().await, Err(Error::CommClosed(_))));

        // many clients at once
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let addr = addr.clone();
                tokio::spawn(async move {
                    let mut rpc = AsyncRpc::connect(&addr, &quick()).await?;
                    let r = rpc
                        .call("add", vec![("x", Value::from(i)), ("y", Value::from(i))])
                        .await?;
                    rpc.close().await;
                    Ok::<_, Error>(r)
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap().unwrap(), Value::from(2 * i as i64));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_blocking_comm_negotiation_and_large_messages() {
    bounded(60, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("tcp://{}", listener.local_addr().unwrap());
        let big = vec![42u8; 5 << 20];
        let big2 = big.clone();
        // the blocking side advertises lz4 and pickle 5
        let blocking = tokio::task::spawn_blocking(move || {
            let opts = CommOptions {
                compression: Some("lz4".into()),
                frame_split_size: 1 << 20,
                ..quick()
            };
            let mut comm = Comm::connect(&addr, &opts).unwrap();
            let hs = comm.handshake().clone();
            // a compressible payload, in 1 MiB shards, lz4 on the wire
            comm.write(&dict(vec![
                ("op", Value::from("data")),
                (
                    "payload",
                    Value::Serialize(Box::new(Value::from(vec![0u8; 3 << 20]))),
                ),
            ]))
            .unwrap();
            // raw frames from the async side, one large
            let frames = comm.read_frames().unwrap().unwrap();
            assert_eq!(frames.len(), 3);
            assert_eq!(&frames[0][..], b"first");
            assert!(frames[1].is_empty());
            assert_eq!(frames[2], big2);
            let reply = comm.read().unwrap();
            comm.close();
            (hs, reply)
        });
        let (stream, _) = listener.accept().await.unwrap();
        // the async side advertises lz4 and pickle 4
        let opts = CommOptions {
            compression: Some("lz4".into()),
            pickle_protocol: 4,
            ..quick()
        };
        let mut comm = AsyncComm::from_stream(stream, &opts).await.unwrap();
        assert_eq!(comm.handshake().compression.as_deref(), Some("lz4"));
        assert_eq!(comm.handshake().pickle_protocol, 4);
        let frames = comm.read_frames().await.unwrap().unwrap();
        let on_wire: usize = frames.iter().map(|f| f.len()).sum();
        assert!(
            frames.len() >= 5,
            "split into 1 MiB shards: {} frames",
            frames.len()
        );
        assert!(on_wire < 1 << 20, "compressed: {on_wire} bytes");
        let msg = loads(&frames, &DeserializeOptions::new()).unwrap();
        assert_eq!(get(&msg, "payload"), Some(&Value::from(vec![0u8; 3 << 20])));
        comm.write_frames(&[&b"first"[..], &b""[..], &big[..]])
            .await
            .unwrap();
        comm.write(&dict(vec![("ok", Value::Bool(true))])).await.unwrap();
        let (hs, reply) = blocking.await.unwrap();
        assert_eq!(hs.compression.as_deref(), Some("lz4"));
        assert_eq!(hs.pickle_protocol, 4);
        assert_eq!(reply, dict(vec![("ok", Value::Bool(true))]));
        // the blocking side closed: a clean end
        assert!(comm.read_frames().await.unwrap().is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framed_messages_after_the_handshake() {
    let server = Server::bind("127.0.0.1:0", "rust-async-2", &CommOptions::default()).unwrap();
    let addr = server.spawn();
    bounded(60, async move {
        let comm = AsyncComm::connect(&addr, &quick()).await.unwrap();
        let mut framed = comm.into_framed();
        for i in 0..3 {
            let request = dict(vec![("op", Value::from("echo")), ("data", Value::from(i))]);
            framed
                .send(dumps(&request, &SerializeOptions::new()).unwrap())
                .await
                .unwrap();
        }
        for i in 0..3 {
            let frames = framed.next().await.unwrap().unwrap();
            assert_eq!(
                loads(&frames, &DeserializeOptions::new()).unwrap(),
                Value::from(i)
            );
        }
        // a raw Framed with a fresh codec also speaks the handshake
        let stream = TcpStream::connect(addr.trim_start_matches("tcp://"))
            .await
            .unwrap();
        let mut framed = tokio_util::codec::Framed::new(stream, DaskCodec::new(Limits::default()));
        let hs = dumps(
            &dict(vec![
                ("compression", Value::None),
                ("pickle-protocol", Value::from(5)),
            ]),
            &SerializeOptions::new(),
        )
        .unwrap();
        framed.send(hs).await.unwrap();
        let theirs = loads(&framed.next().await.unwrap().unwrap(), &DeserializeOptions::new()).unwrap();
        assert!(get(&theirs, "pickle-protocol").is_some());
        let request = dict(vec![("op", Value::from("identity"))]);
        framed
            .send(dumps(&request, &SerializeOptions::new()).unwrap())
            .await
            .unwrap();
        let id = loads(&framed.next().await.unwrap().unwrap(), &DeserializeOptions::new()).unwrap();
        assert_eq!(get(&id, "id"), Some(&Value::from("rust-async-2")));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_get_errors_not_panics() {
    bounded(60, async {
        let closed_or_framing =
            |e: &Error| matches!(e, Error::Frames(_) | Error::Limit { .. } | Error::CommClosed(_));

        // garbage instead of a handshake
        let addr = raw_peer(|mut s| async move {
            let _ = s.write_all(&[0x41; 100]).await;
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink).await;
        })
        .await;
        let err = AsyncComm::connect(&addr, &quick()).await.unwrap_err();
        assert!(closed_or_framing(&err), "{err}");

        // random bytes that pass the first checks: F valid, the count huge
        let addr = raw_peer(|mut s| async move {
            let mut w = 1000u64.to_le_bytes().to_vec();
            w.extend_from_slice(&(1u64 << 40).to_le_bytes());
            let _ = s.write_all(&w).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        })
        .await;
        let err = AsyncComm::connect(&addr, &quick()).await.unwrap_err();
        assert!(matches!(err, Error::Limit { .. }), "{err}");

        // closes right away
        let addr = raw_peer(|s| async move { drop(s) }).await;
        let err = AsyncComm::connect(&addr, &quick()).await.unwrap_err();
        assert!(matches!(err, Error::CommClosed(_)), "{err}");

        // a handshake without pickle-protocol
        let addr = raw_peer(|mut s| async move {
            let _ = s.write_all(&handshake_bytes(Some("pickle-protocol"))).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        })
        .await;
        let err = AsyncComm::connect(&addr, &quick()).await.unwrap_err();
        assert!(
            matches!(err, Error::Protocol(ref m) if m.contains("pickle-protocol")),
            "{err}"
        );

        // a disconnect in the middle of a message (after the prelude of a
        // large frame, and in the middle of the frame)
        for sent in [16 + 8, 16 + 8 + 1000] {
            let addr = raw_peer(move |mut s| async move {
                let _ = s.write_all(&handshake_bytes(None)).await;
                let msg = wire(&[vec![1u8; 100_000]]);
                let _ = s.write_all(&msg[..sent]).await;
            })
            .await;
            let mut comm = AsyncComm::connect(&addr, &quick()).await.unwrap();
            let err = comm.read().await.unwrap_err();
            assert!(matches!(err, Error::CommClosed(_)), "{err}");
            // and the comm keeps refusing, without panicking
            assert!(comm.read().await.is_err());
        }

        // a hostile first-read size after a valid handshake
        let addr = raw_peer(|mut s| async move {
            let _ = s.write_all(&handshake_bytes(None)).await;
            let mut w = (1u64 << 60).to_le_bytes().to_vec();
            w.extend_from_slice(&[0; 8]);
            let _ = s.write_all(&w).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        })
        .await;
        let mut comm = AsyncComm::connect(&addr, &quick()).await.unwrap();
        let err = comm.read().await.unwrap_err();
        assert!(matches!(err, Error::Frames(_)), "{err}");

        // frames that are not a message: a decoding error
        let addr = raw_peer(|mut s| async move {
            let _ = s.write_all(&handshake_bytes(None)).await;
            let _ = s.write_all(&wire(&[&[0xc1u8][..]])).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        })
        .await;
        let mut comm = AsyncComm::connect(&addr, &quick()).await.unwrap();
        assert!(comm.read().await.is_err());

        // a silent peer: the timeout ends the wait
        let addr = raw_peer(|s| async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        })
        .await;
        let opts = CommOptions {
            timeout: Some(Duration::from_millis(300)),
            ..CommOptions::default()
        };
        let err = AsyncComm::connect(&addr, &opts).await.unwrap_err();
        assert!(
            matches!(err, Error::Timeout { ref what, after } if what == "read" && after == Duration::from_millis(300)),
            "{err}"
        );

        // the blocking server survives garbage from an async client
        let server = Server::bind("127.0.0.1:0", "rust-async-3", &CommOptions::default()).unwrap();
        let saddr = server.spawn();
        let mut s = TcpStream::connect(saddr.trim_start_matches("tcp://"))
            .await
            .unwrap();
        s.write_all(&[0xff; 64]).await.unwrap();
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut sink)).await;
        let mut rpc = AsyncRpc::connect(&saddr, &quick()).await.unwrap();
        assert_eq!(
            rpc.call("echo", vec![("data", Value::from(5))]).await.unwrap(),
            Value::from(5)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_cancel_safe() {
    bounded(60, async {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let msg = dict(vec![("data", Value::Bytes(Bytes::from(vec![3u8; 200_000])))]);
        let frames = dumps(&msg, &SerializeOptions::new()).unwrap();
        let bytes = wire(&frames);
        let addr = raw_peer(move |mut s| async move {
            let _ = s.write_all(&handshake_bytes(None)).await;
            // half a message, then wait
            let _ = s.write_all(&bytes[..bytes.len() / 2]).await;
            let _ = rx.await;
            let _ = s.write_all(&bytes[bytes.len() / 2..]).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        })
        .await;
        let mut comm = AsyncComm::connect(&addr, &quick()).await.unwrap();
        // a read cancelled half-way ...
        let r = tokio::time::timeout(Duration::from_millis(300), comm.read()).await;
        assert!(r.is_err(), "the message is not complete yet");
        // ... loses nothing: the next read completes the same message
        tx.send(()).unwrap();
        assert_eq!(comm.read().await.unwrap(), msg);
        // the comm's own idle timeout: an error, then reading may go on
        let opts = CommOptions {
            timeout: Some(Duration::from_millis(200)),
            ..CommOptions::default()
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let bytes = wire(&frames);
        let addr = raw_peer(move |mut s| async move {
            let _ = s.write_all(&handshake_bytes(None)).await;
            let _ = s.write_all(&bytes[..100]).await;
            let _ = rx.await;
            let _ = s.write_all(&bytes[100..]).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        })
        .await;
        let mut comm = AsyncComm::connect(&addr, &opts).await.unwrap();
        let err = comm.read().await.unwrap_err();
        assert!(
            matches!(err, Error::Timeout { ref what, .. } if what == "read"),
            "{err}"
        );
        tx.send(()).unwrap();
        assert_eq!(comm.read().await.unwrap(), msg);
    })
    .await;
}
