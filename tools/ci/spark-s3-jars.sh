#!/usr/bin/env bash
# Hadoop's S3 connector for Spark (tests/query/test_spark.py reads the archive on the test S3
# server with s3a://): hadoop-aws and the AWS SDK bundle it calls. pyspark ships Hadoop's
# client but not these two, and Maven Central is not a registry this machine reaches; PyPI's
# sagemaker_pyspark source archive carries both (hadoop-aws 3.3.1 beside pyspark's Hadoop
# 3.3.4 client, which it works with). Downloaded once (pip download, no install: that
# package pins another pyspark), the two jars extracted into .tools/spark-jars (cached: a
# later run only prints the directory). Says why on stderr when it downloads; prints the
# directory on stdout. Where Maven is reachable, `--packages org.apache.hadoop:hadoop-aws:3.3.4`
# does the same for a Spark of one's own.
set -euo pipefail
VERSION=1.4.5
JARS=(hadoop-aws-3.3.1.jar aws-java-sdk-bundle-1.11.901.jar)
cd "$(dirname "$0")/../.."
OUT=.tools/spark-jars
have=1
for j in "${JARS[@]}"; do [ -s "$OUT/$j" ] || have=; done
if [ -n "$have" ]; then
  echo "$PWD/$OUT"
  exit 0
fi
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
echo "spark-s3-jars: fetching ${JARS[*]} from PyPI's sagemaker_pyspark==$VERSION into $OUT (once): Spark's s3a:// reader for tests/query/test_spark.py" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m pip download -q --no-deps --no-binary :all: -d "$tmp" "sagemaker_pyspark==$VERSION" >&2
mkdir -p "$OUT"
members=()
for j in "${JARS[@]}"; do members+=("sagemaker_pyspark-$VERSION/deps/jars/$j"); done
tar -xzf "$tmp"/sagemaker_pyspark-"$VERSION".tar.gz -C "$tmp" "${members[@]}"
for j in "${JARS[@]}"; do mv "$tmp/sagemaker_pyspark-$VERSION/deps/jars/$j" "$OUT/$j"; done
echo "$PWD/$OUT"
