# A real etcd for the tests: Debian's etcd-server and etcd-client, unpacked (never installed:
# installing could start a system etcd on 2379) into a cache, run on free loopback ports with
# its own data directory.
ETCD_CACHE=${PORRIO_ETCD_CACHE:-/var/cache/porrio/etcd}

# Unpacks etcd and etcdctl once; sets ETCD_BIN and ETCDCTL_BIN.
etcd_install() {
  ETCD_BIN=$ETCD_CACHE/usr/bin/etcd ETCDCTL_BIN=$ETCD_CACHE/usr/bin/etcdctl
  [ -x "$ETCD_BIN" ] && [ -x "$ETCDCTL_BIN" ] && return 0
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download etcd-server etcd-client >/dev/null 2>&1) || { rm -rf "$tmp"; return 1; }
  mkdir -p "$ETCD_CACHE"
  for d in "$tmp"/*.deb; do dpkg-deb -x "$d" "$ETCD_CACHE"; done
  rm -rf "$tmp"
  [ -x "$ETCD_BIN" ]
}

# etcd_start: a single-member etcd on two free loopback ports; sets ETCD_URL, ETCD_PID, ETCD_DIR.
# Reuses ETCD_DIR (and its data) when already set, so a test can stop and restart the same etcd.
etcd_start() {
  etcd_install || return 1
  [ -n "${ETCD_CLIENT_PORT:-}" ] || ETCD_CLIENT_PORT=$(free_port)
  [ -n "${ETCD_PEER_PORT:-}" ] || ETCD_PEER_PORT=$(free_port)
  [ -n "${ETCD_DIR:-}" ] || ETCD_DIR=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/etcd.XXXXXX")
  ETCD_URL=http://127.0.0.1:$ETCD_CLIENT_PORT
  "$ETCD_BIN" --name porrio-test --data-dir "$ETCD_DIR/data" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "porrio-test=http://127.0.0.1:$ETCD_PEER_PORT" \
    >>"$ETCD_DIR/etcd.log" 2>&1 3>&- &
  ETCD_PID=$!
  export ETCD_URL ETCD_PID ETCD_DIR ETCD_CLIENT_PORT ETCD_PEER_PORT
  local i
  for ((i = 0; i < 100; i++)); do
    curl -sf --max-time 1 "$ETCD_URL/health" 2>/dev/null | grep -q '"health":"true"' && return 0
    kill -0 "$ETCD_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "etcd did not start:" >&2; tail -n 20 "$ETCD_DIR/etcd.log" >&2
  return 1
}

etcd_stop() {
  [ -n "${ETCD_PID:-}" ] || return 0
  kill "$ETCD_PID" 2>/dev/null || true
  local i
  for ((i = 0; i < 50; i++)); do kill -0 "$ETCD_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$ETCD_PID" 2>/dev/null || true
  wait "$ETCD_PID" 2>/dev/null || true
  if declare -F untrack_pid >/dev/null; then untrack_pid "$ETCD_PID"; fi
  ETCD_PID=
}

etcdctl() { ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints="$ETCD_URL" "$@"; }

# etcd_start_new [CLIENT_PORT]: another etcd, independent of the one running (its own data
# directory and ports; the client port CLIENT_PORT when given), for a test that stops or restarts
# it. Tracked (helpers.bash's track_pid) so that porrio_cleanup kills it if the test does not stop it.
etcd_start_new() {
  ETCD_CLIENT_PORT=${1:-} ETCD_PEER_PORT= ETCD_PID=
  ETCD_DIR=$(mktemp -d "${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-/tmp}}/etcd.XXXXXX")
  _etcd_start_tracked
}

# etcd_resume: after etcd_stop, starts etcd again on the same ports and data directory (so with
# the same keys and revisions); tracked as etcd_start_new's.
etcd_resume() {
  _etcd_start_tracked
}

_etcd_start_tracked() {
  local rc=0
  etcd_start || rc=1
  if [ -n "${ETCD_PID:-}" ] && declare -F track_pid >/dev/null; then track_pid "$ETCD_PID"; fi
  return $rc
}

# etcd_value KEY: KEY's value alone ("" and status 0 when absent).
etcd_value() { etcdctl get --print-value-only "$1"; }
