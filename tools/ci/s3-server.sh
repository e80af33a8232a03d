#!/usr/bin/env bash
# A real S3-compatible server for the archive's tests (tests/query/test_s3_archive.py):
# s3s-fs, the file-backed server of the s3s crate, built from crates.io once into
# .tools/s3s (cached: a later run only prints the path). 0.14.1 is the last release that
# builds on rustc 1.95. Debian packages no S3 server, hence this build. Says why on stderr
# when it builds; prints the binary's path on stdout. The tests start it on 127.0.0.1 on a
# free port with a temporary root and random keys, and stop it by pid:
#   s3s-fs --host 127.0.0.1 --port P --access-key AK --secret-key SK ROOTDIR
set -euo pipefail
VERSION=0.14.1
cd "$(dirname "$0")/../.."
ROOT=.tools/s3s
BIN="$ROOT/bin/s3s-fs"
if [ -x "$BIN" ] && grep -q "s3s-fs $VERSION" "$ROOT/.crates.toml" 2>/dev/null; then
  echo "$PWD/$BIN"
  exit 0
fi
export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null 2>&1 || { echo "s3-server: need cargo (the Rust toolchain) to build s3s-fs: https://rustup.rs" >&2; exit 1; }
echo "s3-server: building s3s-fs $VERSION into $ROOT (once, a few minutes): the S3 server the archive tests upload to (tests/query/test_s3_archive.py)" >&2
cargo install s3s-fs@"$VERSION" --features binary --locked --root "$ROOT" >&2
echo "$PWD/$BIN"
