#!/bin/sh
# service.sh start|stop PIDFILE: runs build/porrio in the background (logs to build/porrio.log)
# or stops it with SIGTERM and waits for it to drain and exit.
set -eu
cmd=${1:?usage: service.sh start|stop PIDFILE}
pidfile=${2:?usage: service.sh start|stop PIDFILE}
log=${PORRIO_LOG:-build/porrio.log}
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
case $cmd in
start)
  if running; then echo "porrio already running (pid $(cat "$pidfile"))"; exit 0; fi
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$log")"
  nohup ./build/porrio >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  sleep 0.3
  if ! running; then echo "porrio failed to start; see $log" >&2; tail -n 5 "$log" >&2; rm -f "$pidfile"; exit 1; fi
  echo "porrio started (pid $(cat "$pidfile")), logging to $log" ;;
stop)
  if ! running; then echo "porrio is not running"; rm -f "$pidfile"; exit 0; fi
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true # it may have exited meanwhile
  # SHUTDOWN_GRACE_S bounds the drain; it may be up to 3600 s, but 60 s covers any sane setting
  i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  if kill -0 "$pid" 2>/dev/null; then echo "porrio (pid $pid) did not stop in 60 s" >&2; exit 1; fi
  rm -f "$pidfile"; echo "porrio stopped" ;;
*) echo "usage: service.sh start|stop PIDFILE" >&2; exit 2 ;;
esac
