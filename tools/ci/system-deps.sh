#!/usr/bin/env bash
# Real components some tests run against, from Debian's packages, installed when missing:
#   promtool         (package prometheus)        checks the shipped alert rules
#   victoria-metrics (package victoria-metrics)  a real InfluxDB v2 write API on loopback
#   java             (openjdk-17-jre-headless)   the JVM pyspark runs Spark in (local mode)
#   nats-server      (package nats-server)       a real NATS JetStream broker on loopback
# Says what it installs and why before installing (one line per package, on stderr), and
# nothing when nothing is missing. The tests start what they need on 127.0.0.1 and stop it
# by pid. Debian's packages would start their daemons when installed: a temporary
# /usr/sbin/policy-rc.d (exit 101: "action forbidden", which invoke-rc.d asks; there is no
# systemd here) prevents that, so nothing needs stopping and no daemon of the machine's
# own is ever touched. Should the install still start one (a policy-rc.d of the machine's
# own that allows it), only the processes it started are stopped, by pid.
set -euo pipefail
declare -A why=(
  [prometheus]="its promtool checks data/prometheus/*.rules.yml (tests/recorder/daemon/test_alert_rules.py)"
  [victoria-metrics]="an InfluxDB v2 write API the tests run on 127.0.0.1 (tests/query/test_influx.py, tests/recorder/daemon/test_influx.py)"
  [openjdk-17-jre-headless]="the Java runtime pyspark needs: tests/query/test_spark.py reads the archive with Spark in local mode"
  [nats-server]="a real NATS JetStream server (-js) the tests run on 127.0.0.1 (tests/recorder/broker, tests/cluster)"
)
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v victoria-metrics >/dev/null 2>&1 || [ -x /usr/bin/victoria-metrics ] || need+=(victoria-metrics)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  for p in "${need[@]}"; do
    echo "system-deps: Debian package $p is missing, so its tests cannot run: ${why[$p]} (install: apt-get install --no-install-recommends $p)" >&2
  done
  exit 0
fi
for p in "${need[@]}"; do
  echo "system-deps: installing Debian package $p: ${why[$p]}" >&2
done

policy=/usr/sbin/policy-rc.d
made_policy=
log=$(mktemp)
cleanup() {
  if [ -n "$made_policy" ]; then rm -f "$policy"; fi
  rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ ! -e "$policy" ] && [ ! -L "$policy" ]; then
  # noclobber: never overwrite one that appeared meanwhile
  if (set -C; printf '#!/bin/sh\n# tools/ci/system-deps.sh: no service starts while it installs packages\nexit 101\n' >"$policy") 2>/dev/null; then
    made_policy=1
    chmod 755 "$policy"
  fi
fi

before=" $(cd /proc && echo [0-9]*) "
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${need[@]}" >"$log" 2>&1; then
  apt-get update -q >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  apt-get install -y -q --no-install-recommends "${need[@]}" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
fi

# Processes the install started (new since it began, running a program it installed).
installed=" $(dpkg -L "${need[@]}" 2>/dev/null | grep -E '^/usr/s?bin/' | tr '\n' ' ') "
for dir in /proc/[0-9]*; do
  pid=${dir#/proc/}
  case "$before" in *" $pid "*) continue ;; esac
  exe=$(readlink "$dir/exe" 2>/dev/null) || continue
  case "$installed" in *" $exe "*) ;; *) continue ;; esac
  echo "system-deps: stopping pid $pid ($exe), started by this install" >&2
  kill "$pid" 2>/dev/null || true
done
exit 0
