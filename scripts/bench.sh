#!/usr/bin/env bash
# Every benchmark of docs/WORKLOADS.md in one run, then BENCHMARKS.md.
#
#   bash scripts/bench.sh            # full run (about 8 minutes on 2 cores), rewrites BENCHMARKS.md
#   bash scripts/bench.sh --quick    # smoke run (about 3 minutes), writes target/bench/BENCHMARKS.quick.md
#
#   1. builds the bench binaries once (release, shared target/)
#   2. criterion: W1-W4 (benches/workloads.rs) and W5 (benches/transport.rs),
#      saved as baseline "$BASELINE" under target/criterion
#   3. Python Dask on the same workloads (scripts/bench_python.py, the venv of
#      scripts/setup-python.sh) -> target/bench/python.json
#   4. W1 instruction counts: benches/w1_instructions.rs under valgrind
#      --tool=callgrind (installed from Debian packages when missing)
#      -> target/bench/callgrind.tsv
#   5. scripts/bench_report.py -> BENCHMARKS.md + benches/w2_serialize.svg
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done

BASELINE=dask-serde-bench
OUT=target/bench
mkdir -p "$OUT"
step() { printf '\n==> %s\n' "$*" >&2; }
START=$(date +%s)

step "Python venv (real Dask)"
PY="$(bash scripts/setup-python.sh)"
echo "using $PY" >&2

step "valgrind"
if ! command -v valgrind >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y valgrind >&2 || { apt-get update >&2 && apt-get install -y valgrind >&2; } || true
    fi
fi
if command -v valgrind >/dev/null 2>&1; then valgrind --version >&2; else echo "valgrind unavailable: no instruction counts" >&2; fi

step "build the benches (release)"
cargo bench --no-run --bench workloads --bench transport --bench w1_instructions
W1BIN="$(cargo bench --no-run --bench w1_instructions --message-format=json 2>/dev/null \
    | "$PY" -c 'import json,sys
for l in sys.stdin:
    try: m = json.loads(l)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "w1_instructions" and m.get("executable"):
        print(m["executable"])')"
[ -x "$W1BIN" ] || { echo "bench.sh: w1_instructions binary not found" >&2; exit 1; }

if [ "$QUICK" = 1 ]; then
    CRIT_ARGS=(--warm-up-time 0.1 --measurement-time 0.3)
    PY_ARGS=(--quick)
    REPORT="$OUT/BENCHMARKS.quick.md"
    SVG="$OUT/w2_serialize.quick.svg"
else
    CRIT_ARGS=()
    PY_ARGS=()
    REPORT=BENCHMARKS.md
    SVG=benches/w2_serialize.svg
fi

step "criterion: W1-W4"
# results of earlier runs must not leak into this report
rm -rf target/criterion
cargo bench --bench workloads -- --save-baseline "$BASELINE" --noplot ${CRIT_ARGS[@]+"${CRIT_ARGS[@]}"}

step "criterion: W5 (loopback TCP)"
cargo bench --bench transport -- --save-baseline "$BASELINE" --noplot ${CRIT_ARGS[@]+"${CRIT_ARGS[@]}"}

step "Python Dask"
"$PY" scripts/bench_python.py --out "$OUT/python.json" ${PY_ARGS[@]+"${PY_ARGS[@]}"}

step "W1 instruction counts (callgrind)"
"$W1BIN" --hex > "$OUT/w1_frame0.hex"
CG="$OUT/callgrind.tsv"
: > "$CG"
if command -v valgrind >/dev/null 2>&1; then
    N1=200
    N2=1200
    ir() { # codec op iterations -> instructions inside the measured region
        local f="$OUT/callgrind.$1.$2.$3.out"
        valgrind --tool=callgrind --callgrind-out-file="$f" \
            --toggle-collect='*callgrind_measured_region*' "$W1BIN" "$1" "$2" "$3" >/dev/null 2>&1
        awk '/^totals:/ {print $2}' "$f"
        rm -f "$f"
    }
    printf 'codec\top\tinstructions_per_iteration\n' >> "$CG"
    "$W1BIN" --list | while read -r codec op; do
        a=$(ir "$codec" "$op" "$N1")
        b=$(ir "$codec" "$op" "$N2")
        per=$(( (b - a) / (N2 - N1) ))
        printf '%s\t%s\t%s\n' "$codec" "$op" "$per" >> "$CG"
        printf '  %-18s %-9s %8s Ir/iteration\n' "$codec" "$op" "$per" >&2
    done
fi

step "report"
"$PY" scripts/bench_report.py \
    --criterion target/criterion --baseline "$BASELINE" \
    --python "$OUT/python.json" --callgrind "$CG" --w1-hex "$OUT/w1_frame0.hex" \
    --svg "$SVG" --out "$REPORT" --elapsed "$(( $(date +%s) - START ))"
echo "wrote $REPORT and $SVG ($(( $(date +%s) - START )) s)" >&2
