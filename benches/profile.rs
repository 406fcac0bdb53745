//! One dask-serde workload operation in a loop, for profilers (not run by
//! `scripts/bench.sh`):
//!
//! ```text
//! cargo bench --no-run --bench profile
//! valgrind --tool=callgrind --toggle-collect='*profiled_region*' target/release/deps/profile-* w4-rt 20
//! callgrind_annotate --inclusive=yes callgrind.out.<pid>
//! perf record -g target/release/deps/profile-* w4-rt 200 && perf report --no-children
//! ```
//!
//! Build with `CARGO_PROFILE_BENCH_DEBUG=line-tables-only` for source lines.
//! `profile --list` prints the operations.

mod common;

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use bytes::Bytes;
use dask_serde::message::typed::{dumps_typed, loads_typed};
use dask_serde::message::{dumps, loads};
use dask_serde::transport::framing::{read_message, write_message};
use dask_serde::{Array, DaskDeserialize, DaskSerialize, Header, Limits};
use dask_serde::{DeserializeOptions, SerializeOptions};

use common::*;

const OPS: &[&str] = &[
    "w1-value-ser",
    "w1-value-de",
    "w1-typed-ser",
    "w1-typed-de",
    "w2-ser",
    "w2-de",
    "w2-rt",
    "w3-ser",
    "w3-de",
    "w3-rt",
    "w4-ser",
    "w4-de",
    "w4-rt",
    "w5-framing",
];

/// The region profilers look at (`--toggle-collect=*profiled_region*`).
#[inline(never)]
fn profiled_region(f: &mut dyn FnMut(), iters: u64) {
    for _ in 0..iters {
        f();
    }
}

fn typed<T: DaskSerialize + DaskDeserialize + 'static>(v: T, op: &str) -> Box<dyn FnMut()> {
    let s = v.dask_serialize().expect("serialize");
    let header = s.header.clone();
    let frames: Vec<Bytes> = s.frame_bytes();
    drop(s);
    match op {
        "ser" => Box::new(move || drop(black_box(black_box(&v).dask_serialize().unwrap()))),
        "de" => Box::new(move || {
            drop(black_box(
                T::dask_deserialize(&header, black_box(&frames)).unwrap(),
            ))
        }),
        _ => Box::new(move || {
            let s = black_box(&v).dask_serialize().unwrap();
            let frames = s.frame_bytes();
            drop(black_box(T::dask_deserialize(&s.header, &frames).unwrap()))
        }),
    }
}

fn w5_framing() -> Box<dyn FnMut()> {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let a = Array::from_vec(f64_data((64 << 20) / 8, 0.25));
        let mut s = TcpStream::connect(addr).expect("connect");
        let mut go = [0u8; 1];
        while s.read_exact(&mut go).is_ok() {
            let ser = a.dask_serialize().expect("serialize");
            let header = ser.header.encode().expect("header");
            let mut frames: Vec<&[u8]> = vec![&header];
            frames.extend(ser.frames.iter().map(|f| f.as_slice()));
            write_message(&mut s, &frames).expect("write");
        }
    });
    let (mut s, _) = listener.accept().expect("accept");
    let limits = Limits::default();
    Box::new(move || {
        s.write_all(&[1]).expect("go");
        let frames = read_message(&mut s, &limits).expect("read").expect("message");
        let header = Header::decode(&frames[0], &limits).expect("header");
        drop(black_box(
            Array::<f64>::deserialize_from(&header, &frames[1..], &limits).unwrap(),
        ));
    })
}

fn routine(name: &str) -> Option<Box<dyn FnMut()>> {
    let (w, op) = name.rsplit_once('-')?;
    let dopts = SerializeOptions::new();
    let lopts = DeserializeOptions::new();
    Some(match w {
        "w1-value" => {
            let value = w1_value(&w1_msg());
            let frames = dumps(&value, &dopts).ok()?;
            match op {
                "ser" => Box::new(move || drop(black_box(dumps(black_box(&value), &dopts).unwrap()))),
                _ => Box::new(move || drop(black_box(loads(black_box(&frames), &lopts).unwrap()))),
            }
        }
        "w1-typed" => {
            let msg = w1_msg();
            let frames = dumps_typed(&msg, &dopts).ok()?;
            match op {
                "ser" => Box::new(move || drop(black_box(dumps_typed(black_box(&msg), &dopts).unwrap()))),
                _ => Box::new(move || {
                    drop(black_box(
                        loads_typed::<AdminMsg>(black_box(&frames), &lopts).unwrap(),
                    ))
                }),
            }
        }
        "w2" => typed(Array::from_vec(f64_data((64 << 20) / 8, 0.25)), op),
        "w3" => typed(w3_arrays(&w3_peer()), op),
        "w4" => typed(
            w4_vecs()
                .into_iter()
                .map(Array::from_vec)
                .collect::<Vec<Array<f64>>>(),
            op,
        ),
        "w5" => w5_framing(),
        _ => return None,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [l] if l == "--list" => OPS.iter().for_each(|o| println!("{o}")),
        [op, n] => {
            let (Some(mut f), Ok(n)) = (routine(op), n.parse::<u64>()) else {
                eprintln!("profile: unknown operation {op} (see --list) or bad count {n}");
                std::process::exit(2);
            };
            f(); // warm up outside the region
            profiled_region(&mut *f, n);
        }
        _ => println!("profile: usage: profile <operation> <iterations> | --list (for perf/callgrind)"),
    }
}
