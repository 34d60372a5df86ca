# Baseline 5, "Redis + Lua", the common AI-quota design: Debian's
# redis-server (7.0) as `nobody` in $WORK/redis, on 127.0.0.1 and a free port,
# appendonly yes and appendfsync always (a write is fsynced before its reply),
# no RDB snapshots. Each charge is one atomic Lua script
# (bench/baselines/redis/charge.lua); driven by build/bin/redis_load
# (bench/redis_load.cpp). Sourced by bench/run.

REDIS_DIR="$PWD/bench/baselines/redis"
REDIS_CREDITS=1000000000
REDIS_PORT=""
REDIS_PID=""
REDIS_ACCOUNTS=0
declare -A REDIS_SHA

rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

redis_start() {
  mkdir -p "$WORK/redis"
  chown nobody "$WORK/redis"
  chmod 755 "$WORK"
  REDIS_PORT=$(free_port)
  runuser -u nobody -- redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" \
    --appendonly yes --appendfsync always --save '' --daemonize no \
    --logfile "$WORK/redis/server.log" &
  REDIS_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    [ "$(rcli PING 2>/dev/null)" = PONG ] && return 0
    sleep 0.05
  done
  say "redis-server did not start"
  return 1
}

redis_stop() {
  [ -n "$REDIS_PID" ] || return 0
  rcli SHUTDOWN NOSAVE >/dev/null 2>&1 || kill "$REDIS_PID" 2>/dev/null || true
  wait "$REDIS_PID" 2>/dev/null || true
  REDIS_PID=""
}

# redis_seed ACCOUNTS: a fresh keyspace, bal:i with 10^9 - 100 i credits (seed.lua).
redis_seed() {
  REDIS_TOTALS=""
  REDIS_LAST_ID="-"
  REDIS_POSITION=0
  rm -f "$WORK/redis.before"
  rcli FLUSHALL >/dev/null
  rcli EVAL "$(cat "$REDIS_DIR/seed.lua")" 0 "$1" "$REDIS_CREDITS" >/dev/null
  REDIS_ACCOUNTS=$1
  local s
  for s in charge hold capture; do
    REDIS_SHA[$s]=$(rcli SCRIPT LOAD "$(cat "$REDIS_DIR/$s.lua")")
  done
}

# "taken charges holds captures open books_ok" for verify().
redis_totals() {
  local t
  t=$(rcli EVAL "$(cat "$REDIS_DIR/check.lua")" 1 journal "$REDIS_ACCOUNTS" "$REDIS_CREDITS" |
    tr '\n' ' ')
  echo "$t 1"
}

# For ledger_bench --check-cell: "bal:N<TAB>balance" of every account.
redis_balances() { rcli EVAL "$(cat "$REDIS_DIR/balances.lua")" 0 "$REDIS_ACCOUNTS"; }

# redis_cell_check CLIENT_LOG: the cell's requests against the journal stream
# after REDIS_LAST_ID and the balances before (redis_run). Sets CELL_*.
redis_cell_check() {
  redis_balances >"$WORK/redis.after"
  rcli EVAL "$(cat "$REDIS_DIR/journal.lua")" 1 journal "$REDIS_LAST_ID" "$REDIS_POSITION" \
    >"$WORK/redis.journal.out"
  REDIS_LAST_ID=$(tail -1 "$WORK/redis.journal.out")
  head -n -1 "$WORK/redis.journal.out" >"$WORK/redis.journal"
  REDIS_POSITION=$((REDIS_POSITION + $(wc -l <"$WORK/redis.journal")))
  cell_check "$WORK/redis.before" "$WORK/redis.after" "$WORK/redis.journal" "$1"
  mv "$WORK/redis.after" "$WORK/redis.before"
}

# redis_run SECTION WORKLOAD ACCOUNTS CONNECTIONS SECONDS (after redis_seed).
redis_run() {
  local section=$1 workload=$2 accounts=$3 conns=$4 seconds=$5
  local spread=$accounts
  [ "$workload" = w2 ] && spread=1
  local before after out
  # The totals after the previous cell are this one's before (nothing else writes).
  before=${REDIS_TOTALS:-$(redis_totals)}
  [ -f "$WORK/redis.before" ] || redis_balances >"$WORK/redis.before"
  out=$("$BIN/redis_load" --port "$REDIS_PORT" --workload "$workload" --accounts "$accounts" \
    --connections "$conns" --threads "$(client_threads "$conns")" --seconds "$seconds" \
    --charge "${REDIS_SHA[charge]}" --hold "${REDIS_SHA[hold]}" --capture "${REDIS_SHA[capture]}" \
    --log "$WORK/client.log")
  after=$(redis_totals)
  REDIS_TOTALS=$after
  local f
  f=$(jq -r '[.seconds, .requests, .p50_ms, .p99_ms, .p999_ms, .charges, .holds, .captures,
              .reads, .refused] | @tsv' <<<"$out")
  local secs n p50 p99 p999 ch ho ca re rf
  read -r secs n p50 p99 p999 ch ho ca re rf <<<"$f"
  redis_cell_check "$WORK/client.log"
  # redis_load drains every connection before it stops: no slack.
  verify 0 "$before" "$after" "$ch $ho $ca"
  merge_cell_check
  record_cell redis "$section" "$workload" "$spread" "$conns" "$secs" "$n" "$p50" "$p99" "$p999" \
    "$ch $ho $ca $re $rf"
}
