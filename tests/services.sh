#!/bin/sh
# Throwaway local backends for `make run` and the tests: redis-server and
# mariadbd from Debian's packages, bound to 127.0.0.1 on non-default ports,
# with every byte of state under $ACTORD_RUN_DIR (default ./.run, ignored by
# git). No system service, no root-owned state outside the checkout.
#
#   tests/services.sh start [redis|mysql]  start both or one (idempotent);
#                                          MariaDB's first start (and one after
#                                          schema.sql changed) loads schema + data
#   tests/services.sh stop [redis|mysql]   stop both or one (SIGTERM, waits)
#   tests/services.sh kill redis|mysql     SIGKILL one, waits (fault tests)
#   tests/services.sh status               say what runs
#
# Ports: ACTORD_REDIS_PORT (16379), ACTORD_MYSQL_PORT (13306).
set -eu
cd "$(dirname "$0")/.."
RUN=${ACTORD_RUN_DIR:-$PWD/.run}
REDIS_PORT=${ACTORD_REDIS_PORT:-16379}
MYSQL_PORT=${ACTORD_MYSQL_PORT:-13306}
MYSQL_SOCK=$RUN/mysql/mysqld.sock
mkdir -p "$RUN"

redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; }
mysql_up() { mariadb-admin --protocol=tcp -h 127.0.0.1 -P "$MYSQL_PORT" -u root ping >/dev/null 2>&1; }

wait_for() { # what, command...
  what=$1; shift
  i=0
  until "$@"; do
    i=$((i + 1))
    if [ $i -gt 300 ]; then echo "services: $what did not start (see $RUN)" >&2; exit 1; fi
    sleep 0.1
  done
}

start_redis() {
  redis_up && return 0
  mkdir -p "$RUN/redis"
  # appendonly + appendfsync always: an acknowledged write survives a crash
  # (the job queue relies on it; see docs/SCALING.md).
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$RUN/redis" \
    --daemonize yes --pidfile "$RUN/redis/redis.pid" --logfile "$RUN/redis/redis.log" \
    --appendonly yes --appendfsync always --save "" --protected-mode yes
  wait_for redis redis_up
}

start_mysql() {
  mysql_up && return 0
  if [ ! -d "$RUN/mysql/data/mysql" ]; then
    mkdir -p "$RUN/mysql/data"
    mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$RUN/mysql/data" \
      --auth-root-authentication-method=normal --skip-test-db >"$RUN/mysql/install.log" 2>&1
  fi
  mariadbd --no-defaults --user="$(id -un)" --datadir="$RUN/mysql/data" \
    --bind-address=127.0.0.1 --port="$MYSQL_PORT" --socket="$MYSQL_SOCK" \
    --pid-file="$RUN/mysql/mysqld.pid" --log-error="$RUN/mysql/error.log" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --max-connections=2000 --innodb-buffer-pool-size=256M \
    --innodb-flush-log-at-trx-commit=1 --skip-name-resolve >/dev/null 2>&1 &
  wait_for mariadb mysql_up
  # Loaded again whenever storage/sql/schema.sql changed (a new table).
  sum=$(cksum < storage/sql/schema.sql)
  if [ "$(cat "$RUN/mysql/loaded" 2>/dev/null)" != "$sum" ]; then
    mariadb --protocol=tcp -h 127.0.0.1 -P "$MYSQL_PORT" -u root < storage/sql/schema.sql
    echo "$sum" > "$RUN/mysql/loaded"
  fi
}

stop_pidfile() { # pidfile [signal]
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  kill -"${2:-TERM}" "$pid" 2>/dev/null || return 0
  i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  # A killed server leaves its pidfile behind: the next start must not
  # take it for a live one.
  rm -f "$1"
}

pidfile() { # redis|mysql
  case "$1" in
  redis) echo "$RUN/redis/redis.pid" ;;
  mysql) echo "$RUN/mysql/mysqld.pid" ;;
  *) echo "services: unknown service '$1' (redis or mysql)" >&2; exit 2 ;;
  esac
}

usage() { echo "usage: $0 start|stop [redis|mysql] | kill redis|mysql | status" >&2; exit 2; }

case "${1:-}" in
start) case "${2:-}" in
       "") start_redis; start_mysql ;;
       redis) start_redis ;;
       mysql) start_mysql ;;
       *) pidfile "$2" >/dev/null ;;
       esac
       echo "services: redis 127.0.0.1:$REDIS_PORT, mariadb 127.0.0.1:$MYSQL_PORT (state in $RUN)" ;;
stop) if [ -n "${2:-}" ]; then stop_pidfile "$(pidfile "$2")"
      else stop_pidfile "$RUN/redis/redis.pid"; stop_pidfile "$RUN/mysql/mysqld.pid"; fi ;;
kill) [ -n "${2:-}" ] || usage; stop_pidfile "$(pidfile "$2")" KILL ;;
status) redis_up && echo "redis: up" || echo "redis: down"
        mysql_up && echo "mariadb: up" || echo "mariadb: down" ;;
*) usage ;;
esac
