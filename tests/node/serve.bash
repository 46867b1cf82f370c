# Sourced by the runners of tests/node: starts the real build/porrio for a suite and stops it.
# porrio_up [NAME=VALUE...] starts a fresh server on a free 127.0.0.1 port in a temporary
# directory (its own DATA_DIR, etcd off, the repository's data/hitos.json, nothing from the
# caller's environment but the settings given) and waits until it is ready: $url, $pid, $tmp.
# porrio_down sends SIGTERM and checks exit 0. Either one's failure, and fail MESSAGE, print one
# "not ok - $suite: …" line with the server's last log lines and exit 1.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
porrio=${PORRIO:-$root/build/porrio}
hitos=$root/data/hitos.json
tmp=$(mktemp -d "${TMPDIR:-/tmp}/porrio-$suite.XXXXXX")
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "not ok - $suite: $*"
  [ -s "$tmp/porrio.log" ] && sed 's/^/# /' "$tmp/porrio.log" | tail -n 20
  exit 1
}

porrio_up() {
  local port
  port=$(node -e 'const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });') || fail "no free port"
  url="http://127.0.0.1:$port"
  mkdir -p "$tmp/cwd"
  (cd "$tmp/cwd" && exec env -i PATH="$PATH" PORT="$port" HOST=127.0.0.1 ETCD_ENDPOINTS= WORKERS=2 \
    DATA_DIR="$tmp/data" HITOS_FILE="$hitos" "$@" "$porrio") >"$tmp/porrio.log" 2>&1 </dev/null 3>&- &
  pid=$!
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null --max-time 1 "$url/health/ready" && return 0
    kill -0 "$pid" 2>/dev/null || fail "porrio exited before it was ready"
    sleep 0.1
  done
  fail "porrio not ready on $url after 10 s"
}

porrio_down() {
  local st
  kill -TERM "$pid"
  wait "$pid"
  st=$?
  pid=
  [ "$st" = 0 ] || fail "porrio exited with status $st after SIGTERM"
}
