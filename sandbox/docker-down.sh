#!/usr/bin/env bash
# Stop the dockerd that docker-up.sh started (and only that one).
set -uo pipefail
PIDFILE=${DISCOVER_DOCKERD_PIDFILE:-/tmp/discover-dockerd.pid}
if [ ! -s "$PIDFILE" ]; then echo "docker-down: no dockerd started by docker-up.sh; nothing to do"; exit 0; fi
pid=$(cat "$PIDFILE")
if kill -0 "$pid" 2>/dev/null; then
  kill "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  echo "docker-down: stopped dockerd (pid $pid)"
else
  echo "docker-down: dockerd (pid $pid) was not running"
fi
rm -f "$PIDFILE"
