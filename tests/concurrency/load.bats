#!/usr/bin/env bats
# Concurrent clients against one server with two workers, for the ThreadSanitizer build
# (README, "Sanitizers"; `make test-tsan` runs it against build/tsan/porrio): the local store's
# committer, and with STORE=etcd the watch and etcd sender threads, live reloads from etcd and
# LOG_SINK's sender. A race makes the server exit at once (TSAN_OPTIONS halt_on_error), so the
# load fails; the stop checks exit status 0 and a stderr without a report.

load ../integration/helpers
load ../integration/etcd

# sink_start NAME: a collector that appends what it receives to $BATS_TEST_TMPDIR/sink.NAME,
# until killed; sets SINK_PORT.
sink_start() {
  local port out=$BATS_TEST_TMPDIR/sink.$1
  port=$(free_port)
  "$PYTHON" -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        c, _ = s.accept()
        while True:
            d = c.recv(65536)
            if not d: break
            out.write(d)
        c.close()
' "$port" "$out" >/dev/null 2>&1 3>&- &
  track_pid $!
  port_listening "$port"
  SINK_PORT=$port
}

teardown() { porrio_cleanup; }

@test "STORE=local: concurrent writes and reads on two workers, every answer as expected" {
  porrio_start WORKERS=2
  run "$PYTHON" "$BATS_TEST_DIRNAME/load.py" "$PORRIO_URL" 6 25
  [ "$status" = 0 ] || { porrio_dump; fail "load: $output"; }
  porrio_stop
}

@test "STORE=etcd with live reloads and LOG_SINK switching collectors: every answer as expected" {
  etcd_start_new
  local a b
  sink_start a && a=$SINK_PORT
  sink_start b && b=$SINK_PORT
  porrio_start WORKERS=2 STORE=etcd ETCD_ENDPOINTS="$ETCD_URL" ETCD_PREFIX=load: \
    LOG_SINK="syslog+tcp://127.0.0.1:$a"
  run "$PYTHON" "$BATS_TEST_DIRNAME/load.py" "$PORRIO_URL" 6 15 "$ETCD_URL" load: "$a" "$b"
  [ "$status" = 0 ] || { porrio_dump; fail "load: $output"; }
  [ "$(jfield "${lines[-1]}" .reloads)" -gt 0 ]
  porrio_stop
  # both collectors had lines: the sink followed LOG_SINK's changes
  [ -s "$BATS_TEST_TMPDIR/sink.a" ] && [ -s "$BATS_TEST_TMPDIR/sink.b" ]
  etcd_stop
}
