"""In-process consumers see a record as soon as it has its seq, before the group commit
(issue 3 item 7): the live projection reflects a frame while the journal has not yet
committed it; other processes see it only once ``committed_seq`` reaches it."""

from __future__ import annotations

import orjson
import pytest

from tools.simulator import Simulator

from .helpers import Journal, Running, config, until

pytestmark = pytest.mark.timeout(60)


async def test_projection_sees_frames_before_commit(tmp_path):
    seen: list[tuple[int, int, bool]] = []  # (seq, committed_seq then, state reflected it)
    async with Simulator(source="synthetic", speed=20, seed=9) as s:
        # Slow group commits (400 ms), so "before the commit" is a wide window.
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade"],
                     upbit=["KRW-BTC"], upbit_channels=["trade"],
                     recorder={"commit_interval_ms": 400, "commit_max_records": 1_000_000})
        run = Running(cfg)
        async with run as rec:
            proj, w = rec.projection, rec.writer

            def on_record(r) -> None:
                if r.kind != "frame":
                    return
                if b'"e":"aggTrade"' in r.payload:
                    venue, symbol = "binance-usdm", "BTCUSDT"
                    want = str(orjson.loads(r.payload)["data"]["a"])
                elif b'"ty":"trade"' in r.payload:
                    venue, symbol = "upbit", "KRW-BTC"
                    want = str(orjson.loads(r.payload)["sid"])
                else:
                    return
                last = proj.projector.symbol_state(venue, symbol).last_trade
                ok = (proj.projector.last_seq == r.seq and last is not None
                      and last.seq == r.seq and last.trade_id == want)
                seen.append((r.seq, w.committed_seq, ok))

            proj.listeners.append(on_record)
            await until(lambda: len(seen) >= 200 and w.committed_seq > 0, 20, "200 trades, a commit")
            assert await run.stop() == 0
    # Every trade frame was in the state when the listener ran, and most of them before
    # the journal had committed them (the rest arrived right after a commit finished).
    assert all(ok for _, _, ok in seen), [x for x in seen if not x[2]][:5]
    early = [seq for seq, committed, _ in seen if committed < seq]
    assert len(early) >= 0.9 * len(seen), (len(early), len(seen))
    # ... and they were all committed in the end, in the same order.
    j = Journal(tmp_path)
    j.assert_gapless()
    seqs = {r.seq for r in j.records if r.kind == "frame"}
    assert {seq for seq, _, _ in seen} <= seqs
