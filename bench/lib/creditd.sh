# System 1, creditd embedded (SQLite, durable group commit) over HTTP, driven
# by wrk with bench/wrk/creditd.lua. Sourced by bench/run.

CREDITD_PID=""
CREDITD_DB=""
CREDITD_URL=""
CREDITD_START_S=""
CREDITD_RSS_KIB=""

# creditd_seed FILE ACCOUNTS [CHARGES]: a new store with ACCOUNTS accounts
# "acct-0".., acct-i with a lot of 10^9 - 100 i credits, and CHARGES charges spread over them.
creditd_seed() {
  rm -rf "$1" "$1-wal" "$1-shm" "$1-log" "$1.lock" "$1.seq" "$1.before" "$1.journal"
  "$BIN/ledger_bench" --seed-db "$1" --accounts "$2" --charges "${3:-0}" | tail -1
}

# creditd_start FILE: serves FILE on 127.0.0.1, a free port. Sets CREDITD_URL,
# CREDITD_START_S (seconds from exec to the listening line: recovery time)
# and CREDITD_RSS_KIB (resident memory right then).
# CREDITD_SERVE_ARGS: more `creditd serve` options (a knob's effect, by hand).
creditd_start() {
  CREDITD_TOTALS=""
  rm -f "$1.seq" "$1.before"
  CREDITD_DB=$1
  local out="$WORK/creditd.out" t0
  : >"$out" # before the start: the previous server's listening line must not be read as this one's
  t0=$(date +%s.%N)
  CREDITD_ADMIN_KEY=bench "$BIN/creditd" serve --store "sqlite:$CREDITD_DB" \
    --listen 127.0.0.1:0 --log-level error ${CREDITD_SERVE_ARGS:-} >"$out" 2>&1 &
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

# For ledger_bench --check-cell (bench/cell_check.hpp), read from FILE (a
# read-only reader beside the server; WAL mode allows it), whole credits (a
# fraction is printed so that the check refuses it):
# creditd_balances FILE: "account<TAB>available" of every account (no reserve
# or postpaid limit here: its active lots' remaining).
creditd_balances() {
  sqlite3 -readonly -separator $'\t' "$1" "
    SELECT account, CASE WHEN sum(remaining) % 1000000 = 0 THEN sum(remaining) / 1000000
                         ELSE 'fraction ' || sum(remaining) END
    FROM lots WHERE status = 'active' GROUP BY account"
}
# creditd_journal FILE SEQ: "seq account type reference amount" of every entry after SEQ.
creditd_journal() {
  sqlite3 -readonly -separator $'\t' "$1" "
    SELECT seq, account, type, reference,
           CASE WHEN amount % 1000000 = 0 THEN amount / 1000000 ELSE 'fraction ' || amount END
    FROM entries WHERE seq > $2 ORDER BY seq"
}
creditd_last_seq() { sqlite3 -readonly "$1" "SELECT coalesce(max(seq), 0) FROM entries"; }
# Changes while requests cut by the end of a run still commit (for settled).
# The file is filled in behind the log (up to --apply-delay-ms later): POST
# /v1/store/flush first makes the server apply everything it acknowledged
# (`bench` is the admin key creditd_start gives it).
creditd_probe() {
  curl -fsS -o /dev/null -X POST -H "Authorization: Bearer bench" \
    "$CREDITD_URL/v1/store/flush" || say "creditd_probe: POST /v1/store/flush failed"
  creditd_last_seq "$CREDITD_DB"
}

# creditd_cell_start FILE: the state before a cell (balances, last journal
# seq: FILE.before, FILE.seq), unless the previous cell on FILE left it.
creditd_cell_start() {
  [ ! -f "$1.seq" ] || return 0
  creditd_balances "$1" >"$1.before"
  creditd_last_seq "$1" >"$1.seq"
}
# creditd_cell_check FILE CLIENT_LOG: the cell's requests against FILE's
# journal since FILE.seq and the balances FILE.before (creditd_cell_start);
# the state after becomes the next cell's before. Sets the CELL_* results
# (cell_check in common.sh).
creditd_cell_check() {
  creditd_balances "$1" >"$1.after"
  creditd_journal "$1" "$(cat "$1.seq")" >"$1.journal"
  [ ! -s "$1.journal" ] || tail -1 "$1.journal" | cut -f1 >"$1.seq"
  cell_check "$1.before" "$1.after" "$1.journal" "$2"
  mv "$1.after" "$1.before"
}

# Totals for verify(): "taken charges holds captures open books_ok", read
# from the file. books_ok: the totals agree (lots lost what the journal took,
# the open holds hold what the lots hold), and so does every lot (amount =
# spent + held + expired + voided + remaining) and every account (its lots'
# spent = its journal's charges and captures, its lots' held = its open holds).
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
               FROM holds WHERE status = 'open'),
         bad_lots AS (SELECT count(*) AS n FROM lots
                      WHERE amount != spent + held + expired + voided + remaining),
         la AS (SELECT account, sum(spent) AS spent, sum(held) AS held FROM lots GROUP BY account),
         ea AS (SELECT account, sum(amount) AS spent FROM entries
                WHERE type IN ('charge', 'capture') GROUP BY account),
         ha AS (SELECT account, sum(amount - captured) AS held FROM holds
                WHERE status = 'open' GROUP BY account),
         bad_accounts AS (SELECT count(*) AS n FROM la
                          LEFT JOIN ea ON ea.account = la.account
                          LEFT JOIN ha ON ha.account = la.account
                          WHERE la.spent != coalesce(ea.spent, 0) OR la.held != coalesce(ha.held, 0))
    SELECT l.taken / 1000000, e.charges, e.holds, e.captures, h.open,
           (l.taken = l.spent + l.held + l.gone AND l.spent = e.spent AND l.held = e.held
            AND l.held = h.held AND bad_lots.n = 0 AND bad_accounts.n = 0),
           bad_lots.n, bad_accounts.n
    FROM l, e, h, bad_lots, bad_accounts;" | tr '|' ' '
}

# creditd_backpressure: "WAITS SECONDS", the server's commits that waited for
# the applier to make room in its queue and their wait in all (/metrics).
creditd_backpressure() {
  curl -fsS -H "Authorization: Bearer bench" "$CREDITD_URL/metrics" |
    awk '$1 == "creditd_log_backpressure_waits_total" { w = $2 }
         $1 == "creditd_log_backpressure_wait_seconds_total" { s = $2 }
         END { print (w == "" ? 0 : w), (s == "" ? 0 : s) }'
}
# say_backpressure "WAITS SECONDS" "WAITS SECONDS": a line under the cell when
# its writes waited for the applier (none is printed when they did not).
say_backpressure() {
  local w0 s0 w1 s1
  read -r w0 s0 <<<"$1"
  read -r w1 s1 <<<"$2"
  ((w1 > w0)) || return 0
  say "    backpressure: $((w1 - w0)) commit(s) waited for the applier, $(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.3f", b - a }') s in all"
}

# creditd_run SECTION WORKLOAD ACCOUNTS CONNECTIONS SECONDS: one cell against
# the running server, whose file holds at least ACCOUNTS accounts, driven by
# http_load (bench/http_load.cpp, redis_load's twin) or, with
# BENCH_HTTP_CLIENT=wrk, by wrk and bench/wrk/creditd.lua.
creditd_run() {
  if [ "${BENCH_HTTP_CLIENT:-http_load}" = wrk ]; then creditd_run_wrk "$@"; else creditd_run_load "$@"; fi
}

creditd_run_load() {
  local section=$1 workload=$2 accounts=$3 conns=$4 seconds=$5
  local spread=$accounts
  [ "$workload" = w2 ] && spread=1
  local before after out cpu0 cpu1 bp0 bp1
  before=${CREDITD_TOTALS:-$(creditd_totals)}
  creditd_cell_start "$CREDITD_DB"
  bp0=$(creditd_backpressure)
  cpu0=$(proc_cpu_s "$CREDITD_PID")
  out=$("$BIN/http_load" --port "${CREDITD_URL##*:}" --key bench --workload "$workload" \
    --accounts "$accounts" --connections "$conns" --threads "$(client_threads "$conns")" \
    --seconds "$seconds" --warmup "$WARMUP" --log "$WORK/client.log")
  # http_load drains every connection before it stops, but SQLite is filled
  # in behind the log: the probe makes the file hold what was acknowledged.
  # The server's CPU is read after it: the applier's work for the cell's
  # requests is part of what they cost.
  settled creditd_probe >/dev/null
  cpu1=$(proc_cpu_s "$CREDITD_PID")
  bp1=$(creditd_backpressure)
  after=$(creditd_totals)
  CREDITD_TOTALS=$after
  local f secs n p50 p99 p999 ch ho ca re rf errors client_cpu
  f=$(jq -r '[.seconds, .requests, .p50_ms, .p99_ms, .p999_ms, .charges, .holds, .captures,
              .reads, .refused, .errors, .client_cpu_us, .requests_all] | @tsv' <<<"$out")
  read -r secs n p50 p99 p999 ch ho ca re rf errors client_cpu n_all <<<"$f"
  creditd_cell_check "$CREDITD_DB" "$WORK/client.log"
  verify 0 "$before" "$after" "$ch $ho $ca"
  merge_cell_check
  CELL_CLIENT=http_load CELL_CLIENT_CPU_US=$client_cpu
  # The server's CPU over the whole run (warm-up and the applier's catch-up
  # included) per request of it.
  CELL_SERVER_CPU_US=$(cpu_us_per_request "$cpu0" "$cpu1" "$n_all")
  record_cell creditd-http "$section" "$workload" "$spread" "$conns" "$secs" "$n" "$p50" "$p99" \
    "$p999" "$ch $ho $ca $re $rf"
  say_backpressure "$bp0" "$bp1"
}

creditd_run_wrk() {
  local section=$1 workload=$2 accounts=$3 conns=$4 seconds=$5
  local spread=$accounts
  [ "$workload" = w2 ] && spread=1
  local before after out line cpu0 cpu1 wrk_cpu bp0 bp1
  # The totals after the previous cell are this one's before (nothing else writes).
  before=${CREDITD_TOTALS:-$(creditd_totals)}
  creditd_cell_start "$CREDITD_DB"
  bp0=$(creditd_backpressure)
  cpu0=$(proc_cpu_s "$CREDITD_PID")
  # `times` (second line: the children's user and system time) gives wrk's CPU.
  out=$(
    WORKLOAD=$workload ACCOUNTS=$spread CREDITD_KEY=bench CLIENT_LOG="$WORK/client.log" \
      wrk -t"$(client_threads "$conns")" -c"$conns" -d"${seconds}s" --timeout 30s \
      -s bench/wrk/creditd.lua "$CREDITD_URL"
    times >"$WORK/times" # not in a pipe: a subshell would see no children
    echo "CHILDREN $(tail -1 "$WORK/times")"
  )
  line=$(grep '^RESULT' <<<"$out")
  wrk_cpu=$(awk '/^CHILDREN/ { s = 0; for (i = 2; i <= 3; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } print s }' <<<"$out")
  declare -A r
  local kv
  for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
  settled creditd_probe >/dev/null
  cpu1=$(proc_cpu_s "$CREDITD_PID") # the applier's work for the cell included
  bp1=$(creditd_backpressure)
  after=$(creditd_totals)
  CREDITD_TOTALS=$after
  creditd_cell_check "$CREDITD_DB" "$WORK/client.log"
  # wrk stops at its deadline: the requests it cut may be committed (counted
  # by the cell check, which matches each one by its reference).
  verify "$CELL_CUT_COMMITTED" "$before" "$after" "${r[charges]} ${r[holds]} ${r[captures]}"
  if ((r[other] + r[socket_errors] > 0)); then
    CHECK_OK=false
    CHECK_WHY="${r[other]} unexpected statuses, ${r[socket_errors]} socket errors; $CHECK_WHY"
  fi
  merge_cell_check
  local secs
  secs=$(awk -v d="${r[duration_us]}" 'BEGIN { printf "%.3f", d / 1e6 }')
  CELL_CLIENT=wrk CELL_CLIENT_CPU_US=$(cpu_us_per_request 0 "$wrk_cpu" "${r[requests]}")
  CELL_SERVER_CPU_US=$(cpu_us_per_request "$cpu0" "$cpu1" "${r[requests]}")
  record_cell creditd-http "$section" "$workload" "$spread" "$conns" "$secs" "${r[requests]}" \
    "$(awk -v v="${r[p50_us]}" 'BEGIN { print v / 1000 }')" \
    "$(awk -v v="${r[p99_us]}" 'BEGIN { print v / 1000 }')" \
    "$(awk -v v="${r[p999_us]}" 'BEGIN { print v / 1000 }')" \
    "${r[charges]} ${r[holds]} ${r[captures]} ${r[reads]} ${r[refused]}"
  say_backpressure "$bp0" "$bp1"
}

# events_peer_start ACCOUNTS ROUND: two webhook receivers registered as
# endpoints and an event stream open (bench/events_peer.cpp), with
# BENCH_EVENTS_ARMED accounts (5000; a different set each round) armed so
# that the next cell's first charge on each fires balance.low.
events_peer_start() {
  local out="$WORK/events_peer.out"
  : >"$out"
  "$BIN/events_peer" "$CREDITD_URL" bench "$1" "${BENCH_EVENTS_ARMED:-5000}" "$2" \
    >"$out" 2>&1 &
  EVENTS_PEER_PID=$!
  wait_for_line "$out" "^ready" 600 || { cat "$out" >&2; return 1; }
  CREDITD_TOTALS="" # the arming wrote settings entries: the next cell reads the totals again
}

# events_peer_stop: deletes the endpoints, closes the stream, and adds what
# the peer counted (events delivered to each endpoint and streamed, by then)
# to the last recorded cell.
events_peer_stop() {
  kill -TERM "$EVENTS_PEER_PID" 2>/dev/null || true
  wait "$EVENTS_PEER_PID" || { say "events peer failed: $(cat "$WORK/events_peer.out")"; FAILURES=$((FAILURES + 1)); }
  EVENTS_PEER_PID=""
  local counts
  counts=$(tail -1 "$WORK/events_peer.out")
  jq -e . >/dev/null 2>&1 <<<"$counts" || counts=null
  { head -n -1 "$RESULTS"; tail -1 "$RESULTS" | jq -c --argjson e "$counts" '. + {events:$e}'; } \
    >"$RESULTS.tmp"
  mv "$RESULTS.tmp" "$RESULTS"
  say "  events: $counts"
}
