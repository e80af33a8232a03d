"""The Journal and Lifecycle ports as the daemon implements them."""

from __future__ import annotations

import asyncio
import json

from recorder.daemon.runtime import JournalAccess, Stopper
from recorder.journal import JournalWriteError
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter


def test_journal_access_registers_appends_counts_and_marks(tmp_path):
    seen, failures = [], []
    w = JournalWriter(tmp_path, durability="os", background=False)
    j = JournalAccess(w, config_hash="abc", on_stream=seen.append, on_failure=failures.append)
    ws = j.register("binance-usdm", url="wss://x/public/stream", conn="binance-usdm.public.0",
                    channels=("btcusdt@depth@100ms",))
    up = j.register("upbit", url="wss://y/websocket/v1", conn="upbit.ws.0", channels=("trade:KRW-BTC",))
    j.append(ws, "open", b"wss://x/public/stream", meta={"conn": "binance-usdm.public.0"})
    rec = j.append_frame(ws, "frame", b'{"e":"depthUpdate"}')
    j.mark(ws, "gap", venue="binance-usdm", symbol="BTCUSDT", expected=1, got=3, source="projection")
    j.append(up, "sent", b"PING")
    w.close()
    assert [(i.id, i.venue, i.market, i.config_hash) for i in seen] == [
        (ws, "binance-usdm", "usdm", "abc"), (up, "upbit", "spot", "abc")]
    assert j.stream_names == {ws: ("binance-usdm", "binance-usdm.public.0"), up: ("upbit", "upbit.ws.0")}
    # frames are counted by their connections, everything else here
    assert j.counts == {(ws, "open"): (1, 21), (ws, "mark"): (1, len(_mark())), (up, "sent"): (1, 4)}
    assert rec.seq == 2 and failures == []
    with JournalReader(tmp_path) as r:
        records = list(r.read())
    assert records[2].kind == "mark" and records[2].payload == _mark()


def _mark() -> bytes:
    return json.dumps({"mark": "gap", "venue": "binance-usdm", "symbol": "BTCUSDT", "expected": 1,
                       "got": 3, "source": "projection"}, sort_keys=True).encode()


def test_a_journal_failure_is_reported_never_raised():
    class Broken:
        streams: dict = {}

        def append(self, *a, **kw):
            raise JournalWriteError("disk full", 41)

    failures = []
    j = JournalAccess(Broken(), config_hash="", on_stream=lambda i: None,  # type: ignore[arg-type]
                      on_failure=failures.append)
    j.append(1, "open", b"x")
    j.mark(1, "gap")
    assert [f.committed_seq for f in failures] == [41, 41] and j.counts == {}


async def test_stopper_wakes_waiters_once_a_stop_is_requested():
    s = Stopper()
    assert not s.stopping
    s.request_stop()  # before begin: nothing to stop yet
    s.begin()
    assert await s.wait_stop(0.01) is False
    asyncio.get_running_loop().call_later(0.02, s.request_stop)
    t0 = asyncio.get_running_loop().time()
    assert await s.wait_stop(5.0) is True
    assert asyncio.get_running_loop().time() - t0 < 1.0
    assert s.stopping and s.stop_future.done()
    s.request_stop()  # idempotent
