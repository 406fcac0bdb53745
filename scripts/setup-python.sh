#!/usr/bin/env bash
# Create (or reuse) the Python venv used by the interop tests and print the
# path of its interpreter on stdout (the only thing written to stdout).
#
#   venv:          ${DASK_SERDE_VENV:-<repo>/target/py-venv}
#   requirements:  <repo>/tests/python/requirements.txt (exact pins)
#   base python:   ${DASK_SERDE_BASE_PYTHON:-python3} (3.11 is the reference)
#
# Idempotent: the venv is rebuilt only when it is missing, broken, or its
# stamp (sha256 of requirements.txt + base interpreter version) differs.
# Packages come from the package registry only (no local wheel directories,
# no prompts). Safe to run concurrently: a lock file serialises builders.
# Exits non-zero with a message on stderr on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$ROOT/tests/python/requirements.txt"
VENV="${DASK_SERDE_VENV:-$ROOT/target/py-venv}"
BASE_PY="${DASK_SERDE_BASE_PYTHON:-python3}"
STAMP="$VENV/.dask-serde-requirements.stamp"

log() { printf 'setup-python: %s\n' "$*" >&2; }
die() { printf 'setup-python: error: %s\n' "$*" >&2; exit 1; }

[ -f "$REQ" ] || die "requirements file not found: $REQ"
command -v "$BASE_PY" >/dev/null 2>&1 \
    || die "'$BASE_PY' not found on PATH (need CPython 3.11; set DASK_SERDE_BASE_PYTHON to choose another interpreter)"

BASE_VERSION="$("$BASE_PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)" \
    || die "'$BASE_PY' does not run"
BASE_MAJOR="${BASE_VERSION%%.*}"; BASE_MINOR="${BASE_VERSION#*.}"; BASE_MINOR="${BASE_MINOR%%.*}"
if [ "$BASE_MAJOR" -ne 3 ] || [ "$BASE_MINOR" -lt 11 ]; then
    die "Python $BASE_VERSION is too old (need 3.11; set DASK_SERDE_BASE_PYTHON to choose another interpreter)"
elif [ "$BASE_MINOR" -ne 11 ]; then
    log "warning: base interpreter is Python $BASE_VERSION; the reference environment is 3.11 (pickle bytes of structured dtypes differ on 3.14+)"
fi

hash_file() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
    else "$BASE_PY" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
    fi
}
WANT_STAMP="requirements-sha256=$(hash_file "$REQ") base-python=$BASE_VERSION"

venv_ok() {
    [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] \
        && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT_STAMP" ] \
        && "$VENV/bin/python" -c 'import distributed, numpy, msgpack, lz4, zstandard, cloudpickle' >/dev/null 2>&1
}

if venv_ok; then
    printf '%s\n' "$VENV/bin/python"
    exit 0
fi

mkdir -p "$(dirname "$VENV")"
# Serialise concurrent builders (several test binaries may call this at once).
LOCK="$VENV.lock"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$LOCK" || die "cannot open lock file $LOCK"
    flock -w 1800 9 || die "timed out waiting for lock $LOCK"
    if venv_ok; then   # another process built it while we waited
        printf '%s\n' "$VENV/bin/python"
        exit 0
    fi
fi

# Registry only, never interactive.
unset PIP_FIND_LINKS PIP_NO_INDEX PIP_REQUIRE_VIRTUALENV PIP_USER PIP_TARGET PIP_PREFIX
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
PIP_ARGS=(install --no-input --quiet --disable-pip-version-check --only-binary=:all: -r "$REQ")

if [ -e "$VENV" ]; then
    log "rebuilding venv at $VENV (missing, broken or requirements changed)"
    rm -rf "$VENV"
else
    log "creating venv at $VENV"
fi

PIP=()
if "$BASE_PY" -m venv "$VENV" </dev/null >&2; then
    PIP=("$VENV/bin/python" -m pip)
else
    # Some distributions ship python3 without ensurepip (python3-venv not
    # installed): fall back to a pip-less venv driven by the host's pip.
    log "'$BASE_PY -m venv' failed; retrying without pip (host pip drives the install)"
    rm -rf "$VENV"
    "$BASE_PY" -m venv --without-pip "$VENV" </dev/null >&2 \
        || die "'$BASE_PY -m venv --without-pip $VENV' failed"
    "$BASE_PY" -m pip --version >/dev/null 2>&1 \
        || die "the venv has no pip and '$BASE_PY -m pip' is unavailable (install python3-venv or pip)"
    PIP=("$BASE_PY" -m pip --python "$VENV/bin/python")
fi

log "installing $(grep -cE '^[A-Za-z0-9]' "$REQ") pinned packages from the package registry (quiet)"
if ! "${PIP[@]}" "${PIP_ARGS[@]}" </dev/null >&2; then
    die "pip install -r $REQ failed (see pip output above); the venv at $VENV is incomplete and will be rebuilt on the next run"
fi

"$VENV/bin/python" - <<'PY' >&2 || die "installed environment failed its import check"
import importlib.metadata as md
import distributed, numpy, msgpack, lz4, zstandard, cloudpickle  # noqa: F401
want = {"distributed": "2026.8.0", "numpy": "2.4.6", "msgpack": "1.2.4"}
bad = {k: md.version(k) for k, v in want.items() if md.version(k) != v}
if bad:
    raise SystemExit(f"unexpected versions installed: {bad}")
PY

printf '%s\n' "$WANT_STAMP" > "$STAMP"
log "venv ready"
printf '%s\n' "$VENV/bin/python"
