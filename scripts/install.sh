#!/usr/bin/env bash
# Installs what Tally's dev/test services need, only when missing: PostgreSQL 15
# and ClickHouse (Debian packages), the tansu Kafka broker (cargo, ~15 min on a
# fresh machine), a Python venv with the OpenTelemetry SDK and OTLP/HTTP
# exporter for tests/otel/export.py and aiosmtpd for tests/smtp/serve.py, Chromium and chromedriver for the browser
# tests, poppler-utils (pdftotext) for the invoice PDF tests, and (optionally)
# the wasm32 target and wasm-bindgen for the web UI's browser bundle.
# Idempotent; silent on success.
set -euo pipefail
cd "$(dirname "$0")/.."

TALLY_CACHE="${TALLY_CACHE:-$HOME/.cache/tally}"
TANSU_VERSION=0.6.0
OTEL_PYTHON_VERSION=1.45.2
mkdir -p "$TALLY_CACHE"
die() { echo "tally: $*" >&2; exit 1; }

# Only one installer at a time (two CI steps or a dev shell may race).
exec 9>"$TALLY_CACHE/install.lock"
flock 9

pkgs=()
[[ -x /usr/lib/postgresql/15/bin/postgres ]] || pkgs+=(postgresql)
[[ -x /usr/bin/clickhouse-server || -x /usr/sbin/clickhouse-server || -x /usr/bin/clickhouse ]] ||
  pkgs+=(clickhouse-server)
# Headless Chromium and its WebDriver, for the web UI's browser tests.
[[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] || pkgs+=(chromium chromium-driver)
command -v curl >/dev/null || pkgs+=(curl)
# pdftotext, with which the API's tests read the invoice PDFs they download.
command -v pdftotext >/dev/null || pkgs+=(poppler-utils)
if ((${#pkgs[@]})); then
  log="$TALLY_CACHE/apt-install.log"
  { apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
  } >"$log" 2>&1 || die "cannot install ${pkgs[*]} (log: $log)"
fi

if [[ ! -x "$TALLY_CACHE/tools/bin/tansu" ]]; then
  log="$TALLY_CACHE/tansu-build.log"
  cargo install tansu --locked --version "$TANSU_VERSION" --features dynostore,libsql \
    --root "$TALLY_CACHE/tools" >"$log" 2>&1 || die "cannot build tansu $TANSU_VERSION (log: $log)"
fi

# Optional: what the web UI's browser bundle is built with (scripts/web.sh), the wasm32 target and
# the wasm-bindgen CLI of the version Cargo.lock pins. Without them the UI is served without
# scripts, which works too, so a failure here is reported, not fatal.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown >"$TALLY_CACHE/wasm-target.log" 2>&1 ||
    echo "tally: no wasm32 target (log: $TALLY_CACHE/wasm-target.log); the web UI will not hydrate" >&2
fi
wasm_bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
if [[ -n "$wasm_bindgen_version" ]] &&
  ! "$TALLY_CACHE/tools/bin/wasm-bindgen" --version 2>/dev/null | grep -qx "wasm-bindgen $wasm_bindgen_version"; then
  log="$TALLY_CACHE/wasm-bindgen-install.log"
  # Not --locked: the registry mirror lacks one of the CLI's locked dependencies.
  cargo install wasm-bindgen-cli --version "$wasm_bindgen_version" --force \
    --root "$TALLY_CACHE/tools" >"$log" 2>&1 ||
    echo "tally: cannot build wasm-bindgen $wasm_bindgen_version (log: $log); the web UI will not hydrate" >&2
fi

# The OpenTelemetry Python SDK and its OTLP http/protobuf exporter, for
# tests/otel/export.py (run it with "$TALLY_CACHE/venv/bin/python").
venv="$TALLY_CACHE/venv"
if ! "$venv/bin/python" -c 'import opentelemetry.exporter.otlp.proto.http' 2>/dev/null; then
  log="$TALLY_CACHE/venv-install.log"
  { python3 -m venv --clear "$venv" &&
    "$venv/bin/pip" install -q --disable-pip-version-check --no-input \
      "opentelemetry-api==$OTEL_PYTHON_VERSION" "opentelemetry-sdk==$OTEL_PYTHON_VERSION" \
      "opentelemetry-exporter-otlp-proto-http==$OTEL_PYTHON_VERSION"
  } >"$log" 2>&1 || die "cannot install the OpenTelemetry Python SDK $OTEL_PYTHON_VERSION (log: $log)"
fi
# aiosmtpd, a real SMTP server the alerting tests deliver email to (tests/smtp/serve.py).
if ! "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  log="$TALLY_CACHE/aiosmtpd-install.log"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-input "aiosmtpd==1.4.6" \
    >"$log" 2>&1 || die "cannot install aiosmtpd 1.4.6 (log: $log)"
fi
