#!/usr/bin/env bash
# Runs the native engine's own published tests of its state crate against jetstate: the files
# `tests/durability.rs` and `tests/tenant_isolation.rs` of jamjet-state 0.4.0 (the crate the seed's
# trait comes from), fetched from the Rust crate registry at test time and checked against the
# registry index's checksum, with only the crate paths renamed to jetstate's. They are the
# engine's, not ours: nothing of them is committed here.
#
# Usage: tests/engine/run.sh   (test.sh runs it; CARGO_TARGET_DIR is shared with the workspace)
set -euo pipefail
repo_root=$(cd "$(dirname "$0")/../.." && pwd)
crate=jamjet-state
version=0.4.0
files=(durability tenant_isolation)
suite="$repo_root/target/engine-suite"

# The index entry gives the checksum the registry publishes for the crate file.
index_entry=$(curl -sSf "https://index.crates.io/ja/mj/$crate")
checksum=$(printf '%s\n' "$index_entry" | python3 -c '
import json, sys
for line in sys.stdin:
    entry = json.loads(line)
    if entry["vers"] == sys.argv[1]:
        print(entry["cksum"])
' "$version")
[ -n "$checksum" ] || { echo "$crate $version is not in the registry index" >&2; exit 1; }
rm -rf "$suite"
mkdir -p "$suite/tests"
curl -sSfL -o "$suite/$crate.crate" "https://static.crates.io/crates/$crate/$crate-$version.crate"
echo "$checksum  $suite/$crate.crate" | sha256sum --check --quiet
for file in "${files[@]}"; do
    tar -xzf "$suite/$crate.crate" -O "$crate-$version/tests/$file.rs" |
        sed -e 's/jamjet_core::workflow/jetstate::workflow/g' -e 's/jamjet_state/jetstate/g' >"$suite/tests/$file.rs"
done

# A package of its own (outside the workspace), on the workspace's lock file and target
# directory, so that nothing the workspace built is built again.
cat >"$suite/Cargo.toml" <<TOML
[package]
name = "jamjet-engine-suite"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
jetstate = { path = "$repo_root/core" }
chrono = "0.4"
serde_json = "1"
uuid = { version = "1", features = ["v4"] }
tokio = { version = "1", features = ["rt", "rt-multi-thread", "macros"] }
TOML
for file in "${files[@]}"; do
    printf '\n[[test]]\nname = "%s"\npath = "tests/%s.rs"\n' "$file" "$file" >>"$suite/Cargo.toml"
done
mkdir -p "$suite/src" && : >"$suite/src/lib.rs"
cp "$repo_root/Cargo.lock" "$suite/Cargo.lock"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo_root/target}"
cargo test --quiet --manifest-path "$suite/Cargo.toml" --tests
