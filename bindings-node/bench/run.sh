#!/usr/bin/env bash
# Runs the Node package's benchmark (bench.js), installing first what it needs: the Rust
# benchmark binary and the addon (release), plainjob and better-sqlite3 12.
# Usage: bindings-node/bench/run.sh [--quick] [--rounds N]
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd ../.. && pwd)/target}"
(cd ../.. && cargo build --quiet --release -p jetstate-bench)
(cd .. && npm ci --no-audit --no-fund --loglevel=error && node scripts/build.js)
npm ci --no-audit --no-fund --loglevel=error
exec node bench.js "$@"
