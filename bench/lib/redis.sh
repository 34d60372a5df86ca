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
# The server's CPU seconds so far (user + system, INFO cpu).
redis_cpu_s() {
  rcli INFO cpu | tr -d '\r' |
    awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.3f", s }'
}

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
  REDIS_PADDED=0
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
  local cpu0 cpu1
  cpu0=$(redis_cpu_s)
  out=$("$BIN/redis_load" --port "$REDIS_PORT" --workload "$workload" --accounts "$accounts" \
    --connections "$conns" --threads "$(client_threads "$conns")" --seconds "$seconds" \
    --warmup "$WARMUP" --charge "${REDIS_SHA[charge]}" --hold "${REDIS_SHA[hold]}" --capture "${REDIS_SHA[capture]}" \
    --log "$WORK/client.log")
  cpu1=$(redis_cpu_s)
  after=$(redis_totals)
  REDIS_TOTALS=$after
  local f
  f=$(jq -r '[.seconds, .requests, .p50_ms, .p99_ms, .p999_ms, .charges, .holds, .captures,
              .reads, .refused, .client_cpu_us, .requests_all] | @tsv' <<<"$out")
  local secs n p50 p99 p999 ch ho ca re rf client_cpu n_all
  read -r secs n p50 p99 p999 ch ho ca re rf client_cpu n_all <<<"$f"
  redis_cell_check "$WORK/client.log"
  # redis_load drains every connection before it stops: no slack.
  verify 0 "$before" "$after" "$ch $ho $ca"
  merge_cell_check
  CELL_CLIENT=redis_load CELL_CLIENT_CPU_US=$client_cpu
  # The server's CPU over the whole run (warm-up included) per request of it.
  CELL_SERVER_CPU_US=$(cpu_us_per_request "$cpu0" "$cpu1" "$n_all")
  REDIS_LAST_RATE=$(jq -r '.ops_per_s' <<<"$out")
  record_cell redis "$section" "$workload" "$spread" "$conns" "$secs" "$n" "$p50" "$p99" "$p999" \
    "$ch $ho $ca $re $rf"
}

# redis_benchmark_run SECTION WORKLOAD ACCOUNTS CONNECTIONS SECONDS (after a
# redis_run of the same cell, whose rate sizes this run):
# redis-benchmark, Redis's own C client, driving the same charge script on
# the padded keys bal:000000000000.. (padded.lua) and a journal stream of its
# own. It logs no request, so the check is of the totals: the balances lost
# exactly one credit per request and the journal grew by one entry per
# request (so every reply was a charge, none refused). It runs one fixed
# command, so only w1 and w2: any other workload records no cell.
redis_benchmark_run() {
  local section=$1 workload=$2 accounts=$3 conns=$4 seconds=$5
  case $workload in w1 | w2) ;; *) return 0 ;; esac
  local spread=$accounts key="bal:__rand_int__" random=(-r "$accounts")
  [ "$workload" = w2 ] && { spread=1; key="bal:000000000000"; random=(); }
  local sha=${REDIS_SHA[charge]}
  if [ "${REDIS_PADDED:-0}" != "$accounts" ]; then
    rcli EVAL "$(cat "$REDIS_DIR/padded.lua")" 0 seed "$accounts" "$REDIS_CREDITS" >/dev/null
    REDIS_PADDED=$accounts
  fi
  local n sum0 sum1 len0 len1 cpu0 cpu1 out
  n=$(awk -v r="${REDIS_LAST_RATE:-20000}" -v s="$seconds" 'BEGIN { printf "%d", r * s }')
  sum0=$(rcli EVAL "$(cat "$REDIS_DIR/padded.lua")" 0 sum "$accounts")
  len0=$(rcli XLEN journal_rb)
  cpu0=$(redis_cpu_s)
  out=$(
    redis-benchmark -p "$REDIS_PORT" -c "$conns" -n "$n" "${random[@]}" --csv --precision 3 \
      EVALSHA "$sha" 2 "$key" journal_rb 1 rb
    times >"$WORK/times" # not in a pipe: a subshell would see no children
    echo "CHILDREN $(tail -1 "$WORK/times")"
  )
  cpu1=$(redis_cpu_s)
  sum1=$(rcli EVAL "$(cat "$REDIS_DIR/padded.lua")" 0 sum "$accounts")
  len1=$(rcli XLEN journal_rb)
  # CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
  # "p95_latency_ms","p99_latency_ms","max_latency_ms"
  local row rps p50 p99 secs client
  row=$(grep -v '^"test"' <<<"$out" | grep '^"' | tail -1 | tr -d '"')
  rps=$(cut -d, -f2 <<<"$row")
  p50=$(cut -d, -f5 <<<"$row")
  p99=$(cut -d, -f7 <<<"$row")
  client=$(awk '/^CHILDREN/ { s = 0; for (i = 2; i <= 3; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } print s }' <<<"$out")
  secs=$(awk -v n="$n" -v r="$rps" 'BEGIN { printf "%.3f", (r > 0 ? n / r : 0) }')
  CHECK_OK=true
  CHECK_WHY="$n requests: the balances lost $((sum0 - sum1)) credits, the journal grew by $((len1 - len0)) entries"
  if ((sum0 - sum1 != n || len1 - len0 != n)); then
    CHECK_OK=false
    CHECK_WHY="FAILED: $CHECK_WHY (each should be $n)"
  fi
  CELL_CUT=0 CELL_CUT_COMMITTED=0
  CELL_CLIENT=redis-benchmark CELL_CLIENT_CPU_US=$(cpu_us_per_request 0 "$client" "$n")
  CELL_SERVER_CPU_US=$(cpu_us_per_request "$cpu0" "$cpu1" "$n")
  record_cell redis-benchmark "$section" "$workload" "$spread" "$conns" "$secs" "$n" "$p50" "$p99" \
    null "$n 0 0 0 0"
}
