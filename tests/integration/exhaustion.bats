#!/usr/bin/env bats
# Out of file descriptors (README: In production): when accept fails with EMFILE, a worker leaves
# its listener alone for 100 ms at a time instead of spinning, logs one warning per episode, and
# counts the episode in porrio_accept_exhausted_total; once connections close it serves again.

load helpers

# Holds N connections to PORT open (the kernel completes them even when porrio cannot accept
# them), creates DIR/held, and closes them all when DIR/go appears (at the latest after 20 s).
HOLDER='
import os, socket, sys, time
port, n, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
conns = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]
open(os.path.join(d, "held"), "w").close()
end = time.time() + 20
while time.time() < end and not os.path.exists(os.path.join(d, "go")):
    time.sleep(0.05)
for s in conns:
    s.close()
'

# cpu_ticks PID: user + system CPU time of PID so far, in clock ticks (fields 14 and 15 of
# /proc/PID/stat, counted after the parenthesised command name).
cpu_ticks() {
  sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

setup() {
  # The server runs with at most 64 file descriptors.
  printf '#!/bin/sh\nulimit -n 64 || exit 1\nexec "%s" "$@"\n' "$PORRIO" >"$BATS_TEST_TMPDIR/lowfd"
  chmod +x "$BATS_TEST_TMPDIR/lowfd"
}

teardown() {
  porrio_stop || true
  porrio_cleanup
}

@test "EMFILE on accept: no busy loop, one warning, counted, and serving again once connections close" {
  PORRIO="$BATS_TEST_TMPDIR/lowfd" porrio_start WORKERS=1
  run cat "/proc/$PORRIO_PID/limits"
  assert_line --regexp '^Max open files +64 +'
  "$PYTHON" -c "$HOLDER" "$PORRIO_PORT" 120 "$BATS_TEST_TMPDIR" 3>&- &
  local holder=$!
  track_pid "$holder"
  local i
  for ((i = 0; i < 50; i++)); do
    [ -e "$BATS_TEST_TMPDIR/held" ] && break
    sleep 0.1
  done
  assert [ -e "$BATS_TEST_TMPDIR/held" ]
  log_wait "out of file descriptors, not accepting connections for a while"
  # Over a second of exhaustion the process uses well under a tenth of a core.
  local hz before after
  hz=$(getconf CLK_TCK)
  before=$(cpu_ticks "$PORRIO_PID")
  sleep 1
  after=$(cpu_ticks "$PORRIO_PID")
  (((after - before) * 10 < hz)) || fail "$((after - before)) of $hz CPU ticks in one second while out of file descriptors"
  # One warning for the whole episode, naming the error.
  assert_equal "$(log_count "out of file descriptors, not accepting connections for a while")" 1
  run log_line "out of file descriptors, not accepting connections for a while"
  assert_equal "$(jfield "$output" .level)" warn
  assert_regex "$(jfield "$output" .error)" '[Tt]oo many open files|[Nn]o file descriptors'
  # The held connections go away: every request is served again.
  touch "$BATS_TEST_TMPDIR/go"
  wait "$holder"
  untrack_pid "$holder"
  local code
  for ((i = 0; i < 50; i++)); do
    code=$(status_of "$PORRIO_URL/health/live")
    [ "$code" = 200 ] && break
    sleep 0.1
  done
  assert_equal "$code" 200
  for ((i = 0; i < 5; i++)); do
    assert_equal "$(status_of "$PORRIO_URL/status")" 200
  done
  http_fetch "$PORRIO_URL/metrics"
  assert_equal "$STATUS" 200
  run grep -E '^(# TYPE )?porrio_accept_exhausted_total ' <<<"$BODY"
  assert_output $'# TYPE porrio_accept_exhausted_total counter\nporrio_accept_exhausted_total 1'
}
