#!/usr/bin/env bash
# Fuzzes the ingest decoders that read untrusted bodies (targets in ingest/fuzz: cloudevents,
# otlp) with cargo-fuzz and libFuzzer, SECONDS per target (default 20), and prints one line per
# target. Exits non-zero, naming the crash artifact, if any target panics, hangs or runs out of
# memory. Installs cargo-fuzz when missing. Builds, the grown corpus, crash artifacts and
# libFuzzer's logs live under $TALLY_CACHE (default ~/.cache/tally), never in the repo; the
# builds use their own target dir so their sanitizer flags leave the main build cache alone.
set -euo pipefail
cd "$(dirname "$0")/.."

TALLY_CACHE="${TALLY_CACHE:-$HOME/.cache/tally}"
CARGO_FUZZ_VERSION=0.13.2
TARGETS=(cloudevents otlp)
die() { echo "tally: $*" >&2; exit 1; }

seconds="${1:-20}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die "usage: scripts/fuzz.sh [SECONDS]"
fuzz_dir=ingest/fuzz
target_dir="$TALLY_CACHE/fuzz-target"
logs="$TALLY_CACHE/fuzz-logs"
mkdir -p "$TALLY_CACHE/tools" "$logs"

# One fuzz run at a time: runs share the target dir and the corpus.
exec 9>"$TALLY_CACHE/fuzz.lock"
flock 9

if [[ ! -x "$TALLY_CACHE/tools/bin/cargo-fuzz" ]]; then
  log="$TALLY_CACHE/cargo-fuzz-install.log"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --root "$TALLY_CACHE/tools" \
    >"$log" 2>&1 || die "cannot build cargo-fuzz $CARGO_FUZZ_VERSION (log: $log)"
fi
export PATH="$TALLY_CACHE/tools/bin:$PATH"

# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, sanitizer coverage); stable rustc
# accepts them with RUSTC_BOOTSTRAP. CARGO_TARGET_DIR may point at the main cache (test.sh).
export RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$target_dir" CARGO_TERM_QUIET=true
host=$(rustc -vV | sed -n 's/^host: //p')
log="$logs/build.log"
cargo fuzz build --fuzz-dir "$fuzz_dir" --target "$host" --target-dir "$target_dir" \
  >"$log" 2>&1 || die "cannot build the fuzz targets (log: $log)"

crashed=0
for target in "${TARGETS[@]}"; do
  binary="$target_dir/$host/release/$target"
  corpus="$TALLY_CACHE/fuzz-corpus/$target"
  artifacts="$TALLY_CACHE/fuzz-artifacts/$target"
  log="$logs/$target.log"
  mkdir -p "$corpus" "$artifacts"
  # New inputs go to the first corpus dir only; the seeds in the repo are read.
  if "$binary" "$corpus" "$fuzz_dir/seeds/$target" -max_total_time="$seconds" \
    -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$artifacts/" >"$log" 2>&1; then
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log")
    echo "fuzz $target: ${runs:-? runs}, no crash"
  else
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "tally: fuzz $target crashed on ${artifact:-an input it did not save}" \
      "(replay: $binary ARTIFACT; log: $log)" >&2
    crashed=1
  fi
done
exit "$crashed"
