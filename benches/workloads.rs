//! Workloads W1-W4 of docs/WORKLOADS.md: dask-serde and its Rust peers
//! (rmp-serde, bincode, postcard, rkyv with validation) on the same data,
//! in the same run.
//!
//! Benchmark ids are `<workload>[/<size>]` / `<codec>` / `<op>` with ops:
//!
//! * `ser`: value -> serialized form (dask-serde: header + frames, which
//!   may borrow from the value; peers: one byte buffer),
//! * `de`: serialized form -> owned value (every buffer copied out),
//! * `de-zc`: serialized form -> zero-copy view (dask-serde `Array<f64>`
//!   sharing the frames; rkyv `access` with validation),
//! * `rt`: `ser` followed by the cheapest `de*` the codec has,
//! * `rt-owned`: `ser` followed by `de` (only for codecs that also have
//!   `de-zc`, so both round trips are reported).
//!
//! `scripts/bench.sh` runs this with `--save-baseline` and turns the
//! medians into BENCHMARKS.md.

mod common;

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use dask_serde::message::typed::{dumps_typed, loads_typed};
use dask_serde::message::{dumps, loads};
use dask_serde::{Array, DaskDeserialize, DaskSerialize};
use dask_serde::{DeserializeOptions, SerializeOptions};

use common::*;

/// Benchmarks the four peers on `$v: &$T` inside group `$g`. With
/// `$full == false` only `ser` is measured.
macro_rules! peers {
    ($g:expr, $T:ty, $v:expr, $full:expr) => {{
        let g: &mut BenchmarkGroup<'_, WallTime> = $g;
        let v: &$T = $v;
        let full: bool = $full;

        // rmp-serde: structs as maps with field names (Dask's msgpack form)
        let enc = rmp_serde::to_vec_named(v).unwrap();
        assert_eq!(&rmp_serde::from_slice::<$T>(&enc).unwrap(), v);
        g.bench_function(BenchmarkId::new("rmp-serde", "ser"), |b| {
            b.iter(|| rmp_serde::to_vec_named(black_box(v)).unwrap())
        });
        if full {
            g.bench_function(BenchmarkId::new("rmp-serde", "de"), |b| {
                b.iter(|| rmp_serde::from_slice::<$T>(black_box(&enc)).unwrap())
            });
            g.bench_function(BenchmarkId::new("rmp-serde", "rt"), |b| {
                b.iter(|| {
                    let e = rmp_serde::to_vec_named(black_box(v)).unwrap();
                    rmp_serde::from_slice::<$T>(&e).unwrap()
                })
            });
        }

        // bincode 2 (native Encode/Decode, standard config)
        let enc = bincode::encode_to_vec(v, BINCODE).unwrap();
        assert_eq!(&bincode::decode_from_slice::<$T, _>(&enc, BINCODE).unwrap().0, v);
        g.bench_function(BenchmarkId::new("bincode", "ser"), |b| {
            b.iter(|| bincode::encode_to_vec(black_box(v), BINCODE).unwrap())
        });
        if full {
            g.bench_function(BenchmarkId::new("bincode", "de"), |b| {
                b.iter(|| bincode::decode_from_slice::<$T, _>(black_box(&enc), BINCODE).unwrap())
            });
            g.bench_function(BenchmarkId::new("bincode", "rt"), |b| {
                b.iter(|| {
                    let e = bincode::encode_to_vec(black_box(v), BINCODE).unwrap();
                    bincode::decode_from_slice::<$T, _>(&e, BINCODE).unwrap()
                })
            });
        }

        // postcard
        let enc = postcard::to_allocvec(v).unwrap();
        assert_eq!(&postcard::from_bytes::<$T>(&enc).unwrap(), v);
        g.bench_function(BenchmarkId::new("postcard", "ser"), |b| {
            b.iter(|| postcard::to_allocvec(black_box(v)).unwrap())
        });
        if full {
            g.bench_function(BenchmarkId::new("postcard", "de"), |b| {
                b.iter(|| postcard::from_bytes::<$T>(black_box(&enc)).unwrap())
            });
            g.bench_function(BenchmarkId::new("postcard", "rt"), |b| {
                b.iter(|| {
                    let e = postcard::to_allocvec(black_box(v)).unwrap();
                    postcard::from_bytes::<$T>(&e).unwrap()
                })
            });
        }

        // rkyv 0.8, validated access (bytecheck) for zero-copy
        let enc = rkyv::to_bytes::<RkyvError>(v).unwrap();
        assert_eq!(&rkyv::from_bytes::<$T, RkyvError>(&enc).unwrap(), v);
        g.bench_function(BenchmarkId::new("rkyv", "ser"), |b| {
            b.iter(|| rkyv::to_bytes::<RkyvError>(black_box(v)).unwrap())
        });
        if full {
            g.bench_function(BenchmarkId::new("rkyv", "de"), |b| {
                b.iter(|| rkyv::from_bytes::<$T, RkyvError>(black_box(&enc)).unwrap())
            });
            g.bench_function(BenchmarkId::new("rkyv", "de-zc"), |b| {
                b.iter(|| {
                    let a = rkyv::access::<rkyv::Archived<$T>, RkyvError>(black_box(&enc)).unwrap();
                    black_box(a);
                })
            });
            g.bench_function(BenchmarkId::new("rkyv", "rt"), |b| {
                b.iter(|| {
                    let e = rkyv::to_bytes::<RkyvError>(black_box(v)).unwrap();
                    let a = rkyv::access::<rkyv::Archived<$T>, RkyvError>(&e).unwrap();
                    black_box(a);
                })
            });
            g.bench_function(BenchmarkId::new("rkyv", "rt-owned"), |b| {
                b.iter(|| {
                    let e = rkyv::to_bytes::<RkyvError>(black_box(v)).unwrap();
                    rkyv::from_bytes::<$T, RkyvError>(&e).unwrap()
                })
            });
        }
    }};
}

/// dask-serde's typed path for `v` (a `DaskSerialize + DaskDeserialize`
/// type): `ser`, then `$de_op` (`"de"` or `"de-zc"`) and `rt`.
fn dask_typed<T>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, v: &T, de_op: &str, full: bool)
where
    T: DaskSerialize + DaskDeserialize + PartialEq + std::fmt::Debug,
{
    check_round_trip(v);
    g.bench_function(BenchmarkId::new(name, "ser"), |b| {
        b.iter(|| black_box(v).dask_serialize().unwrap())
    });
    if !full {
        return;
    }
    let s = v.dask_serialize().unwrap();
    let header = s.header.clone();
    let frames: Vec<Bytes> = s.frame_bytes();
    g.bench_function(BenchmarkId::new(name, de_op), |b| {
        b.iter(|| T::dask_deserialize(black_box(&header), black_box(&frames)).unwrap())
    });
    g.bench_function(BenchmarkId::new(name, "rt"), |b| {
        b.iter(|| {
            let s = black_box(v).dask_serialize().unwrap();
            let frames = s.frame_bytes();
            T::dask_deserialize(&s.header, &frames).unwrap()
        })
    });
}

fn w1(c: &mut Criterion) {
    let msg = w1_msg();
    let value = w1_value(&msg);
    let dopts = SerializeOptions::new();
    let lopts = DeserializeOptions::new();
    let mut g = c.benchmark_group("W1");
    g.sample_size(50);

    // dask-serde, dynamic Value message (Python's protocol.dumps / loads)
    let frames = dumps(&value, &dopts).unwrap();
    assert_eq!(frames.len(), 1);
    // lists come back as tuples (msgpack arrays, as in Dask): compare bytes
    assert_eq!(dumps(&loads(&frames, &lopts).unwrap(), &dopts).unwrap(), frames);
    // the same msgpack bytes rmp-serde writes for the struct
    assert_eq!(&frames[0][..], &rmp_serde::to_vec_named(&msg).unwrap()[..]);
    g.bench_function(BenchmarkId::new("dask-serde (Value)", "ser"), |b| {
        b.iter(|| dumps(black_box(&value), &dopts).unwrap())
    });
    g.bench_function(BenchmarkId::new("dask-serde (Value)", "de"), |b| {
        b.iter(|| loads(black_box(&frames), &lopts).unwrap())
    });
    g.bench_function(BenchmarkId::new("dask-serde (Value)", "rt"), |b| {
        b.iter(|| {
            let f = dumps(black_box(&value), &dopts).unwrap();
            loads(&f, &lopts).unwrap()
        })
    });

    // dask-serde, typed serde message
    let frames = dumps_typed(&msg, &dopts).unwrap();
    assert_eq!(loads_typed::<AdminMsg>(&frames, &lopts).unwrap(), msg);
    g.bench_function(BenchmarkId::new("dask-serde (typed)", "ser"), |b| {
        b.iter(|| dumps_typed(black_box(&msg), &dopts).unwrap())
    });
    g.bench_function(BenchmarkId::new("dask-serde (typed)", "de"), |b| {
        b.iter(|| loads_typed::<AdminMsg>(black_box(&frames), &lopts).unwrap())
    });
    g.bench_function(BenchmarkId::new("dask-serde (typed)", "rt"), |b| {
        b.iter(|| {
            let f = dumps_typed(black_box(&msg), &dopts).unwrap();
            loads_typed::<AdminMsg>(&f, &lopts).unwrap()
        })
    });

    peers!(&mut g, AdminMsg, &msg, true);
    g.finish();
}

fn w2(c: &mut Criterion) {
    for (size, label) in W2_SIZES {
        let full = label == "64KiB" || label == "64MiB";
        let v = f64_data(size / 8, 0.25);
        let a = Array::from_vec(v.clone());
        let mut g = c.benchmark_group(format!("W2/{label}"));
        g.throughput(Throughput::Bytes(size as u64));
        if size >= 1 << 20 {
            g.sampling_mode(SamplingMode::Flat).sample_size(10);
        }
        // zero-copy both ways: serialize shares the Bytes, decode views the frame
        dask_typed(&mut g, "dask-serde (Array)", &a, "de-zc", full);
        // Vec<f64>: serialize borrows; decoding copies into a new Vec
        dask_typed(&mut g, "dask-serde (Vec)", &v, "de", full);
        peers!(&mut g, Vec<f64>, &v, full);
        g.finish();
    }
}

fn w3(c: &mut Criterion) {
    let p = w3_peer();
    let arrays = w3_arrays(&p);
    let vecs = w3_vecs(&p);
    let mut g = c.benchmark_group("W3");
    g.throughput(Throughput::Bytes(3 * (W3_LEN * 8) as u64));
    g.sampling_mode(SamplingMode::Flat).sample_size(20);
    dask_typed(&mut g, "dask-serde (Array fields)", &arrays, "de-zc", true);
    dask_typed(&mut g, "dask-serde (Vec fields)", &vecs, "de", true);
    peers!(&mut g, ChunkPeer, &p, true);
    g.finish();
}

fn w4(c: &mut Criterion) {
    let vecs = w4_vecs();
    let arrays: Vec<Array<f64>> = vecs.iter().cloned().map(Array::from_vec).collect();
    let mut g = c.benchmark_group("W4");
    g.throughput(Throughput::Bytes((W4_COUNT * W4_LEN * 8) as u64));
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    assert_eq!(arrays.dask_serialize().unwrap().frames.len(), W4_COUNT);
    dask_typed(&mut g, "dask-serde (Vec<Array>)", &arrays, "de-zc", true);
    dask_typed(&mut g, "dask-serde (Vec<Vec>)", &vecs, "de", true);
    peers!(&mut g, Vec<Vec<f64>>, &vecs, true);
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200))
        .nresamples(10_000)
        .without_plots()
        .configure_from_args();
    w1(&mut c);
    w2(&mut c);
    w3(&mut c);
    w4(&mut c);
    c.final_summary();
}
