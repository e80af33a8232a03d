"""Damaged copies of every channel the recorder records never stop the projection.

The captures (``tests/state/test_fuzz.py``) lack some channels (klines, mark price, partial
depth, Upbit's SIMPLE names): here the simulator's synthetic market provides them, recorded
by ``recorder run``'s own code, and the same damage is applied.
"""

from __future__ import annotations

import pytest

from recorder.journal.reader import JournalReader
from state.projector import Projector
from tests.state.test_fuzz import damaged
from tools.simulator import Simulator

from .helpers import BINANCE_ALL, UPBIT_ALL, Running, config, until

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("fmt", ["SIMPLE", "DEFAULT"])
async def test_damaged_frames_of_every_recorded_channel(tmp_path, fmt):
    async with Simulator(source="synthetic", speed=20, seed=11) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT", "ETHUSDT"], binance_channels=BINANCE_ALL,
                     upbit=["KRW-BTC", "KRW-USDT"], upbit_channels=UPBIT_ALL, upbit_extra={"format": fmt})
        run = Running(cfg)
        async with run as rec:
            await until(lambda: sum(lk.frames for lk in rec.links.values()) > 3000, 20, "3000 frames")
            assert await run.stop() == 0
    with JournalReader(tmp_path) as r:
        streams = r.streams()
        records = list(r.read())
    clean = Projector(streams, depth_levels=20)
    kinds = {type(e).__name__ for rec in records for e in clean.apply(rec)}
    assert {"Trade", "BookDelta", "BookTicker", "Kline", "Ticker", "BookSnapshot"} <= kinds  # every decoder path
    assert "DecodeError" not in kinds

    recs = damaged(records, f"recorded-{fmt}")
    one = Projector(streams, depth_levels=20)
    for rec in recs:
        one.apply(rec)  # never raises
    batch = Projector(streams, depth_levels=20)
    batch.apply_many(recs)
    assert one.last_seq == len(recs) and batch.digest() == one.digest()
    assert sum(c.get("decode_error", 0) for c in one.counters.values()) > 0
    assert Projector.restore(one.snapshot()).digest() == one.digest()
