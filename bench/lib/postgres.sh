# Baseline 4, "a hand-written PostgreSQL ledger": PostgreSQL 15 from Debian,
# a throwaway cluster in $WORK/pg owned by `nobody`, on 127.0.0.1 and a free
# port, sockets in its own dir. synchronous_commit=on and fsync=on (the
# defaults): a charge is durable when its COMMIT returns. Driven by pgbench
# with the scripts in bench/baselines/postgres/. Sourced by bench/run.

PG_BIN=/usr/lib/postgresql/15/bin
PG_DIR="$PWD/bench/baselines/postgres"
PG_CREDITS=1000000000
PG_DATA=""

pg_start() {
  PG_DATA="$WORK/pg/data"
  mkdir -p "$WORK/pg/run"
  chown -R nobody "$WORK/pg"
  chmod 755 "$WORK"
  runuser -u nobody -- "$PG_BIN/initdb" -D "$PG_DATA" -U bench --auth=trust -E UTF8 \
    --no-sync >"$WORK/pg/initdb.log" 2>&1
  export PGHOST=127.0.0.1 PGPORT PGUSER=bench PGDATABASE=postgres
  PGPORT="$(free_port)"
  local opts="-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$WORK/pg/run"
  opts+=" -c shared_buffers=1GB -c max_connections=300 -c max_wal_size=4GB"
  opts+=" -c synchronous_commit=on -c fsync=on"
  # Defaults kept: fsync=on, synchronous_commit=on, wal_sync_method, full_page_writes.
  # Sized for this machine: shared_buffers 1 GB, and enough WAL between
  # checkpoints that a short run is not measuring checkpoint storms.
  runuser -u nobody -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$WORK/pg/server.log" -w -t 60 start \
    -o "$opts" >/dev/null
}

pg_stop() {
  [ -n "$PG_DATA" ] || return 0
  runuser -u nobody -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
  PG_DATA=""
}

pg_seed() {
  PG_TOTALS=""
  PG_SEQ=""
  psql -qX -v ON_ERROR_STOP=1 -v accounts="$1" -v credits="$PG_CREDITS" -f "$PG_DIR/schema.sql" \
    >/dev/null 2>"$WORK/pg/seed.err" || { cat "$WORK/pg/seed.err" >&2; return 1; }
}

# "taken charges holds captures open books_ok" for verify(), and the count of
# refusals after it. books_ok: balances and lots lost the same credits, and
# what the journal says went to charges, holds and captures.
pg_totals() {
  psql -qXAt -F ' ' -v credits="$PG_CREDITS" -f "$PG_DIR/check.sql"
}
# Changes while transactions cut by the end of a run still commit (for settled).
pg_probe() {
  psql -qXAt -F ' ' -c "SELECT (SELECT coalesce(max(seq), 0) FROM journal),
                               (SELECT last_value FROM refused), (SELECT count(*) FROM refusals)"
}

# For ledger_bench --check-cell: "account<TAB>balance" of every account, and
# the journal after seq $1 ("seq account type ref amount").
pg_balances() { psql -qXAt -c "COPY (SELECT account, balance FROM balances) TO STDOUT"; }
pg_journal() {
  psql -qXAt -c "COPY (SELECT seq, account, type, ref, amount FROM journal WHERE seq > $1
                       ORDER BY seq) TO STDOUT"
}

# pg_client_log WORKLOAD CONNECTIONS LOG REFUSALS: the requests of one pgbench
# run for ledger_bench --check-cell, from its per-transaction log (client_id
# transaction_no latency script_no ...; each client's lines in order) and the
# refusals it recorded ("ref account"). A client's N-th charge (or hold) is
# reference "client_id+1-N". The log names no account ("?"), except a
# refusal's. After its last logged transaction each client may have had one
# more under way when pgbench stopped: logged "cut" (in the journal at most
# once). Reads are not logged: pgbench does not report what a SELECT returned.
pg_client_log() {
  awk -v w="$1" -v conns="$2" -F'[ \t]' '
    FILENAME == ARGV[1] { refused[$1] = $2; next }
    {
      c = $1 + 1
      if (w == "w3") {
        if (phase[c] == 1) { print c "\t" h[c] "\tcapture\t?\tok"; phase[c] = 0; next }
        h[c]++; ref = c "-" h[c]
        if (ref in refused) print c "\t" h[c] "\thold\t" refused[ref] "\trefused"
        else { print c "\t" h[c] "\thold\t?\tok"; phase[c] = 1 }
      } else if (w != "w4" || $4 == 1) {
        k[c]++; ref = c "-" k[c]
        if (ref in refused) print c "\t" k[c] "\tcharge\t" refused[ref] "\trefused"
        else print c "\t" k[c] "\tcharge\t?\tok"
      }
    }
    END {
      for (c = 1; c <= conns; c++) {
        if (w == "w3" && phase[c] == 1) print c "\t" h[c] "\tcapture\t?\tcut"
        else if (w == "w3") print c "\t" h[c] + 1 "\thold\t?\tcut"
        else print c "\t" k[c] + 1 "\tcharge\t?\tcut"
      }
    }' "$4" "$3"
}

# pg_run SECTION WORKLOAD ACCOUNTS CONNECTIONS SECONDS: one pgbench run
# against the seeded tables (pg_seed ACCOUNTS or more), checked and recorded.
pg_run() {
  local section=$1 workload=$2 accounts=$3 conns=$4 seconds=$5
  local spread=$accounts scripts=() logs="$WORK/pg/log"
  case $workload in
    w1) scripts=(-f "$PG_DIR/charge.pgbench") ;;
    w2) scripts=(-f "$PG_DIR/charge.pgbench"); spread=1 ;;
    w3) scripts=(-f "$PG_DIR/hold_capture.pgbench" -D phase=0) ;;
    w4) scripts=(-f "$PG_DIR/read.pgbench@8" -f "$PG_DIR/charge.pgbench@2") ;;
  esac
  rm -rf "$logs"
  mkdir -p "$logs"
  local before after out
  # The totals after the previous cell are this one's before (nothing else writes).
  before=${PG_TOTALS:-$(pg_totals)}
  if [ -z "${PG_SEQ:-}" ]; then
    pg_balances >"$WORK/pg.before"
    PG_SEQ=$(psql -qXAt -c "SELECT coalesce(max(seq), 0) FROM journal")
  fi
  psql -qX -c "TRUNCATE refusals" >/dev/null
  # pgbench's -T counts from before its clients connect, and a PostgreSQL
  # backend takes 10-30 ms to start on this machine: 256 of them need seconds.
  # The throughput below is measured from the logged transactions alone.
  out="$(cd "$logs" && pgbench -n -c "$conns" -j "$(client_threads "$conns")" \
    -T "$((seconds + conns / 32))" \
    -D accounts="$spread" -D n=0 "${scripts[@]}" -l --log-prefix=tx 2>&1)" || {
    say "$out"
    return 1
  }
  settled pg_probe >/dev/null
  after=$(pg_totals)
  PG_TOTALS=$after
  # pgbench's per-transaction log: client tx_no latency_us script_no epoch_s epoch_us.
  cat "$logs"/tx.* >"$logs/all"
  awk '{ print $3 / 1000 }' "$logs/all" | sort -n >"$logs/lat"
  local n charges=0 holds=0 captures=0 reads=0 refused elapsed
  n=$(wc -l <"$logs/all")
  refused=$(($(awk '{ print $7 }' <<<"$after") - $(awk '{ print $7 }' <<<"$before")))
  case $workload in
    w1 | w2) charges=$((n - refused)) ;;
    w3) # each client alternates hold, capture, hold...: its odd transactions are holds
      read -r holds captures < <(awk '{ k[$1]++ } END { for (c in k) { h += int((k[c] + 1) / 2); p += int(k[c] / 2) }
                                      print h + 0, p + 0 }' "$logs/all")
      holds=$((holds - refused)) ;;
    w4) charges=$(($(awk '$4 == 1' "$logs/all" | wc -l) - refused))
        reads=$((n - charges - refused)) ;;
  esac
  # From the first transaction's start to the last one's end.
  elapsed=$(awk '{ e = $5 + $6 / 1e6; t = e - $3 / 1e6
      if (NR == 1 || t < lo) lo = t; if (NR == 1 || e > hi) hi = e } END { printf "%.3f", hi - lo }' "$logs/all")
  pg_balances >"$WORK/pg.after"
  pg_journal "$PG_SEQ" >"$WORK/pg.journal"
  [ ! -s "$WORK/pg.journal" ] || PG_SEQ=$(tail -1 "$WORK/pg.journal" | cut -f1)
  psql -qXAt -c "COPY (SELECT ref, account FROM refusals) TO STDOUT" >"$WORK/pg.refusals"
  pg_client_log "$workload" "$conns" "$logs/all" "$WORK/pg.refusals" >"$WORK/client.log"
  cell_check "$WORK/pg.before" "$WORK/pg.after" "$WORK/pg.journal" "$WORK/client.log"
  mv "$WORK/pg.after" "$WORK/pg.before"
  # pgbench may stop with a transaction committed but unanswered (counted by
  # the cell check, which matches each by its reference).
  verify "$CELL_CUT_COMMITTED" "$(cut -d' ' -f1-6 <<<"$before")" \
    "$(cut -d' ' -f1-6,8-9 <<<"$after")" "$charges $holds $captures"
  merge_cell_check
  record_cell postgres "$section" "$workload" "$spread" "$conns" "$elapsed" "$n" \
    "$(percentile 50 "$logs/lat")" "$(percentile 99 "$logs/lat")" "$(percentile 99.9 "$logs/lat")" \
    "$charges $holds $captures $reads $refused"
  rm -rf "$logs"
}
