"""Shared pieces of the daemon tests: configs against a simulator, journal views, waiting."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from recorder.daemon import Recorder, build_config
from recorder.journal import NotAJournalError, Record, StreamInfo
from recorder.journal.reader import JournalReader

BINANCE_ALL = ["depth", "depth20", "aggTrade", "trade", "kline_1m", "bookTicker", "markPrice"]
UPBIT_ALL = ["orderbook", "trade", "ticker"]

# Compressed time: tests must take seconds, not minutes.
FAST = {"backoff_initial_s": 0.05, "backoff_max_s": 0.4, "stale_after_s": 5.0,
        "rate_limit_cooldown_s": 0.5, "ip_ban_cooldown_s": 1.0, "open_timeout_s": 3.0,
        "close_timeout_s": 1.0, "seed": 7,
        # the simulator negotiates no compression; test_e2e runs each test offering it too
        "compression": False}


def config_doc(data: Path, urls: Any, *, binance: list[str] | None = None,
               upbit: list[str] | None = None, binance_channels: list[str] | None = None,
               upbit_channels: list[str] | None = None, supervision: dict | None = None,
               recorder: dict | None = None, binance_extra: dict | None = None,
               upbit_extra: dict | None = None, sections: dict | None = None) -> dict:
    """A config document (TOML-shaped) against simulator ``urls``; nightly compaction off
    unless ``sections`` asks, and no instrument-list check unless an ``*_extra`` asks
    (``listing = true``): the synthetic simulator lists only the symbols it has served."""
    venues = []
    if binance:
        venues.append({"venue": "binance-usdm", "symbols": binance,
                       "channels": binance_channels or ["depth", "aggTrade", "bookTicker"],
                       "ws_url": urls.ws, "rest_url": urls.rest, "listing": False,
                       **(binance_extra or {})})
    if upbit:
        venues.append({"venue": "upbit", "symbols": upbit, "channels": upbit_channels or UPBIT_ALL,
                       "ws_url": urls.ws, "rest_url": urls.rest, "listing": False,
                       **(upbit_extra or {})})
    return {
        "recorder": {"data": str(data), "durability": "os", "commit_interval_ms": 5, **(recorder or {})},
        "supervision": {**FAST, **(supervision or {})},
        "compaction": {"enabled": False},
        **(sections or {}),
        "venue": venues,
    }


def config(data: Path, urls: Any, **kw: Any):
    """``config_doc`` validated: a ``RecorderConfig`` for an in-process ``Recorder``."""
    return build_config(config_doc(data, urls, **kw))


def write_config(path: Path, data: Path, urls: Any, **kw: Any) -> Path:
    """``config_doc`` as a TOML file at ``path``, for a ``recorder run --config`` process."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)  # numbers, and strings as TOML basic strings

    lines: list[str] = []
    for name, table in config_doc(data, urls, **kw).items():
        for t in (table if name == "venue" else [table]):
            lines.append(f"[[{name}]]" if name == "venue" else f"[{name}]")
            lines += [f"{k} = {value(v)}" for k, v in t.items()]
            lines.append("")
    path.write_text("\n".join(lines))
    return path


def frames(rec: Any) -> int:
    """Data frames a running ``Recorder`` has received, over all its connections."""
    return sum(lk.frames for lk in rec.links.values())


def last_seq(data: Path) -> int:
    """The journal's committed last seq; 0 while the starting process has not made it yet."""
    try:
        with JournalReader(data) as r:
            return r.last_seq
    except NotAJournalError:
        return 0


async def until(pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``pred`` every 20 ms; fail the test with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


class Running:
    """A ``Recorder`` running as a task of the test's loop."""

    def __init__(self, cfg, **kw: Any) -> None:
        self.rec = Recorder(cfg, **kw)
        self.task: asyncio.Task[int] | None = None

    async def __aenter__(self) -> Recorder:
        self.task = asyncio.create_task(self.rec.run())
        await until(lambda: self.rec.started.is_set() or self.task.done(), 10, "recorder start")
        return self.rec

    async def stop(self) -> int:
        self.rec.request_stop()
        assert self.task is not None
        return await asyncio.wait_for(self.task, 15)

    async def __aexit__(self, *exc: object) -> None:
        if self.task is not None and not self.task.done():
            await self.stop()


class Journal:
    """Everything in a journal, grouped for assertions."""

    def __init__(self, data: Path) -> None:
        with JournalReader(data) as r:
            self.records: list[Record] = list(r.read())
            self.streams: dict[int, StreamInfo] = r.streams()
        self.by_stream: dict[int, list[Record]] = defaultdict(list)
        for rec in self.records:
            self.by_stream[rec.stream].append(rec)

    def kinds(self, sid: int, kind: str) -> list[Record]:
        return [r for r in self.by_stream[sid] if r.kind == kind]

    def frames(self, sid: int) -> list[tuple[bool, bytes]]:
        return [(bool(r.meta and r.meta.get("bin")), r.payload) for r in self.kinds(sid, "frame")]

    def ws_streams(self, venue: str | None = None) -> list[StreamInfo]:
        return [s for s in self.streams.values() if s.url.startswith("ws")
                and (venue is None or s.venue == venue)]

    def rest(self, symbol: str | None = None) -> list[Record]:
        out = [r for r in self.records if r.kind == "rest"]
        if symbol is not None:
            out = [r for r in out if f"symbol={symbol}" in r.meta["url"]]
        return out

    def marks(self) -> list[dict]:
        return [orjson.loads(r.payload) for r in self.records if r.kind == "mark"]

    def errors(self) -> list[Record]:
        return [r for r in self.records if r.kind == "error"]

    def assert_gapless(self) -> None:
        seqs = [r.seq for r in self.records]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "seq has a gap"
        ts = [r.ts_ns for r in self.records]
        assert ts == sorted(ts), "ts_ns went backwards"


def match_connections(sim: Any, journal: Journal) -> list[tuple[Any, StreamInfo]]:
    """Pair each simulator connection with the journal stream that opened it (URL, order)."""
    ours: dict[str, list[StreamInfo]] = defaultdict(list)
    for s in sorted(journal.ws_streams(), key=lambda s: s.id):
        if journal.kinds(s.id, "open"):
            path = s.url.split("//", 1)[1].partition("/")[2]
            ours["/" + path].append(s)
    pairs = []
    for conn in sim.connections:
        assert ours[conn.path], f"simulator connection {conn.id} {conn.path} has no stream"
        pairs.append((conn, ours[conn.path].pop(0)))
    left = [s.id for v in ours.values() for s in v]
    assert not left, f"streams opened that the simulator never saw: {left}"
    return pairs


def assert_byte_exact(sim: Any, journal: Journal, *, aborted: set[int] = frozenset()) -> int:
    """Every frame the simulator sent is in the journal, in order, byte for byte.

    For connections the simulator aborted (TCP reset, no close frame) the frames still in
    its buffers never reached us: ours must be an exact prefix of what it logged.
    Returns the number of frames compared.
    """
    n = 0
    for conn, info in match_connections(sim, journal):
        sent = conn.frames
        got = journal.frames(info.id)
        if conn.id in aborted:
            assert got == sent[:len(got)], f"stream {info.id}: frames differ from what was sent"
        else:
            assert len(got) == len(sent), (f"stream {info.id} ({conn.path}): {len(got)} frames, "
                                           f"simulator sent {len(sent)}")
            assert got == sent, f"stream {info.id}: frames differ from what was sent"
        n += len(got)
    return n
