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

# ---- a three-member cluster ------------------------------------------------------------------

# etcd_cluster_start: three members on free loopback ports forming one cluster (each with its own
# data directory); teardown_file ends them with etcd_cluster_load and etcd_cluster_stop. Sets ETCD_URLS (the three client URLs, comma-
# separated, for ETCD_ENDPOINTS), ETCD_URL (the first, for etcdctl), and per member i (0-2)
# ETCD_M_URL[i], ETCD_M_PID[i], ETCD_M_DIR[i], ETCD_M_NAME[i].
etcd_cluster_start() {
  etcd_install || return 1
  local i cluster="" peer=()
  ETCD_M_URL=() ETCD_M_PID=() ETCD_M_DIR=() ETCD_M_NAME=() ETCD_M_PEER=()
  for i in 0 1 2; do
    ETCD_M_NAME[i]=m$i
    ETCD_M_URL[i]=http://127.0.0.1:$(free_port)
    ETCD_M_PEER[i]=http://127.0.0.1:$(free_port)
    ETCD_M_DIR[i]=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/etcd-m$i.XXXXXX")
    cluster+="${cluster:+,}m$i=${ETCD_M_PEER[i]}"
  done
  ETCD_CLUSTER=$cluster
  for i in 0 1 2; do _etcd_member_run "$i" new; done
  ETCD_URLS="${ETCD_M_URL[0]},${ETCD_M_URL[1]},${ETCD_M_URL[2]}" ETCD_URL=${ETCD_M_URL[0]}
  for i in 0 1 2; do _etcd_member_healthy "$i" || return 1; done
  _etcd_cluster_save
}

# The cluster's variables, for the tests of a file (arrays do not pass from setup_file to them):
# saved by every function here that changes them, read back by etcd_cluster_load.
_etcd_cluster_save() {
  declare -p ETCD_M_URL ETCD_M_PID ETCD_M_DIR ETCD_M_NAME ETCD_M_PEER ETCD_CLUSTER ETCD_URLS ETCD_URL |
    sed 's/^declare -\([a-z]*\)/declare -g\1/; s/^declare -g- /declare -g /' >"${BATS_FILE_TMPDIR:-/tmp}/etcd-cluster.sh"
}
etcd_cluster_load() { etcd_install && source "${BATS_FILE_TMPDIR:-/tmp}/etcd-cluster.sh"; }

_etcd_member_run() {
  local i=$1
  "$ETCD_BIN" --name "${ETCD_M_NAME[i]}" --data-dir "${ETCD_M_DIR[i]}/data" \
    --listen-client-urls "${ETCD_M_URL[i]}" --advertise-client-urls "${ETCD_M_URL[i]}" \
    --listen-peer-urls "${ETCD_M_PEER[i]}" --initial-advertise-peer-urls "${ETCD_M_PEER[i]}" \
    --initial-cluster "$ETCD_CLUSTER" --initial-cluster-state "$2" --initial-cluster-token porrio-test \
    >>"${ETCD_M_DIR[i]}/etcd.log" 2>&1 3>&- &
  ETCD_M_PID[i]=$! # not tracked: a member a test resumes outlives it; etcd_cluster_stop ends them
}

# _etcd_member_healthy I: waits (at most 10 s) for member I to answer its health check with a leader.
_etcd_member_healthy() {
  local i=$1 n
  for ((n = 0; n < 100; n++)); do
    curl -sf --max-time 1 "${ETCD_M_URL[i]}/health" 2>/dev/null | grep -q '"health":"true"' && return 0
    sleep 0.1
  done
  echo "etcd member $i not healthy:" >&2; tail -n 20 "${ETCD_M_DIR[i]}/etcd.log" >&2
  return 1
}

# etcd_member_stop I [SIGNAL]: stops member I (SIGTERM by default) and waits for it.
etcd_member_stop() {
  local i=$1 pid=${ETCD_M_PID[$1]} n
  [ -n "$pid" ] || return 0
  kill "-${2:-TERM}" "$pid" 2>/dev/null || true
  for ((n = 0; n < 50; n++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if declare -F untrack_pid >/dev/null; then untrack_pid "$pid"; fi
  ETCD_M_PID[i]=
  _etcd_cluster_save
}

# etcd_member_resume I: starts member I again on its ports and data (it rejoins the cluster).
# Does not wait for its health: without a quorum it has none.
etcd_member_resume() { _etcd_member_run "$1" existing; _etcd_cluster_save; }

# etcd_cluster_heal: starts again every member a test left stopped, and waits for their health.
etcd_cluster_heal() {
  local i
  for i in 0 1 2; do [ -n "${ETCD_M_PID[i]}" ] || etcd_member_resume "$i"; done
  for i in 0 1 2; do _etcd_member_healthy "$i" || return 1; done
}

# etcd_cluster_stop: stops every member.
etcd_cluster_stop() { local i; for i in 0 1 2; do etcd_member_stop "$i"; done; }

# etcd_leader: prints the index (0-2) of the member that is the leader, as a running member sees it.
etcd_leader() {
  local i status
  for i in 0 1 2; do
    [ -n "${ETCD_M_PID[i]}" ] || continue
    status=$(curl -s --max-time 1 -X POST "${ETCD_M_URL[i]}/v3/maintenance/status" -d '{}') || continue
    "$PYTHON" - "$status" "${ETCD_M_URL[@]}" <<'PY' && return 0
import json, sys, urllib.request
leader = json.loads(sys.argv[1]).get("leader")
for i, url in enumerate(sys.argv[2:]):
    try:
        s = json.load(urllib.request.urlopen(urllib.request.Request(url + "/v3/maintenance/status", b"{}"), timeout=1))
    except OSError:
        continue
    if s["header"]["member_id"] == leader:
        print(i)
        sys.exit(0)
sys.exit(1)
PY
  done
  return 1
}
