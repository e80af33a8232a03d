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


@pytest.fixture
def s3(tmp_path, monkeypatch):
    """A real S3 server (s3s-fs, ``tools/s3server.py``) on 127.0.0.1 with bucket ``arch``;
    AWS_* set to reach it; stopped by pid after the test."""
    from tools.s3server import S3Server

    server = S3Server(tmp_path / "s3root")
    server.bucket("arch")
    server.start()
    for k, v in server.env().items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(k, raising=False)
    try:
        yield server
    finally:
        server.stop()
