#!/usr/bin/env bash
# Runs Tally's whole test suite on this machine, fresh or not: installs what is missing,
# checks formatting and lints, fuzzes the decoders briefly, starts throwaway PostgreSQL,
# ClickHouse and Kafka-protocol instances, runs every test against them, and stops them
# again, even on failure.
# Build outputs and tools are cached under $TALLY_CACHE (default ~/.cache/tally).
set -euo pipefail
cd "$(dirname "$0")/.."
export TALLY_CACHE="${TALLY_CACHE:-$HOME/.cache/tally}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TALLY_CACHE/target}"
export CARGO_TERM_QUIET=true

scripts/install.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
scripts/fuzz.sh 20
# The browser tests hydrate the web UI with this bundle, and skip that part without one.
bundle=$(scripts/web.sh)
if [[ -n "$bundle" ]]; then
  export TALLY_TEST_WEB_PKG="$bundle"
  cargo clippy -p tally-web --lib --target wasm32-unknown-unknown --features hydrate -- -D warnings
fi

services=$(mktemp -d "${TMPDIR:-/tmp}/tally-test.XXXXXX")
trap 'scripts/services.sh stop "$services"' EXIT
scripts/services.sh start "$services"
# shellcheck source=/dev/null
source "$services/env"

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --profile ci --no-tests=fail
else
  cargo test --workspace
fi
