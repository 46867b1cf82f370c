#!/usr/bin/env bats
# Settings of the real binary (README: Commands, Settings): precedence flag > env > .env > default shown by the
# start-up "setting" lines and by where it actually listens; invalid settings and usage (exit 2,
# one line on stderr); a port in use (exit 1); --help and --version.

load helpers

setup_file() {
  # A server holding a port, for the "already in use" checks.
  porrio_start
}

teardown_file() { porrio_teardown_file; }

teardown() { porrio_cleanup; }

# setting NAME: "value source" of NAME's start-up line in $PORRIO_LOG.
setting() { log_setting "$1" | jq -r '.value + " " + .source'; }

# new_dir: prints a new empty directory (a working directory for a .env file).
new_dir() { mktemp -d "$BATS_TEST_TMPDIR/cwd.XXXXXX"; }

# assert_bad_setting REGEX...: the last `run --separate-stderr` exited 2 with one stderr line
# matching every REGEX.
assert_bad_setting() {
  local re
  assert_failure 2
  assert_equal "$(printf '%s\n' "$stderr" | wc -l)" 1
  for re in "$@"; do assert_regex "$stderr" "$re"; done
}

# assert_bad_dotenv DIR TEXT REGEX...: with TEXT as DIR/.env, porrio run in DIR exits 2 with
# one stderr line matching every REGEX.
assert_bad_dotenv() {
  printf '%s' "$2" >"$1/.env"
  PORRIO_CWD=$1 run --separate-stderr porrio_exec
  assert_bad_setting "${@:3}"
}

# not_listening PORT: nothing answers on 127.0.0.1:PORT.
not_listening() { [ "$(status_of "http://127.0.0.1:$1/health/live")" = 000 ]; }

@test "precedence: defaults (PORT 3000, LOG_LEVEL info) when nothing sets them" {
  # PORT 3000 may be taken on this machine: the setting lines come before the bind either way.
  PORRIO_EXPECT_PORT=3000 porrio_spawn
  local pid=$PORRIO_PID
  log_wait setting ${#PORRIO_SETTINGS[@]}
  assert_equal "$(setting PORT)" "3000 default"
  assert_equal "$(setting LOG_LEVEL)" "info default"
  assert_equal "$(setting MAX_BODY_BYTES)" "65536 default"
  kill -TERM "$pid" 2>/dev/null || true
  porrio_wait_exit "$pid"
  [[ $PORRIO_STATUS == 0 || $PORRIO_STATUS == 1 ]] || fail "exit status $PORRIO_STATUS"
}

@test "precedence: .env beats the default" {
  local dir p1
  dir=$(new_dir)
  p1=$(free_port)
  printf '# settings for the test\nexport PORT=%s\nLOG_LEVEL="debug"\nSHUTDOWN_GRACE_S=3 # comment\nNOT_A_SETTING=1\n' \
    "$p1" >"$dir/.env"
  PORRIO_CWD=$dir PORRIO_EXPECT_PORT=$p1 porrio_start
  assert_equal "$(setting PORT)" "$p1 dotenv"
  assert_equal "$(setting LOG_LEVEL)" "debug dotenv"
  assert_equal "$(setting SHUTDOWN_GRACE_S)" "3 dotenv"
  assert_equal "$(setting WORKERS | cut -d' ' -f2)" default
  porrio_stop
}

@test "precedence: the environment beats .env (.env never overrides the real environment)" {
  local dir p1 p2
  dir=$(new_dir)
  p1=$(free_port)
  p2=$(free_port)
  printf 'PORT=%s\nLOG_LEVEL=debug\nMAX_BODY_BYTES=100\n' "$p1" >"$dir/.env"
  PORRIO_CWD=$dir porrio_start PORT="$p2" LOG_LEVEL=warn MAX_BODY_BYTES=5000
  assert_equal "$PORRIO_PORT" "$p2"
  assert_equal "$(setting PORT)" "$p2 env"
  assert_equal "$(setting LOG_LEVEL)" "warn env"
  assert_equal "$(setting MAX_BODY_BYTES)" "5000 env"
  not_listening "$p1"
  # The limit in force is the environment's: 1000 bytes are not too large.
  run status_of -X POST --data-binary "$(printf 'x%.0s' {1..1000})" "$PORRIO_URL/status"
  assert_output 405
  run status_of -X POST --data-binary "$(printf 'x%.0s' {1..6000})" "$PORRIO_URL/status"
  assert_output 413
  porrio_stop
}

@test "precedence: flags beat the environment and .env" {
  local dir p1 p2 p3
  dir=$(new_dir)
  p1=$(free_port)
  p2=$(free_port)
  p3=$(free_port)
  printf 'PORT=%s\nLOG_LEVEL=debug\n' "$p1" >"$dir/.env"
  PORRIO_CWD=$dir porrio_start PORT="$p2" LOG_LEVEL=warn --port "$p3" --log-level error
  assert_equal "$PORRIO_PORT" "$p3"
  assert_equal "$(setting PORT)" "$p3 flag"
  assert_equal "$(setting LOG_LEVEL)" "error flag"
  not_listening "$p1"
  not_listening "$p2"
  porrio_stop
  # --flag=VALUE works too, and the last of a repeated flag wins.
  p3=$(free_port)
  PORRIO_CWD=$dir porrio_start PORT="$p2" --port=1 --port="$p3" --log-level=debug
  assert_equal "$(setting PORT)" "$p3 flag"
  assert_equal "$(setting LOG_LEVEL)" "debug flag"
  porrio_stop
}

@test "bad PORT from the environment: exit 2, one line naming it, its source, what is allowed" {
  run --separate-stderr porrio_exec PORT=abc
  assert_bad_setting 'PORT' 'abc' '\benv\b' '1' '65535'
  run --separate-stderr porrio_exec PORT=70000
  assert_bad_setting 'PORT' '70000' '\benv\b' '65535'
  run --separate-stderr porrio_exec PORT=0
  assert_bad_setting 'PORT' '\benv\b' '65535'
}

@test "bad WORKERS and LOG_LEVEL: exit 2 with what is allowed" {
  run --separate-stderr porrio_exec WORKERS=0
  assert_bad_setting 'WORKERS' '\benv\b' 'integer|number'
  run --separate-stderr porrio_exec LOG_LEVEL=loud
  assert_bad_setting 'LOG_LEVEL' 'loud' '\benv\b' 'debug' 'info' 'warn' 'error'
  run --separate-stderr porrio_exec MAX_BODY_BYTES=-5
  assert_bad_setting 'MAX_BODY_BYTES' '\benv\b'
  run --separate-stderr porrio_exec SHUTDOWN_GRACE_S=soon
  assert_bad_setting 'SHUTDOWN_GRACE_S' '\benv\b'
}

@test "bad value from a flag: exit 2 naming the flag source" {
  run --separate-stderr porrio_exec --port abc
  assert_bad_setting 'PORT' 'abc' '\bflag\b' '65535'
  run --separate-stderr porrio_exec --workers=-1
  assert_bad_setting 'WORKERS' '\bflag\b'
  # A bad flag wins over a good environment value: it is not silently ignored.
  run --separate-stderr porrio_exec PORT=8080 --port 99999
  assert_bad_setting 'PORT' '\bflag\b'
}

@test ".env: a malformed line is exit 2 naming .env and the line number" {
  local dir
  dir=$(new_dir)
  assert_bad_dotenv "$dir" $'# comment\nPORT=3000\nthis line is not a setting\n' '\.env' 'line 3'
  assert_bad_dotenv "$dir" $'LOG_LEVEL="debug\n' '\.env' 'line 1'
}

@test ".env: an invalid value is exit 2 naming the dotenv source" {
  local dir
  dir=$(new_dir)
  assert_bad_dotenv "$dir" $'LOG_LEVEL=loud\n' 'LOG_LEVEL' 'loud' 'dotenv|\.env'
  # ... unless the environment sets a valid value, which wins.
  PORRIO_CWD=$dir porrio_start LOG_LEVEL=info
  assert_equal "$(setting LOG_LEVEL)" "info env"
  porrio_stop
}

@test "usage errors: unknown flag, flag without value, stray argument: exit 2" {
  run --separate-stderr porrio_exec --bogus 1
  assert_failure 2
  assert_regex "$stderr" '--bogus'
  assert_equal "$output" ""
  run --separate-stderr porrio_exec --port
  assert_failure 2
  assert_regex "$stderr" '--port'
  run --separate-stderr porrio_exec serve-please
  assert_failure 2
  assert_regex "$stderr" 'serve-please'
}

@test "HITOS_FILE set to a missing file: exit 2 naming it" {
  run --separate-stderr porrio_exec HITOS_FILE=/nonexistent/hitos.json
  assert_failure 2
  assert_regex "$stderr" 'HITOS_FILE'
  assert_regex "$stderr" '/nonexistent/hitos\.json'
  run --separate-stderr porrio_exec --hitos-file "$BATS_TEST_TMPDIR/missing.json"
  assert_failure 2
  assert_regex "$stderr" 'HITOS_FILE'
  assert_regex "$stderr" 'flag'
}

@test "port already in use by another porrio: exit 1 with a clear message" {
  run --separate-stderr porrio_exec PORT="$PORRIO_PORT" DATA_DIR="$BATS_TEST_TMPDIR/data"
  assert_failure 1
  assert_regex "$stderr" "127\.0\.0\.1:$PORRIO_PORT"
  assert_regex "$stderr" 'in use'
  # The first one goes on serving.
  run status_of "$PORRIO_URL/status"
  assert_output 200
}

@test "DATA_DIR in use by another porrio: exit 1 naming it; the first one goes on serving" {
  run --separate-stderr porrio_exec PORT="$(free_port)"
  assert_failure 1
  assert_regex "$stderr" 'DATA_DIR .*var.* is in use by another porrio'
  run status_of "$PORRIO_URL/status"
  assert_output 200
}

@test "port already in use by another program (even one with SO_REUSEPORT): exit 1" {
  local portfile="$BATS_TEST_TMPDIR/port" port i
  "$PYTHON" -c '
import os, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", 0))
s.listen(8)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(30)
' "$portfile" 3>&- &
  track_pid $!
  for ((i = 0; i < 100; i++)); do [ -s "$portfile" ] && break; sleep 0.05; done
  port=$(cat "$portfile")
  run --separate-stderr porrio_exec PORT="$port" DATA_DIR="$BATS_TEST_TMPDIR/data"
  assert_failure 1
  assert_regex "$stderr" "$port"
  assert_regex "$stderr" 'in use'
}

@test "--help lists every flag and exits 0" {
  local flag
  run --separate-stderr "$PORRIO" --help
  assert_success
  for flag in --port --host --workers --log-level --data-dir --hitos-file --static-dir \
    --max-body-bytes --etcd-endpoints --etcd-prefix --shutdown-grace-s --version --help; do
    assert_regex "$output" "(^|[^-a-z])$flag([^-a-z]|$)"
  done
  # Also with other arguments around it, and it starts nothing.
  run --separate-stderr timeout 5 "$PORRIO" --port 1 --help
  assert_success
  assert_regex "$output" '--max-body-bytes'
}

@test "--help: each setting is described once, with its default once" {
  run --separate-stderr "$PORRIO" --help
  assert_success
  run grep -c '(default:.*(default:' <<<"$output"
  assert_output 0
}

@test "--version prints 'porrio <version>' and exits 0" {
  run --separate-stderr "$PORRIO" --version
  assert_success
  if [ -f "$REPO_ROOT/VERSION" ]; then
    assert_output "porrio $(cat "$REPO_ROOT/VERSION")"
  else
    assert_regex "$output" '^porrio [0-9]+\.[0-9]+\.[0-9]+'
  fi
  assert_equal "$stderr" ""
}
