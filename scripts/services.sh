#!/usr/bin/env bash
# Starts/stops throwaway PostgreSQL 15, ClickHouse and tansu (Kafka) instances on
# free 127.0.0.1 ports, with all their state in DIR. `start` waits until each
# accepts connections and writes DIR/env (export lines to `source`); `stop` ends
# them and deletes DIR unless DIR/keep exists; `restart-kafka` restarts the broker
# on the same port and data. Run scripts/install.sh first.
# Usage: scripts/services.sh start|stop|restart-kafka DIR
set -euo pipefail

die() { echo "tally: $*" >&2; exit 1; }
[[ $# -eq 2 && $1 =~ ^(start|stop|restart-kafka)$ ]] || die "usage: $0 start|stop|restart-kafka DIR"
cmd=$1
[[ $cmd == stop && ! -d $2 ]] && exit 0
mkdir -p "$2"
DIR=$(cd "$2" && pwd)
cd "$DIR" # the postgres user must be able to stand in the current directory
TALLY_CACHE="${TALLY_CACHE:-$HOME/.cache/tally}"
TANSU="${TALLY_TEST_TANSU_BIN:-$TALLY_CACHE/tools/bin/tansu}"
PGBIN=/usr/lib/postgresql/15/bin
WAIT_SECS=60

# A pid counts as ours only while its working directory is inside DIR (guards
# against stale pid files whose pid was reused); zombies have none.
ours() { [[ $(readlink "/proc/$1/cwd" 2>/dev/null) == "$DIR"/* ]]; }
alive() { local p; p=$(cat "$DIR/$1.pid" 2>/dev/null) && ours "$p"; }
tcp_open() { (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

stop_one() { # NAME: TERM, then KILL after 5 s
  local p i
  p=$(cat "$DIR/$1.pid" 2>/dev/null) || return 0
  if ours "$p"; then
    kill "$p" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do ours "$p" || break; sleep 0.1; done
    ! ours "$p" || kill -9 "$p" 2>/dev/null || true
  fi
  rm -f "$DIR/$1.pid"
}

stop_all() {
  if alive postgres; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  stop_one postgres
  stop_one clickhouse
  stop_one kafka
}

wait_for() { # NAME LOG CMD...: poll CMD for up to WAIT_SECS while NAME lives
  local name=$1 log=$2 i
  shift 2
  for ((i = 0; i < WAIT_SECS * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    alive "$name" || break
    sleep 0.1
  done
  die "cannot start $name (log: $log)"
}

start_postgres() {
  local log=$DIR/postgres.log
  if [[ ! -f $DIR/pg/PG_VERSION ]]; then
    mkdir -p "$DIR/pg"
    chown postgres: "$DIR/pg"
    runuser -u postgres -- "$PGBIN/initdb" -D "$DIR/pg" --auth=trust -U postgres -E UTF8 \
      --no-locale --no-sync >"$DIR/initdb.log" 2>&1 || die "cannot initdb postgres (log: $DIR/initdb.log)"
  fi
  : >>"$log"
  chown postgres: "$log"
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/pg" -l "$log" -w -t "$WAIT_SECS" -o \
    "-p $PGPORT -k '$DIR/pg' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" \
    start >/dev/null 2>&1 || die "cannot start postgres (log: $log)"
  head -1 "$DIR/pg/postmaster.pid" >"$DIR/postgres.pid"
  wait_for postgres "$log" "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT"
  local psql=("$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -qtAX)
  [[ $("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'tally'" 2>>"$log") == 1 ]] ||
    "${psql[@]}" -c 'CREATE DATABASE tally' >/dev/null 2>>"$log" || die "cannot create database tally (log: $log)"
}

start_clickhouse() {
  local ch log=$DIR/clickhouse.log
  for ch in /usr/bin/clickhouse-server /usr/sbin/clickhouse-server /usr/bin/clickhouse; do
    [[ -x $ch ]] && break
  done
  [[ -x $ch ]] || die "clickhouse-server not installed (run scripts/install.sh)"
  [[ $ch == */clickhouse ]] && ch="$ch server"
  mkdir -p "$DIR/ch/data" "$DIR/ch/tmp"
  cat >"$DIR/ch/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$log</log>
    <errorlog>$DIR/ch/clickhouse-server.err.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>$CHPORT</http_port>
  <tcp_port>$CHTCPPORT</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$DIR/ch/data/</path>
  <tmp_path>$DIR/ch/tmp/</tmp_path>
  <user_files_path>$DIR/ch/user_files/</user_files_path>
  <users_config>$DIR/ch/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <timezone>UTC</timezone>
  <query_log><database>system</database><table>query_log</table>
    <flush_interval_milliseconds>7500</flush_interval_milliseconds></query_log>
</yandex>
EOF
  # Every query is logged in system.query_log: tests check which queries a request ran.
  cat >"$DIR/ch/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles><default><log_queries>1</log_queries></default></profiles>
  <quotas><default/></quotas>
  <users><default>
    <password></password>
    <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota>
  </default></users>
</yandex>
EOF
  # shellcheck disable=SC2086 # $ch may be "clickhouse server"
  (cd "$DIR/ch" && exec $ch --config-file="$DIR/ch/config.xml") </dev/null >>"$log" 2>&1 &
  echo $! >"$DIR/clickhouse.pid"
  wait_for clickhouse "$log" curl -sfm 5 "http://127.0.0.1:$CHPORT/ping"
  [[ $(curl -sfm 5 "http://127.0.0.1:$CHPORT/?query=SELECT%20version()") == 18.* ]] ||
    die "clickhouse does not answer SELECT version() (log: $log)"
}

start_kafka() {
  local log=$DIR/kafka.log
  [[ -x $TANSU ]] || die "tansu not found at $TANSU (run scripts/install.sh)"
  mkdir -p "$DIR/kafka"
  # The sqlite path must be relative (to the working directory): absolute ones are mangled.
  (cd "$DIR/kafka" && RUST_LOG=warn exec "$TANSU" broker --silent \
    --listener-url "tcp://127.0.0.1:$KPORT" --advertised-listener-url "tcp://127.0.0.1:$KPORT" \
    --storage-engine sqlite://tansu.db) </dev/null >>"$log" 2>&1 &
  echo $! >"$DIR/kafka.pid"
  wait_for kafka "$log" tcp_open "$KPORT"
}

case $cmd in
stop)
  stop_all
  [[ -e $DIR/keep || ! -e $DIR/.tally-services ]] || rm -rf "$DIR"
  ;;
restart-kafka)
  [[ -f $DIR/ports ]] || die "no services started in $DIR"
  # shellcheck source=/dev/null
  source "$DIR/ports"
  stop_one kafka
  start_kafka
  ;;
start)
  if alive postgres && alive clickhouse && alive kafka && [[ -f $DIR/env ]]; then exit 0; fi
  # Refuse to take over (and later delete) a directory that is not ours.
  [[ -e $DIR/.tally-services || -z $(find "$DIR" -mindepth 1 -maxdepth 1 ! -name keep) ]] ||
    die "$DIR is not empty and not a services directory"
  chmod o+x "$DIR"
  runuser -u postgres -- test -x "$DIR" || die "user postgres cannot reach $DIR (use a directory under /tmp)"
  touch "$DIR/.tally-services"
  stop_all
  rm -f "$DIR/env"
  trap stop_all EXIT
  read -r PGPORT CHPORT CHTCPPORT KPORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
  printf '%s=%s\n' PGPORT "$PGPORT" CHPORT "$CHPORT" CHTCPPORT "$CHTCPPORT" KPORT "$KPORT" >"$DIR/ports"
  start_postgres
  start_clickhouse
  start_kafka
  trap - EXIT
  {
    printf 'export %s=%q\n' \
      TALLY__POSTGRES__URL "postgres://postgres@127.0.0.1:$PGPORT/tally" \
      TALLY_TEST_POSTGRES_ADMIN_URL "postgres://postgres@127.0.0.1:$PGPORT/postgres" \
      TALLY__CLICKHOUSE__URL "http://127.0.0.1:$CHPORT" \
      TALLY__KAFKA__BROKERS "127.0.0.1:$KPORT" \
      TALLY_TEST_TANSU_BIN "$TANSU" \
      TALLY_TEST_SERVICES_DIR "$DIR"
  } >"$DIR/env"
  ;;
esac
