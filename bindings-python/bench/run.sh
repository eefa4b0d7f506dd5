#!/usr/bin/env bash
# Runs the Python package's benchmark (bench.py), installing first what it needs: the Rust
# benchmark binary (release), the package's wheel, and the libraries it is compared with.
# Usage: bindings-python/bench/run.sh [--quick] [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="$PWD/target"
cargo build --quiet --release -p jetstate-bench
venv=target/python-bench-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin==1.16.0" "langgraph-checkpoint-sqlite==3.1.2" "aiosqlite==0.22.1" "persist-queue==1.1.0" "litequeue==0.9"
rm -rf target/python-bench-wheels
"$venv/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-deps -w target/python-bench-wheels ./bindings-python
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps target/python-bench-wheels/jetstate-*.whl
exec "$venv/bin/python" bindings-python/bench/bench.py "$@"
