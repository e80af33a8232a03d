"""Beyond one machine: the archive on an S3 server against the local disk, and the follower's lag.

    python tools/bench/remote.py [--captures NAME,...] [--rate 10000] [--seconds 10] [--json]

**Archive** (one journal, imported from the real captures, compacted twice in the same run):
the S3 server is s3s-fs (``tools/ci/s3-server.sh`` builds it; here on 127.0.0.1, its files on
the same disk as the local archive), reached through ``query.store`` as ``query compact
--archive s3://...`` reaches it.

- ``compact_local_rec_s``, ``compact_s3_rec_s``, ``compact_ratio`` (S3 / local): ``query
  compact`` of every day, records a second, end to end: derive, write and verify the day
  locally, then (S3) upload each file, read it back against its digest, write the manifest.
- ``write_local_mb_s``, ``write_s3_mb_s``, ``write_ratio``: the archive's files copied into an
  empty root by the store's ``put_file`` (the upload and its read-back check), MB of Parquet a
  second: the transfer alone, without the derive work compaction shares.
- ``read_local_rec_s``, ``read_s3_rec_s``, ``read_ratio``: ``replay``'s reader of the archive
  (``ArchiveSource.read``, a row group at a time, every record decoded).
- ``scan_local_mb_s``, ``scan_s3_mb_s``, ``scan_ratio``: DuckDB (``query sql --archive``) over
  every raw file: ``sum(octet_length(payload))``, MB of Parquet a second.

**Follower lag** at ``--rate`` records a second (``tools/bench/broker_lag.py``: a journal
writer, the recorder's broker publisher, NATS JetStream, a ``RemoteSource`` following it):
``follower_lag_p50_ms``, ``follower_lag_p99_ms``, ``follower_lag_max_ms``, ``rate_achieved``,
``complete``. As root with iproute2 the broker runs on one host and writer, publisher and
follower on another (``tools/netns.py``: two network namespaces on a veth cable), so every
record crosses the cable twice; ``follower_where`` says ``two hosts`` or ``loopback``.

Figures only: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from query.archive import ArchiveSource  # noqa: E402
from query.catalog import connect  # noqa: E402
from query.compact import compact  # noqa: E402
from query.manifest import load as load_manifest  # noqa: E402
from query.store import LocalStore, open_store  # noqa: E402
from recorder.importer import import_files  # noqa: E402
from tools.captures import CRYPTOFEED, HFTBACKTEST_USDM  # noqa: E402
from tools.natsserver import NatsServer  # noqa: E402
from tools.netns import Cluster, available, wait_port  # noqa: E402
from tools.s3server import S3Server  # noqa: E402

AFTER_ALL = 2_000_000_000 * 10**9  # a clock past every captured day: all are finished
NATS_PORT = 4222
DEFAULT_CAPTURES = "UPBIT,BINANCE_FUTURES,OKX,hftbacktest,BYBIT"  # in time order: a journal only goes forward


def _journal(tmp: Path, names: list[str]) -> Path:
    data = tmp / "journal"
    for name in names:
        if name == "hftbacktest":
            import_files(data, [HFTBACKTEST_USDM], venue="binance-usdm")
        else:
            import_files(data, [CRYPTOFEED / f"{name}.jsonl.zst"])
    return data


def _files(store: Any) -> list[tuple[str, int, str]]:
    """(path, bytes, blake2b) of every file the archive's manifest lists."""
    m = load_manifest(store)
    out = []
    for day in m["days"].values():
        for table in day["tables"].values():
            out += [(f["path"], f["bytes"], f["blake2b"]) for f in table["files"]]
    return out


def _rate(n: float, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else 0.0


def archive_figures(tmp: Path, captures: list[str]) -> dict[str, Any]:
    source = _journal(tmp, captures)
    local_data, s3_data = tmp / "local", tmp / "s3"
    shutil.copytree(source, local_data)
    shutil.copytree(source, s3_data)
    server = S3Server(tmp / "s3root")
    server.bucket("bench")
    server.start()
    saved = {k: os.environ.get(k) for k in server.env()}
    os.environ.update(server.env())
    try:
        url = "s3://bench/desk"
        t = time.perf_counter()
        res = compact(local_data, now_ns=AFTER_ALL)
        t_local = time.perf_counter() - t
        t = time.perf_counter()
        compact(s3_data, archive=url, now_ns=AFTER_ALL)
        t_s3 = time.perf_counter() - t
        local, s3 = LocalStore(local_data / "archive"), open_store(url)
        records = sum(d["records"] for d in load_manifest(local)["days"].values())
        files = _files(local)
        mb = sum(size for _, size, _ in files) / 1e6

        def put_all(dest: Any) -> float:
            t = time.perf_counter()
            for rel, size, digest in files:
                dest.put_file(Path(local.path(rel)), rel, size=size, blake2b=digest)
            return time.perf_counter() - t

        w_local = put_all(LocalStore(tmp / "copy"))
        w_s3 = put_all(open_store("s3://bench/copy"))

        def read(store: Any) -> tuple[int, float]:
            t = time.perf_counter()
            src = ArchiveSource(store)
            try:
                n = sum(1 for _ in src.read())
            finally:
                src.close()
            return n, time.perf_counter() - t

        n_local, r_local = read(local)
        n_s3, r_s3 = read(s3)
        assert n_local == n_s3 == records, (n_local, n_s3, records)
        raw_mb = sum(size for rel, size, _ in files if rel.startswith("raw/")) / 1e6

        def scan(con: Any) -> float:
            t = time.perf_counter()
            con.sql("SELECT sum(octet_length(payload)) FROM raw").fetchall()
            return time.perf_counter() - t

        s_local = scan(connect(local_data, hot=False))
        s_s3 = scan(connect(None, archive=url))
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {
        "captures": captures, "days": len(res.compacted), "records": records,
        "archive_files": len(files), "archive_mb": round(mb, 2),
        "compact_local_rec_s": _rate(records, t_local), "compact_s3_rec_s": _rate(records, t_s3),
        "compact_ratio": round(t_local / t_s3, 3),
        "write_local_mb_s": _rate(mb, w_local), "write_s3_mb_s": _rate(mb, w_s3),
        "write_ratio": round(w_local / w_s3, 3),
        "read_local_rec_s": _rate(records, r_local), "read_s3_rec_s": _rate(records, r_s3),
        "read_ratio": round(r_local / r_s3, 3),
        "scan_local_mb_s": _rate(raw_mb, s_local), "scan_s3_mb_s": _rate(raw_mb, s_s3),
        "scan_ratio": round(s_local / s_s3, 3),
    }


def lag_figures(tmp: Path, rate: int, seconds: float) -> dict[str, Any]:
    lag_cmd = [sys.executable, str(ROOT / "tools" / "bench" / "broker_lag.py"), "--rate", str(rate),
               "--seconds", str(seconds), "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if available() is None:
        with Cluster.make("bench") as c:
            server = NatsServer(tmp / "nats", host=c.a.addr, port=NATS_PORT)
            c.a.spawn(server.command(), log=tmp / "nats.log")
            wait_port(c.b, c.a.addr, NATS_PORT)
            done = c.b.run([*lag_cmd, "--url", server.url], timeout=seconds + 120, env=env, cwd=ROOT)
            where = "two hosts"
    else:
        server = NatsServer(tmp / "nats").start()
        try:
            done = subprocess.run([*lag_cmd, "--url", server.url], capture_output=True, text=True,
                                  timeout=seconds + 120, env=env, cwd=ROOT, check=False)
        finally:
            server.stop()
        where = "loopback"
    if done.returncode != 0:
        raise SystemExit(f"broker_lag failed: {done.stderr[-2000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return {"follower_where": where, **{k: out[k] for k in (
        "rate_target", "rate_achieved", "follower_lag_p50_ms", "follower_lag_p99_ms",
        "follower_lag_max_ms", "dropped_records", "complete")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--captures", default=DEFAULT_CAPTURES,
                    help=f"captures to import and compact (default {DEFAULT_CAPTURES})")
    ap.add_argument("--rate", type=int, default=10_000, help="records/s for the follower lag")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds of the follower lag run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ticktape-bench-remote-") as tmp:
        out = {**archive_figures(Path(tmp), args.captures.split(",")),
               **lag_figures(Path(tmp), args.rate, args.seconds)}
    print(json.dumps(out) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
