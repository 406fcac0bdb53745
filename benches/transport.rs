//! W5 of docs/WORKLOADS.md: W2's 64 MiB f64 array over loopback TCP,
//! serialize + send + receive + deserialize, sender and receiver in
//! separate threads, against a raw-socket baseline.
//!
//! Each measurement streams `iters` messages through one connection (the
//! sender thread serializes and writes them back to back; the receiving
//! bench thread reads and deserializes them) and times until the last one
//! is decoded, so the figure is sustained throughput.
//!
//! * `dask-serde (framing)`: `Array::dask_serialize`, the header as msgpack,
//!   `transport::framing::write_message` / `read_message`,
//!   `Header::decode` and zero-copy `Array::<f64>` decoding.
//! * `dask-serde (typed message, pooled)`: `message::typed::dumps_typed`
//!   of `{"op", "data": ToSerialize(array)}` and `loads_typed`, same
//!   framing, large frames received into a `BufferPool`.
//! * `dask-serde (Comm)`: `transport::comm::Comm` after its handshake,
//!   `write` / `read` of a dynamic `Value` message with the array inside.
//! * `raw socket`: an 8-byte length and the array's bytes in one
//!   `write_all`; the receiver `read_exact`s into a pooled (reused) buffer.
//! * `raw socket (fresh buffer)`: the same, but the receiver reads every
//!   message into a newly allocated buffer (what `read_message` does): a
//!   diagnostic that isolates the cost of not pooling receive buffers.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use dask_serde::message::typed::{dumps_typed, loads_typed, ToSerialize};
use dask_serde::transport::comm::Comm;
use dask_serde::transport::framing::{read_message, read_message_pooled, write_message, BufferPool};
use dask_serde::transport::options::CommOptions;
use dask_serde::transport::proto::get;
use dask_serde::{Array, Context, DaskDeserialize, DaskSerialize, Header, Limits, Value};
use dask_serde::{DeserializeOptions, SerializeOptions};

use common::*;

const SIZE: usize = 64 << 20;

type SendOne = Box<dyn FnMut() + Send>;
type RecvOne = Box<dyn FnMut()>;

/// Streams messages from a sender thread (set up by `tx` on its end of a
/// loopback connection) to this thread (set up by `rx`).
fn pipeline<Tx, Rx>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, tx: Tx, rx: Rx)
where
    Tx: FnOnce(TcpStream) -> SendOne + Send + 'static,
    Rx: FnOnce(TcpStream) -> RecvOne,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    let (cmd_tx, cmd_rx) = mpsc::channel::<u64>();
    let sender = thread::spawn(move || {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut send_one = tx(stream);
        while let Ok(n) = cmd_rx.recv() {
            for _ in 0..n {
                send_one();
            }
        }
    });
    let (stream, _) = listener.accept().expect("accept");
    stream.set_nodelay(true).expect("nodelay");
    let mut recv_one = rx(stream);
    // one message end to end before measuring
    cmd_tx.send(1).expect("sender alive");
    recv_one();
    g.bench_function(BenchmarkId::new(name, "64MiB"), |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            cmd_tx.send(iters).expect("sender alive");
            for _ in 0..iters {
                recv_one();
            }
            t.elapsed()
        })
    });
    drop(recv_one);
    drop(cmd_tx);
    sender.join().expect("sender thread");
}

/// Sends an array at the serialize level (header + frames) over Dask's framing.
fn send_array(s: &mut TcpStream, a: &Array<f64>) {
    let ser = a.dask_serialize().expect("serialize");
    let header = ser.header.encode().expect("header");
    let mut frames: Vec<&[u8]> = Vec::with_capacity(1 + ser.frames.len());
    frames.push(&header);
    frames.extend(ser.frames.iter().map(|f| f.as_slice()));
    write_message(s, &frames).expect("write");
}

/// Decodes a received array zero-copy and checks its length.
fn check_array(frames: &[dask_serde::bytes::Bytes], limits: &Limits) {
    let header = Header::decode(&frames[0], limits).expect("header");
    let back = Array::<f64>::deserialize_from(&header, &frames[1..], limits).expect("decode");
    assert_eq!(back.len(), SIZE / 8);
}

fn no_compression() -> Context {
    Context::new().with("compression", Value::None)
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .nresamples(10_000)
        .without_plots()
        .configure_from_args();
    let data = f64_data(SIZE / 8, 0.25);
    let limits = Limits::default();

    let mut g = c.benchmark_group("W5");
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.sampling_mode(SamplingMode::Flat).sample_size(10);

    // dask-serde: serialize level (header + frames) over Dask's framing
    let a = Array::from_vec(data.clone());
    pipeline(
        &mut g,
        "dask-serde (framing)",
        move |mut s| {
            Box::new(move || {
                send_array(&mut s, &a);
            })
        },
        move |mut s| {
            Box::new(move || {
                let frames = read_message(&mut s, &limits).expect("read").expect("a message");
                check_array(&frames, &limits);
            })
        },
    );

    // dask-serde: the same with pooled receive buffers (like the baseline)
    let a2 = Array::from_vec(data.clone());
    pipeline(
        &mut g,
        "dask-serde (framing, pooled)",
        move |mut s| {
            Box::new(move || {
                send_array(&mut s, &a2);
            })
        },
        move |mut s| {
            let pool = BufferPool::new(4);
            Box::new(move || {
                let frames = read_message_pooled(&mut s, &limits, &pool)
                    .expect("read")
                    .expect("a message");
                check_array(&frames, &limits);
            })
        },
    );

    // dask-serde: typed message (dumps_typed / loads_typed)
    let msg = DataMsg {
        op: "data".into(),
        data: ToSerialize(Array::from_vec(data.clone())),
    };
    pipeline(
        &mut g,
        "dask-serde (typed message, pooled)",
        move |mut s| {
            let opts = SerializeOptions::new().context(no_compression());
            Box::new(move || {
                let frames = dumps_typed(&msg, &opts).expect("dumps");
                write_message(&mut s, &frames).expect("write");
            })
        },
        move |mut s| {
            let opts = DeserializeOptions::new().limits(limits);
            let pool = BufferPool::new(4);
            Box::new(move || {
                let frames = read_message_pooled(&mut s, &limits, &pool)
                    .expect("read")
                    .expect("a message");
                let back: DataMsg = loads_typed(&frames, &opts).expect("loads");
                assert_eq!(back.data.0.len(), SIZE / 8);
            })
        },
    );

    // dask-serde: the blocking Comm with a dynamic Value message
    let nd = Array::from_vec(data.clone()).into_ndarray();
    pipeline(
        &mut g,
        "dask-serde (Comm)",
        move |s| {
            let mut comm = Comm::from_stream(s, &CommOptions::default()).expect("handshake");
            let msg = Value::Dict(vec![
                (Value::from("op"), Value::from("data")),
                (Value::from("data"), Value::Serialize(Box::new(Value::from(nd)))),
            ]);
            Box::new(move || {
                comm.write(&msg).expect("write");
            })
        },
        move |s| {
            let mut comm = Comm::from_stream(s, &CommOptions::default()).expect("handshake");
            comm.set_buffer_pool(BufferPool::new(4));
            Box::new(move || {
                let msg = comm.read().expect("read");
                match get(&msg, "data") {
                    Some(Value::NdArray(a)) => assert_eq!(a.size(), SIZE / 8),
                    other => panic!("unexpected payload {other:?}"),
                }
            })
        },
    );

    // baseline: length + one write_all / read_exact into a pooled buffer
    let raw: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    pipeline(
        &mut g,
        "raw socket",
        move |mut s| {
            Box::new(move || {
                s.write_all(&(raw.len() as u64).to_le_bytes()).expect("write");
                s.write_all(&raw).expect("write");
            })
        },
        move |mut s| {
            let mut pool: Vec<u8> = Vec::new();
            Box::new(move || {
                let mut len = [0u8; 8];
                s.read_exact(&mut len).expect("read");
                let n = u64::from_le_bytes(len) as usize;
                if pool.len() < n {
                    pool.resize(n, 0);
                }
                s.read_exact(&mut pool[..n]).expect("read");
                std::hint::black_box(&pool[..n]);
            })
        },
    );
    // diagnostic: the baseline without the pool (one new buffer per message)
    let raw: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    pipeline(
        &mut g,
        "raw socket (fresh buffer)",
        move |mut s| {
            Box::new(move || {
                s.write_all(&(raw.len() as u64).to_le_bytes()).expect("write");
                s.write_all(&raw).expect("write");
            })
        },
        move |mut s| {
            Box::new(move || {
                let mut len = [0u8; 8];
                s.read_exact(&mut len).expect("read");
                let n = u64::from_le_bytes(len) as usize;
                let mut buf = Vec::with_capacity(n);
                let got = (&mut s).take(n as u64).read_to_end(&mut buf).expect("read");
                assert_eq!(got, n);
                std::hint::black_box(&buf);
            })
        },
    );
    g.finish();
    c.final_summary();
}
