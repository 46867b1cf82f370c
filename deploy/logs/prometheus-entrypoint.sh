#!/bin/sh
# Prometheus's entrypoint: the targets of job "porrio" from PORRIO_TARGETS (host:port, several
# separated by commas or spaces), then Prometheus itself, its database in the volume.
set -eu
targets=$(printf '%s\n' "${PORRIO_TARGETS:-porrio:3000}" | tr ', ' '\n\n' | sed -n 's/^\(..*\)$/"\1",/p' | tr -d '\n')
printf -- '- targets: [%s]\n' "${targets%,}" >/tmp/porrio-targets.yml
exec prometheus --config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/var/lib/prometheus/data \
  --storage.tsdb.retention.time="${PROMETHEUS_RETENTION:-15d}" --web.listen-address=:9090 "$@"
