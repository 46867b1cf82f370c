#!/usr/bin/env bats
# etcd as a source of settings (README: `porrio config`, Settings), against a real etcd 3.4 (Debian's,
# see etcd.bash) on free loopback ports: precedence flag > etcd > env > .env > default at start;
# ETCD_ENDPOINTS / ETCD_PREFIX never read from etcd; invalid values; `porrio config set|get|list`
# and their exit codes; the watch (live LOG_LEVEL / MAX_BODY_BYTES / MAX_POOLS / LOG_SINK /
# SHUTDOWN_DELAY_S / TRUSTED_PROXIES, restart-only settings, invalid and deleted keys); etcd going away and coming
# back; etcd unreachable at start.
# One etcd serves the file; each test uses its own prefix (t<N>:), and the tests that stop etcd
# or need it on a given port start their own.

load helpers
load etcd

setup_file() {
  etcd_install || { echo "cannot get etcd (apt-get download etcd-server etcd-client: run apt-get update first?)" >&2; return 1; }
  etcd_start
}

teardown_file() {
  etcd_stop
  porrio_cleanup
}

setup() {
  etcd_install # sets ETCD_BIN and ETCDCTL_BIN (already unpacked by setup_file)
  PFX="t${BATS_TEST_NUMBER}:"
  ETCD=("ETCD_ENDPOINTS=$ETCD_URL" "ETCD_PREFIX=$PFX")
}

teardown() { porrio_cleanup; }

# ---- helpers ---------------------------------------------------------------------------------

# put NAME VALUE / del NAME: this test's key NAME in etcd.
put() { etcdctl put "$PFX$1" "$2" >/dev/null; }
del() { etcdctl del "$PFX$1" >/dev/null; }

# setting NAME: "value source" of NAME's start-up line in $PORRIO_LOG.
setting() { log_setting "$1" | jq -r '.value + " " + .source'; }

# now_ms: milliseconds of the wall clock.
now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 1000)); }

# new_dir: prints a new empty directory (a working directory for a .env file).
new_dir() { mktemp -d "$BATS_TEST_TMPDIR/cwd.XXXXXX"; }

# pc [NAME=VALUE...] -- ARG...: runs `porrio ARG...` (e.g. `config set PORT LOG_LEVEL=warn`) in
# $PORRIO_CWD or a new empty directory, with the environment of porrio_exec plus this test's
# etcd and prefix (NAME=VALUE given here win), killed after 10 s. For `run --separate-stderr`.
pc() {
  local envs=() dir=${PORRIO_CWD:-}
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  _PORRIO_ADD_PORT=0 _porrio_cmd "${ETCD[@]}" "${envs[@]}"
  [ -n "$dir" ] || dir=$(mktemp -d "$BATS_TEST_TMPDIR/exec.XXXXXX")
  (cd "$dir" && exec timeout 10 "${PORRIO_CMD[@]}" "$@") </dev/null 3>&-
}

# log_wait_for TENTHS MSG [JQ_CONDITION]: waits at most TENTHS tenths of a second for a log line
# whose msg is MSG and that matches JQ_CONDITION; prints it. Fails with the logs otherwise.
log_wait_for() {
  local limit=$(($(now_ms) + $1 * 100)) msg=$2 cond=${3:-true} out
  while :; do
    out=$(jq -R -c --arg m "$msg" "fromjson? | objects | select(.msg == \$m) | select($cond)" \
      "$PORRIO_LOG" | head -n 1)
    [ -n "$out" ] && { printf '%s\n' "$out"; return 0; }
    [ "$(now_ms)" -lt "$limit" ] || break
    sleep 0.05
  done
  echo "no log line with msg \"$msg\" and $cond within $(($1 / 10)).$(($1 % 10)) s" >&2
  porrio_dump >&2
  return 1
}

# req ID: GET /status with X-Request-Id ID; prints the status code.
req() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "X-Request-Id: $1" "$PORRIO_URL/status" || true; }

# logged ID: the request with id ID has its "request" line in the log (no wait).
logged() {
  jq -R -c --arg id "$1" 'fromjson? | objects | select(.msg == "request" and .request_id == $id)' \
    "$PORRIO_LOG" | grep -q .
}

# not_logged ID: sends request ID (200 expected) and checks, half a second later, that no line
# was logged for it.
not_logged() {
  local code
  code=$(req "$1")
  [ "$code" = 200 ] || { echo "request $1 answered $code" >&2; return 1; }
  sleep 0.5
  if logged "$1"; then echo "request $1 was logged" >&2; return 1; fi
}

# until_logged TAG TENTHS: sends requests TAG-1, TAG-2… every ~50 ms until one of them shows in
# the log; fails when none did within TENTHS tenths of a second.
until_logged() {
  local tag=$1 limit=$(($(now_ms) + $2 * 100)) i=0 code
  while :; do
    i=$((i + 1))
    code=$(req "$tag-$i")
    [ "$code" = 200 ] || { echo "request $tag-$i answered $code" >&2; return 1; }
    jq -R -c --arg t "$tag-" 'fromjson? | objects | select(.msg == "request" and (.request_id | startswith($t)))' \
      "$PORRIO_LOG" | grep -q . && return 0
    [ "$(now_ms)" -lt "$limit" ] || break
    sleep 0.05
  done
  echo "no request $tag-* logged within $(($2 / 10)).$(($2 % 10)) s" >&2
  porrio_dump >&2
  return 1
}

# post_status BYTES: status of a POST /hitos whose body is BYTES bytes of 'x' (not JSON: 400
# when the size is accepted, 413 when it is over MAX_BODY_BYTES).
post_status() {
  head -c "$1" /dev/zero | tr '\0' x >"$BATS_TEST_TMPDIR/body"
  status_of -X POST -H 'Content-Type: application/json' --data-binary "@$BATS_TEST_TMPDIR/body" \
    "$PORRIO_URL/hitos"
}

# until_status TENTHS CODE BYTES: post_status BYTES until it answers CODE (at most TENTHS tenths of
# a second); fails with the last status.
until_status() {
  local limit=$(($(now_ms) + $1 * 100)) code
  while :; do
    code=$(post_status "$3")
    [ "$code" = "$2" ] && return 0
    [ "$(now_ms)" -lt "$limit" ] || break
    sleep 0.05
  done
  echo "POST of $3 bytes still answers $code, expected $2" >&2
  return 1
}

# ready_within MS START_MS: polls /health/ready until it answers 200 and checks that this happened
# less than MS milliseconds after START_MS (the clock of now_ms). Gives up after 5 s.
ready_within() {
  local max=$1 start=$2 code took
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 0.5 "$PORRIO_URL/health/ready" || true)
    took=$(($(now_ms) - start))
    [ "$code" = 200 ] && break
    if [ "$took" -gt 5000 ] || ! kill -0 "$PORRIO_PID" 2>/dev/null; then
      echo "not ready after $took ms (last status $code)" >&2
      porrio_dump >&2
      return 1
    fi
    sleep 0.02
  done
  [ "$took" -lt "$max" ] || { echo "ready after $took ms, expected under $max ms" >&2; porrio_dump >&2; return 1; }
}

# unreachable_warnings: the start-up "etcd unreachable" warnings logged.
unreachable_warnings() {
  jq -R -c 'fromjson? | objects | select(.level == "warn" and (.msg | startswith("etcd unreachable")))' \
    "$PORRIO_LOG"
}

# silent_listener PORT [FILE]: a TCP listener on 127.0.0.1:PORT that accepts connections and never
# answers (at most 30 s), appending what it receives to FILE when given (a stand-in for a syslog
# collector; logsink.bats runs a real one); sets SILENT_PID once it accepts.
silent_listener() {
  "$PYTHON" -c '
import socket, sys, threading, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
s.settimeout(0.2)
def record(c):
    with open(sys.argv[2], "ab", buffering=0) as f:
        for d in iter(lambda: c.recv(65536), b""):
            f.write(d)
held, end = [], time.time() + 30
while time.time() < end:
    try:
        held.append(s.accept()[0])
        if len(sys.argv) > 2:
            threading.Thread(target=record, args=(held[-1],), daemon=True).start()
    except socket.timeout:
        pass
' "$@" 3>&- &
  SILENT_PID=$!
  track_pid "$SILENT_PID"
  port_listening "$1" 50 && return 0
  echo "the silent listener did not start on port $1" >&2
  return 1
}

# ---- start-up ---------------------------------------------------------------------------------

@test "precedence with etcd at start: default < .env < env < etcd < flag, and the server listens on the effective PORT" {
  local dir p_dot p_env p_etcd p_flag
  dir=$(new_dir)
  p_dot=$(free_port) p_env=$(free_port) p_etcd=$(free_port) p_flag=$(free_port)
  printf 'PORT=%s\nLOG_LEVEL=debug\nMAX_BODY_BYTES=1000\nSHUTDOWN_GRACE_S=1\nWORKERS=1\n' "$p_dot" >"$dir/.env"
  put PORT "$p_etcd"
  put SHUTDOWN_GRACE_S 3
  put WORKERS 2

  # PORT: .env, env and etcd → etcd; LOG_LEVEL: .env and env → env; MAX_BODY_BYTES: .env only;
  # SHUTDOWN_GRACE_S: .env, env, etcd and flag → flag; WORKERS: .env and etcd → etcd.
  PORRIO_CWD=$dir PORRIO_EXPECT_PORT=$p_etcd porrio_start "${ETCD[@]}" "PORT=$p_env" LOG_LEVEL=warn \
    SHUTDOWN_GRACE_S=2 --shutdown-grace-s 4
  assert_equal "$(setting PORT)" "$p_etcd etcd"
  assert_equal "$(setting LOG_LEVEL)" "warn env"
  assert_equal "$(setting MAX_BODY_BYTES)" "1000 dotenv"
  assert_equal "$(setting SHUTDOWN_GRACE_S)" "4 flag"
  assert_equal "$(setting WORKERS)" "2 etcd"
  assert_equal "$(setting DATA_DIR)" "./var default"
  assert_equal "$(setting ETCD_PREFIX)" "$PFX env"
  assert_equal "$(status_of "http://127.0.0.1:$p_etcd/status")" 200
  assert_equal "$(status_of "http://127.0.0.1:$p_env/status")" 000
  assert_equal "$(status_of "http://127.0.0.1:$p_dot/status")" 000
  porrio_stop

  # the flag beats etcd for PORT too
  PORRIO_CWD=$dir PORRIO_KEEP_CWD=1 porrio_start "${ETCD[@]}" "PORT=$p_env" --port "$p_flag"
  assert_equal "$(setting PORT)" "$p_flag flag"
  assert_equal "$(status_of "http://127.0.0.1:$p_flag/status")" 200
  assert_equal "$(status_of "http://127.0.0.1:$p_etcd/status")" 000
  porrio_stop
}

@test "ETCD_ENDPOINTS and ETCD_PREFIX are never read from etcd" {
  local other
  other=$(free_port)
  put ETCD_PREFIX "x$PFX"
  put ETCD_ENDPOINTS "http://127.0.0.1:$other"
  etcdctl put porrio:ETCD_PREFIX "$PFX" >/dev/null # under the default prefix
  etcdctl put porrio:ETCD_ENDPOINTS "http://127.0.0.1:$other" >/dev/null

  porrio_start "${ETCD[@]}"
  assert_equal "$(setting ETCD_PREFIX)" "$PFX env"
  assert_equal "$(setting ETCD_ENDPOINTS)" "$ETCD_URL env"
  porrio_stop

  # with the default prefix: still the default, never porrio:ETCD_PREFIX's value
  porrio_start "ETCD_ENDPOINTS=$ETCD_URL"
  assert_equal "$(setting ETCD_PREFIX)" "porrio: default"
  assert_equal "$(setting ETCD_ENDPOINTS)" "$ETCD_URL env"
  porrio_stop
  etcdctl del --prefix porrio: >/dev/null

  # config get agrees, and the value in etcd is not the effective one
  run --separate-stderr pc -- config get ETCD_PREFIX
  assert_success
  assert_equal "$output" "$PFX"
  assert_equal "$stderr" env
}

@test "an invalid value in etcd at start: a warning naming key and value, the next source applies" {
  local p
  p=$(free_port)
  put PORT abc
  put LOG_LEVEL loud
  porrio_start "${ETCD[@]}" "PORT=$p"
  log_wait_for 10 "invalid setting in etcd ignored" '.level == "warn" and .name == "PORT" and .value == "abc"'
  log_wait_for 10 "invalid setting in etcd ignored" '.level == "warn" and .name == "LOG_LEVEL" and .value == "loud"'
  assert_equal "$(setting PORT)" "$p env"
  assert_equal "$(setting LOG_LEVEL)" "info default"
  assert_equal "$(status_of "$PORRIO_URL/status")" 200
  porrio_stop
}

# ---- porrio config set ------------------------------------------------------------------------

@test "config set KEY VALUE writes <prefix>KEY into etcd" {
  run --separate-stderr pc -- config set PORT 4321
  assert_success
  assert_equal "$output" "${PFX}PORT=4321"
  assert_equal "$(etcd_value "${PFX}PORT")" 4321
  run --separate-stderr pc -- config set LOG_LEVEL debug
  assert_success
  assert_equal "$(etcd_value "${PFX}LOG_LEVEL")" debug
  # a flag changes the prefix written under
  run --separate-stderr pc -- --etcd-prefix "x$PFX" config set LOG_LEVEL warn
  assert_success
  assert_equal "$(etcd_value "x${PFX}LOG_LEVEL")" warn
  assert_equal "$(etcd_value "${PFX}LOG_LEVEL")" debug
}

@test "config set KEY without a value: argument > env > .env > default" {
  local dir
  dir=$(new_dir)
  printf 'LOG_LEVEL=error\nSHUTDOWN_GRACE_S=7\n' >"$dir/.env"

  PORRIO_CWD=$dir run --separate-stderr pc LOG_LEVEL=warn -- config set LOG_LEVEL debug
  assert_success
  assert_equal "$(etcd_value "${PFX}LOG_LEVEL")" debug
  assert_regex "$stderr" argument

  PORRIO_CWD=$dir run --separate-stderr pc LOG_LEVEL=warn -- config set LOG_LEVEL
  assert_success
  assert_equal "$output" "${PFX}LOG_LEVEL=warn"
  assert_equal "$(etcd_value "${PFX}LOG_LEVEL")" warn
  assert_regex "$stderr" env

  PORRIO_CWD=$dir run --separate-stderr pc -- config set LOG_LEVEL
  assert_success
  assert_equal "$(etcd_value "${PFX}LOG_LEVEL")" error
  assert_regex "$stderr" dotenv

  PORRIO_CWD=$dir run --separate-stderr pc -- config set SHUTDOWN_GRACE_S
  assert_success
  assert_equal "$(etcd_value "${PFX}SHUTDOWN_GRACE_S")" 7

  # neither environment nor .env: the default
  run --separate-stderr pc -- config set LOG_LEVEL
  assert_success
  assert_equal "$output" "${PFX}LOG_LEVEL=info"
  assert_equal "$(etcd_value "${PFX}LOG_LEVEL")" info
  assert_regex "$stderr" default
  run --separate-stderr pc -- config set MAX_BODY_BYTES
  assert_success
  assert_equal "$(etcd_value "${PFX}MAX_BODY_BYTES")" 65536
}

@test "config set WORKERS / HITOS_FILE without a value: exit 2 saying a value is needed" {
  local k
  for k in WORKERS HITOS_FILE; do
    run --separate-stderr pc -- config set "$k"
    assert_failure 2
    assert_regex "$stderr" "$k"
    assert_regex "$stderr" "needs a value|value is needed|a value"
    assert_equal "$output" ""
    assert_equal "$(etcd_value "$PFX$k")" ""
  done
  # from the environment it is fine
  run --separate-stderr pc WORKERS=3 -- config set WORKERS
  assert_success
  assert_equal "$(etcd_value "${PFX}WORKERS")" 3
}

@test "config set: ETCD_ENDPOINTS, ETCD_PREFIX and unknown keys are exit 2" {
  local k
  for k in ETCD_ENDPOINTS ETCD_PREFIX; do
    run --separate-stderr pc -- config set "$k" x
    assert_failure 2
    assert_regex "$stderr" "$k"
    assert_equal "$(etcd_value "$PFX$k")" ""
  done
  run --separate-stderr pc -- config set ETCD_PREFIX=x
  assert_failure 2

  run --separate-stderr pc -- config set NOPE 1
  assert_failure 2
  assert_regex "$stderr" NOPE
  for k in "${PORRIO_SETTINGS[@]}"; do assert_regex "$stderr" "$k"; done
  assert_equal "$(etcd_value "${PFX}NOPE")" ""
}

@test "config set: an invalid value is exit 2 naming the setting, its source and what is allowed" {
  local dir
  run --separate-stderr pc -- config set PORT abc
  assert_failure 2
  assert_regex "$stderr" 'PORT'
  assert_regex "$stderr" 'abc'
  assert_regex "$stderr" 'argument'
  assert_regex "$stderr" '1 to 65535'

  run --separate-stderr pc PORT=abc -- config set PORT
  assert_failure 2
  assert_regex "$stderr" 'PORT=abc'
  assert_regex "$stderr" 'env'
  assert_regex "$stderr" '1 to 65535'

  dir=$(new_dir)
  printf 'LOG_LEVEL=loud\n' >"$dir/.env"
  PORRIO_CWD=$dir run --separate-stderr pc -- config set LOG_LEVEL
  assert_failure 2
  assert_regex "$stderr" 'LOG_LEVEL=loud'
  assert_regex "$stderr" 'dotenv|\.env'
  assert_regex "$stderr" 'debug, info, warn, error'

  run --separate-stderr pc -- config set MAX_BODY_BYTES=0
  assert_failure 2
  assert_regex "$stderr" 'MAX_BODY_BYTES'
  assert_equal "$(etcdctl get --prefix --keys-only "$PFX")" ""
}

@test "config set several at once: KEY and KEY=VALUE" {
  local p
  p=$(free_port)
  run --separate-stderr pc "PORT=$p" -- config set PORT LOG_LEVEL=warn
  assert_success
  assert_equal "$(etcd_value "${PFX}PORT")" "$p"
  assert_equal "$(etcd_value "${PFX}LOG_LEVEL")" warn
  run --separate-stderr pc -- config set MAX_BODY_BYTES=2048 SHUTDOWN_GRACE_S=5 HOST
  assert_success
  assert_equal "$(etcd_value "${PFX}MAX_BODY_BYTES")" 2048
  assert_equal "$(etcd_value "${PFX}SHUTDOWN_GRACE_S")" 5
  assert_equal "$(etcd_value "${PFX}HOST")" 127.0.0.1 # porrio_exec's environment gives HOST
}

@test "config set / get / list with etcd unreachable: exit 1 with a clear message" {
  local closed start
  closed=$(free_port)
  start=$(now_ms)
  run --separate-stderr pc "ETCD_ENDPOINTS=http://127.0.0.1:$closed" -- config set LOG_LEVEL warn
  assert_failure 1
  assert_regex "$stderr" 'etcd'
  assert_regex "$stderr" "127.0.0.1:$closed"
  assert_equal "$output" ""
  run --separate-stderr pc "ETCD_ENDPOINTS=http://127.0.0.1:$closed" -- config get LOG_LEVEL
  assert_failure 1
  assert_regex "$stderr" 'etcd unreachable'
  assert_regex "$stderr" "127.0.0.1:$closed"
  assert_equal "$output" ""
  run --separate-stderr pc "ETCD_ENDPOINTS=http://127.0.0.1:$closed" -- config list
  assert_failure 1
  assert_regex "$stderr" 'etcd unreachable'
  assert_equal "$output" ""
  [ $(($(now_ms) - start)) -lt 5000 ] || fail "took $(($(now_ms) - start)) ms"
}

# ---- porrio config get / list -----------------------------------------------------------------

@test "config get KEY: the effective value alone on stdout, its source on stderr" {
  local dir
  dir=$(new_dir)
  printf 'SHUTDOWN_GRACE_S=7\n' >"$dir/.env"
  put LOG_LEVEL warn
  PORRIO_CWD=$dir run --separate-stderr pc LOG_LEVEL=error PORT=1234 -- config get LOG_LEVEL
  assert_success
  assert_equal "$output" warn
  assert_equal "$stderr" etcd
  PORRIO_CWD=$dir run --separate-stderr pc LOG_LEVEL=error PORT=1234 -- config get PORT
  assert_success
  assert_equal "$output" 1234
  assert_equal "$stderr" env
  PORRIO_CWD=$dir run --separate-stderr pc -- config get SHUTDOWN_GRACE_S
  assert_success
  assert_equal "$output" 7
  assert_equal "$stderr" dotenv
  run --separate-stderr pc -- config get MAX_BODY_BYTES
  assert_success
  assert_equal "$output" 65536
  assert_equal "$stderr" default
  run --separate-stderr pc -- --log-level debug config get LOG_LEVEL
  assert_success
  assert_equal "$output" debug
  assert_equal "$stderr" flag
  run --separate-stderr pc -- config get NOPE
  assert_failure 2
  assert_regex "$stderr" NOPE
}

@test "config list: one line per setting, NAME<TAB>value<TAB>source<TAB>etcd value or -" {
  put LOG_LEVEL warn
  put PORT 4000
  run --separate-stderr pc PORT=1234 -- --port 5000 config list
  assert_success
  assert_equal "${#lines[@]}" "${#PORRIO_SETTINGS[@]}"
  assert_equal "$(cut -f1 <<<"$output" | sort | tr '\n' ' ')" "$(printf '%s\n' "${PORRIO_SETTINGS[@]}" | sort | tr '\n' ' ')"
  assert_equal "$(awk -F'\t' 'NF != 4' <<<"$output")" ""
  assert_line -- "$(printf 'LOG_LEVEL\twarn\tetcd\twarn')"
  assert_line -- "$(printf 'PORT\t5000\tflag\t4000')"
  assert_line -- "$(printf 'MAX_BODY_BYTES\t65536\tdefault\t-')"
  assert_line -- "$(printf 'HOST\t127.0.0.1\tenv\t-')"
  assert_line -- "$(printf 'ETCD_PREFIX\t%s\tenv\t-' "$PFX")"
}

@test "config get / list: an invalid value in etcd leaves stdout to the values alone" {
  put PORT abc
  run --separate-stderr pc PORT=1234 -- config get PORT
  assert_success
  assert_equal "$output" 1234      # stdout: the value alone, as `PORT=$(porrio config get PORT)` needs
  assert_regex "$stderr" 'abc'     # the warning about etcd's value goes to stderr
  run --separate-stderr pc PORT=1234 -- config list
  assert_success
  assert_equal "${#lines[@]}" "${#PORRIO_SETTINGS[@]}"
  assert_line -- "$(printf 'PORT\t1234\tenv\tabc')"
}

# ---- the watch --------------------------------------------------------------------------------

@test "watch: LOG_LEVEL put with etcdctl applies within 2 s (warn silences requests, info brings them back)" {
  local t0 line
  porrio_start "${ETCD[@]}"
  log_wait_for 50 "etcd watch connected"
  assert_equal "$(req a1)" 200
  log_request a1 >/dev/null

  t0=$(now_ms)
  put LOG_LEVEL warn
  line=$(log_wait_for 20 "setting changed" '.name == "LOG_LEVEL" and .value == "warn"')
  [ $(($(now_ms) - t0)) -lt 2000 ] || fail "applied after $(($(now_ms) - t0)) ms"
  assert_equal "$(jfield "$line" .level)" info
  sleep 0.1
  not_logged a2

  put LOG_LEVEL info
  until_logged back 20
  porrio_stop
}

@test "watch: MAX_BODY_BYTES put with etcdctl changes the 413 threshold live" {
  porrio_start "${ETCD[@]}"
  log_wait_for 50 "etcd watch connected"
  assert_equal "$(post_status 300)" 400
  put MAX_BODY_BYTES 100
  until_status 20 413 300
  log_wait_for 10 "setting changed" '.name == "MAX_BODY_BYTES" and .value == "100"'
  assert_equal "$(post_status 50)" 400
  put MAX_BODY_BYTES 1000
  until_status 20 400 300
  porrio_stop
}

@test "watch: MAX_POOLS put with etcdctl applies live: a new pool past it 409, an existing one 200, room again when raised" {
  porrio_start "${ETCD[@]}"
  log_wait_for 50 "etcd watch connected"
  assert_equal "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT "$PORRIO_URL/porra/first/b/c/1")" 200
  put MAX_POOLS 1
  log_wait_for 20 "setting changed" '.name == "MAX_POOLS" and .value == "1"'
  # the change is logged just before it is applied: a pool may slip in meanwhile, then the next is refused
  local i st body
  for ((i = 0; i < 20; i++)); do
    body=$(curl -s -w ' %{http_code}' --max-time 5 -X PUT "$PORRIO_URL/porra/new$i/b/c/1")
    st=${body##* }
    [ "$st" = 409 ] && break
    sleep 0.1
  done
  assert_equal "$st" 409
  assert_regex "${body% *}" '"MAX_POOLS reached: [0-9]+ pools, at most 1"'
  assert_equal "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT "$PORRIO_URL/porra/first/b/c/1")" 200
  put MAX_POOLS 100
  log_wait_for 20 "setting changed" '.name == "MAX_POOLS" and .value == "100"'
  for ((i = 0; i < 20; i++)); do
    st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT "$PORRIO_URL/porra/later/b/c/1")
    [ "$st" = 200 ] && break
    sleep 0.1
  done
  assert_equal "$st" 200
  porrio_stop
}

@test "watch: LOG_SINK put with etcdctl moves the copy of the log lines to the new collector" {
  local a b i
  a=$(free_port) b=$(free_port)
  silent_listener "$a" "$BATS_TEST_TMPDIR/a"
  silent_listener "$b" "$BATS_TEST_TMPDIR/b"
  porrio_start "${ETCD[@]}" LOG_SINK="syslog+tcp://127.0.0.1:$a"
  log_wait_for 50 "etcd watch connected"
  assert_equal "$(req to-a)" 200
  for ((i = 0; i < 100; i++)); do grep -q '"request_id":"to-a"' "$BATS_TEST_TMPDIR/a" 2>/dev/null && break; sleep 0.05; done
  grep -q '"request_id":"to-a"' "$BATS_TEST_TMPDIR/a"
  put LOG_SINK "syslog+tcp://127.0.0.1:$b"
  log_wait_for 20 "setting changed" '.name == "LOG_SINK"'
  assert_equal "$(req to-b)" 200
  for ((i = 0; i < 100; i++)); do grep -q '"request_id":"to-b"' "$BATS_TEST_TMPDIR/b" 2>/dev/null && break; sleep 0.05; done
  grep -q '"request_id":"to-b"' "$BATS_TEST_TMPDIR/b" || fail "the line never reached the new collector"
  run grep -c '"request_id":"to-b"' "$BATS_TEST_TMPDIR/a"
  assert_output 0
  put LOG_SINK "nope://x"
  log_wait_for 20 "invalid setting from etcd refused; the previous value stays" '.name == "LOG_SINK"'
  porrio_stop
}

@test "watch: SHUTDOWN_DELAY_S put with etcdctl applies to the next SIGTERM" {
  porrio_start "${ETCD[@]}"
  log_wait_for 50 "etcd watch connected"
  put SHUTDOWN_DELAY_S 1
  log_wait_for 20 "setting changed" '.name == "SHUTDOWN_DELAY_S" and .value == "1"'
  kill -TERM "$PORRIO_PID"
  line=$(log_wait_for 20 "shutdown delay: /health/ready answers 503, serving on until the drain")
  assert_equal "$(jfield "$line" .delay_s)" 1
  porrio_wait_exit "$PORRIO_PID" 50
  assert_equal "$PORRIO_STATUS" 0
}

# forwarded_as TENTHS ADDR: sends GET /status with X-Forwarded-For: 203.0.113.7 until its log
# line's remote_addr is ADDR (at most TENTHS tenths of a second).
forwarded_as() {
  local i id
  for ((i = 0; i < $1; i++)); do
    FWD_N=$((${FWD_N:-0} + 1))
    id="fwd-$BATS_TEST_NUMBER-$FWD_N"
    curl -s -o /dev/null --max-time 2 -H "X-Request-Id: $id" -H 'X-Forwarded-For: 203.0.113.7' "$PORRIO_URL/status"
    [ "$(log_request "$id" | jq -r .remote_addr)" = "$2" ] && return 0
    sleep 0.1
  done
  fail "remote_addr never became $2"
}

@test "watch: TRUSTED_PROXIES put with etcdctl applies live; an invalid list is refused; deleted, nobody is trusted" {
  porrio_start "${ETCD[@]}"
  log_wait_for 50 "etcd watch connected"
  forwarded_as 1 127.0.0.1
  put TRUSTED_PROXIES 127.0.0.1
  forwarded_as 20 203.0.113.7
  put TRUSTED_PROXIES 'nginx'
  log_wait_for 20 "invalid setting from etcd refused; the previous value stays" '.name == "TRUSTED_PROXIES"'
  forwarded_as 1 203.0.113.7
  del TRUSTED_PROXIES
  forwarded_as 20 127.0.0.1
  porrio_stop
}

@test "watch: a change to a restart-only setting (PORT) warns that a restart is needed; the old port stays" {
  local newp line
  porrio_start "${ETCD[@]}"
  log_wait_for 50 "etcd watch connected"
  newp=$(free_port)
  put PORT "$newp"
  line=$(log_wait_for 20 "setting changed in etcd; restart to apply it" ".name == \"PORT\" and .value == \"$newp\"")
  assert_equal "$(jfield "$line" .level)" warn
  assert_regex "$(jfield "$line" .msg)" restart
  assert_equal "$(status_of "$PORRIO_URL/status")" 200
  assert_equal "$(status_of "http://127.0.0.1:$newp/status")" 000
  porrio_stop
}

@test "watch: an invalid value is refused with a warning naming key and value; the old level stays" {
  porrio_start "${ETCD[@]}" LOG_LEVEL=warn
  # (no "etcd watch connected" line at warn; the watch starts from the revision read at start)
  put LOG_LEVEL loud
  log_wait_for 20 "invalid setting from etcd refused; the previous value stays" \
    '.level == "warn" and .name == "LOG_LEVEL" and .value == "loud"'
  not_logged b1 # still warn: neither loud nor a fallback to info
  # the watch goes on: a valid value afterwards applies
  put LOG_LEVEL debug
  until_logged after 20
  porrio_stop
}

@test "watch: a deleted key falls back to the environment, or the default" {
  put LOG_LEVEL debug
  put MAX_BODY_BYTES 100
  porrio_start "${ETCD[@]}" LOG_LEVEL=warn
  assert_equal "$(setting LOG_LEVEL)" "debug etcd"
  assert_equal "$(setting MAX_BODY_BYTES)" "100 etcd"
  log_wait_for 50 "etcd watch connected"
  assert_equal "$(req c1)" 200
  log_request c1 >/dev/null
  assert_equal "$(post_status 300)" 413

  del MAX_BODY_BYTES
  log_wait_for 20 "setting changed" '.name == "MAX_BODY_BYTES" and .value == "65536" and .source == "default"'
  assert_equal "$(post_status 300)" 400

  del LOG_LEVEL
  log_wait_for 20 "setting changed" '.name == "LOG_LEVEL" and .value == "warn" and .source == "env"'
  sleep 0.1
  not_logged c2
  porrio_stop
}

@test "watch: a setting given by a flag is not changed by etcd" {
  porrio_start "${ETCD[@]}" --log-level info
  log_wait_for 50 "etcd watch connected"
  put LOG_LEVEL error
  log_wait_for 20 "etcd change ignored: the setting is given by a flag" '.name == "LOG_LEVEL"'
  until_logged d 10
  porrio_stop
}

# ---- etcd going away, etcd late ---------------------------------------------------------------

@test "etcd stopped while serving: requests keep succeeding, the last values stay; etcd back: the watch resumes" {
  local i orig side
  etcd_start_new
  orig=$ETCD_CLIENT_PORT
  put MAX_BODY_BYTES 100
  porrio_start "ETCD_ENDPOINTS=$ETCD_URL" "ETCD_PREFIX=$PFX"
  log_wait_for 50 "etcd watch connected"
  assert_equal "$(post_status 300)" 413

  etcd_stop
  log_wait_for 50 "etcd watch lost" '.level == "warn"'
  for i in 1 2 3 4 5; do
    assert_equal "$(req down-$i)" 200
    assert_equal "$(status_of "$PORRIO_URL/health/ready")" 200
  done
  assert_equal "$(post_status 300)" 413 # the last value stays

  # The same etcd (data, revisions) on another client port, which the service does not know:
  # a put made there happens for sure while the service's watch is disconnected.
  side=$(free_port)
  ETCD_CLIENT_PORT=$side
  etcd_resume
  put MAX_BODY_BYTES 1000
  etcd_stop
  sleep 0.5
  assert_equal "$(post_status 300)" 413
  assert_equal "$(log_count "etcd watch connected")" 1

  # etcd back on the same ports and data: the watch reconnects and resumes from the last
  # revision it saw, so the put made meanwhile is applied
  ETCD_CLIENT_PORT=$orig
  etcd_resume
  log_wait_for 80 "setting changed" '.name == "MAX_BODY_BYTES" and .value == "1000"'
  until_status 10 400 300
  log_wait 'etcd watch connected' 2

  # and a put after the reconnection applies too
  put LOG_LEVEL warn
  log_wait_for 20 "setting changed" '.name == "LOG_LEVEL" and .value == "warn"'
  sleep 0.1
  not_logged e1
  porrio_stop
  etcd_stop
}

@test "etcd refusing at start: ready at once, one warning, fallbacks; etcd appearing later is followed" {
  local closed start port
  closed=$(free_port)
  port=$(free_port)
  start=$(now_ms)
  porrio_spawn "ETCD_ENDPOINTS=http://127.0.0.1:$closed" "ETCD_PREFIX=$PFX" "PORT=$port" LOG_LEVEL=info
  ready_within 1500 "$start"
  assert_equal "$(unreachable_warnings | wc -l)" 1
  assert_equal "$(setting LOG_LEVEL)" "info env"
  assert_equal "$(setting MAX_BODY_BYTES)" "65536 default"

  etcd_start_new "$closed"
  put MAX_BODY_BYTES 100
  log_wait_for 80 "setting changed" '.name == "MAX_BODY_BYTES" and .value == "100" and .source == "etcd"'
  assert_equal "$(post_status 300)" 413
  log_wait_for 10 "etcd watch connected"
  porrio_stop
  etcd_stop
}

@test "etcd silent at start: ready in under 1.5 s, one warning; etcd replacing it later is followed" {
  local silent start port
  silent=$(free_port)
  silent_listener "$silent"
  port=$(free_port)
  start=$(now_ms)
  porrio_spawn "ETCD_ENDPOINTS=http://127.0.0.1:$silent" "ETCD_PREFIX=$PFX" "PORT=$port"
  ready_within 1500 "$start"
  assert_equal "$(unreachable_warnings | wc -l)" 1
  assert_equal "$(setting LOG_LEVEL)" "info default"

  kill "$SILENT_PID"
  wait "$SILENT_PID" 2>/dev/null || true
  untrack_pid "$SILENT_PID"
  etcd_start_new "$silent"
  put LOG_LEVEL warn
  log_wait_for 80 "setting changed" '.name == "LOG_LEVEL" and .value == "warn" and .source == "etcd"'
  sleep 0.1
  not_logged f1
  porrio_stop
  etcd_stop
}
