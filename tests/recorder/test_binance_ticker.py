"""``recorder run --venue binance-usdm --channels ticker`` against the simulator: the 24 h
ticker stream is recorded on the ``/market`` route, projected into the symbol's ticker dict,
and the market-data API's memory ticker then equals the one it makes of the venue's own
frame (``query.market.normalize``), field by field."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import orjson
import pytest

from query.market.normalize import binance_ticker, from_market_state
from recorder.journal import FRAME
from recorder.journal.reader import JournalReader
from state.events import Anomaly, DecodeError, Ticker
from state.projector import Projector
from tools.simulator import Simulator

BIN = Path(sys.executable).parent
ENV = {k: v for k, v in os.environ.items() if not k.startswith("TICKTAPE_")}
SECONDS = 4.0

pytestmark = pytest.mark.timeout(90)


async def test_recorder_run_records_and_projects_the_ticker_channel(tmp_path):
    async with Simulator(source="capture", speed=5, seed=3, start_ms=1_700_000_000_000,
                         venues=("binance-usdm",), binance_symbols=("BTCUSDT", "FOOUSDT")) as sim:
        argv = ["run", "--venue", "binance-usdm", "--symbols", "BTCUSDT,FOOUSDT", "--channels", "ticker",
                "--data", str(tmp_path / "data"), "--duration", str(SECONDS), "--ws-url", sim.urls.ws,
                "--rest-url", sim.urls.rest, "--metrics-port", "0",
                "--log-file", str(tmp_path / "recorder.log")]
        proc = await asyncio.create_subprocess_exec(str(BIN / "recorder"), *argv, env=ENV,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), SECONDS + 60)
        finally:
            if proc.returncode is None:  # stopped by its pid, as it was started
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, err.decode()[-3000:]

    with JournalReader(tmp_path / "data") as reader:
        streams = reader.streams()
        projector = Projector(streams)
        last: dict[str, tuple[dict, int]] = {}
        tickers, bad = 0, []
        for rec in reader.read():
            events = projector.apply(rec)
            bad += [e for e in events if isinstance(e, DecodeError | Anomaly)]
            if rec.kind == FRAME and b'"24hrTicker"' in rec.payload:
                assert "/market/" in streams[rec.stream].url  # routed: tickers are /market streams
                [ev] = [e for e in events if type(e) is Ticker]
                d = orjson.loads(rec.payload)["data"]
                last[d["s"]] = (d, rec.ts_ns)
                tickers += 1
    assert bad == [], bad[:5]
    assert set(last) == {"BTCUSDT", "FOOUSDT"} and tickers >= 2 * SECONDS  # ~5 a second each
    for sym, (d, recv_ns) in last.items():
        st = projector.symbol_state("binance-usdm", sym)
        assert st.ticker == {"last": d["c"], "open": d["o"], "high": d["h"], "low": d["l"], "volume": d["v"],
                             "quote_volume": d["q"], "change": d["p"], "change_rate": d["P"]}
        memory, _ = from_market_state(projector.market("binance-usdm", sym), now_ns=recv_ns)
        venue = binance_ticker("binance-usdm", d, recv_ns=recv_ns, now_ns=recv_ns)
        fields = ("venue", "symbol", "norm", "last", "bid", "ask", "high", "low", "volume", "quote_volume",
                  "prev_close", "change", "change_rate")
        assert {f: getattr(memory, f) for f in fields} == {f: getattr(venue, f) for f in fields}
