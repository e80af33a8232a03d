"""A journal writer and its broker publisher in the test's loop, without the daemon around them."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from recorder.daemon.broker import BrokerPublisher
from recorder.daemon.config import BrokerConfig
from recorder.journal import Record
from recorder.journal.reader import JournalReader
from recorder.journal.remote import RemoteSource
from recorder.journal.writer import JournalWriter
from tests.recorder.daemon.helpers import until  # noqa: F401 (the broker tests import it from here)


class Pipeline:
    """``async with Pipeline(data, url, **broker) as p: p.burst(n)``; ``p.pub``, ``p.writer``."""

    def __init__(self, data: Path, url: str, *, shard: str = "", shard_number: int = 0, **broker: Any) -> None:
        self.data = data
        self.config = BrokerConfig(url=url, **broker)
        self.shard = shard
        self.shard_number = shard_number or (1 if shard else 0)
        self.registry = CollectorRegistry()
        self.writer: JournalWriter = None  # type: ignore[assignment]
        self.pub: BrokerPublisher = None  # type: ignore[assignment]
        self.sids: list[int] = []
        self.n = 0

    async def __aenter__(self) -> Pipeline:
        w = self.writer = JournalWriter(self.data, durability="os", committer="thread",
                                        commit_interval_ms=2, shard=self.shard,
                                        shard_number=self.shard_number)
        self.pub = BrokerPublisher(self.config, data_dir=self.data, shard=self.shard,
                                   committed=lambda: w.committed_seq,
                                   stream_of=lambda sid: w.streams.get(sid), registry=self.registry)
        w.subscribe(self.pub.on_record)
        w.on_commit = lambda n, s: self.pub.wake()
        self.pub.start()
        return self

    def stream(self, venue: str = "binance-usdm") -> int:
        sid = self.writer.register_stream(venue, url=f"wss://{venue}/ws", conn=f"{venue}.0",
                                          channels=("depth", "trade"))
        self.sids.append(sid)
        return sid

    def burst(self, n: int, *, big: int = 0) -> None:
        """``n`` records over the streams (a new one every 700), payloads of varied sizes;
        ``big``: one more of that many bytes (sent in parts)."""
        for _ in range(n):
            if not self.sids or self.n % 700 == 0:
                self.stream("okx" if len(self.sids) % 2 else "binance-usdm")
            sid = self.sids[self.n % len(self.sids)]
            kind = "frame" if self.n % 50 else "rest"
            self.writer.append(sid, kind, b'{"n":%d,"pad":"%s"}' % (self.n, b"x" * (self.n % 400)),
                               meta={"url": "/x"} if kind == "rest" else None)
            self.n += 1
        if big:
            self.writer.append(self.sids[0], "rest", b"B" * big, meta={"status": 200})
            self.n += 1

    async def published(self, timeout: float = 30.0) -> None:
        """Wait until everything appended is committed and acknowledged by the broker."""
        self.writer.flush()
        await until(lambda: self.pub.published_seq >= self.writer.last_seq, timeout,
                    f"seq {self.writer.last_seq} published")

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()
        await self.pub.close(drain_s=10)


def journal(data: Path) -> list[Record]:
    with JournalReader(data) as r:
        return list(r.read())


class Follower:
    """``RemoteSource.follow`` on a thread of its own, collecting what it hands out."""

    def __init__(self, url: str, shard: str = "", *, from_seq: int = 1, **kw: Any) -> None:
        self.src = RemoteSource(url, shard, wait_for_stream=True, **kw)
        self.records: list[Record] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(from_seq,), daemon=True)
        self.thread.start()

    def _run(self, from_seq: int) -> None:
        try:
            for rec in self.src.follow(from_seq, stop=self.stop, poll_interval=0.05):
                self.records.append(rec)
        except BaseException as exc:  # noqa: BLE001 (the test asserts it)
            self.error = exc

    @property
    def last(self) -> int:
        return self.records[-1].seq if self.records else 0

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.src.close()
