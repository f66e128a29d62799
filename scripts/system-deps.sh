#!/usr/bin/env bash
# Debian packages the local stack and the tests use, installed only when missing (needs root).
# Java 17 + Maven (local Kafka), redis-server (local Redis), kcat (independent Kafka client in tests),
# chromium (dashboard browser test, driven by Playwright), libb64-0d (perf_analyzer in bench/), prometheus (its promtool
# checks the alert rules; its server evaluates them in the live spike test).

set -euo pipefail
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v redis-server >/dev/null || need+=(redis-server)
command -v kcat >/dev/null || need+=(kcat)
command -v chromium >/dev/null || need+=(chromium)
ldconfig -p 2>/dev/null | grep libb64.so.0d >/dev/null || need+=(libb64-0d)
command -v promtool >/dev/null || need+=(prometheus)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]} (run: sudo apt-get install -y ${need[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
