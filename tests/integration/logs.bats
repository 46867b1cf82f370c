#!/usr/bin/env bats
# The JSON logs on stdout (README's Logs and Settings): the request line's fields, escaping of hostile input,
# the start-up setting lines, LOG_LEVEL, and whole lines under concurrent load.

load helpers

REQUEST_KEYS='["bytes","duration_ms","level","method","msg","remote_addr","request_id","route","status","time","uri","user-agent"]'
SETTING_NAMES=(PORT HOST WORKERS LOG_LEVEL DATA_DIR HITOS_FILE STATIC_DIR MAX_BODY_BYTES
  ETCD_ENDPOINTS ETCD_PREFIX SHUTDOWN_GRACE_S CORS_ORIGINS MAX_POOLS MAX_BETS_PER_POOL MAX_HITOS
  ADMIN_TOKENS LOG_SINK SHUTDOWN_DELAY_S TRUSTED_PROXIES STORE)

setup_file() {
  porrio_start
}

teardown_file() { porrio_teardown_file; }

teardown() { porrio_cleanup; }

# assert_not_forged LINE: the request log line LINE is still at level info with exactly the
# request fields, and no log line has a forged field (x) or a request line at another level.
assert_not_forged() {
  assert_equal "$(jfield "$1" .level)" info
  run jq -c 'keys' <<<"$1"
  assert_output "$REQUEST_KEYS"
  run jq -R -c 'fromjson | select(.x != null or (.msg == "request" and .level != "info"))' "$PORRIO_LOG"
  assert_output ""
}

@test "request line: exactly the fields the README's Logs section lists, with their types and values" {
  local hdrs line id
  hdrs="$BATS_TEST_TMPDIR/h"
  run curl -s --max-time 5 -D "$hdrs" -A 'bats-agent/1.0' -H 'X-Request-Id: logs-fields-1' \
    "$PORRIO_URL/status?q=1&r=two"
  assert_success
  local body_len=${#output}
  line=$(log_request logs-fields-1)
  run jq -c 'keys' <<<"$line"
  assert_output "$REQUEST_KEYS"
  assert_equal "$(jfield "$line" .level)" info
  assert_equal "$(jfield "$line" .msg)" request
  assert_equal "$(jfield "$line" .remote_addr)" 127.0.0.1
  assert_equal "$(jfield "$line" .method)" GET
  assert_equal "$(jfield "$line" .uri)" "/status?q=1&r=two"
  assert_equal "$(jfield "$line" .route)" /status
  assert_equal "$(jfield "$line" '.status | type')" number
  assert_equal "$(jfield "$line" .status)" 200
  assert_equal "$(jfield "$line" '."user-agent"')" bats-agent/1.0
  assert_equal "$(jfield "$line" '.duration_ms | type')" number
  run jq -e '.duration_ms >= 0 and .duration_ms < 5000' <<<"$line"
  assert_success
  assert_equal "$(jfield "$line" '.bytes | type')" number
  assert_equal "$(jfield "$line" .bytes)" "$body_len"
  # RFC 3339, UTC, milliseconds; and it is now (not local time mislabelled as UTC).
  assert_regex "$(jfield "$line" .time)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'
  run jq -e --argjson now "$(date -u +%s)" \
    '(.time | sub("\\.[0-9]{3}Z$"; "Z") | fromdateiso8601) - $now | fabs < 60' <<<"$line"
  assert_success
}

@test "request line: request_id is the X-Request-Id answered, also when generated" {
  local hdrs id line
  hdrs="$BATS_TEST_TMPDIR/h"
  curl -s --max-time 5 -D "$hdrs" -o /dev/null "$PORRIO_URL/no-such-path"
  id=$(awk -F': ' 'tolower($1) == "x-request-id" { print $2 }' "$hdrs" | tr -d '\r')
  assert_regex "$id" '^[0-9a-f]{16}$'
  line=$(log_request "$id")
  assert_equal "$(jfield "$line" .status)" 404
  assert_equal "$(jfield "$line" .uri)" /no-such-path
  # An insane client id: the log holds the new one, not the client's.
  curl -s --max-time 5 -D "$hdrs" -o /dev/null -H 'X-Request-Id: <bad id>' -X POST "$PORRIO_URL/status"
  id=$(awk -F': ' 'tolower($1) == "x-request-id" { print $2 }' "$hdrs" | tr -d '\r')
  assert_regex "$id" '^[0-9a-f]{16}$'
  line=$(log_request "$id")
  assert_equal "$(jfield "$line" .status)" 405
  assert_equal "$(jfield "$line" .method)" POST
  run grep -c 'bad id' "$PORRIO_LOG"
  assert_output 0
}

@test "request line: route is the template that took the path, as in the metrics' label" {
  local line
  curl -s --max-time 5 -o /dev/null -H 'X-Request-Id: route-1' -X PUT "$PORRIO_URL/porra/Rt/b/c/2024"
  line=$(log_request route-1)
  assert_equal "$(jfield "$line" .route)" '/porra/{local}/{visitante}/{competition}/{year}'
  assert_equal "$(jfield "$line" .uri)" /porra/Rt/b/c/2024
  curl -s --max-time 5 -o /dev/null -H 'X-Request-Id: route-2' -X DELETE "$PORRIO_URL/status"
  line=$(log_request route-2)
  assert_equal "$(jfield "$line" .status)" 405
  assert_equal "$(jfield "$line" .route)" /status
  curl -s --max-time 5 -o /dev/null -H 'X-Request-Id: route-3' "$PORRIO_URL/no/such/route/$$"
  line=$(log_request route-3)
  assert_equal "$(jfield "$line" .status)" 404
  assert_equal "$(jfield "$line" .route)" unknown
}

@test "hostile user agent: escaped, no forged field, every line still JSON" {
  local line ua
  run http_raw "$PORRIO_PORT" $'GET /ua HTTP/1.1\r\nHost: a\r\nX-Request-Id: hostile-ua\r\nUser-Agent: evil","level":"error","x":"\\\\ \t\xff\xc3\xa9}\r\nConnection: close\r\n\r\n'
  assert_success
  assert_regex "$output" '^HTTP/1\.1 404'
  line=$(log_request hostile-ua)
  run log_all_json
  assert_success
  # Invalid UTF-8 (\xff) may be replaced (U+FFFD) or escaped; everything else is kept as text.
  ua=$(jfield "$line" '."user-agent"')
  assert_regex "$ua" '^evil","level":"error","x":"\\\\ '$'\t''(�|\\xff|\\u00ff)?é\}$'
  assert_not_forged "$line"
}

@test "hostile URI: escaped, no forged field, every line still JSON" {
  local line
  run http_raw "$PORRIO_PORT" $'GET /a%22b"c\\\\d/","level":"error"}{"x":"\xfe?q="x" HTTP/1.1\r\nHost: a\r\nX-Request-Id: hostile-uri\r\nUser-Agent: t\r\nConnection: close\r\n\r\n'
  assert_success
  assert_regex "$output" '^HTTP/1\.1 (400|404)'
  line=$(log_request hostile-uri)
  run log_all_json
  assert_success
  assert_regex "$(jfield "$line" .uri)" '^/a%22b"c\\\\d/","level":"error"\}\{"x":"(�|\\xfe|\\u00fe)?\?q="x"$'
  assert_not_forged "$line"
}

@test "control characters in a request: refused with 4xx, the log stays JSON lines" {
  local line
  run http_raw "$PORRIO_PORT" $'GET /x HTTP/1.1\r\nHost: a\r\nUser-Agent: evil\x01","level":"error\x7f\r\nConnection: close\r\n\r\n'
  assert_success
  assert_regex "$output" '^HTTP/1\.1 4[0-9][0-9] '
  run http_raw "$PORRIO_PORT" $'GET /a\x01b"\x1b[31m HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'
  assert_success
  assert_regex "$output" '^HTTP/1\.1 4[0-9][0-9] '
  # A line break inside a header value (bare LF) ends that header: what follows is another
  # header, never a log field.
  run http_raw "$PORRIO_PORT" $'GET /lf HTTP/1.1\r\nHost: a\r\nX-Request-Id: bare-lf\r\nUser-Agent: a\nlevel: error\r\nConnection: close\r\n\r\n'
  assert_success
  assert_regex "$output" '^HTTP/1\.1 404 '
  line=$(log_request bare-lf)
  assert_equal "$(jfield "$line" '."user-agent"')" a
  assert_equal "$(jfield "$line" .level)" info
  run log_all_json
  assert_success
  run jq -R -c 'fromjson | select(.msg == "request" and .level != "info")' "$PORRIO_LOG"
  assert_output ""
}

@test "start-up: one setting line per setting of the README, with name, value and source" {
  local name line
  run log_count setting
  assert_output ${#SETTING_NAMES[@]}
  for name in "${SETTING_NAMES[@]}"; do
    run jq -R -c --arg n "$name" 'fromjson? | select(.msg == "setting" and .name == $n)' "$PORRIO_LOG"
    assert_equal "$(wc -l <<<"$output")" 1
    line=$output
    run jq -c 'keys' <<<"$line"
    assert_output '["level","msg","name","source","time","value"]'
    run jq -e '(.level == "info") and (.value | type == "string")
      and (.source | IN("flag", "etcd", "env", "dotenv", "default"))' <<<"$line"
    assert_success
  done
  assert_equal "$(log_setting PORT | jq -r '.value + " " + .source')" "$PORRIO_PORT env"
  assert_equal "$(log_setting HOST | jq -r '.value + " " + .source')" "127.0.0.1 env"
  assert_equal "$(log_setting LOG_LEVEL | jq -r '.value + " " + .source')" "info default"
  assert_equal "$(log_setting MAX_BODY_BYTES | jq -r '.value + " " + .source')" "65536 default"
  assert_equal "$(log_setting SHUTDOWN_GRACE_S | jq -r '.value + " " + .source')" "10 default"
  assert_equal "$(log_setting ETCD_PREFIX | jq -r '.value + " " + .source')" "porrio: default"
  assert_equal "$(log_setting ETCD_ENDPOINTS | jq -r '.value + " " + .source')" " env"
  assert_regex "$(log_setting WORKERS | jq -r '.value + " " + .source')" '^[1-9][0-9]* default$'
}

@test "LOG_LEVEL=warn: no request lines, the setting lines are still there" {
  porrio_start LOG_LEVEL=warn
  local i
  for i in 1 2 3 4 5; do
    curl -s -o /dev/null --max-time 5 "$PORRIO_URL/status"
    curl -s -o /dev/null --max-time 5 "$PORRIO_URL/nope"
  done
  porrio_stop
  run log_all_json
  assert_success
  run log_count request
  assert_output 0
  run log_count setting
  assert_output ${#SETTING_NAMES[@]}
  assert_equal "$(log_setting LOG_LEVEL | jq -r '.value + " " + .source')" "warn env"
}

@test "LOG_LEVEL=warn: no info line but the settings (start, signal, drain, stop)" {
  porrio_start LOG_LEVEL=warn
  curl -s -o /dev/null --max-time 5 "$PORRIO_URL/status"
  porrio_stop
  run jq -R -c 'fromjson | select(.level == "info" and .msg != "setting")' "$PORRIO_LOG"
  assert_output ""
}

@test "LOG_LEVEL=debug: request lines are written" {
  porrio_start LOG_LEVEL=debug
  curl -s -o /dev/null --max-time 5 -H 'X-Request-Id: debug-level' "$PORRIO_URL/status"
  log_request debug-level >/dev/null
  porrio_stop
}

@test "concurrent load on WORKERS=2: whole lines, one request line per request" {
  porrio_start WORKERS=2
  # 8 clients x 50 requests, a new connection each (so both workers' listeners get some), with
  # long URIs and user agents so that a torn write would show.
  run "$PYTHON" - "$PORRIO_PORT" <<'EOF'
import http.client, sys, threading
port = int(sys.argv[1])
errors = []
def client(t):
    for i in range(50):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/status?pad=" + "x" * (500 + 37 * t) + "&i=%d" % i,
                      headers={"X-Request-Id": "load-%d-%d" % (t, i), "User-Agent": "u" * 700})
            r = c.getresponse()
            r.read()
            if r.status != 200:
                errors.append("load-%d-%d: %d" % (t, i, r.status))
            c.close()
        except Exception as e:
            errors.append("load-%d-%d: %r" % (t, i, e))
threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
for th in threads: th.start()
for th in threads: th.join()
print("\n".join(errors[:10]))
sys.exit(1 if errors else 0)
EOF
  assert_success
  porrio_stop
  run log_all_json
  assert_success
  # Every request's line, once (the readiness probe of porrio_start has one more).
  run bash -c "jq -R -r 'fromjson | select(.msg == \"request\") | .request_id' '$PORRIO_LOG' | grep -c '^load-'"
  assert_output 400
  run bash -c "jq -R -r 'fromjson | select(.msg == \"request\") | .request_id' '$PORRIO_LOG' | sort -u | grep -c '^load-[0-7]-[0-9]*\$'"
  assert_output 400
}

@test "deploy/logs/queries: quoted whole in the README, naming only fields of the request line" {
  local f readme field
  readme=$(<"$REPO_ROOT/README.md")
  for f in "$REPO_ROOT"/deploy/logs/queries/*.sql; do
    [[ $readme == *$'```sql\n'"$(<"$f")"$'\n```'* ]] || fail "README does not quote $(basename "$f") as it is"
    for field in $(grep -o "line->>'[^']*'" "$f" | cut -d"'" -f2 | sort -u); do
      [[ $REQUEST_KEYS == *"\"$field\""* ]] || fail "$(basename "$f"): $field is not a field of the request line"
    done
  done
  [ -n "$field" ]
}
