#!/usr/bin/env bash
# Runs every test suite of the repository, installing first (idempotently) what they need.
# Usage: ./test.sh        (CI runs it through .ci/run)
set -euo pipefail
cd "$(dirname "$0")"
repo_root=$(pwd)

step() { printf '\n== %s\n' "$*"; }

# ── What the suites need ──────────────────────────────────────────────────────────────────────
# The Rust toolchain comes from rustup on this kind of machine; make sure cargo is on PATH and
# that the lint and format components are installed.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
for component in clippy rustfmt; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
        rustup component add "$component"
    fi
done

apt_install() {
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    fi
}
# Debian's faketime runs a process with its clock shifted: the clock-skew tests of the server engine.
command -v faketime >/dev/null 2>&1 || apt_install faketime
# openssl makes the test cluster's certificate authority and a stranger's (tests/postgres/cluster.sh).
command -v openssl >/dev/null 2>&1 || apt_install openssl

# PostgreSQL: the suites run every scenario on both engines. Unless JETSTATE_TEST_POSTGRES_URL
# names a server already, a throwaway cluster of our own (installed from Debian's packages when
# absent), stopped at exit.
pg_dir=
if [ -z "${JETSTATE_TEST_POSTGRES_URL:-}" ]; then
    step "PostgreSQL: a throwaway cluster for the suites (tests/postgres/cluster.sh)"
    eval "$(tests/postgres/cluster.sh start)"
    pg_dir=$JETSTATE_TEST_POSTGRES_DIR
    echo "started: $JETSTATE_TEST_POSTGRES_URL"
fi
cleanup() {
    rm -rf "${demo_dir:-}" "${clean_venv:-}" "${node_project:-}"
    [ -z "$pg_dir" ] || tests/postgres/cluster.sh stop "$pg_dir"
}
trap cleanup EXIT

# ── Rust: format, lint, the main job, the tests ───────────────────────────────────────────────
step "format (cargo fmt --check)"
cargo fmt --all -- --check

step "lint (cargo clippy, warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "main job (the durable workflow example, on a fresh file)"
demo_dir=$(mktemp -d)
cargo run --quiet -p jetstate-cli -- demo "$demo_dir/demo.db" | tee "$demo_dir/out.txt"
grep -q "Materialized final state (completed" "$demo_dir/out.txt" || { echo "the main job did not complete its workflow" >&2; exit 1; }
grep -q "crashing while holding the lease" "$demo_dir/out.txt" || { echo "the main job did not show a worker dying" >&2; exit 1; }

step "the main job on the PostgreSQL server (jetstate demo postgresql://...)"
case "$JETSTATE_TEST_POSTGRES_URL" in *\?*) sep='&' ;; *) sep='?' ;; esac
cargo run --quiet -p jetstate-cli -- demo "${JETSTATE_TEST_POSTGRES_URL}${sep}schema=demo_$$" >"$demo_dir/server.txt"
grep -q "Materialized final state (completed" "$demo_dir/server.txt" || { cat "$demo_dir/server.txt"; echo "the main job did not complete on the server" >&2; exit 1; }
grep -q "crashing while holding the lease" "$demo_dir/server.txt" || { echo "the main job did not show a worker dying on the server" >&2; exit 1; }

step "tests (unit, integration, conformance, races, crash, doc)"
cargo test --workspace

step "the engine's own tests of its state crate (jamjet-state 0.4.0: durability, tenant isolation), run on jetstate"
tests/engine/run.sh

step "fuzzing, coverage-guided (cargo-fuzz): the wire protocol, import, event kinds, merge patches, a minute each"
core/fuzz/run.sh 60

# ── Python: the package built as a wheel, installed into a fresh virtual environment ─────────
step "Python package (bindings-python): wheel, install, pytest (conformance, types, threads, asyncio)"
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: install Python >= 3.9" >&2; exit 1; }
venv=target/python-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin==1.16.0" "pytest==9.2.0" "mypy==2.4.1" "hypothesis==6.170.15"
# Built with the workspace's target directory, so that SQLite is not compiled once more per build.
export CARGO_TARGET_DIR="$PWD/target"
rm -rf target/python-wheels
"$venv/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-deps -w target/python-wheels ./bindings-python
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps target/python-wheels/jetstate-*.whl
"$venv/bin/python" -m pytest -q bindings-python/tests

step "Python package: pip install ./bindings-python into a clean virtual environment"
clean_venv=$(mktemp -d)
python3 -m venv "$clean_venv"
"$clean_venv/bin/python" -m pip install --quiet --disable-pip-version-check ./bindings-python
"$clean_venv/bin/python" -c "import jetstate; s = jetstate.Store(); print('installed from source:', s, jetstate.__version__)"


# ── Node: the addon built with cargo, the package's tests, an install into a fresh project ──
step "Node package (bindings-node): build the addon, node --test (conformance, types, event loop, TypeScript)"
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "node and npm not found: install Node.js >= 18" >&2; exit 1; }
(cd bindings-node && npm ci --no-audit --no-fund --loglevel=error && node scripts/build.js && node --test test/)

step "Node package: npm pack, then npm install into a fresh project"
node_project=$(mktemp -d)
(cd bindings-node && npm pack --silent --pack-destination "$node_project" >/dev/null)
(cd "$node_project" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error ./jetstate-*.tgz \
    && node -e "require('jetstate').Store.open().then(async (s) => { console.log('installed from the package:', await s.summary()); })")
(cd "$node_project" && mkdir linked && cd linked && npm init -y >/dev/null \
    && npm install --no-audit --no-fund --loglevel=error "$repo_root/bindings-node" \
    && node -e "require('jetstate').Store.open().then(() => console.log('installed from the folder'))")

step "races across languages: Rust, Python and Node worker processes on one file (tests/races)"
cargo build --quiet --example race_worker
"$venv/bin/python" -m pytest -q tests/races

step "benchmark harness on PostgreSQL, small scale: it runs (bench/postgres.py --quick; figures not kept)"
cargo build --quiet -p jetstate-bench
JETSTATE_BENCH_POSTGRES_URL="$JETSTATE_TEST_POSTGRES_URL" python3 bench/postgres.py --quick --debug --out /dev/null >/dev/null

step "the queue's features on both engines, small scale: the harness runs (bench/queue_features.py --quick --debug; figures not kept)"
cargo build --quiet -p jetstate-bench --bin queue_features
JETSTATE_BENCH_POSTGRES_URL="$JETSTATE_TEST_POSTGRES_URL" python3 bench/queue_features.py --quick --debug --out /dev/null \
    >target/queue-features-smoke.log 2>&1 || { cat target/queue-features-smoke.log; exit 1; }

step "queue comparison on PostgreSQL, small scale: it runs (bench/queues.py --quick: pg-boss, graphile-worker, PgQueuer; figures not kept)"
JETSTATE_BENCH_POSTGRES_URL="$JETSTATE_TEST_POSTGRES_URL" python3 bench/queues.py --quick --out /dev/null >/dev/null

step "crash safety through the bindings: Python and Node writers killed with SIGKILL mid-write (tests/crash)"
"$venv/bin/python" -m pytest -q tests/crash

# ── Browsers: Debian's Chromium, driven by playwright-core (never a browser a tool downloads) ──
# chromium-driver comes along for WebDriver clients; the tests speak CDP through playwright-core.
{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } || apt_install chromium chromium-driver

step "jetstate ui in headless Chromium (cli/tests/ui: list, filters, timeline, escaping, read-only)"
cargo build --quiet -p jetstate-cli
(cd cli/tests/ui && npm ci --no-audit --no-fund --loglevel=error && JETSTATE_BIN="$repo_root/target/debug/jetstate" node --test)

# ── The browser package: the core compiled to wasm32, SQLite in OPFS, tested in Chromium ──────
step "browser package (bindings-wasm): wasm32 build, lint, tests in Chromium (conformance, persistence, tabs)"
rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown
command -v clang >/dev/null 2>&1 || apt_install clang   # SQLite's C, compiled for wasm32
# wasm-bindgen's command line must be the very version of the wasm-bindgen crate in Cargo.lock.
wasm_bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }')" != "$wasm_bindgen_version" ]; then
    cargo install --quiet wasm-bindgen-cli --version "$wasm_bindgen_version"
fi
cargo clippy --quiet --profile web --target wasm32-unknown-unknown -p jetstate-web -- -D warnings
cargo clippy --quiet --profile web --target wasm32-unknown-unknown -p jetstate-web --features faults -- -D warnings
# The fault build (test/faults.test.cjs: the fault sweep on OPFS) first, then the package itself.
(cd bindings-wasm && npm ci --no-audit --no-fund --loglevel=error && node scripts/build.cjs --faults && node scripts/build.cjs \
    && node --test test/*.test.cjs)
# The benchmark's page loads too (its floor's package installed), on a small scale: a harness that
# cannot run is caught here, not when someone wants the figures.
(cd bindings-wasm/bench && npm ci --no-audit --no-fund --loglevel=error)
(cd bindings-wasm && node bench/run.cjs --scale 0.05 --rounds 1 --out /dev/null >/dev/null)
(cd bindings-wasm && node bench/run.cjs --probe --calls 20 >/dev/null)
