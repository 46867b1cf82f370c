#!/usr/bin/env bats
# LOG_SINK (README: Logs, the collector): every log line also goes to a syslog collector over TCP,
# here a real rsyslogd of its own (imtcp on a free loopback port, omfile writing each raw
# message). The collector going away slows no request, drops lines only from its copy (counted in
# /metrics, stdout complete), warns once, and delivery resumes when it is back.

load helpers

# rs_start: starts rsyslogd in the foreground on $RS_PORT, writing raw messages to $RS_OUT.
rs_start() {
  "$RSYSLOGD" -n -f "$RS_DIR/rsyslog.conf" -i "$RS_DIR/rsyslog.pid" >>"$RS_DIR/rsyslogd.log" 2>&1 </dev/null 3>&- &
  echo $! >"$RS_DIR/pid"
  port_listening "$RS_PORT" && return 0
  echo "rsyslogd not listening on $RS_PORT" >&2
  cat "$RS_DIR/rsyslogd.log" >&2
  return 1
}

# rs_stop: SIGTERM to rsyslogd, waits for it to exit (bounded).
rs_stop() {
  local pid i
  pid=$(cat "$RS_DIR/pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$RS_DIR/pid"
}

# received: the JSON of every message the collector wrote, its syslog header stripped.
received() { sed -E 's/^<[0-9]+>1 [^ ]+ [^ ]+ porrio [0-9]+ - - //' "$RS_OUT"; }

# received_ids PREFIX: how many request lines with a request_id starting with PREFIX arrived.
received_ids() {
  received | jq -R -c --arg p "$1" 'fromjson? | select(.msg == "request" and (.request_id | startswith($p)))' | wc -l
}

# batch PREFIX N: N GET /status on one keep-alive connection, X-Request-Id PREFIX-i; prints the
# 99th percentile of their latencies in milliseconds.
batch() {
  "$PYTHON" - "$PORRIO_PORT" "$1" "$2" <<'EOF'
import http.client, sys, time
port, prefix, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
lat = []
for i in range(n):
    t = time.perf_counter()
    c.request("GET", "/status?i=%d" % i, headers={"X-Request-Id": "%s-%d" % (prefix, i)})
    r = c.getresponse()
    r.read()
    lat.append((time.perf_counter() - t) * 1000)
    assert r.status == 200, r.status
lat.sort()
print("%.3f" % lat[int(len(lat) * 0.99) - 1])
EOF
}

metric() { curl -s --max-time 5 "$PORRIO_URL/metrics" | awk -v n="$1" '$1 == n {print $2}'; }

setup_file() {
  RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
  export RSYSLOGD RS_DIR="$BATS_FILE_TMPDIR/rsyslog" RS_PORT
  RS_PORT=$(free_port)
  export RS_OUT="$RS_DIR/messages"
  mkdir -p "$RS_DIR/work"
  cat >"$RS_DIR/rsyslog.conf" <<EOF
global(workDirectory="$RS_DIR/work" maxMessageSize="64k")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="sink") { action(type="omfile" file="$RS_OUT" template="raw") }
input(type="imtcp" address="127.0.0.1" port="$RS_PORT" ruleset="sink")
EOF
  rs_start
  # a short queue, so that an outage fills it within a few hundred requests
  porrio_start WORKERS=2 LOG_SINK="syslog+tcp://127.0.0.1:$RS_PORT" PORRIO_LOG_SINK_QUEUE=64
}

teardown_file() {
  local rc=0
  porrio_stop || rc=1
  rs_stop
  porrio_cleanup
  return $rc
}

@test "every request line reaches the collector, whole, as RFC 5424 with its level's severity" {
  for i in $(seq 1 30); do
    curl -s -o /dev/null --max-time 5 -H "X-Request-Id: up-$i" "$PORRIO_URL/porras?n=$i"
  done
  for ((t = 0; t < 100; t++)); do [ "$(received_ids up-)" -ge 30 ] && break; sleep 0.05; done
  assert_equal "$(received_ids up-)" 30
  for i in 1 17 30; do
    line=$(received | jq -R -c --arg id "up-$i" 'fromjson? | select(.request_id == $id)')
    assert_equal "$(jfield "$line" .uri)" "/porras?n=$i"
    assert_equal "$(jfield "$line" .status)" 200
    assert_equal "$(jfield "$line" .method)" GET
  done
  # the header: local0 (16) and info (6) is <134>, a warn line <132>; then version 1, the line's time
  grep -q -E '^<134>1 [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z [^ ]+ porrio '"$PORRIO_PID"' - - [{]"time":"[^"]+","level":"info","msg":"request"' "$RS_OUT"
  grep -q -E '^<132>1 .* - - [{]"time":"[^"]+","level":"warn"' "$RS_OUT"
  # the collector got what stdout got, start-up lines included
  assert_equal "$(received | jq -R -c 'fromjson? | select(.msg == "setting")' | wc -l)" "$(log_count setting)"
  assert_equal "$(metric porrio_log_dropped_total)" 0
}

@test "collector stopped: latency unchanged, lines dropped and counted, stdout complete, one warning; then delivery resumes" {
  local up down
  up=$(batch lat-up 200)
  rs_stop
  down=$(batch lat-down 400)
  # the queue holds 64 lines: the rest are dropped, counted, and still on stdout
  [ "$(metric porrio_log_dropped_total)" -gt 0 ] || fail "nothing dropped: $(metric porrio_log_dropped_total)"
  for ((t = 0; t < 100; t++)); do
    [ "$(jq -R -c 'fromjson? | select(.msg == "request" and (.request_id | startswith("lat-down-")))' "$PORRIO_LOG" | wc -l)" -ge 400 ] && break
    sleep 0.05
  done
  assert_equal "$(jq -R -c 'fromjson? | select(.msg == "request" and (.request_id | startswith("lat-down-")))' "$PORRIO_LOG" | wc -l)" 400
  # the p99 with the collector away stays that of a collector answering (generous slack, same run)
  awk -v u="$up" -v d="$down" 'BEGIN {exit !(d < 3 * u + 5)}' || fail "p99 $down ms with the collector down, $up ms up"
  log_wait "log sink unreachable: lines are queued, and dropped and counted once the queue is full"
  warn=$(log_line "log sink unreachable: lines are queued, and dropped and counted once the queue is full")
  assert_equal "$(jfield "$warn" .address)" "syslog+tcp://127.0.0.1:$RS_PORT"
  [ -n "$(jfield "$warn" .error)" ]
  batch more-down 50 >/dev/null # more lines, still one outage
  sleep 0.3
  assert_equal "$(log_count "log sink unreachable: lines are queued, and dropped and counted once the queue is full")" 1

  rs_start
  # the writer retries with a backoff of at most 5 s; new lines arrive once it is back
  for ((t = 0; t < 160; t++)); do
    curl -s -o /dev/null --max-time 5 -H "X-Request-Id: back-$t" "$PORRIO_URL/status"
    [ "$(received_ids back-)" -ge 1 ] && break
    sleep 0.05
  done
  [ "$(received_ids back-)" -ge 1 ] || fail "no line delivered after the collector came back"
  log_wait "log sink reachable again: delivering"
  back=$(log_line "log sink reachable again: delivering")
  [ "$(jfield "$back" .dropped)" -gt 0 ]
  assert_equal "$(log_count "log sink reachable again: delivering")" 1
  assert_equal "$(log_count "log sink unreachable: lines are queued, and dropped and counted once the queue is full")" 1
  log_all_json
}
