#!/usr/bin/env bats
# Life of the real process (README: In production): SIGTERM drains (in-flight requests are served, readiness
# turns 503, idle keep-alive connections do not hold it, no request under keep-alive load fails,
# SHUTDOWN_GRACE_S bounds it) and exits 0; SHUTDOWN_DELAY_S serves on with readiness off before
# the drain; WORKERS threads all serve.

load helpers

# A scripted client, driven through files in DIR so the test can interleave it with signals:
#   partial DIR METHOD PATH   sends METHOD PATH with Content-Length: 10 and 5 bytes of body,
#                             creates DIR/sent, waits for DIR/go, sends the other 5 bytes and
#                             writes the answer's status code (or "closed") to DIR/resp
#   stuck DIR                 sends a POST with half of its body, creates DIR/sent, and never
#                             sends the rest; writes "closed" to DIR/resp when the server hangs up
#   keepalive DIR PATH        one keep-alive connection: a GET, DIR/first holds its status; then
#                             waits for DIR/go, sends the same GET again and writes the status,
#                             or "closed", to DIR/second (DIR/go never coming: "no go" after 20 s)
CLIENT='
import os, socket, sys, time
mode, port, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def put(name, text):
    with open(os.path.join(d, name + ".tmp"), "w") as f:
        f.write(text)
    os.rename(os.path.join(d, name + ".tmp"), os.path.join(d, name))
def wait_go(limit=20):
    end = time.time() + limit
    while time.time() < end:
        if os.path.exists(os.path.join(d, "go")):
            return True
        time.sleep(0.02)
    return False
def read_answer(s, limit=5):
    s.settimeout(limit)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    if not data.startswith(b"HTTP/1.1 "):
        return "closed"
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    try:
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    except OSError:
        pass
    return data[9:12].decode()
s = socket.create_connection(("127.0.0.1", port), timeout=10)
if mode == "partial":
    method, path = sys.argv[4], sys.argv[5]
    s.sendall(("%s %s HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nX-Request-Id: partial-%s\r\n\r\n01234"
               % (method, path, method.lower())).encode())
    put("sent", "")
    if wait_go():
        try:
            s.sendall(b"56789")
        except OSError:
            pass
    put("resp", read_answer(s))
elif mode == "stuck":
    s.sendall(b"POST /status HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234")
    put("sent", "")
    put("resp", read_answer(s, 30))
elif mode == "keepalive":
    path = sys.argv[4]
    req = ("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path).encode()
    s.sendall(req)
    put("first", read_answer(s))
    if wait_go():
        try:
            s.sendall(req)
            put("second", read_answer(s))
        except OSError:
            put("second", "closed")
    else:
        put("second", "no go")
'

setup_file() {
  porrio_start WORKERS=2
}

teardown_file() { porrio_teardown_file; }

teardown() { porrio_cleanup; }

# client MODE ARGS...: starts the scripted client against $PORRIO_PORT with $CDIR as its folder.
client() {
  local mode=$1
  shift
  "$PYTHON" -c "$CLIENT" "$mode" "$PORRIO_PORT" "$CDIR" "$@" 3>&- &
  track_pid $!
}

# wait_file FILE [TENTHS]: waits (bounded, default 5 s) until FILE exists.
wait_file() {
  local i
  for ((i = 0; i < ${2:-50}; i++)); do
    [ -e "$1" ] && return 0
    sleep 0.1
  done
  echo "$1 did not appear" >&2
  return 1
}

# ms_now: a monotonic-enough clock in milliseconds.
ms_now() { echo $(($(date +%s%N) / 1000000)); }

# term_timed PID TENTHS: SIGTERM to PID, then porrio_wait_exit PID TENTHS (PORRIO_STATUS is its
# exit status); ELAPSED is the milliseconds from the signal to the exit.
term_timed() {
  local start
  start=$(ms_now)
  kill -TERM "$1"
  porrio_wait_exit "$1" "$2"
  ELAPSED=$(($(ms_now) - start))
}

@test "SIGTERM with a request in flight: it is served, new connections are not, exit 0" {
  porrio_start
  local pid=$PORRIO_PID
  CDIR=$BATS_TEST_TMPDIR
  client partial POST /status
  wait_file "$CDIR/sent"
  sleep 0.3 # let the server read the headers and the first half of the body
  kill -TERM "$pid"
  log_wait draining
  # Draining: a new connection is answered 503 while a listener is still open, then refused;
  # never 200.
  local i code
  for ((i = 0; i < 30; i++)); do
    code=$(status_of "$PORRIO_URL/health/ready")
    [ "$code" = 000 ] && break
    [ "$code" = 503 ] || fail "/health/ready during the drain: $code"
    sleep 0.1
  done
  assert_equal "$code" 000
  # The request in flight holds the exit.
  kill -0 "$pid"
  touch "$CDIR/go"
  wait_file "$CDIR/resp"
  assert_equal "$(cat "$CDIR/resp")" 405
  porrio_wait_exit "$pid" 30
  assert_equal "$PORRIO_STATUS" 0
  run log_request partial-post
  assert_success
  assert_equal "$(jfield "$output" .status)" 405
  log_wait stopped
}

@test "SIGTERM: an idle keep-alive connection does not delay the exit" {
  porrio_start
  local pid=$PORRIO_PID
  CDIR=$BATS_TEST_TMPDIR
  client keepalive /status
  wait_file "$CDIR/first"
  assert_equal "$(cat "$CDIR/first")" 200
  term_timed "$pid" 30
  assert_equal "$PORRIO_STATUS" 0
  # SHUTDOWN_GRACE_S is 10: the idle connection was closed, not waited for.
  assert [ "$ELAPSED" -lt 3000 ]
}

@test "SIGTERM: SHUTDOWN_GRACE_S=1 bounds a request that never completes, exit 0" {
  porrio_start SHUTDOWN_GRACE_S=1 "${NO_LEAK_CHECK[@]}"
  local pid=$PORRIO_PID
  CDIR=$BATS_TEST_TMPDIR
  client stuck
  wait_file "$CDIR/sent"
  sleep 0.2
  term_timed "$pid" 60
  assert_equal "$PORRIO_STATUS" 0
  # It waited for the request (about 1 s), then gave up on it well before 4 s.
  assert [ "$ELAPSED" -ge 800 ]
  assert [ "$ELAPSED" -lt 4000 ]
  run jq -R -c 'fromjson | select(.level == "warn")' "$PORRIO_LOG"
  assert_regex "$output" 'grace'
  # The client's connection was closed by the server.
  wait_file "$CDIR/resp" 50
}

@test "SIGTERM: /health/ready answers 503 at once for requests already received" {
  porrio_start
  local pid=$PORRIO_PID
  # A keep-alive connection that was ready before the signal...
  mkdir -p "$BATS_TEST_TMPDIR/ka" "$BATS_TEST_TMPDIR/part"
  CDIR=$BATS_TEST_TMPDIR/ka
  client keepalive /health/ready
  # ... and a readiness request whose body is still arriving when the signal comes.
  CDIR=$BATS_TEST_TMPDIR/part
  client partial GET /health/ready
  wait_file "$BATS_TEST_TMPDIR/ka/first"
  assert_equal "$(cat "$BATS_TEST_TMPDIR/ka/first")" 200
  wait_file "$BATS_TEST_TMPDIR/part/sent"
  sleep 0.2
  kill -TERM "$pid"
  log_wait draining
  touch "$BATS_TEST_TMPDIR/ka/go" "$BATS_TEST_TMPDIR/part/go"
  wait_file "$BATS_TEST_TMPDIR/part/resp"
  assert_equal "$(cat "$BATS_TEST_TMPDIR/part/resp")" 503
  # The idle keep-alive connection is either closed by the drain or told 503; never 200.
  wait_file "$BATS_TEST_TMPDIR/ka/second"
  run cat "$BATS_TEST_TMPDIR/ka/second"
  [[ $output == 503 || $output == closed ]] || fail "second request on the keep-alive connection: $output"
  porrio_wait_exit "$pid" 30
  assert_equal "$PORRIO_STATUS" 0
  run log_request partial-get
  assert_success
  assert_equal "$(jfield "$output" .status)" 503
}

@test "SIGTERM right after a request was sent: the request is still answered" {
  # The client sends a whole request, then the signal comes at once: the request was received
  # (the kernel holds it) before the drain began, so it is served. Tried a few times, as the
  # window is narrow.
  local attempt
  for attempt in 1 2 3 4 5; do
    porrio_start WORKERS=1
    run "$PYTHON" -c '
import os, signal, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=5)
s.sendall(b"GET /status HTTP/1.1\r\nHost: t\r\n\r\n")
os.kill(int(sys.argv[1]), signal.SIGTERM)
try:
    print(s.recv(12).decode() or "closed")
except OSError as e:
    print(repr(e))
' "$PORRIO_PID" "$PORRIO_PORT"
    assert_output "HTTP/1.1 200"
    porrio_wait_exit "$PORRIO_PID" 30
    assert_equal "$PORRIO_STATUS" 0
  done
}

@test "SHUTDOWN_DELAY_S=2: after SIGTERM /health/ready is 503 and the rest is served on new connections, then exit 0" {
  porrio_start SHUTDOWN_DELAY_S=2
  local pid=$PORRIO_PID start
  start=$(ms_now)
  kill -TERM "$pid"
  log_wait "shutdown delay: /health/ready answers 503, serving on until the drain"
  assert_equal "$(log_line "shutdown delay: /health/ready answers 503, serving on until the drain" | jq -r .delay_s)" 2
  # for the first 1.5 s of the delay: each check on a new connection
  while [ $(($(ms_now) - start)) -lt 1500 ]; do
    assert_equal "$(status_of "$PORRIO_URL/health/ready")" 503
    assert_equal "$(status_of "$PORRIO_URL/status")" 200
    sleep 0.1
  done
  assert_equal "$(log_count draining)" 0
  porrio_wait_exit "$pid" 60
  assert_equal "$PORRIO_STATUS" 0
  # the drain began once the delay was over
  assert [ $(($(ms_now) - start)) -ge 1900 ]
  log_line draining
  log_all_json
}

@test "SHUTDOWN_DELAY_S: a second SIGTERM during the delay starts the drain at once" {
  porrio_start SHUTDOWN_DELAY_S=600
  local pid=$PORRIO_PID
  kill -TERM "$pid"
  log_wait "shutdown delay: /health/ready answers 503, serving on until the drain"
  assert_equal "$(status_of "$PORRIO_URL/status")" 200
  kill -TERM "$pid"
  porrio_wait_exit "$pid" 50
  assert_equal "$PORRIO_STATUS" 0
  assert_equal "$(log_count signal)" 2
  log_line draining
}

@test "SIGINT drains and exits 0 like SIGTERM" {
  porrio_start
  local pid=$PORRIO_PID
  kill -INT "$pid"
  porrio_wait_exit "$pid" 30
  assert_equal "$PORRIO_STATUS" 0
  run log_line signal
  assert_regex "$output" 'SIGINT'
}

@test "WORKERS=2: two threads, both serve, every answer 200" {
  local tasks
  tasks=$(ls "/proc/$PORRIO_PID/task" | wc -l)
  assert [ "$tasks" -ge 2 ]
  assert_equal "$(log_setting WORKERS | jq -r .value)" 2
  # CPU time of each thread before and after a burst of new connections: the kernel spreads
  # connections over the workers' SO_REUSEPORT listeners, so each worker does a good share.
  run "$PYTHON" - "$PORRIO_PID" "$PORRIO_PORT" <<'EOF'
import http.client, os, sys, threading
pid, port = sys.argv[1], int(sys.argv[2])
def cpu():
    out = {}
    for tid in os.listdir("/proc/%s/task" % pid):
        with open("/proc/%s/task/%s/schedstat" % (pid, tid)) as f:
            out[tid] = int(f.read().split()[0])
    return out
before = cpu()
bad = []
def worker(n):
    for i in range(150):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/status")
            r = c.getresponse()
            r.read()
            if r.status != 200:
                bad.append(r.status)
            c.close()
        except Exception as e:
            bad.append(repr(e))
threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
for t in threads: t.start()
for t in threads: t.join()
after = cpu()
delta = {t: after[t] - before.get(t, 0) for t in after}
total = sum(delta.values()) or 1
shares = sorted((d / total for d in delta.values()), reverse=True)
print("answers not 200:", len(bad), bad[:5])
print("cpu shares:", ["%.2f" % s for s in shares])
busy = [s for s in shares if s >= 0.10]
sys.exit(0 if not bad and len(busy) >= 2 else 1)
EOF
  assert_success
  assert_output --partial "answers not 200: 0"
}

@test "SIGTERM under keep-alive load: no request fails, in 5 rounds" {
  # Eight clients on persistent connections; the signal comes mid-run. Each request is answered
  # 200, or its new connection is refused once the listeners closed (or reset before any answer,
  # completed by the kernel after a listener's last accept); a reset or an EOF where the server
  # had not said Connection: close fails (drain_load.py).
  local round
  for round in 1 2 3 4 5; do
    porrio_start WORKERS=2
    run timeout 20 "$PYTHON" "$BATS_TEST_DIRNAME/drain_load.py" "$PORRIO_PORT" "$PORRIO_PID" 8 0.7
    echo "round $round: $output"
    [ "$status" = 0 ] || porrio_dump
    assert_success
    assert_regex "${lines[0]}" '^ok [0-9]{3,} refused [0-9]+ failed 0$'
    porrio_wait_exit "$PORRIO_PID" 50
    assert_equal "$PORRIO_STATUS" 0
  done
}
