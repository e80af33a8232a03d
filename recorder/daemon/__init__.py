"""The live recorder daemon (``recorder run``): WebSocket/REST bytes into the journal.

    from recorder.daemon import Recorder, load_config
    code = asyncio.run(Recorder(load_config("data/recorder.example.toml")).run())

``demo_run`` records from a local simulator for a fixed time (used by ``make demo``).
"""

from __future__ import annotations

import asyncio

from recorder.errors import ConfigError

from .app import Recorder
from .config import RecorderConfig, build_config, load_config


def demo_run(data_dir: str, ws_url: str, rest_url: str, duration: float, *,
             binance: tuple[str, ...] = ("BTCUSDT", "ETHUSDT"),
             upbit: tuple[str, ...] = ("KRW-BTC", "KRW-ETH"),
             metrics_port: int | None = None) -> int:
    """Record Binance USD-M and Upbit from ``ws_url``/``rest_url`` for ``duration`` s.

    Returns the daemon's exit code; the journal under ``data_dir`` then holds everything.
    """
    doc: dict = {
        "recorder": {"data": str(data_dir), "duration_s": duration, "durability": "os",
                     "metrics_port": metrics_port},
        "venue": [],
    }
    if binance:
        doc["venue"].append({"venue": "binance-usdm", "symbols": list(binance),
                             "channels": ["depth", "aggTrade", "bookTicker", "markPrice", "kline_1m"],
                             "ws_url": ws_url, "rest_url": rest_url})
    if upbit:
        doc["venue"].append({"venue": "upbit", "symbols": list(upbit),
                             "channels": ["orderbook", "trade", "ticker"],
                             "ws_url": ws_url, "rest_url": rest_url})
    return asyncio.run(Recorder(build_config(doc)).run())


__all__ = ["ConfigError", "Recorder", "RecorderConfig", "build_config", "demo_run", "load_config"]
