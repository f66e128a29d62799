#!/usr/bin/env bash
# The Docker engine for the compose tests, on a machine where no registry image can be pulled.
#   scripts/docker-engine.sh up     install docker.io and debootstrap when missing, start dockerd when none runs
#   scripts/docker-engine.sh base   build the base image emostream-base:bookworm once (debootstrap + docker import)
#   scripts/docker-engine.sh compose  print the path of a Compose v2 binary, built from its Go module when none is
#                                     installed (Debian has only v1, which reads neither `name:` nor `!reset`)
#   scripts/docker-engine.sh down   stop the dockerd this script started (and nothing else)
# The base is Debian bookworm (minbase) with the host's CA bundle, so that apt/pip inside images reach the registries
# the host reaches. Production builds FROM the official images instead (build argument BASE).
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=.stack/docker
PIDFILE=$STATE/dockerd.pid
BASE_TAG=emostream-base:bookworm
mkdir -p "$STATE"

engine_ready() { docker version >/dev/null 2>&1; }

up() {
  need=()
  command -v dockerd >/dev/null || need+=(docker.io)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || { echo "missing: ${need[*]} (sudo apt-get install -y ${need[*]})" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  if engine_ready; then echo "docker engine: running"; return; fi
  /usr/sbin/dockerd >"$STATE/dockerd.log" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 60); do engine_ready && { echo "docker engine: started (pid $(cat "$PIDFILE"))"; return; }; sleep 0.5; done
  echo "dockerd did not start:" >&2; tail -20 "$STATE/dockerd.log" >&2; exit 1
}

base() {
  if docker image inspect "$BASE_TAG" >/dev/null 2>&1; then echo "base image: $BASE_TAG (cached)"; return; fi
  root=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$STATE/debootstrap.log" 2>&1 \
    || { tail -20 "$STATE/debootstrap.log" >&2; exit 1; }
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/host-ca-bundle.crt" 2>/dev/null \
    || { mkdir -p "$root/etc/ssl/certs"; cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/host-ca-bundle.crt"; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import \
    -c 'ENV SSL_CERT_FILE=/etc/ssl/certs/host-ca-bundle.crt PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/host-ca-bundle.crt DEBIAN_FRONTEND=noninteractive' \
    - "$BASE_TAG" >/dev/null
  rm -rf "$root"
  echo "base image: $BASE_TAG (built)"
}

down() {
  [ -f "$PIDFILE" ] || { echo "docker engine: not started by this script"; return; }
  pid=$(cat "$PIDFILE")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  echo "docker engine: stopped"
}

COMPOSE_VERSION=v2.40.3
compose() {
  for c in "$STATE/docker-compose" /usr/libexec/docker/cli-plugins/docker-compose /usr/lib/docker/cli-plugins/docker-compose \
           "$HOME/.docker/cli-plugins/docker-compose"; do
    if [ -x "$c" ] && "$c" version 2>/dev/null | grep -q ' v2\.'; then echo "$c"; return; fi
  done
  command -v go >/dev/null || { echo "no Compose v2 and no Go to build it" >&2; exit 1; }
  src=$(mktemp -d)
  out="$(pwd)/$STATE/docker-compose"
  GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" >"$STATE/compose-download.json"
  cp -r "$(go env GOMODCACHE)/github.com/docker/compose/v2@$COMPOSE_VERSION/." "$src/"
  chmod -R u+w "$src"
  # its own go.mod and go.sum (requirements, excludes) build it as released
  (cd "$src" && go build -trimpath -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
    -o "$out" ./cmd) >"$STATE/compose-build.log" 2>&1 || { tail -20 "$STATE/compose-build.log" >&2; exit 1; }
  rm -rf "$src"
  echo "$STATE/docker-compose"
}

case "${1:-}" in
  up) up ;;
  base) up; base ;;
  compose) compose ;;
  down) down ;;
  *) echo "usage: $0 up|base|compose|down" >&2; exit 2 ;;
esac
