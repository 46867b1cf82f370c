#!/usr/bin/env bats
# compose.yaml: etcd, the one-shot config service, porrio reading its settings from etcd.
load common

setup_file() {
  prepare_images
  export COMPOSE_PROJECT_NAME="porriotest$$" PUBLISH_ADDRESS=127.0.0.1
  export PORT=$(free_port) LOG_LEVEL=info WORKERS=2
  export PORRIO_IMAGE="porrio-compose-test:$$"
  cd "$REPO"
  compose up -d --build >"$BATS_FILE_TMPDIR/up.log" 2>&1 || { cat "$BATS_FILE_TMPDIR/up.log" >&3; return 1; }
  wait_http "http://127.0.0.1:$PORT/health/ready" 60
}

teardown_file() {
  cd "$REPO"
  compose down -v >/dev/null 2>&1 || true
  docker image rm -f "$PORRIO_IMAGE" >/dev/null 2>&1 || true
}

@test "compose up: porrio answers on the published port" {
  run curl -s "http://127.0.0.1:$PORT/status"
  assert_output --partial '"status":"OK"'
  run curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$PORT/porra/a/b/c/2024"
  assert_output 200
}

@test "the settings come from etcd, put there by the config service" {
  cd "$REPO"
  run compose ps -a config
  assert_output --partial 'Exit 0'
  run compose logs --no-color porrio
  assert_output --partial "\"name\":\"PORT\",\"value\":\"$PORT\",\"source\":\"etcd\""
  assert_output --partial '"name":"WORKERS","value":"2","source":"etcd"'
  assert_output --partial '"name":"LOG_LEVEL","value":"info","source":"etcd"'
}

@test "an etcdctl put of LOG_LEVEL changes the running service" {
  cd "$REPO"
  curl -s -o /dev/null "http://127.0.0.1:$PORT/status?before"
  compose exec -T etcd /usr/local/bin/etcdctl --endpoints=http://127.0.0.1:2379 put porrio:LOG_LEVEL warn
  for i in $(seq 20); do
    compose logs --no-color porrio | grep -q '"msg":"setting changed","name":"LOG_LEVEL","value":"warn"' && break
    sleep 0.2
  done
  curl -s -o /dev/null "http://127.0.0.1:$PORT/status?after"
  sleep 0.3
  run compose logs --no-color porrio
  assert_output --partial '"msg":"setting changed","name":"LOG_LEVEL","value":"warn"'
  assert_output --partial '"uri":"/status?before"'
  refute_output --partial '"uri":"/status?after"'
}

@test "every container: read-only root, no capabilities, no-new-privileges, pids and memory limits" {
  cd "$REPO"
  local svc id
  for svc in etcd config porrio; do
    id=$(compose ps -a -q "$svc")
    [ -n "$id" ] || fail "no container for $svc"
    run docker inspect -f '{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}} {{json .HostConfig.SecurityOpt}} {{.HostConfig.PidsLimit}} {{.HostConfig.Memory}}' "$id"
    assert_success
    [[ $output =~ ^true\ \[\"ALL\"\]\ \[\"no-new-privileges:true\"\]\ [1-9][0-9]*\ [1-9][0-9]*$ ]] || fail "$svc: $output"
  done
  run docker inspect -f '{{.HostConfig.RestartPolicy.Name}}' "$(compose ps -q porrio)"
  assert_output unless-stopped
  run docker inspect -f '{{.HostConfig.RestartPolicy.Name}}' "$(compose ps -q etcd)"
  assert_output unless-stopped
}

@test "porrio killed inside its container (a crash): docker starts it again and it serves" {
  cd "$REPO"
  local id pid i
  id=$(compose ps -q porrio)
  curl -s -o /dev/null -X PUT "http://127.0.0.1:$PORT/porra/crash/b/c/2024"
  pid=$(docker inspect -f '{{.State.Pid}}' "$id")
  [ "$pid" -gt 1 ]
  kill -KILL "$pid" # not `docker kill`: docker treats that as a manual stop and does not restart
  for i in $(seq 100); do
    [ "$(docker inspect -f '{{.RestartCount}}' "$id")" -ge 1 ] && break
    sleep 0.2
  done
  run docker inspect -f '{{.RestartCount}} {{.State.Status}}' "$id"
  [[ $output =~ ^[1-9][0-9]*\ running$ ]] || fail "not restarted: $output"
  wait_http "http://127.0.0.1:$PORT/health/ready" 30
  run curl -s "http://127.0.0.1:$PORT/porras/crash-b-c-2024"
  assert_output --partial '"ID":"crash-b-c-2024"'
}

@test "compose down -v leaves nothing behind" {
  cd "$REPO"
  compose down -v >/dev/null 2>&1
  run docker ps -a --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" -q
  assert_output ''
  run docker volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
  assert_output ''
  run docker network ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
  assert_output ''
}
