#!/usr/bin/env bats
# The container's health probe, tried against stand-in HTTP servers on loopback: whether it reads
# the status line, honours PORT and keeps its 2 s deadline does not depend on the real service.

bats_require_minimum_version 1.5.0

# A stand-in server: binds a free loopback port, publishes it in a file (renamed into place so a
# reader never sees it half written), records the last request and answers according to MODE.
STUB='
import os, socket, sys
mode, portfile, reqfile = sys.argv[1:]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
answers = {
    "ok": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "unavailable": b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
}
held = []
while True:
    c, _ = s.accept()
    if mode == "silent":
        held.append(c)
        continue
    req = b""
    while b"\r\n\r\n" not in req:
        chunk = c.recv(4096)
        if not chunk:
            break
        req += chunk
    with open(reqfile, "wb") as f:
        f.write(req)
    c.sendall(answers[mode])
    c.close()
'

setup_file() {
  ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
  make -s -C "$ROOT" build/healthcheck >/dev/null
  export HC="$ROOT/build/healthcheck"
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
  PIDS=()
}

teardown() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}

# start_stub MODE: starts a stand-in server and sets STUB_PORT to the port it listens on.
start_stub() {
  local portfile="$BATS_TEST_TMPDIR/port.$1" i
  python3 -c "$STUB" "$1" "$portfile" "$BATS_TEST_TMPDIR/request" 3>&- &
  PIDS+=("$!")
  for ((i = 0; i < 100; i++)); do
    [ -s "$portfile" ] && break
    sleep 0.05
  done
  STUB_PORT=$(cat "$portfile")
  [[ $STUB_PORT =~ ^[0-9]+$ ]]
}

# A loopback port nobody listens on: bound by the kernel's choice, then released.
closed_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

@test "healthcheck: 200 answer exits 0 after a GET with Host and Connection: close" {
  start_stub ok
  run --separate-stderr "$HC" "http://127.0.0.1:$STUB_PORT/health/ready"
  assert_success
  assert_equal "$stderr" ""
  run cat "$BATS_TEST_TMPDIR/request"
  assert_line --index 0 $'GET /health/ready HTTP/1.0\r'
  assert_line $'Host: 127.0.0.1:'"$STUB_PORT"$'\r'
  assert_line $'Connection: close\r'
}

@test "healthcheck: 503 answer exits 1 and says so on stderr" {
  start_stub unavailable
  run --separate-stderr "$HC" "http://127.0.0.1:$STUB_PORT/health/ready"
  assert_failure 1
  assert_regex "$stderr" '^healthcheck: status 503'
  assert_equal "$output" ""
}

@test "healthcheck: closed port exits 1 naming the address refused" {
  local port
  port=$(closed_port)
  run --separate-stderr "$HC" "http://127.0.0.1:$port/"
  assert_failure 1
  assert_regex "$stderr" "^healthcheck: connect 127\.0\.0\.1:$port: .*refused"
}

@test "healthcheck: server that accepts and never answers fails at the 2 s deadline" {
  local start elapsed
  start_stub silent
  start=$(date +%s%N)
  run --separate-stderr "$HC" "http://127.0.0.1:$STUB_PORT/health/ready"
  elapsed=$((($(date +%s%N) - start) / 1000000))
  assert_failure 1
  assert_regex "$stderr" 'timed out'
  # It must have waited for the server (not failed early) and given up near the 2 s deadline.
  assert [ "$elapsed" -ge 1500 ]
  assert [ "$elapsed" -lt 3500 ]
}

@test "healthcheck: malformed URLs are bad usage (exit 2)" {
  local url
  for url in "ftp://127.0.0.1/" "http://" "127.0.0.1:3000" "http://127.0.0.1:0/" \
    "http://127.0.0.1:65536/" "http://127.0.0.1:x/" "http://[::1/" "http://host/a b"; do
    run --separate-stderr "$HC" "$url"
    assert_failure 2
    assert_regex "$stderr" '^healthcheck: bad URL'
  done
  run --separate-stderr "$HC" http://127.0.0.1/ extra
  assert_failure 2
  assert_regex "$stderr" '^usage: healthcheck'
}

@test "healthcheck: --help prints usage and exits 0" {
  run --separate-stderr "$HC" --help
  assert_success
  assert_regex "$output" '^usage: healthcheck'
}

@test "healthcheck: default URL is http://127.0.0.1:\$PORT/health/ready" {
  start_stub ok
  PORT=$STUB_PORT run --separate-stderr "$HC"
  assert_success
  run cat "$BATS_TEST_TMPDIR/request"
  assert_line --index 0 $'GET /health/ready HTTP/1.0\r'
  assert_line $'Host: 127.0.0.1:'"$STUB_PORT"$'\r'
}

@test "healthcheck: invalid PORT exits 1 with a message" {
  local port
  for port in abc 0 65536 -1 3000x; do
    PORT=$port run --separate-stderr "$HC"
    assert_failure 1
    assert_regex "$stderr" "^healthcheck: invalid PORT '$port'"
  done
}

@test "healthcheck: host names resolve (localhost)" {
  start_stub ok
  run --separate-stderr "$HC" "http://localhost:$STUB_PORT/health/live"
  assert_success
  run cat "$BATS_TEST_TMPDIR/request"
  assert_line --index 0 $'GET /health/live HTTP/1.0\r'
  assert_line $'Host: localhost:'"$STUB_PORT"$'\r'
}
