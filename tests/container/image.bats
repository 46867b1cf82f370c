#!/usr/bin/env bats
# The scratch image: size, user, PORT, health check, docker stop, data on a volume.
load common

setup_file() {
  prepare_images
  export RUN_TAG=$$ # each test runs in its own process: $$ differs there
  export IMAGE="porrio-test:$RUN_TAG"
  build_image "$IMAGE"
  export VOLUME="porrio-test-data-$RUN_TAG"
}

teardown_file() {
  docker ps -aq --filter "label=porrio-test=$RUN_TAG" | xargs -r docker rm -f >/dev/null
  docker volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  docker image rm -f "$IMAGE" >/dev/null 2>&1 || true
}

run_container() { # run_container NAME [docker run options...]: detached, labelled for cleanup
  local name=$1; shift
  docker run -d --label "porrio-test=$RUN_TAG" --name "$name-$RUN_TAG" "$@" "$IMAGE"
}

@test "the image is a scratch image under 6 MB holding the two static binaries" {
  size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
  echo "size: $size bytes"
  [ "$size" -lt 6000000 ]
  run docker image inspect --format '{{json .Config.Entrypoint}} {{.Config.User}} {{json .Config.ExposedPorts}}' "$IMAGE"
  assert_output --partial '["/usr/local/bin/porrio"]'
  assert_output --partial '10001:10001'
  assert_output --partial '3000/tcp'
  run docker image inspect --format '{{json .Config.Healthcheck.Test}}' "$IMAGE"
  assert_output '["CMD","/usr/local/bin/healthcheck"]'
}

@test "docker run -e PORT=8080 serves on 8080 as a non-root user" {
  port=$(free_port)
  run_container port -e PORT=8080 -p "127.0.0.1:$port:8080"
  wait_http "http://127.0.0.1:$port/status" 20
  run curl -s "http://127.0.0.1:$port/one/1"
  assert_output --partial '"hito"'
  pid=$(docker inspect --format '{{.State.Pid}}' "port-$RUN_TAG")
  run awk '/^Uid:/ {print $2}' "/proc/$pid/status"
  assert_output 10001
  run docker logs "port-$RUN_TAG"
  assert_output --partial '"name":"PORT","value":"8080","source":"env"'
  assert_output --partial '"name":"DATA_DIR","value":"/data","source":"env"'
}

@test "the health check turns healthy" {
  port=$(free_port)
  run_container health -p "127.0.0.1:$port:3000"
  for i in $(seq 60); do
    status=$(docker inspect --format '{{.State.Health.Status}}' "health-$RUN_TAG")
    [ "$status" = healthy ] && break
    sleep 0.5
  done
  assert_equal "$status" healthy
}

@test "docker stop drains and exits 0 well inside 10 s" {
  port=$(free_port)
  run_container stop -p "127.0.0.1:$port:3000"
  wait_http "http://127.0.0.1:$port/health/ready" 20
  start=$(date +%s%N)
  docker stop -t 10 "stop-$RUN_TAG" >/dev/null
  elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "docker stop took ${elapsed_ms} ms"
  [ "$elapsed_ms" -lt 5000 ]
  assert_equal "$(docker inspect --format '{{.State.ExitCode}}' "stop-$RUN_TAG")" 0
  run docker logs "stop-$RUN_TAG"
  assert_output --partial '"msg":"signal","signal":"SIGTERM"'
  assert_output --partial '"msg":"stopped"'
}

@test "data on a volume survives the container's removal" {
  port=$(free_port)
  run_container vol1 -p "127.0.0.1:$port:3000" -v "$VOLUME:/data"
  wait_http "http://127.0.0.1:$port/health/ready" 20
  run curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$port/porra/Betis/Sevilla/Liga/2017"
  assert_output 200
  run curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$port/porras/Betis-Sevilla-Liga-2017/apuestas/ana" -d '{"local":2,"visitante":1}'
  assert_output 201
  docker rm -f "vol1-$RUN_TAG" >/dev/null # a kill, not a drain: what was acknowledged is on disk
  port=$(free_port)
  run_container vol2 -p "127.0.0.1:$port:3000" -v "$VOLUME:/data"
  wait_http "http://127.0.0.1:$port/health/ready" 20
  run curl -s "http://127.0.0.1:$port/porras/Betis-Sevilla-Liga-2017"
  assert_output --partial '"ana":{"local":2,"visitante":1}'
}
