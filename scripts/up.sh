#!/usr/bin/env bash
# Brings Tally up on this machine: installs what is missing, starts PostgreSQL, ClickHouse and
# a Kafka-protocol broker with their data kept in $TALLY_DATA (default /var/lib/tally),
# applies migrations and runs `tally serve` with every role until Ctrl-C, then stops the
# services (their data stays for next time).
set -euo pipefail
cd "$(dirname "$0")/.."
export TALLY_CACHE="${TALLY_CACHE:-$HOME/.cache/tally}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TALLY_CACHE/target}"
data="${TALLY_DATA:-/var/lib/tally}"

scripts/install.sh
cargo build --quiet --bin tally
bundle=$(scripts/web.sh)
[[ -z "$bundle" ]] || export TALLY__WEB__PKG_DIR="${TALLY__WEB__PKG_DIR:-$bundle}"
mkdir -p "$data/services"
touch "$data/services/keep"
trap 'scripts/services.sh stop "$data/services"' EXIT
scripts/services.sh start "$data/services"
# shellcheck source=/dev/null
source "$data/services/env"
export TALLY__HTTP__LISTEN="${TALLY__HTTP__LISTEN:-127.0.0.1:8080}"
tally="$CARGO_TARGET_DIR/debug/tally"
"$tally" migrate
cat >&2 <<MSG

Tally is starting on http://$TALLY__HTTP__LISTEN (readiness: /readyz). In another terminal:
  source $data/services/env
  alias tally=$tally
  tally tenant create --name acme
  tally key create --tenant acme --scope ingest
  tally key create --tenant acme --scope admin    # then sign in at http://$TALLY__HTTP__LISTEN/

MSG
"$tally" serve
