#!/usr/bin/env bats
# deploy/logs/compose.yaml beside compose.yaml (README: Logs and metrics in compose): porrio's lines
# reach PostgreSQL through rsyslog and the README's queries (deploy/logs/queries, run by `make
# logs-query`) find them; Prometheus scrapes porrio and holds the alert rules; every long-running
# service is hardened, and porrio and rsyslog come back after a crash.
load common

setup_file() {
  prepare_images
  export COMPOSE_PROJECT_NAME="porriologs$$" PUBLISH_ADDRESS=127.0.0.1 PROMETHEUS_ADDRESS=127.0.0.1
  export COMPOSE_FILE="$REPO/compose.yaml:$REPO/deploy/logs/compose.yaml"
  export PORT=$(free_port) PROMETHEUS_PORT=$(free_port)
  export PORRIO_IMAGE="porrio-logs-test:$$" RSYSLOG_IMAGE="porrio-rsyslog-test:$$" \
    LOGS_DB_IMAGE="porrio-logs-db-test:$$" PROMETHEUS_IMAGE="porrio-prometheus-test:$$"
  build_image "$PORRIO_IMAGE" # once: config and porrio share it
  compose build -q rsyslog postgres prometheus >"$BATS_FILE_TMPDIR/build.log" 2>&1 ||
    { cat "$BATS_FILE_TMPDIR/build.log" >&3; return 1; }
  compose up -d >"$BATS_FILE_TMPDIR/up.log" 2>&1 || { cat "$BATS_FILE_TMPDIR/up.log" >&3; return 1; }
  wait_http "http://127.0.0.1:$PORT/health/ready" 60
  local svc
  for svc in etcd porrio rsyslog postgres prometheus; do
    export "CID_$svc=$(compose ps -q "$svc")"
  done
}

teardown_file() {
  compose down -v >/dev/null 2>&1 || true
  # --no-prune keeps the apt-get layers for the next run's build
  docker image rm --no-prune -f "$RSYSLOG_IMAGE" "$LOGS_DB_IMAGE" "$PROMETHEUS_IMAGE" >/dev/null 2>&1 || true
  docker image rm -f "$PORRIO_IMAGE" >/dev/null 2>&1 || true
}

cid() { local v="CID_$1"; printf '%s\n' "${!v}"; }

# sql QUERY: QUERY's rows in the logs database, unaligned, fields split by |
sql() { docker exec "$(cid postgres)" psql -X -At -d logs -c "$1"; }

# logs_query Q: `make logs-query Q=…`, as a person runs it
logs_query() { make -s --no-print-directory -C "$REPO" logs-query Q="$1"; }

# wait_rows CONDITION N SECONDS: polls until N rows of logs meet CONDITION (an SQL expression)
wait_rows() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    [ "$(sql "SELECT count(*) FROM logs WHERE $1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

# wait_stored REQUEST_ID SECONDS: polls until the line of that request is in PostgreSQL
wait_stored() { wait_rows "line->>'request_id' = '$1'" 1 "$2"; }

# syslog_send MSG: one RFC 5424 message framed as porrio frames it, sent from inside rsyslog's container
syslog_send() {
  local m
  m="<131>1 $(date -u +%Y-%m-%dT%H:%M:%S.000Z) probe porrio 1 - - $1"
  printf '%s %s' "$(printf '%s' "$m" | wc -c)" "$m" |
    docker exec -i "$(cid rsyslog)" bash -c 'exec 3<>/dev/tcp/127.0.0.1/514 && cat >&3'
}

# crash SERVICE: SIGKILL to its process from outside (not `docker kill`, which docker takes for a
# stop and does not restart), then waits for the restart policy to run it again
crash() {
  local id pid i
  id=$(cid "$1")
  pid=$(docker inspect -f '{{.State.Pid}}' "$id")
  [ "$pid" -gt 1 ] || return 1
  kill -KILL "$pid"
  for ((i = 0; i < 100; i++)); do
    [[ $(docker inspect -f '{{.RestartCount}} {{.State.Status}}' "$id") =~ ^[1-9][0-9]*\ running$ ]] && return 0
    sleep 0.2
  done
  return 1
}

@test "a request is in PostgreSQL within 2 s, and Q=latency names it the slowest of its route" {
  local id="logs-$$-1"
  curl -s -o /dev/null -H "X-Request-Id: $id" "http://127.0.0.1:$PORT/porras/Logs$$-b-c-2024/ganadores"
  wait_stored "$id" 2 || fail "not in PostgreSQL after 2 s"
  run sql "SELECT line->>'route', line->>'status', line->>'method', line->>'uri', host = '$(docker inspect -f '{{.Config.Hostname}}' "$(cid porrio)")', time > now() - interval '1 minute' FROM logs WHERE line->>'request_id' = '$id'"
  assert_output "/porras/{ID}/ganadores|404|GET|/porras/Logs$$-b-c-2024/ganadores|t|t"
  run logs_query latency
  assert_success
  assert_line --regexp "^ /porras/\{ID\}/ganadores +\| +1 \|.*\| $id\$"
  run logs_query routes
  assert_success
  assert_line --regexp '\| /porras/\{ID\}/ganadores +\| +404 \| +1$'
}

@test "any line is stored as it was sent, quotes and backslashes too; Q=errors lists a 5xx" {
  local id="logs-$$-err" line stored
  line='{"level":"error","msg":"it'"'"'s \"q\" \\ back\\\\ é \u0007","status":503,"request_id":"'$id'","uri":"/x'"'"'); DROP TABLE logs; --"}'
  syslog_send "$line"
  syslog_send "not JSON: 'x' \\ y $id"
  wait_rows "host = 'probe' AND (line->>'request_id' = '$id' OR line->>'msg' LIKE 'not JSON:%')" 2 5 || fail "not stored"
  stored=$(sql "SELECT line FROM logs WHERE line->>'request_id' = '$id'")
  assert_equal "$(jq -cS . <<<"$stored")" "$(jq -cS . <<<"$line")"
  run sql "SELECT line->>'msg' FROM logs WHERE host = 'probe' AND line->>'msg' LIKE 'not JSON:%'"
  assert_output "not JSON: 'x' \\ y $id"
  run logs_query errors
  assert_success
  assert_line --regexp "\| +503 \|.*\| $id +\|"
  run logs_query nope
  assert_failure 2
  assert_output --partial 'Q=nope: one of errors latency routes'
}

@test "porrio and rsyslog crash: both restarted, and the lines reach PostgreSQL again" {
  crash rsyslog || fail "rsyslog not restarted"
  crash porrio || fail "porrio not restarted"
  wait_http "http://127.0.0.1:$PORT/health/ready" 30
  local id="logs-$$-again"
  run curl -s -o /dev/null -w '%{http_code}' -H "X-Request-Id: $id" -X PUT "http://127.0.0.1:$PORT/porra/again/b/c/2024"
  assert_output 200
  wait_stored "$id" 15 || fail "no line after the restarts"
}

@test "every long-running service: read-only root, no capabilities, no-new-privileges, limits, restart" {
  local svc
  for svc in etcd porrio rsyslog postgres prometheus; do
    run docker inspect -f '{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}} {{json .HostConfig.CapAdd}} {{json .HostConfig.SecurityOpt}} {{.HostConfig.PidsLimit}} {{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}' "$(cid "$svc")"
    [[ $output =~ ^true\ \[\"ALL\"\]\ null\ \[\"no-new-privileges:true\"\]\ [1-9][0-9]*\ [1-9][0-9]*\ unless-stopped$ ]] || fail "$svc: $output"
  done
  for svc in rsyslog postgres prometheus; do
    run docker exec "$(cid "$svc")" id -u
    [ "$output" -gt 0 ] || fail "$svc runs as root"
  done
  # only Prometheus is published, on loopback; PostgreSQL and rsyslog are not
  run docker port "$(cid prometheus)"
  assert_output "9090/tcp -> 127.0.0.1:$PROMETHEUS_PORT"
  run docker port "$(cid postgres)"
  assert_output ''
  run docker port "$(cid rsyslog)"
  assert_output ''
}

@test "Prometheus scrapes porrio (target up) and has loaded the alert rules" {
  local i health=
  for ((i = 0; i < 150; i++)); do # the first scrape comes within scrape_interval (10 s)
    health=$(curl -s "http://127.0.0.1:$PROMETHEUS_PORT/api/v1/targets" |
      jq -r --arg t "porrio:$PORT" '.data.activeTargets[] | select(.labels.job == "porrio" and .labels.instance == $t) | .health')
    [ "$health" = up ] && break
    sleep 0.2
  done
  assert_equal "$health" up
  run bash -c "curl -s 'http://127.0.0.1:$PROMETHEUS_PORT/api/v1/rules' | jq -r '[.data.groups[].rules[] | select(.type == \"alerting\") | .name] | sort | .[]'"
  assert_output "$(grep -o '^ *- alert: .*' "$REPO/deploy/prometheus/alerts.yml" | sed 's/.*alert: //' | sort)"
  run curl -s "http://127.0.0.1:$PROMETHEUS_PORT/api/v1/query?query=up%7Bjob%3D%22porrio%22%7D"
  assert_output --partial '"value":['
}
