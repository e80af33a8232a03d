"""Follower lag through NATS JetStream: a journal writer at a steady record rate, its broker
publisher, and a follower, all on this machine (one clock).

    python tools/bench/broker_lag.py --url nats://127.0.0.1:4222 [--rate 10000] [--seconds 10] [--json]

or, from another benchmark (``tools/bench/remote.py``)::

    from tools.bench.broker_lag import follower_lag
    figures = follower_lag("nats://127.0.0.1:4222", rate=10_000, seconds=10)

A ``JournalWriter`` in a temp dir (``durability = "os"``, the thread committer, 5 ms group
commits) gets ``rate`` records a second (a 200-byte frame each, in 2 ms ticks) for ``seconds``;
a ``BrokerPublisher`` (the daemon's, ``[broker]`` defaults) publishes what is committed to the
shard ``--shard`` (default ``bench-<pid>``: a stream of its own, deleted after); a
``RemoteSource`` follows it on a thread and notes, for every record, the time it handed it out
minus the record's receive time (``ts_ns``, the writer's clock).

Figures: ``records``, ``rate_achieved``, ``follower_lag_p50_ms``, ``_p99_ms``, ``_max_ms``
(over the records after the first second), ``published_batches``, ``dropped_records``
(publisher queue drops, recovered from the journal), ``complete`` (the follower got every
record, in order, once). No assertion: figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from recorder.daemon.broker import BrokerPublisher  # noqa: E402
from recorder.daemon.config import BrokerConfig  # noqa: E402
from recorder.journal.remote import RemoteSource, stream_name  # noqa: E402
from recorder.journal.writer import JournalWriter  # noqa: E402

TICK_S = 0.002


def _pct(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] / 1e6


def follower_lag(url: str, *, rate: int = 10_000, seconds: float = 10.0, shard: str = "",
                 config: BrokerConfig | None = None) -> dict[str, Any]:
    """Publish ``rate`` records/s for ``seconds`` and measure the follower's lag (module docstring)."""
    shard = shard or f"bench-{os.getpid()}"
    return asyncio.run(_run(url, rate, seconds, shard, config or BrokerConfig(url=url)))


async def _run(url: str, rate: int, seconds: float, shard: str, config: BrokerConfig) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ticktape-broker-lag-") as tmp:
        w = JournalWriter(tmp, durability="os", committer="thread", commit_interval_ms=5, shard=shard,
                          shard_number=1)
        pub = BrokerPublisher(config, data_dir=tmp, shard=shard, committed=lambda: w.committed_seq,
                              stream_of=lambda sid: w.streams.get(sid))
        w.subscribe(pub.on_record)
        w.on_commit = lambda n, s: pub.wake()
        pub.start()
        sid = w.register_stream("binance-usdm", url="wss://bench", conn="bench.0", channels=("bookTicker",))
        payload = b'{"e":"bookTicker","u":1,"s":"BTCUSDT","b":"1.0","B":"1","a":"2.0","A":"1"}'.ljust(200)
        w.append(sid, "frame", payload)
        w.flush()
        while pub.published_seq < 1:  # the stream exists before the follower looks
            await asyncio.sleep(0.01)
        src = await asyncio.to_thread(RemoteSource, url, shard, record_lag=True)
        stop = threading.Event()
        seqs: list[int] = []
        thread = threading.Thread(target=lambda: seqs.extend(r.seq for r in src.follow(2, stop=stop)),
                                  daemon=True)
        thread.start()
        t0 = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - t0) < seconds:
            due = int(elapsed * rate) - sent
            for _ in range(due):
                w.append(sid, "frame", payload)
            sent += max(due, 0)
            await asyncio.sleep(TICK_S)
        achieved = sent / (time.monotonic() - t0)
        w.flush()
        last = w.last_seq
        deadline = time.monotonic() + 30
        while src.applied_seq < last and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.to_thread(thread.join, 10)
        w.close()
        await pub.close()
        lags = src.lag_ns[int(rate):]  # after the first second
        with contextlib.suppress(Exception):
            await _delete_stream(url, stream_name(shard))
        await asyncio.to_thread(src.close)
        return {"records": sent, "rate_target": rate, "rate_achieved": round(achieved),
                "follower_lag_p50_ms": round(_pct(lags, 0.50), 3),
                "follower_lag_p99_ms": round(_pct(lags, 0.99), 3),
                "follower_lag_max_ms": round(max(lags, default=0) / 1e6, 3),
                "published_batches": pub.published_batches, "dropped_records": pub.dropped_records,
                "complete": seqs == list(range(2, last + 1))}


async def _delete_stream(url: str, name: str) -> None:
    import nats

    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=1)
    try:
        await nc.jetstream().delete_stream(name)
    finally:
        await nc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="nats://HOST:PORT of a nats-server -js")
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--shard", default="")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = follower_lag(args.url, rate=args.rate, seconds=args.seconds, shard=args.shard)
    print(json.dumps(out) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
