"""Shared fixtures: journals imported from the real captures embedded in data/captures."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorder.importer import import_files
from tools.captures import CRYPTOFEED
from tools.captures import HFTBACKTEST_USDM as HFTBACKTEST

CRYPTOFEED_NAMES = ("BINANCE", "BINANCE_FUTURES", "BYBIT", "GATEIO", "GATEIO_FUTURES",
                    "KUCOIN", "OKX", "PHEMEX", "UPBIT")


def capture_path(name: str) -> Path:
    """Path of a shared capture: a cryptofeed exchange name, or ``hftbacktest``."""
    if name == "hftbacktest":
        return HFTBACKTEST
    return CRYPTOFEED / f"{name}.jsonl.zst"


@pytest.fixture(scope="session")
def capture_journal(tmp_path_factory):
    """``capture_journal(name)`` -> a data dir holding that capture imported (cached per session).

    Treat the returned directory as read-only: copy it (``shutil.copytree``) to modify.
    """
    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in made:
            data = tmp_path_factory.mktemp(f"journal-{name}")
            venue = "binance-usdm" if name == "hftbacktest" else None
            import_files(data, [capture_path(name)], venue=venue)
            made[name] = data
        return made[name]

    return make
