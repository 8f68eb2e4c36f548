#!/usr/bin/env bash
# Refreshes .sqlx/, the offline data that the catalogs' `sqlx::query!` macros are checked
# against when DATABASE_URL is not set (every normal and CI build). Run it after changing a
# query in meter/src/catalog*, billing/src/catalog*, alerting/src/catalog* or
# slo/src/catalog*, or a migration in migrations/postgres, and commit .sqlx/ with the change.
# Needs the test services: `source DIR/env` of `scripts/services.sh start DIR` first (for
# TALLY_TEST_POSTGRES_ADMIN_URL). Migrates a scratch database of a random name, checks the four
# crates against it, and drops it again.
set -euo pipefail
cd "$(dirname "$0")/.."
export TALLY_CACHE="${TALLY_CACHE:-$HOME/.cache/tally}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TALLY_CACHE/target}"
admin="${TALLY_TEST_POSTGRES_ADMIN_URL:?is not set: source the env file of scripts/services.sh start DIR}"

database="tally_sqlx_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
url="${admin%/*}/$database"
admin_sql() { psql "$admin" -X -q -v ON_ERROR_STOP=1 -c "$1"; }
trap 'admin_sql "DROP DATABASE IF EXISTS $database WITH (FORCE)"' EXIT
admin_sql "CREATE DATABASE $database"

# Each migration in its own transaction and in version order, as sqlx's migrator applies them
# (none of them opts out of the transaction).
for migration in migrations/postgres/*.sql; do
  psql "$url" -X -q -v ON_ERROR_STOP=1 --single-transaction -f "$migration" >/dev/null
done

# The macros write a query's data only when they expand, so every file holding one is touched
# to recompile it, and .sqlx/ starts empty so that data of removed queries goes away.
mkdir -p .sqlx
find .sqlx -name 'query-*.json' -delete
{ grep -rlE 'sqlx::query(_as|_scalar)?!' meter/src billing/src alerting/src slo/src || true; } \
  | xargs -r touch
DATABASE_URL="$url" SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$PWD/.sqlx" \
  cargo check --quiet -p tally-meter -p tally-billing -p tally-alerting -p tally-slo --all-targets
echo "sqlx-prepare: $(find .sqlx -name 'query-*.json' | wc -l) queries in .sqlx/" >&2
