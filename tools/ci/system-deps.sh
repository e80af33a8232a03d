#!/usr/bin/env bash
# Real components some tests run against, from Debian's packages:
#   promtool        (package prometheus)        checks the shipped alert rules
#   victoria-metrics (package victoria-metrics)  a real InfluxDB v2 write API on loopback
# Tests start what they need on 127.0.0.1 and stop it; nothing here starts a service.
set -euo pipefail
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v victoria-metrics >/dev/null 2>&1 || [ -x /usr/bin/victoria-metrics ] || need+=(victoria-metrics)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing ${need[*]}: install them (Debian: apt-get install ${need[*]}); the tests that use them will fail" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
  apt-get update -q >/dev/null 2>&1
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
}
# Debian's packages may start their daemons; tests run their own on free ports.
for svc in prometheus victoria-metrics prometheus-node-exporter; do
  pkill -x "$svc" >/dev/null 2>&1 || true
done
exit 0
