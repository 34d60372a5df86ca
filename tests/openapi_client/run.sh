#!/usr/bin/env bash
# CTest openapi_typed_client: GET /openapi.json is enough for a standard
# generator to make a working typed client.
#   1. starts the real creditd (a temporary store, a free port) and fetches
#      /openapi.json into WORK_DIR;
#   2. validates it against the OpenAPI 3.1 schema (validate.mjs);
#   3. generates TypeScript types from it with openapi-typescript;
#   4. compiles client.ts (openapi-fetch over the generated `paths`) with
#      `tsc --strict`: it does not compile if the types lack what it uses;
#   5. runs the compiled client against the server (client.ts says what it checks).
# Uses only what scripts/install-deps installed (npm ci here); downloads nothing.
#
# Usage: run.sh CREDITD_BINARY WORK_DIR
set -euo pipefail

say() { echo "openapi_typed_client: $*"; }
die() {
  echo "openapi_typed_client: FAILED: $*" >&2
  exit 1
}

[ $# -eq 2 ] || die "usage: run.sh CREDITD_BINARY WORK_DIR"
creditd=$1
work=$2
case $work in "" | /) die "WORK_DIR must be a directory of its own, not '$work'" ;; esac
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
modules=$here/node_modules

[ -x "$creditd" ] || die "$creditd is not an executable"
command -v node >/dev/null || die "node is not installed: run scripts/install-deps"
for needed in .bin/openapi-typescript .bin/tsc openapi-fetch/package.json \
  @seriousme/openapi-schema-validator/package.json ajv/package.json ajv-formats/package.json \
  @types/node/package.json; do
  [ -e "$modules/$needed" ] ||
    die "$modules/$needed is missing: run scripts/install-deps (it runs npm ci in tests/openapi_client)"
done

rm -rf "$work"
mkdir -p "$work"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/creditd-openapi.XXXXXX")
server_pid=""
drain_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$drain_pid" ]; then wait "$drain_pid" 2>/dev/null || true; fi
  exec 3<&- 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The server, on a port of its choosing; its stdout through a FIFO, so the
# listening line is read as soon as it is printed (or EOF if creditd exits).
admin_key="sk_openapi_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
mkfifo "$tmp/stdout"
CREDITD_ADMIN_KEY=$admin_key "$creditd" serve --test-clock --store "sqlite:$tmp/c.db" \
  --listen 127.0.0.1:0 >"$tmp/stdout" 2>"$work/creditd.stderr" &
server_pid=$!
exec 3<"$tmp/stdout"
url=""
for _ in $(seq 1 50); do
  # -t: a generous bound in case creditd hangs before printing anything.
  IFS= read -r -t 120 line <&3 || break
  echo "$line" >>"$work/creditd.stdout"
  case $line in
    "creditd listening on http://"*)
      url=${line#creditd listening on }
      break
      ;;
  esac
done
if [ -z "$url" ]; then
  cat "$work/creditd.stderr" >&2 || true
  die "creditd did not print 'creditd listening on http://HOST:PORT' (stdout and stderr in $work)"
fi
# Keep reading its stdout so it can never block on a full pipe.
cat <&3 >>"$work/creditd.stdout" &
drain_pid=$!
say "creditd listening on $url"

curl -fsS --max-time 60 -o "$work/openapi.json" "$url/openapi.json" ||
  die "GET $url/openapi.json failed"

# 2. The OpenAPI 3.1 schema.
(cd "$here" && node validate.mjs "$work/openapi.json") ||
  die "$work/openapi.json is not a valid OpenAPI 3.1 document"

# 3. Types.
"$modules/.bin/openapi-typescript" "$work/openapi.json" -o "$work/api.d.ts" \
  >"$work/openapi-typescript.log" 2>&1 || {
  cat "$work/openapi-typescript.log" >&2
  die "openapi-typescript could not generate types from $work/openapi.json"
}
say "$(grep -o 'openapi-typescript [0-9.]*' "$work/openapi-typescript.log" | head -1): $work/api.d.ts"

# 4. The typed client, compiled with the generated types next to it. Library
# checks stay on: api.d.ts is a declaration file.
cp "$here/client.ts" "$work/client.ts"
ln -sfn "$modules" "$work/node_modules"
printf '{"private": true, "type": "module"}\n' >"$work/package.json"
(cd "$work" && "$modules/.bin/tsc" --strict --noEmit false --noUncheckedIndexedAccess \
  --target es2022 --module nodenext --moduleResolution nodenext --types node \
  --rootDir . --outDir out client.ts) ||
  die "client.ts does not compile against the types generated from /openapi.json ($work/api.d.ts)"
say "client.ts compiled with tsc $("$modules/.bin/tsc" --version | sed 's/^Version //')"

# 5. Run it against the server.
node --no-warnings "$work/out/client.js" "$url" "$admin_key" "$work/openapi.json" ||
  die "the typed client found mismatches (above; creditd's stderr in $work/creditd.stderr)"

kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
[ "$status" -eq 0 ] || die "creditd exited $status on SIGTERM"
say "passed"
