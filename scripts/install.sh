#!/usr/bin/env bash
# Installs what Tally's dev/test services need, only when missing: PostgreSQL 15
# and ClickHouse (Debian packages) and the tansu Kafka broker (cargo, ~15 min
# on a fresh machine). Idempotent; silent on success.
set -euo pipefail

TALLY_CACHE="${TALLY_CACHE:-$HOME/.cache/tally}"
TANSU_VERSION=0.6.0
mkdir -p "$TALLY_CACHE"
die() { echo "tally: $*" >&2; exit 1; }

# Only one installer at a time (two CI steps or a dev shell may race).
exec 9>"$TALLY_CACHE/install.lock"
flock 9

pkgs=()
[[ -x /usr/lib/postgresql/15/bin/postgres ]] || pkgs+=(postgresql)
[[ -x /usr/bin/clickhouse-server || -x /usr/sbin/clickhouse-server || -x /usr/bin/clickhouse ]] ||
  pkgs+=(clickhouse-server)
command -v curl >/dev/null || pkgs+=(curl)
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
