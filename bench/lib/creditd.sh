# System 1, creditd embedded (SQLite, durable group commit) over HTTP, driven
# by wrk with bench/wrk/creditd.lua. Sourced by bench/run.

CREDITD_PID=""
CREDITD_DB=""
CREDITD_URL=""
CREDITD_START_S=""
CREDITD_RSS_KIB=""

# creditd_seed FILE ACCOUNTS [CHARGES]: a new store with ACCOUNTS accounts
# "acct-0".., each with a lot of 10^9 credits, and CHARGES charges spread over them.
creditd_seed() {
  rm -f "$1" "$1-wal" "$1-shm" "$1.lock"
  "$BIN/ledger_bench" --seed-db "$1" --accounts "$2" --charges "${3:-0}" | tail -1
}

# creditd_start FILE: serves FILE on 127.0.0.1, a free port. Sets CREDITD_URL,
# CREDITD_START_S (seconds from exec to the listening line: recovery time)
# and CREDITD_RSS_KIB (resident memory right then).
creditd_start() {
  CREDITD_TOTALS=""
  CREDITD_DB=$1
  local out="$WORK/creditd.out" t0
  t0=$(date +%s.%N)
  CREDITD_ADMIN_KEY=bench "$BIN/creditd" serve --store "sqlite:$CREDITD_DB" \
    --listen 127.0.0.1:0 --log-level error >"$out" 2>&1 &
  CREDITD_PID=$!
  wait_for_line "$out" "^creditd listening on" 600 || { cat "$out" >&2; return 1; }
  CREDITD_START_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  CREDITD_RSS_KIB=$(rss_kib "$CREDITD_PID")
  CREDITD_URL=$(sed -n 's/^creditd listening on //p' "$out")
}

# creditd_stop: SIGTERM (flush, exit 0).
creditd_stop() {
  [ -n "$CREDITD_PID" ] || return 0
  kill -TERM "$CREDITD_PID" 2>/dev/null || true
  local rc=0
  wait "$CREDITD_PID" || rc=$?
  CREDITD_PID=""
  ((rc == 0)) || { say "creditd exited $rc after SIGTERM"; FAILURES=$((FAILURES + 1)); }
}

# creditd_check_file FILE: `creditd check` (replays the whole journal against
# the lots), recorded as a cell of section "check".
creditd_check_file() {
  local out ok=true
  out=$("$BIN/creditd" check --store "sqlite:$1" 2>&1) || ok=false
  say "  creditd check: $out"
  record --arg file "$(basename "$1")" --arg out "$out" --argjson ok "$ok" \
    '{system:"creditd-http", section:"check", file:$file, check_ok:$ok, check:$out}'
  $ok # non-zero on failure: the caller counts it (bench/run runs this in the background)
}

# Totals for verify(): "taken charges holds captures open books_ok", read
# from the file (a read-only reader beside the server; WAL mode allows it).
creditd_totals() {
  sqlite3 -readonly "$CREDITD_DB" "
    WITH l AS (SELECT sum(amount - remaining) AS taken, sum(spent) AS spent, sum(held) AS held,
                      sum(expired + voided) AS gone FROM lots),
         e AS (SELECT count(*) FILTER (WHERE type = 'charge') AS charges,
                      count(*) FILTER (WHERE type = 'hold') AS holds,
                      count(*) FILTER (WHERE type = 'capture') AS captures,
                      coalesce(sum(amount) FILTER (WHERE type IN ('charge', 'capture')), 0) AS spent,
                      coalesce(sum(amount) FILTER (WHERE type = 'hold'), 0)
                        - coalesce(sum(amount) FILTER (WHERE type = 'capture'), 0) AS held
               FROM entries),
         h AS (SELECT count(*) AS open, coalesce(sum(amount - captured), 0) AS held
               FROM holds WHERE status = 'open')
    SELECT l.taken / 1000000, e.charges, e.holds, e.captures, h.open,
           (l.taken = l.spent + l.held + l.gone AND l.spent = e.spent AND l.held = e.held
            AND l.held = h.held)
    FROM l, e, h;" | tr '|' ' '
}

# creditd_run SECTION WORKLOAD ACCOUNTS CONNECTIONS SECONDS: one cell against
# the running server, whose file holds at least ACCOUNTS accounts.
creditd_run() {
  local section=$1 workload=$2 accounts=$3 conns=$4 seconds=$5
  local spread=$accounts
  [ "$workload" = w2 ] && spread=1
  local before after out line
  # The totals after the previous cell are this one's before (nothing else writes).
  before=${CREDITD_TOTALS:-$(creditd_totals)}
  out=$(WORKLOAD=$workload ACCOUNTS=$spread CREDITD_KEY=bench \
    wrk -t"$(client_threads "$conns")" -c"$conns" -d"${seconds}s" --timeout 30s \
    -s bench/wrk/creditd.lua "$CREDITD_URL")
  line=$(grep '^RESULT' <<<"$out")
  declare -A r
  local kv
  for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
  after=$(settled creditd_totals)
  CREDITD_TOTALS=$after
  verify "$conns" "$before" "$after" "${r[charges]} ${r[holds]} ${r[captures]}"
  if ((r[other] + r[socket_errors] > 0)); then
    CHECK_OK=false
    CHECK_WHY="${r[other]} unexpected statuses, ${r[socket_errors]} socket errors; $CHECK_WHY"
  fi
  local secs
  secs=$(awk -v d="${r[duration_us]}" 'BEGIN { printf "%.3f", d / 1e6 }')
  record_cell creditd-http "$section" "$workload" "$spread" "$conns" "$secs" "${r[requests]}" \
    "$(awk -v v="${r[p50_us]}" 'BEGIN { print v / 1000 }')" \
    "$(awk -v v="${r[p99_us]}" 'BEGIN { print v / 1000 }')" \
    "$(awk -v v="${r[p999_us]}" 'BEGIN { print v / 1000 }')" \
    "${r[charges]} ${r[holds]} ${r[captures]} ${r[reads]} ${r[refused]}"
}
