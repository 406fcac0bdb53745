#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script).
#
#   1. makes the Python venv with pinned distributed==2026.8.0 (if missing)
#   2. the layering of docs/ARCHITECTURE.md (scripts/imports.py --check)
#   3. cargo fmt --check
#   4. cargo clippy --all-targets -D warnings
#   5. every test, including interop against real Python Dask
#   6. cargo bench --no-run, cargo doc with warnings denied
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Python venv (real Dask for the interop tests)"
DASK_SERDE_PYTHON="$(bash scripts/setup-python.sh)"
export DASK_SERDE_PYTHON
echo "using $DASK_SERDE_PYTHON"

step "layering (scripts/imports.py --check)"
mkdir -p target
python3 scripts/imports.py --check > target/imports.txt || { cat target/imports.txt; exit 1; }
tail -n 1 target/imports.txt

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings
# the runtime crate alone, with its default and with no features: nothing
# unused or missing when a user turns features off
cargo clippy -p dask-serde --all-targets -- -D warnings
cargo clippy -p dask-serde --no-default-features --all-targets -- -D warnings

step "cargo test"
cargo test --workspace --all-features

step "cargo bench --no-run (the benchmarks compile; they are run by scripts/bench.sh)"
cargo bench --workspace --no-run

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features
# the runtime crate's docs with default features too: no link may point
# at an item only a feature brings
RUSTDOCFLAGS="-D warnings" cargo doc -p dask-serde --no-deps

step "all checks passed"
