"""Journals for the query tests: several capture days plus a current day.

``multi_day`` holds UPBIT (2021-04-17), BINANCE_FUTURES (2021-07-22), OKX (2022-05-13)
and BYBIT (2026-08-09, the newest: never "finished"). ``with_hft`` adds the
hftbacktest Binance USD-M capture (2024-08-08, ~94k records) before BYBIT.
Each test gets its own copy (``copy_journal``); the sources are built once.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from recorder.importer import import_files
from recorder.journal import FRAME, JournalReader
from tests.conftest import capture_path

SMALL = ("UPBIT", "BINANCE_FUTURES", "OKX")
FINISHED_SMALL = ("2021-04-17", "2021-07-22", "2022-05-13")
CURRENT = "2026-08-09"


def _build(data: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        venue = "binance-usdm" if name == "hftbacktest" else None
        import_files(data, [capture_path(name)], venue=venue)
    return data


@pytest.fixture(scope="session")
def multi_day_source(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("multi") / "data", (*SMALL, "BYBIT"))


@pytest.fixture(scope="session")
def hft_source(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("hft") / "data", ("BINANCE_FUTURES", "hftbacktest", "BYBIT"))


@pytest.fixture
def multi_day(multi_day_source, tmp_path) -> Path:
    """A private copy of the multi-day journal."""
    dest = tmp_path / "data"
    shutil.copytree(multi_day_source, dest)
    return dest


def count_trade_messages(data_dir: Path) -> Counter:
    """Trades per venue, counted from the raw payloads (independently of state/)."""
    out: Counter = Counter()
    with JournalReader(data_dir) as r:
        streams = r.streams()
        for rec in r.read():
            if rec.kind != FRAME:
                continue
            try:
                j = json.loads(rec.payload)
            except ValueError:
                continue
            if not isinstance(j, dict):
                continue
            venue = streams[rec.stream].venue
            if venue.startswith("binance"):
                data = j.get("data", j)
                if isinstance(data, dict) and data.get("e") in ("trade", "aggTrade"):
                    out[venue] += 1
            elif venue == "upbit":
                if (j.get("ty") or j.get("type")) == "trade":
                    out[venue] += 1
            elif venue == "okx":
                if (j.get("arg") or {}).get("channel") == "trades" and "data" in j:
                    out[venue] += len(j["data"])
            elif venue == "bybit":
                if str(j.get("topic", "")).startswith(("publicTrade.", "trade.")):
                    out[venue] += len(j["data"])
    return out


def tree_state(root: Path) -> dict[str, tuple[str, int]]:
    """{relative path: (content hash, mtime_ns)} of every file under ``root`` but the lock."""
    import hashlib

    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != ".lock":
            out[str(p.relative_to(root))] = (hashlib.blake2b(p.read_bytes()).hexdigest(),
                                             p.stat().st_mtime_ns)
    return out
