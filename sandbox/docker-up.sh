#!/usr/bin/env bash
# Make a Docker daemon available for discover's Docker sandbox (dev/CI). Idempotent; prints what it did.
# Installs docker.io (Debian) if dockerd is missing, starts dockerd in the background if none answers,
# waits until `docker info` works. Its pid goes to /tmp/discover-dockerd.pid so docker-down.sh stops only it.
set -uo pipefail
PIDFILE=${DISCOVER_DOCKERD_PIDFILE:-/tmp/discover-dockerd.pid}
if docker info >/dev/null 2>&1; then echo "docker-up: a Docker daemon is already running; nothing to do"; exit 0; fi
if ! command -v dockerd >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "docker-up: dockerd is missing and cannot be installed here (needs root + apt-get)" >&2; exit 1; fi
  echo "docker-up: installing docker.io (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null || {
    echo "docker-up: apt-get install docker.io failed" >&2; exit 1; }
fi
echo "docker-up: starting dockerd in the background (log: /tmp/discover-dockerd.log)"
nohup dockerd >/tmp/discover-dockerd.log 2>&1 &
echo $! >"$PIDFILE"
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then echo "docker-up: dockerd is up (pid $(cat "$PIDFILE"))"; exit 0; fi
  sleep 1
done
echo "docker-up: dockerd did not answer within 60 s; see /tmp/discover-dockerd.log" >&2
exit 1
