#!/usr/bin/env bash
# CTest webhooks_standardwebhooks: real deliveries of the real creditd,
# verified by a Node.js receiver with the standardwebhooks npm package and
# with the crypto snippet of docs/events.md (receiver.mjs).
#   1. starts creditd (a temporary store, a free port, the test clock);
#   2. starts the receiver and registers it with a whsec_ secret;
#   3. makes events (a grant and a charge to zero: balance.restored,
#      balance.low, balance.depleted, twice) and counts them (GET /v1/events);
#   4. advances the test clock (the receiver's 500 is retried) until the
#      receiver has verified every event in order.
# Uses only what scripts/install-deps installed (npm ci here); downloads nothing.
#
# Usage: run.sh CREDITD_BINARY WORK_DIR
set -euo pipefail

say() { echo "webhooks_standardwebhooks: $*"; }
die() {
  echo "webhooks_standardwebhooks: FAILED: $*" >&2
  exit 1
}

[ $# -eq 2 ] || die "usage: run.sh CREDITD_BINARY WORK_DIR"
creditd=$1
work=$2
case $work in "" | /) die "WORK_DIR must be a directory of its own, not '$work'" ;; esac
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -x "$creditd" ] || die "$creditd is not an executable"
command -v node >/dev/null || die "node is not installed: run scripts/install-deps"
[ -e "$here/node_modules/standardwebhooks/package.json" ] ||
  die "$here/node_modules/standardwebhooks is missing: run scripts/install-deps (npm ci in tests/webhooks_node)"

rm -rf "$work"
mkdir -p "$work"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/creditd-webhooks.XXXXXX")
server_pid=""
receiver_pid=""
cleanup() {
  for pid in "$receiver_pid" "$server_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Reads lines from FIFO $1 (bounded) until one starts with $2; prints the rest.
first_line() {
  local line
  for _ in $(seq 1 50); do
    IFS= read -r -t 120 line <&"$3" || return 1
    case $line in "$2"*) echo "${line#"$2"}"; return 0 ;; esac
  done
  return 1
}

admin_key="sk_webhooks_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
mkfifo "$tmp/server" "$tmp/receiver"
CREDITD_ADMIN_KEY=$admin_key "$creditd" serve --test-clock --no-log --store "sqlite:$tmp/c.db" \
  --listen 127.0.0.1:0 >"$tmp/server" 2>"$work/creditd.stderr" &
server_pid=$!
exec 3<"$tmp/server"
url=$(first_line "$tmp/server" "creditd listening on " 3) || die "creditd did not start ($work/creditd.stderr)"
cat <&3 >"$work/creditd.stdout" &
say "creditd listening on $url"

api() { curl -fsS --max-time 60 -H "Authorization: Bearer $admin_key" "$@"; }
advance() { api -X POST "$url/v1/test-clock/advance" -d "{\"seconds\":$1}" >/dev/null; }

# 3 first, so the receiver knows how many to expect: events made before the
# endpoint exists are not sent to it, so it is registered with
# redeliver from seq 1.
api -X PUT "$url/v1/accounts/alice" -d '{"settings":{"low_balance_thresholds":[5]}}' >/dev/null
for _ in 1 2; do
  api -X POST "$url/v1/accounts/alice/lots" -d '{"amount":10,"kind":"prepaid"}' >/dev/null
  api -X POST "$url/v1/accounts/alice/charges" -d '{"operation":"chat","amount":10}' >/dev/null
done
count=$(api "$url/v1/events?limit=1000" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).data.length))')
[ "$count" -ge 6 ] || die "expected at least 6 events, found $count"
say "$count events stored"

secret="whsec_$(head -c 32 /dev/urandom | base64)"
node "$here/receiver.mjs" "$secret" "$count" >"$tmp/receiver" 2>"$work/receiver.stderr" &
receiver_pid=$!
exec 4<"$tmp/receiver"
port=$(first_line "$tmp/receiver" "port " 4) || die "the receiver did not start ($work/receiver.stderr)"
cat <&4 >"$work/receiver.stdout" &
api -X PUT "$url/v1/webhook-endpoints/node" \
  -d "{\"url\":\"http://127.0.0.1:$port/hook\",\"events\":[\"*\"],\"secret\":\"$secret\"}" >/dev/null
api -X POST "$url/v1/webhook-endpoints/node/redeliver" -d '{"from_seq":1}' >/dev/null

# 4. The receiver's first answer is a 500: the retry waits on the test clock.
for _ in $(seq 1 600); do
  kill -0 "$receiver_pid" 2>/dev/null || break
  advance 60
  sleep 0.1 # a poll, not a wait for it
done
status=0
wait "$receiver_pid" || status=$?
receiver_pid=""
cat "$work/receiver.stderr" >&2 || true
[ "$status" -eq 0 ] || die "the receiver refused a delivery or missed one (exit $status)"
cat "$work/receiver.stdout"
say "passed"
