# Shared helpers of bench/run (sourced, not run). Expects WORK (a temp dir),
# RESULTS (a JSON-lines file) and BIN (build/bin) to be set.

# Seconds of the same load before each cell's measured ones (creditd.sh,
# redis.sh): BENCH_WARMUP (bench/run sets 1 when quick), else 5. The one
# place this default lives, for every script that sources this file.
WARMUP=${BENCH_WARMUP:-5}

say() { printf '%s\n' "$*" >&2; }

# A TCP port nothing listens on (a random one; checked with ss).
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
}

# Percentile P (e.g. 99.9) of a file of numbers, one a line, sorted ascending.
percentile() {
  awk -v p="$1" '{ v[NR] = $1 } END {
    if (NR == 0) { print 0; exit }
    i = int(p / 100 * NR) + 1; if (i > NR) i = NR; print v[i] }' "$2"
}

# Records one measurement: a JSON object given as jq arguments + filter.
# Usage: record --arg system X ... '{system:$system, ...}'
record() { jq -nc "$@" >> "$RESULTS"; }

# Wait until FILE contains PATTERN, at most SECONDS (default 120).
wait_for_line() {
  local file=$1 pattern=$2 limit=${3:-120} i
  for ((i = 0; i < limit * 20; i++)); do
    grep -q "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  say "timed out waiting for '$pattern' in $file"
  return 1
}

# The number of workers a load generator uses for C connections (at most 2,
# the machine's cores).
client_threads() { if (($1 >= 2)); then echo 2; else echo 1; fi; }

# Resident set size of a process, in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# CPU seconds (user + system, every thread) a process has used so far.
proc_cpu_s() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' \
    "/proc/$1/stat"
}
# cpu_us_per_request SECONDS_BEFORE SECONDS_AFTER REQUESTS: microseconds of CPU
# per request, or null.
cpu_us_per_request() {
  awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (n > 0) printf "%.1f", (b - a) * 1e6 / n; else print "null" }'
}

# cell_check BEFORE AFTER JOURNAL CLIENT: `ledger_bench --check-cell`, the
# check of each request against the journal, per account, against the model
# and of the reads (bench/cell_check.hpp says what each file holds). Sets
# CELL_OK, CELL_WHY, CELL_CUT (requests cut by the end of the run) and
# CELL_CUT_COMMITTED (how many of those are in the journal).
cell_check() {
  local out
  out=$("$BIN/ledger_bench" --check-cell "$@" | tail -1) || true
  CELL_OK=$(jq -r '.check_ok // false' <<<"$out" 2>/dev/null) || CELL_OK=false
  CELL_WHY=$(jq -r '.check // empty' <<<"$out" 2>/dev/null) || CELL_WHY=""
  [ -n "$CELL_WHY" ] || CELL_WHY="FAILED: ledger_bench --check-cell printed: $out"
  CELL_CUT=$(jq -r '.cut // 0' <<<"$out" 2>/dev/null) || CELL_CUT=0
  CELL_CUT_COMMITTED=$(jq -r '.cut_committed // 0' <<<"$out" 2>/dev/null) || CELL_CUT_COMMITTED=0
}

# merge_cell_check (after verify): folds the cell check into CHECK_OK/CHECK_WHY.
merge_cell_check() {
  if [ "$CELL_OK" != true ]; then
    CHECK_OK=false
    CHECK_WHY="cell check $CELL_WHY; $CHECK_WHY"
  else
    CHECK_WHY="$CELL_WHY; $CHECK_WHY"
  fi
}

# verify SLACK BEFORE AFTER CLIENT: the totals check of one cell.
# BEFORE/AFTER are a system's totals, "taken charges holds captures open
# books_ok [bad_lots bad_accounts]": credits gone from the balances, journal
# entries by type, open holds, whether the system's own books agree (lots vs
# balances vs journal, in total, per lot and per account), and how many lots
# and accounts do not. CLIENT is what the load generator saw acknowledged: "charges holds
# captures". Every request is 1 credit. SLACK is how many requests the client
# never saw answered are in the journal (cut by the end of the run: the cell
# check matches each by its reference and counts them; 0 for generators that
# drain). Sets CHECK_OK (true/false) and CHECK_WHY.
verify() {
  local slack=$1 b a c
  read -r -a b <<<"$2"
  read -r -a a <<<"$3"
  read -r -a c <<<"$4"
  local taken=$((a[0] - b[0])) charges=$((a[1] - b[1])) holds=$((a[2] - b[2]))
  local captures=$((a[3] - b[3])) open=$((a[4] - b[4]))
  CHECK_OK=true
  if ((c[0] + c[1] + c[2] == 0)) && [ "${5:-}" != reads-only ]; then
    CHECK_OK=false; CHECK_WHY="no request was acknowledged"; return 0
  fi
  CHECK_WHY="balances lost $taken credits = $charges charges + $holds holds in the journal"
  CHECK_WHY+=" ($captures captures, $open more open holds); client saw ${c[0]} + ${c[1]} + ${c[2]}"
  if [ "${a[5]}" != 1 ]; then
    CHECK_OK=false
    CHECK_WHY="the system's books disagree (taken charges holds captures open ok: ${a[*]:0:6};"
    CHECK_WHY+=" lots breaking their identity: ${a[6]:-n/a}; accounts whose lots disagree with"
    CHECK_WHY+=" their journal or holds: ${a[7]:-n/a})"
  elif ((taken != charges + holds || open != holds - captures)); then
    CHECK_OK=false; CHECK_WHY="FAILED: $CHECK_WHY"
  elif ((charges < c[0] || charges > c[0] + slack || holds < c[1] || holds > c[1] + slack ||
         captures < c[2] || captures > c[2] + slack)); then
    CHECK_OK=false; CHECK_WHY="FAILED (client vs journal): $CHECK_WHY"
  fi
  return 0
}

# record_cell SYSTEM SECTION WORKLOAD ACCOUNTS CONNECTIONS SECONDS REQUESTS
#             P50_MS P99_MS P999_MS "CHARGES HOLDS CAPTURES READS REFUSED"
# (after verify): appends the cell to $RESULTS, with the client's and the
# server's CPU per request (microseconds) if the runner set CELL_CLIENT_CPU_US
# and CELL_SERVER_CPU_US (both are reset here) and the client's name
# (CELL_CLIENT).
record_cell() {
  local n
  read -r -a n <<<"${11}"
  record --arg system "$1" --arg section "$2" --arg workload "$3" --argjson accounts "$4" \
    --argjson connections "$5" --argjson seconds "$6" --argjson requests "$7" \
    --argjson p50 "$8" --argjson p99 "$9" --argjson p999 "${10}" \
    --argjson charges "${n[0]}" --argjson holds "${n[1]}" --argjson captures "${n[2]}" \
    --argjson reads "${n[3]}" --argjson refused "${n[4]}" \
    --argjson check_ok "$CHECK_OK" --arg check "$CHECK_WHY" \
    --argjson cut "${CELL_CUT:-0}" --argjson cut_committed "${CELL_CUT_COMMITTED:-0}" \
    --argjson load1 "$(cut -d' ' -f1 /proc/loadavg)" \
    --argjson client_cpu "${CELL_CLIENT_CPU_US:-null}" \
    --argjson server_cpu "${CELL_SERVER_CPU_US:-null}" --arg client "${CELL_CLIENT:-}" \
    '{system:$system, section:$section, workload:$workload, accounts:$accounts,
      connections:$connections, seconds:$seconds, requests:$requests,
      ops_per_s:(if $seconds > 0 then $requests / $seconds else 0 end),
      p50_ms:$p50, p99_ms:$p99, p999_ms:$p999, charges:$charges, holds:$holds,
      captures:$captures, reads:$reads, refused:$refused, cut:$cut, cut_committed:$cut_committed,
      check_ok:$check_ok, check:$check, client:$client,
      client_cpu_us:$client_cpu, server_cpu_us:$server_cpu,
      load_average_1m:$load1}'
  local rate
  rate=$(awk -v r="$7" -v s="$6" 'BEGIN { printf "%.0f", (s > 0 ? r / s : 0) }')
  printf '  %-8s %-3s %8s accts %4s conns %9s ops/s  p50 %7s  p99 %7s  p999 %7s ms  cpu/req client %5s server %5s us  %s\n' \
    "$1" "$3" "$4" "$5" "$rate" "$8" "$9" "${10}" "${CELL_CLIENT_CPU_US:--}" \
    "${CELL_SERVER_CPU_US:--}" "$($CHECK_OK && echo ok || echo CHECK-FAILED)" >&2
  CELL_CLIENT_CPU_US="" CELL_SERVER_CPU_US="" CELL_CLIENT=""
  $CHECK_OK || { say "    $CHECK_WHY"; FAILURES=$((FAILURES + 1)); }
  return 0
}

# settled FUNCTION: FUNCTION's output once two reads 0.2 s apart agree (at most
# 10 s): a load generator that stops at its deadline leaves requests in flight
# that the server still commits after the generator has exited.
settled() {
  local prev cur i
  prev=$("$1")
  for ((i = 0; i < 50; i++)); do
    sleep 0.2
    cur=$("$1")
    [ "$cur" = "$prev" ] && break
    prev=$cur
  done
  echo "$cur"
}
