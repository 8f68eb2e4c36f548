#!/usr/bin/env bash
# Builds the web UI's browser bundle (tally-web.js and tally-web_bg.wasm: the app compiled to
# wasm32 with the `hydrate` feature, bound by wasm-bindgen) into $TALLY_CACHE/web-pkg-<checkout>
# and prints that directory. `tally serve` hydrates its pages with it when `web.pkg_dir` points there.
# Prints nothing, and says why on standard error, when the wasm32 target or wasm-bindgen is
# missing (scripts/install.sh installs both when it can): pages then work without scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
export TALLY_CACHE="${TALLY_CACHE:-$HOME/.cache/tally}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TALLY_CACHE/target}"
bindgen="$TALLY_CACHE/tools/bin/wasm-bindgen"
# One build per checkout: the server functions' URLs hash the checkout's path, and a cdylib's
# file name does not, so two clones sharing a target directory would overwrite each other's
# wasm while cargo still thought its own fresh.
checkout=$(pwd -P | sha256sum | cut -c1-12)
wasm_target="$CARGO_TARGET_DIR/wasm-$checkout"
out="$TALLY_CACHE/web-pkg-$checkout"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || [[ ! -x "$bindgen" ]]; then
  echo "tally: no wasm32 target or wasm-bindgen; the web UI is served without scripts" >&2
  exit 0
fi
log="$TALLY_CACHE/web-build.log"
# A cdylib for the browser only: the server links the crate as a plain library.
cargo rustc --quiet -p tally-web --lib --crate-type cdylib --target wasm32-unknown-unknown \
  --features hydrate --release --target-dir "$wasm_target" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
rm -rf "$out.new"
"$bindgen" --target web --no-typescript --out-dir "$out.new" --out-name tally-web \
  "$wasm_target/wasm32-unknown-unknown/release/tally_web.wasm"
rm -rf "$out"
mv "$out.new" "$out"
echo "$out"
