# Shared by the container tests: local base images, the porrio image, free ports, waits.
bats_load_library bats-support
bats_load_library bats-assert

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0

# Local stand-ins for what an image registry would give; sets BUILDER_IMAGE and ETCD_IMAGE.
prepare_images() {
  local names
  names=$("$BATS_TEST_DIRNAME/prepare.sh") || return 1
  eval "export $names"
}

# Builds the image under test (layer cache makes a rebuild after a code change take seconds).
build_image() {
  docker build -q --build-arg BUILDER_IMAGE="$BUILDER_IMAGE" -t "$1" "$REPO" >/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL [SECONDS]: polls until URL answers 2xx.
wait_http() {
  local i
  for ((i = 0; i < ${2:-30} * 5; i++)); do
    curl -sf --max-time 2 -o /dev/null "$1" && return 0
    sleep 0.2
  done
  return 1
}

compose() {
  if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}
