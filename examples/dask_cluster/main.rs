//! Rust data on a real Dask cluster, no Python in this process.
//!
//! 1. start a cluster from the project's venv (see the README):
//!    `target/py-venv/bin/dask scheduler --host 127.0.0.1 --port 8786 &`
//!    `PYTHONPATH=examples target/py-venv/bin/dask worker tcp://127.0.0.1:8786 &`
//! 2. `cargo run --example dask_cluster -- tcp://127.0.0.1:8786`
//!    (or set `DASK_SCHEDULER_ADDRESS`): scatters an 8 MiB `f64` array and
//!    a derived struct, then waits for the results;
//! 3. in another shell let Python compute on them:
//!    `PYTHONPATH=examples target/py-venv/bin/python examples/dask_cluster_compute.py tcp://127.0.0.1:8786`
//!
//! The program then gathers the sum and the scaled struct and checks them
//! (the logic is in `demo.rs`, which the test suite runs too).

mod demo;

use std::time::Duration;

use demo::{gather_results, scatter_inputs};

fn main() {
    let address = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("DASK_SCHEDULER_ADDRESS").ok())
        .unwrap_or_else(|| "tcp://127.0.0.1:8786".into());
    let n = 1 << 20; // 8 MiB of f64
    match scatter_inputs(&address, n) {
        Ok(keys) => println!("scattered {keys:?} to {address}"),
        Err(e) => {
            eprintln!("error: cannot scatter to {address}: {e}");
            std::process::exit(1);
        }
    }
    println!("waiting for a Python client to compute demo-sum and demo-scaled ...");
    match gather_results(&address, n, Duration::from_secs(300)) {
        Ok(report) => {
            println!("the cluster summed {n} values: {}", report.sum);
            println!("and scaled the struct: {:?}", report.scaled);
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
