#!/usr/bin/env bash
# Coverage-guided fuzzing of what strangers hand the store (cargo-fuzz over libFuzzer): the JSON
# wire protocol, import of JSON Lines, event kinds, merge patches. Each target starts from its
# checked-in corpus (`corpus/<target>/`) and runs for SECONDS (default 60); what it finds on the
# way stays in a scratch copy. A failing input stops the run with its file (under `artifacts/`):
# fix the bug, then keep the input in `regressions/<target>/`, where the ordinary tests replay it
# (core/tests/fuzz_regressions.rs).
#
# Usage: core/fuzz/run.sh [SECONDS]
# It runs on the stable toolchain: without a sanitizer (`--sanitizer none`) cargo-fuzz needs no
# nightly flag; Rust's own checks (bounds, overflow in debug assertions) and the targets'
# assertions are what catch a bug.
set -euo pipefail
cd "$(dirname "$0")/.."   # core/
seconds=${1:-60}
targets=(wire import event_kinds merge_patch)
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --quiet --locked cargo-fuzz --version 0.13.2
target_dir="${CARGO_TARGET_DIR:-$(pwd)/../target}/fuzz"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cargo fuzz build -O --sanitizer none --debug-assertions --target-dir "$target_dir" >"$scratch/build.log" 2>&1 \
    || { cat "$scratch/build.log" >&2; exit 1; }
for target in "${targets[@]}"; do
    mkdir -p "$scratch/$target"
    # New inputs go to the first folder (the scratch one); the checked-in corpus is only read.
    cargo fuzz run -O --sanitizer none --debug-assertions --target-dir "$target_dir" "$target" \
        "$scratch/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 2>"$scratch/$target.log" \
        || { tail -60 "$scratch/$target.log" >&2; echo "fuzz target $target failed: see the input named above" >&2; exit 1; }
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$scratch/$target.log" | grep -o '[0-9]*$' || echo '?')
    echo "fuzz target $target: $runs inputs in ${seconds} s, no failure"
done
