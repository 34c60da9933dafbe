#!/usr/bin/env bash
# Makes a Docker engine answer on this machine: installs Debian's docker.io (and debootstrap,
# which the image builds need, and nftables, which the firewall tests load rules with) when
# missing, and starts dockerd when it is not running.
set -euo pipefail
log() { echo "[engine] $*"; }
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v nft >/dev/null 2>&1 || need+=(nftables)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi
if docker info >/dev/null 2>&1; then
  exit 0
fi
log "starting dockerd (log: /var/log/dockerd.log)"
# A dockerd killed with its session may leave its pid file behind.
if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
  rm -f /var/run/docker.pid
fi
nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && { log "engine $(docker version -f '{{.Server.Version}}') up"; exit 0; }
  sleep 1
done
log "dockerd did not answer within 60 s; last lines of /var/log/dockerd.log:"
tail -n 20 /var/log/dockerd.log
exit 1
