//! W1 in instruction counts: a plain binary (no criterion) that
//! `scripts/bench.sh` runs under `valgrind --tool=callgrind` once per
//! codec and operation, collecting only inside [`callgrind_measured_region`]
//! (`--toggle-collect`), and divides the total by the iteration count.
//!
//! ```text
//! w1_instructions <codec> <op> <iterations>
//! w1_instructions --list            # every codec/op pair, one per line
//! w1_instructions --hex             # frame 0 of dask-serde's dumps, in hex
//! ```
//!
//! Codecs: `dask-serde-value`, `dask-serde-typed`, `rmp-serde`, `bincode`,
//! `postcard`, `rkyv`; ops: `ser`, `de`, `rt` (rkyv's `de`/`rt` use
//! validated zero-copy `access`, `de-owned`/`rt-owned` deserialize).
//! Run without arguments (as `cargo bench` does) it prints a short note
//! and exits.

mod common;

use std::hint::black_box;

use bytes::Bytes;
use dask_serde::message::typed::{dumps_typed, loads_typed};
use dask_serde::message::{dumps, loads};
use dask_serde::{DeserializeOptions, SerializeOptions};

use common::*;

const PAIRS: &[(&str, &str)] = &[
    ("dask-serde-value", "ser"),
    ("dask-serde-value", "de"),
    ("dask-serde-value", "rt"),
    ("dask-serde-typed", "ser"),
    ("dask-serde-typed", "de"),
    ("dask-serde-typed", "rt"),
    ("rmp-serde", "ser"),
    ("rmp-serde", "de"),
    ("rmp-serde", "rt"),
    ("bincode", "ser"),
    ("bincode", "de"),
    ("bincode", "rt"),
    ("postcard", "ser"),
    ("postcard", "de"),
    ("postcard", "rt"),
    ("rkyv", "ser"),
    ("rkyv", "de"),
    ("rkyv", "rt"),
    ("rkyv", "de-owned"),
    ("rkyv", "rt-owned"),
];

/// The only code callgrind counts (`--toggle-collect=*callgrind_measured_region*`).
#[inline(never)]
fn callgrind_measured_region(f: &mut dyn FnMut(), iters: u64) {
    for _ in 0..iters {
        f();
    }
}

fn routine(codec: &str, op: &str) -> Option<Box<dyn FnMut()>> {
    let msg = w1_msg();
    let dopts = SerializeOptions::new();
    let lopts = DeserializeOptions::new();
    let f: Box<dyn FnMut()> = match (codec, op) {
        ("dask-serde-value", op) => {
            let value = w1_value(&msg);
            let frames: Vec<Bytes> = dumps(&value, &dopts).ok()?;
            match op {
                "ser" => Box::new(move || drop(black_box(dumps(black_box(&value), &dopts).unwrap()))),
                "de" => Box::new(move || drop(black_box(loads(black_box(&frames), &lopts).unwrap()))),
                "rt" => Box::new(move || {
                    let f = dumps(black_box(&value), &dopts).unwrap();
                    drop(black_box(loads(&f, &lopts).unwrap()))
                }),
                _ => return None,
            }
        }
        ("dask-serde-typed", op) => {
            let frames: Vec<Bytes> = dumps_typed(&msg, &dopts).ok()?;
            match op {
                "ser" => Box::new(move || drop(black_box(dumps_typed(black_box(&msg), &dopts).unwrap()))),
                "de" => Box::new(move || {
                    drop(black_box(
                        loads_typed::<AdminMsg>(black_box(&frames), &lopts).unwrap(),
                    ))
                }),
                "rt" => Box::new(move || {
                    let f = dumps_typed(black_box(&msg), &dopts).unwrap();
                    drop(black_box(loads_typed::<AdminMsg>(&f, &lopts).unwrap()))
                }),
                _ => return None,
            }
        }
        ("rmp-serde", op) => {
            let enc = rmp_serde::to_vec_named(&msg).ok()?;
            match op {
                "ser" => Box::new(move || drop(black_box(rmp_serde::to_vec_named(black_box(&msg)).unwrap()))),
                "de" => Box::new(move || {
                    drop(black_box(
                        rmp_serde::from_slice::<AdminMsg>(black_box(&enc)).unwrap(),
                    ))
                }),
                "rt" => Box::new(move || {
                    let e = rmp_serde::to_vec_named(black_box(&msg)).unwrap();
                    drop(black_box(rmp_serde::from_slice::<AdminMsg>(&e).unwrap()))
                }),
                _ => return None,
            }
        }
        ("bincode", op) => {
            let enc = bincode::encode_to_vec(&msg, BINCODE).ok()?;
            match op {
                "ser" => Box::new(move || {
                    drop(black_box(
                        bincode::encode_to_vec(black_box(&msg), BINCODE).unwrap(),
                    ))
                }),
                "de" => Box::new(move || {
                    drop(black_box(
                        bincode::decode_from_slice::<AdminMsg, _>(black_box(&enc), BINCODE).unwrap(),
                    ))
                }),
                "rt" => Box::new(move || {
                    let e = bincode::encode_to_vec(black_box(&msg), BINCODE).unwrap();
                    drop(black_box(
                        bincode::decode_from_slice::<AdminMsg, _>(&e, BINCODE).unwrap(),
                    ))
                }),
                _ => return None,
            }
        }
        ("postcard", op) => {
            let enc = postcard::to_allocvec(&msg).ok()?;
            match op {
                "ser" => Box::new(move || drop(black_box(postcard::to_allocvec(black_box(&msg)).unwrap()))),
                "de" => Box::new(move || {
                    drop(black_box(
                        postcard::from_bytes::<AdminMsg>(black_box(&enc)).unwrap(),
                    ))
                }),
                "rt" => Box::new(move || {
                    let e = postcard::to_allocvec(black_box(&msg)).unwrap();
                    drop(black_box(postcard::from_bytes::<AdminMsg>(&e).unwrap()))
                }),
                _ => return None,
            }
        }
        ("rkyv", op) => {
            let enc = rkyv::to_bytes::<RkyvError>(&msg).ok()?;
            match op {
                "ser" => {
                    Box::new(move || drop(black_box(rkyv::to_bytes::<RkyvError>(black_box(&msg)).unwrap())))
                }
                "de" => Box::new(move || {
                    black_box(rkyv::access::<ArchivedAdminMsg, RkyvError>(black_box(&enc)).unwrap());
                }),
                "de-owned" => Box::new(move || {
                    drop(black_box(
                        rkyv::from_bytes::<AdminMsg, RkyvError>(black_box(&enc)).unwrap(),
                    ))
                }),
                "rt" => Box::new(move || {
                    let e = rkyv::to_bytes::<RkyvError>(black_box(&msg)).unwrap();
                    black_box(rkyv::access::<ArchivedAdminMsg, RkyvError>(&e).unwrap());
                }),
                "rt-owned" => Box::new(move || {
                    let e = rkyv::to_bytes::<RkyvError>(black_box(&msg)).unwrap();
                    drop(black_box(rkyv::from_bytes::<AdminMsg, RkyvError>(&e).unwrap()))
                }),
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(f)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list") {
        for (codec, op) in PAIRS {
            println!("{codec} {op}");
        }
        return;
    }
    if args.first().map(String::as_str) == Some("--hex") {
        let frames = dumps(&w1_value(&w1_msg()), &SerializeOptions::new()).expect("dumps");
        let hex: String = frames[0].iter().map(|b| format!("{b:02x}")).collect();
        println!("{hex}");
        return;
    }
    let parsed = match args.as_slice() {
        [codec, op, n] => n.parse::<u64>().ok().map(|n| (codec.as_str(), op.as_str(), n)),
        _ => None,
    };
    let Some((codec, op, iters)) = parsed else {
        println!(
            "w1_instructions: run by scripts/bench.sh under callgrind \
             (usage: w1_instructions <codec> <op> <iterations> | --list)"
        );
        return;
    };
    let Some(mut f) = routine(codec, op) else {
        eprintln!("w1_instructions: unknown codec/op {codec} {op}");
        std::process::exit(2);
    };
    // warm up outside the counted region: lazy statics, thread-locals,
    // allocator pools
    for _ in 0..10 {
        f();
    }
    callgrind_measured_region(&mut *f, iters);
}
