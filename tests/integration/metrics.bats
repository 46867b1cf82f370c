#!/usr/bin/env bats
# GET /metrics: Prometheus text exposition 0.0.4, counting what the server really did.
load helpers

setup_file() {
  porrio_start WORKERS=2
}

teardown_file() {
  porrio_stop
  porrio_cleanup
}

metric() { # metric NAME: the value of the sample line starting with NAME (labels included)
  curl -s --max-time 5 "$PORRIO_URL/metrics" | awk -v n="$1" 'index($0, n " ") == 1 {print $2}'
}

by_code() { # by_code CODE: porrio_http_requests_total summed over routes and methods for status CODE
  curl -s --max-time 5 "$PORRIO_URL/metrics" |
    awk -v c="code=\"$1\"" '/^porrio_http_requests_total[{]/ && index($0, c) {s += $2} END {print s + 0}'
}

series() { # series: how many labelled request series /metrics holds
  curl -s --max-time 5 "$PORRIO_URL/metrics" | grep -c '^porrio_http_requests_total{'
}

@test "GET /metrics answers Prometheus text with HELP and TYPE for each family" {
  http_fetch "$PORRIO_URL/metrics"
  assert_status 200
  assert_equal "$(header Content-Type)" "text/plain; version=0.0.4; charset=utf-8"
  printf '%s\n' "$BODY" >"$BATS_TEST_TMPDIR/m"
  # every sample's family has a TYPE line before it
  run awk '/^# TYPE/ {t[$3] = 1; next} /^#/ {next} {name = $1; sub(/[{].*/, "", name); base = name;
             sub(/_(bucket|sum|count)$/, "", base); if (!(name in t) && !(base in t)) {print "untyped " name; bad = 1}}
           END {exit bad}' "$BATS_TEST_TMPDIR/m"
  assert_success
  # each labelled series has one +Inf bucket, and its count equals the counter of the same labels
  run awk '/^porrio_http_requests_total[{]/ {l = $1; sub(/^[^{]*/, "", l); n[l] = $2}
           /^porrio_http_request_duration_seconds_bucket[{].*le="[+]Inf"/ {l = $1; sub(/^[^{]*/, "", l);
             sub(/,le="[+]Inf"/, "", l); inf[l] = $2; k++}
           END {for (l in n) if (inf[l] != n[l]) {print "series " l ": " n[l] " vs +Inf " inf[l]; bad = 1}
                if (k != length(n)) {print k " +Inf buckets for " length(n) " series"; bad = 1}; exit bad}' "$BATS_TEST_TMPDIR/m"
  assert_success
}

@test "requests are counted by status code, writes by the store" {
  before404=$(by_code 404)
  before201=$(by_code 201)
  appends=$(metric porrio_store_appends_total)
  for i in 1 2 3; do curl -s -o /dev/null --max-time 5 "$PORRIO_URL/no/such/$i"; done
  for i in 1 2; do curl -s -o /dev/null --max-time 5 -X PUT "$PORRIO_URL/porra/m$i/b/c/2024"; done
  for i in 1 2; do
    curl -s -o /dev/null --max-time 5 -X PUT --data-binary '{"local":1,"visitante":0}' \
      "$PORRIO_URL/porras/m1-b-c-2024/apuestas/q$i"
  done
  assert_equal "$(by_code 404)" $(( before404 + 3 ))
  assert_equal "$(by_code 201)" $(( before201 + 2 ))
  assert_equal "$(metric porrio_store_appends_total)" $(( appends + 4 ))
  [ "$(metric porrio_porras)" -ge 2 ]
  [ "$(metric porrio_store_fsyncs_total)" -ge 1 ]
  assert_equal "$(metric porrio_ready)" 1
  # the histogram's count is every request counted by code
  total=$(curl -s --max-time 5 "$PORRIO_URL/metrics" | awk '/^porrio_http_requests_total/ {s += $2} END {print s}')
  count=$(curl -s --max-time 5 "$PORRIO_URL/metrics" | awk '/^porrio_http_request_duration_seconds_count/ {s += $2} END {print s}')
  [ "$count" -ge "$total" ]
  rss=$(metric process_resident_memory_bytes)
  [ "$rss" -gt 100000 ]
}

@test "the state's figures: bets held, pending changes, nodes that grow with the state and shrink once it is deleted" {
  local nodes0 bets0
  nodes0=$(metric porrio_state_nodes) bets0=$(metric porrio_apuestas)
  curl -s -o /dev/null --max-time 5 -X PUT "$PORRIO_URL/porra/nodes/b/c/2024"
  for i in $(seq 1 80); do
    curl -s -o /dev/null --max-time 5 -X PUT "$PORRIO_URL/porras/nodes-b-c-2024/apuestas/p$i" -d '{"local":1,"visitante":0}'
  done
  assert_equal "$(metric porrio_apuestas)" $((bets0 + 80))
  assert_equal "$(metric porrio_store_pending)" 0 # every 2xx was durable, and so published
  [ "$(metric porrio_state_nodes)" -gt "$nodes0" ] || fail "nodes: $nodes0 -> $(metric porrio_state_nodes)"
  assert_equal "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X DELETE "$PORRIO_URL/porras/nodes-b-c-2024")" 204
  assert_equal "$(metric porrio_apuestas)" "$bets0"
  [ "$(metric porrio_state_nodes)" -le "$nodes0" ] || fail "nodes after the delete: $nodes0 -> $(metric porrio_state_nodes)"
  [ -n "$(metric porrio_store_compactions_total)" ] && [ -n "$(metric porrio_store_snapshot_bytes)" ]
}

@test "request series are labelled by route template, method and code" {
  local id=lbl-b-c-2024 before
  curl -s -o /dev/null --max-time 5 -X PUT "$PORRIO_URL/porra/lbl/b/c/2024"
  before=$(metric 'porrio_http_requests_total{route="/porras/{ID}/apuestas/{quien}",method="PUT",code="201"}')
  for q in ana luis; do
    curl -s -o /dev/null --max-time 5 -X PUT -d '{"local":1,"visitante":0}' "$PORRIO_URL/porras/$id/apuestas/$q"
  done
  curl -s -o /dev/null --max-time 5 -X PUT -d '{"local":1}' "$PORRIO_URL/porras/$id/apuestas/eva"
  curl -s -o /dev/null --max-time 5 -X BREW "$PORRIO_URL/status"
  curl -s -o /dev/null --max-time 5 -X DELETE "$PORRIO_URL/status"
  assert_equal "$(metric 'porrio_http_requests_total{route="/porras/{ID}/apuestas/{quien}",method="PUT",code="201"}')" \
    $(( ${before:-0} + 2 ))
  [ "$(metric 'porrio_http_requests_total{route="/porras/{ID}/apuestas/{quien}",method="PUT",code="400"}')" -ge 1 ]
  [ "$(metric 'porrio_http_requests_total{route="/status",method="other",code="405"}')" -ge 1 ]
  [ "$(metric 'porrio_http_requests_total{route="/status",method="DELETE",code="405"}')" -ge 1 ]
  [ "$(metric 'porrio_http_request_duration_seconds_count{route="/porras/{ID}/apuestas/{quien}",method="PUT",code="201"}')" -ge 2 ]
  # no label holds what a client sent: the pool's ID and the bettors' names stay out
  run bash -c "curl -s --max-time 5 '$PORRIO_URL/metrics' | grep -E '^porrio_http.*(ana|luis|eva|$id)'"
  assert_failure
}

@test "1000 distinct unknown paths add no series" {
  curl -s -o /dev/null --max-time 5 "$PORRIO_URL/no/such/warm-up"
  curl -s -o /dev/null --max-time 5 -X POST "$PORRIO_URL/no/such/warm-up"
  local before
  before=$(series)
  "$PYTHON" - "$PORRIO_PORT" <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
for i in range(1000):
    c.request("GET" if i % 2 else "POST", "/unknown/path/%d?x=%d" % (i, i))
    r = c.getresponse()
    r.read()
    assert r.status == 404, r.status
EOF
  assert_equal "$(series)" "$before"
  [ "$(metric 'porrio_http_requests_total{route="unknown",method="GET",code="404"}')" -ge 500 ]
  [ "$(metric 'porrio_http_requests_total{route="unknown",method="POST",code="404"}')" -ge 500 ]
}
