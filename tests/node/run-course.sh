#!/usr/bin/env bash
# Runs the course's functional tests (tests/node/course, mocha + supertest) against the real
# build/porrio: a fresh server on a free 127.0.0.1 port in a temporary directory (its own DATA_DIR,
# etcd off, the repository's data/hitos.json), mocha's TAP on stdout, then SIGTERM and exit 0
# checked. A server that does not start or stop cleanly is a "not ok" line. Exit status: 0 when
# everything passed. Needs node and `npm ci` in tests/node (tools/test-deps.sh).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
porrio=${PORRIO:-$root/build/porrio}
hitos=$root/data/hitos.json
tmp=$(mktemp -d "${TMPDIR:-/tmp}/porrio-course.XXXXXX")
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "not ok - course: $*"
  [ -s "$tmp/porrio.log" ] && sed 's/^/# /' "$tmp/porrio.log" | tail -n 20
  exit 1
}

[ -x "$here/node_modules/.bin/mocha" ] || fail "mocha is not installed in tests/node (run tools/test-deps.sh)"
port=$(node -e 'const s = require("net").createServer();
  s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });') || fail "no free port"
url="http://127.0.0.1:$port"

# a clean environment: no setting leaks in from the caller's
mkdir "$tmp/cwd"
(cd "$tmp/cwd" && exec env -i PATH="$PATH" PORT="$port" HOST=127.0.0.1 ETCD_ENDPOINTS= WORKERS=2 \
  DATA_DIR="$tmp/data" HITOS_FILE="$hitos" "$porrio") >"$tmp/porrio.log" 2>&1 </dev/null 3>&- &
pid=$!
for _ in $(seq 1 100); do
  curl -sf -o /dev/null --max-time 1 "$url/health/ready" && break
  kill -0 "$pid" 2>/dev/null || fail "porrio exited before it was ready"
  sleep 0.1
done
curl -sf -o /dev/null --max-time 1 "$url/health/ready" || fail "porrio not ready on $url after 10 s"

PORRIO_URL=$url HITOS_FILE=$hitos "$here/node_modules/.bin/mocha" --reporter tap "$here/course/*.test.js"
rc=$?

kill -TERM "$pid"
wait "$pid"
st=$?
pid=
[ "$st" = 0 ] || fail "porrio exited with status $st after SIGTERM"
exit "$rc"
