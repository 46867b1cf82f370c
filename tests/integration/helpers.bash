# Shared helpers of the integration suites: `load helpers` at the top of a .bats file.
# They start the real build/porrio on a free loopback port in a fresh working directory, wait for
# it to be ready, stop it with SIGTERM checking its exit status, and read its JSON log lines.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

PORRIO=${PORRIO:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build/porrio}
REPO_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

# Python for the scripted clients: the system's when there is one (a version manager's shim in
# front of python3 costs a tenth of a second per call).
if [ -z "${PYTHON:-}" ]; then
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi

# The settings of the README: never inherited from the environment the suite runs in.
PORRIO_SETTINGS=(PORT HOST WORKERS LOG_LEVEL DATA_DIR HITOS_FILE STATIC_DIR MAX_BODY_BYTES
  ETCD_ENDPOINTS ETCD_PREFIX SHUTDOWN_GRACE_S CORS_ORIGINS MAX_POOLS MAX_BETS_PER_POOL MAX_HITOS
  ADMIN_TOKENS LOG_SINK SHUTDOWN_DELAY_S TRUSTED_PROXIES STORE)

# Where this scope (a test, or setup_file/teardown_file) keeps its temporary files.
_scope_tmp() { printf '%s\n' "${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}"; }

# free_port: prints a 127.0.0.1 TCP port nothing listens on (chosen by the kernel, then released).
free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# port_listening PORT [TENTHS]: waits (default ~5 s) until something accepts TCP connections on
# 127.0.0.1:PORT; fails when nothing does by then.
port_listening() {
  local i
  for ((i = 0; i < ${2:-100}; i++)); do
    "$PYTHON" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' \
      "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# track_pid PID: a background process of this shell that porrio_cleanup kills if it is still
# alive (and still this shell's child, so that a reused number is never hit).
track_pid() { echo "$1 $BASHPID" >>"$(_scope_tmp)/tracked.pids"; }

# untrack_pid PID: forgets PID (it was reaped: the number may be reused by someone else).
untrack_pid() {
  local f
  for f in "${BATS_TEST_TMPDIR:-}/tracked.pids" "${BATS_FILE_TMPDIR:-}/tracked.pids"; do
    [ -f "$f" ] && sed -i "/^$1 /d" "$f"
  done
  return 0
}

# porrio_cleanup: kills (SIGKILL) every tracked process of this scope still alive. For teardown.
porrio_cleanup() {
  local f pid parent
  f="$(_scope_tmp)/tracked.pids"
  [ -f "$f" ] || return 0
  while read -r pid parent; do
    # field 4 of /proc/PID/stat, after the parenthesised command name, is the parent's pid
    [ "$(sed 's/.*) [A-Za-z] \([0-9]*\) .*/\1/' "/proc/$pid/stat" 2>/dev/null)" = "$parent" ] &&
      kill -KILL "$pid" 2>/dev/null
  done <"$f"
  rm -f "$f"
  return 0
}

# _porrio_cmd [NAME=VALUE...] [--flag ...]: builds PORRIO_CMD, the command that runs $PORRIO
# (after `cd` into the working directory). Arguments of the form NAME=VALUE go to its
# environment, the others are its arguments. The settings of the surrounding environment are
# removed; HOST defaults to 127.0.0.1 and ETCD_ENDPOINTS to "" (no etcd) unless given as a
# variable or a flag. PORT: when neither given nor $PORRIO_EXPECT_PORT is set, a free port
# (PORRIO_EXPECT_PORT names the port the server will take from elsewhere, e.g. a .env file).
# Sets _PORT to the port the server should listen on ("" when unknown).
_porrio_cmd() {
  local envs=() args=() a port="" host=0 etcd=0 unset=() name i
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then
      envs+=("$a")
      case $a in
        PORT=*) port=${a#PORT=} ;;
        HOST=*) host=1 ;;
        ETCD_ENDPOINTS=*) etcd=1 ;;
      esac
    else
      args+=("$a")
    fi
  done
  for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
      --port) port=${args[i + 1]:-} ;;
      --port=*) port=${args[i]#--port=} ;;
      --host | --host=*) host=1 ;;
      --etcd-endpoints | --etcd-endpoints=*) etcd=1 ;;
    esac
  done
  if [ -n "${PORRIO_EXPECT_PORT:-}" ]; then
    port=$PORRIO_EXPECT_PORT
  elif [ -z "$port" ] && [ "${_PORRIO_ADD_PORT:-1}" = 1 ]; then
    port=$(free_port)
    envs+=("PORT=$port")
  fi
  [ "$host" = 1 ] || envs+=("HOST=127.0.0.1")
  [ "$etcd" = 1 ] || envs+=("ETCD_ENDPOINTS=")
  for name in "${PORRIO_SETTINGS[@]}"; do unset+=(-u "$name"); done
  _PORT=$port
  PORRIO_CMD=(env "${unset[@]}" "${envs[@]}" "$PORRIO" "${args[@]}")
}

# porrio_spawn [NAME=VALUE...] [--flag ...]: starts $PORRIO in the background without waiting
# (arguments as _porrio_cmd). The working directory is $PORRIO_CWD when the caller set it, else
# a new empty one (a directory made here for an earlier server is not reused, unless
# PORRIO_KEEP_CWD=1). Exports PORRIO_PID, PORRIO_PORT, PORRIO_URL, PORRIO_LOG (stdout),
# PORRIO_ERR (stderr) and PORRIO_CWD.
porrio_spawn() {
  local base
  _porrio_cmd "$@"
  base=$(mktemp -d "$(_scope_tmp)/porrio.XXXXXX")
  if [ -z "${PORRIO_CWD:-}" ] ||
    { [ "$PORRIO_CWD" = "${_PORRIO_AUTO_CWD:-}" ] && [ "${PORRIO_KEEP_CWD:-0}" != 1 ]; }; then
    PORRIO_CWD="$base/cwd"
    mkdir -p "$PORRIO_CWD"
    export _PORRIO_AUTO_CWD=$PORRIO_CWD
  fi
  export PORRIO_CWD PORRIO_PORT=$_PORT PORRIO_URL="http://127.0.0.1:$_PORT"
  export PORRIO_LOG="$base/stdout.log" PORRIO_ERR="$base/stderr.log"
  (cd "$PORRIO_CWD" && exec "${PORRIO_CMD[@]}") >"$PORRIO_LOG" 2>"$PORRIO_ERR" </dev/null 3>&- &
  export PORRIO_PID=$!
  track_pid "$PORRIO_PID"
  ln -sfn "$PORRIO_ERR" "${BATS_RUN_TMPDIR:-/tmp}/porrio-stderr.$PORRIO_PID"
}

# porrio_exec [NAME=VALUE...] [--flag ...]: runs $PORRIO in the foreground (killed after 5 s),
# in $PORRIO_CWD or a new empty directory, with the environment of _porrio_cmd except that no
# PORT is added. For `run`: porrio_exec's status is porrio's (124 when it had to be stopped).
porrio_exec() {
  local dir=${PORRIO_CWD:-}
  _PORRIO_ADD_PORT=0 _porrio_cmd "$@"
  [ -n "$dir" ] || dir=$(mktemp -d "$(_scope_tmp)/exec.XXXXXX")
  (cd "$dir" && exec timeout 5 "${PORRIO_CMD[@]}") </dev/null 3>&-
}

# porrio_dump: prints the current server's logs (for failure messages).
porrio_dump() {
  echo "--- porrio stdout ($PORRIO_LOG)"
  cat "$PORRIO_LOG" 2>/dev/null
  echo "--- porrio stderr ($PORRIO_ERR)"
  cat "$PORRIO_ERR" 2>/dev/null
}

# porrio_start [NAME=VALUE...] [--flag ...]: porrio_spawn, then polls /health/ready until it
# answers 200 (at most ~5 s); fails with the logs printed when it does not.
porrio_start() {
  porrio_spawn "$@"
  local i code
  for ((i = 0; i < 100; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$PORRIO_URL/health/ready" || true)
    [ "$code" = 200 ] && return 0
    if ! kill -0 "$PORRIO_PID" 2>/dev/null; then
      echo "porrio exited before it was ready" >&2
      porrio_dump >&2
      return 1
    fi
    sleep 0.05
  done
  echo "porrio not ready after 5 s (last /health/ready status: $code)" >&2
  porrio_dump >&2
  return 1
}

# porrio_wait_exit PID [TENTHS]: waits (bounded, default 10 s) for PID to exit and sets
# PORRIO_STATUS to its exit status. Fails (after SIGKILL) when it is still running.
porrio_wait_exit() {
  local pid=$1 max=${2:-100} i
  for ((i = 0; i < max; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
    echo "process $pid did not exit within $((max / 10)) s" >&2
    return 1
  fi
  PORRIO_STATUS=0
  wait "$pid" || PORRIO_STATUS=$?
  untrack_pid "$pid"
}

# porrio_stop [PID]: SIGTERM, waits (bounded ~10 s) and asserts exit status 0.
porrio_stop() {
  local pid=${1:-$PORRIO_PID}
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  if ! porrio_wait_exit "$pid" 100; then
    porrio_dump >&2
    return 1
  fi
  if [ "$PORRIO_STATUS" != 0 ]; then
    echo "porrio (pid $pid) exited with status $PORRIO_STATUS, expected 0" >&2
    porrio_dump >&2
    return 1
  fi
  if sanitizer_report "${BATS_RUN_TMPDIR:-/tmp}/porrio-stderr.$pid" >&2; then
    echo "porrio (pid $pid) exited with status 0, but its stderr holds the sanitizer report above" >&2
    return 1
  fi
}

# porrio_teardown_file [PID...]: the teardown_file of a suite whose servers serve all its tests:
# porrio_stop on each PID (by default the current server, $PORRIO_PID), then porrio_cleanup.
# Fails when any of them did not exit with status 0.
porrio_teardown_file() {
  local rc=0 pid
  for pid in "${@:-${PORRIO_PID:-}}"; do porrio_stop "$pid" || rc=1; done
  porrio_cleanup
  return $rc
}

# ---- Sanitizer builds (README, "Sanitizers") ------------------------------------------------
# tests/sanitize runs the suites against build/asan/porrio or build/tsan/porrio with
# PORRIO_SANITIZER set to asan or tsan.

# skip_if_sanitizer REASON: skips the test when the binary is a sanitizer build, which REASON
# says it cannot be tested as (the skip message names both).
skip_if_sanitizer() {
  [ -z "${PORRIO_SANITIZER:-}" ] || skip "PORRIO_SANITIZER=$PORRIO_SANITIZER: $1"
}

# NO_LEAK_CHECK: arguments of porrio_start/porrio_spawn for a server that leaves memory to its
# exit by design (a connection still open when SHUTDOWN_GRACE_S ends is abandoned, not freed):
# with AddressSanitizer, LeakSanitizer is off for that process; otherwise nothing.
NO_LEAK_CHECK=()
[ "${PORRIO_SANITIZER:-}" != asan ] || NO_LEAK_CHECK=("ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0")

# sanitizer_report FILE: prints FILE's sanitizer reports (AddressSanitizer, LeakSanitizer,
# UndefinedBehaviorSanitizer, ThreadSanitizer) and succeeds when it holds one.
sanitizer_report() {
  [ -f "$1" ] && grep -E -A60 '(ERROR|WARNING): [A-Za-z]+Sanitizer|: runtime error: ' "$1"
}

# ---- JSON log lines -------------------------------------------------------------------------

# log_lines MSG [FILE]: every log line whose "msg" is MSG, compact, in order. Lines that are not
# JSON are skipped (log_all_json checks them).
log_lines() {
  jq -R -c --arg m "$1" 'fromjson? | objects | select(.msg == $m)' "${2:-$PORRIO_LOG}"
}

# log_line MSG [N] [FILE]: the Nth (from 1) log line whose "msg" is MSG; fails when there is none.
log_line() {
  local out
  out=$(log_lines "$1" "${3:-$PORRIO_LOG}" | sed -n "${2:-1}p")
  [ -n "$out" ] || { echo "no log line #${2:-1} with msg \"$1\"" >&2; return 1; }
  printf '%s\n' "$out"
}

# log_count MSG [FILE]: how many log lines have "msg" MSG.
log_count() { log_lines "$1" "${2:-$PORRIO_LOG}" | wc -l; }

# log_wait MSG [COUNT] [FILE]: waits (at most ~5 s) until at least COUNT (default 1) lines with
# "msg" MSG were written. Logs are written by the event loops a little after the answer.
log_wait() {
  local i n
  for ((i = 0; i < 100; i++)); do
    n=$(log_count "$1" "${3:-$PORRIO_LOG}")
    [ "$n" -ge "${2:-1}" ] && return 0
    sleep 0.05
  done
  echo "only $n log lines with msg \"$1\", expected at least ${2:-1}" >&2
  return 1
}

# log_request ID [FILE]: waits (at most ~5 s) for the "request" line whose request_id is ID and
# prints it.
log_request() {
  local i out
  for ((i = 0; i < 100; i++)); do
    out=$(jq -R -c --arg id "$1" 'fromjson? | objects | select(.msg == "request" and .request_id == $id)' \
      "${2:-$PORRIO_LOG}" | head -n 1)
    [ -n "$out" ] && { printf '%s\n' "$out"; return 0; }
    sleep 0.05
  done
  echo "no request log line with request_id $1" >&2
  return 1
}

# log_setting NAME [FILE]: the start-up "setting" line of NAME.
log_setting() {
  jq -R -c --arg n "$1" 'fromjson? | objects | select(.msg == "setting" and .name == $n)' \
    "${2:-$PORRIO_LOG}" | head -n 1
}

# log_all_json [FILE]: fails, naming the line, unless every line of FILE is one JSON object
# terminated by a newline, with no key twice (a forged field would repeat one).
log_all_json() {
  "$PYTHON" - "${1:-$PORRIO_LOG}" <<'EOF'
import json, sys
def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError("duplicate keys %s" % dup)
    return dict(pairs)
data = open(sys.argv[1], "rb").read()
if data and not data.endswith(b"\n"):
    sys.exit("last line is not terminated by a newline: %r" % data.rsplit(b"\n", 1)[-1][:200])
for n, raw in enumerate(data.split(b"\n")[:-1], 1):
    try:
        obj = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except Exception as e:
        sys.exit("line %d is not JSON (%s): %r" % (n, e, raw[:300]))
    if not isinstance(obj, dict):
        sys.exit("line %d is not a JSON object: %r" % (n, raw[:300]))
EOF
}

# jfield JSON FILTER: jq -r FILTER applied to one JSON text.
jfield() { jq -r "$2" <<<"$1"; }

# ---- HTTP ----------------------------------------------------------------------------------

# http_raw PORT DATA: sends DATA (bytes as given, e.g. $'GET / HTTP/1.1\r\n...') to
# 127.0.0.1:PORT, half-closes, prints everything the server answers until it closes (at most 5 s).
http_raw() {
  "$PYTHON" -c '
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(os.fsencode(sys.argv[2]))
s.shutdown(socket.SHUT_WR)
out = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
except socket.timeout:
    pass
sys.stdout.buffer.write(out)
' "$1" "$2"
}

# status_of CURL_ARGS...: prints only the HTTP status of a request, 000 when there was no
# answer (refused, closed without one, timed out); always succeeds.
status_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true; }

# http_fetch URL [CURL_ARGS...]: one request (at most 5 s) with CURL_ARGS: the status into
# $STATUS, the headers into $HDRS (CRs removed), the body into $BODY and its size in bytes into
# $BODY_SIZE. Fails when curl gets no answer. With $PORRIO_CONFORMANCE_DIR set (tests/run sets it),
# the answer is also kept there for tests/node/conformance.mjs to check against the OpenAPI document.
http_fetch() {
  local url=$1 out="$BATS_TEST_TMPDIR/fetch" w
  shift
  w=$(curl -s --max-time 5 -D "$out.h" -o "$out.b" -w '%{http_code} %{method}' "$@" "$url")
  STATUS=${w%% *}
  HDRS=$(tr -d '\r' <"$out.h")
  BODY=$(cat "$out.b")
  BODY_SIZE=$(stat -c %s "$out.b")
  [ -z "${PORRIO_CONFORMANCE_DIR:-}" ] || _conformance_keep "${w#* }" "$url" "$out"
}

# _conformance_keep METHOD URL FILES: copies FILES.h and FILES.b into a new record directory.
_conformance_keep() {
  local d
  d=$(mktemp -d "$PORRIO_CONFORMANCE_DIR/r.XXXXXXXX") || return 0
  cp "$3.h" "$d/h" && cp "$3.b" "$d/b" && printf '%s %s %s\n' "$1" "$2" "$STATUS" >"$d/meta"
}

# header NAME: the value of response header NAME (case-insensitive) in $HDRS.
header() {
  awk -v n="$(tr '[:upper:]' '[:lower:]' <<<"$1")" -F': ' \
    'tolower($1) == n { sub(/^[^:]*: /, ""); print; exit }' <<<"$HDRS"
}

# assert_status CODE: $STATUS is CODE (the failure shows the body).
assert_status() {
  [ "$STATUS" = "$1" ] || fail "expected status $1, got $STATUS: $BODY"
}

# assert_json_ok CODE: $STATUS is CODE and the answer is JSON with the JSON content type.
assert_json_ok() {
  assert_status "$1"
  assert_equal "$(header Content-Type)" "application/json; charset=utf-8"
  jq -e . >/dev/null <<<"$BODY" || fail "body is not JSON: $BODY"
}

# assert_json_error CODE [WORD]: $STATUS is CODE, $BODY is exactly {"error": "<non-empty>",
# "status": CODE} with the JSON content type, and the message names WORD when given.
assert_json_error() {
  assert_status "$1"
  assert_equal "$(header Content-Type)" "application/json; charset=utf-8"
  jq -e --argjson c "$1" --arg w "${2:-}" \
    '(keys == ["error", "status"]) and (.status == $c) and (.error | type == "string" and length > 0)
     and (.error | contains($w))' >/dev/null <<<"$BODY" ||
    fail "expected a JSON error with status $1${2:+ naming \"$2\"}, got: $BODY"
}
