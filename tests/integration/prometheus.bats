#!/usr/bin/env bats
# deploy/prometheus/alerts.yml (README: In production): Prometheus's own promtool accepts the
# rules and their unit tests pass, and every porrio metric they name is one the real binary serves.

load helpers

PROMTOOL=${PORRIO_PROMETHEUS_CACHE:-/var/cache/porrio/prometheus}/usr/bin/promtool
RULES=$REPO_ROOT/deploy/prometheus

teardown() { porrio_cleanup; }

@test "promtool check rules: the alert rules are valid" {
  local n; n=$(grep -c '^ *- alert: ' "$RULES/alerts.yml")
  run "$PROMTOOL" check rules "$RULES/alerts.yml"
  assert_success
  assert_output --partial "SUCCESS: $n rules found" # every rule of the file, none dropped
}

@test "promtool test rules: each alert fires on its series and stays quiet on healthy ones" {
  run "$PROMTOOL" test rules "$RULES/alerts_test.yml"
  assert_success
  assert_output --partial "SUCCESS"
}

@test "the rules' tests can fail: a 5xx threshold raised to 25% misses instance a's 20%" {
  cp "$RULES"/alerts.yml "$RULES"/alerts_test.yml "$BATS_TEST_TMPDIR/"
  sed -i 's/> 0.05$/> 0.25/' "$BATS_TEST_TMPDIR/alerts.yml"
  run "$PROMTOOL" test rules "$BATS_TEST_TMPDIR/alerts_test.yml"
  assert_failure
  assert_output --partial "alertname: PorrioHigh5xxRate"
}

@test "every porrio_ metric the rules name, with its labels, is served by the real binary" {
  porrio_start
  curl -s -o /dev/null "$PORRIO_URL/status"
  curl -s -o /dev/null -X PUT "$PORRIO_URL/porra/a/b/c/2024"
  http_fetch "$PORRIO_URL/metrics"
  assert_status 200
  local name
  for name in $(grep -o 'porrio_[a-z_]*' "$RULES/alerts.yml" | sort -u); do
    grep -q "^$name[ {]" <<<"$BODY" || fail "/metrics has no $name"
  done
  # the 5xx rule divides by code: the counter must carry that label
  grep -q '^porrio_http_requests_total{.*code="200"' <<<"$BODY" || fail "porrio_http_requests_total has no code label"
  porrio_stop
}
