"""Reading the real captures (cryptofeed ``.jsonl.zst``, hftbacktest ``.gz``) once.

The files are the ones embedded in ``data/captures`` (located by ``tools.captures``).
"""

from __future__ import annotations

import base64
import functools
import gzip
from dataclasses import dataclass
from pathlib import Path

import orjson
import zstandard

from tools.captures import CAPTURES, HFTBACKTEST_USDM, cryptofeed

CRYPTOFEED_BINANCE = cryptofeed("BINANCE")
CRYPTOFEED_BINANCE_FUTURES = cryptofeed("BINANCE_FUTURES")
CRYPTOFEED_BYBIT = cryptofeed("BYBIT")
CRYPTOFEED_GATEIO = cryptofeed("GATEIO")
CRYPTOFEED_GATEIO_FUTURES = cryptofeed("GATEIO_FUTURES")
CRYPTOFEED_KUCOIN = cryptofeed("KUCOIN")
CRYPTOFEED_OKX = cryptofeed("OKX")
CRYPTOFEED_PHEMEX = cryptofeed("PHEMEX")
CRYPTOFEED_UPBIT = cryptofeed("UPBIT")
__all__ = [
    "CAPTURES",
    "HFTBACKTEST_USDM",
    "RawCapture",
    "read_cryptofeed",
    "read_hftbacktest",
]


@dataclass(frozen=True, slots=True, eq=False)
class RawCapture:
    """Frames and REST bodies of one capture, times in seconds from its first frame.

    ``frames``: ``(t, payload)`` in arrival order, payload byte-exact. ``rest``:
    ``(t, url, body)``; the URL is None where the capture does not say (hftbacktest).
    """

    name: str
    frames: tuple[tuple[float, bytes], ...]
    rest: tuple[tuple[float, str | None, bytes], ...]


@functools.lru_cache(maxsize=8)
def read_hftbacktest(path: str | Path = HFTBACKTEST_USDM) -> RawCapture:
    """``<ns> <json>`` lines: frames start with ``{"stream"``, anything else is a REST body."""
    with gzip.open(path, "rb") as f:
        lines = f.read().split(b"\n")
    frames: list[tuple[float, bytes]] = []
    rest: list[tuple[float, str | None, bytes]] = []
    t0 = None
    for line in lines:
        if not line:
            continue
        ts, _, raw = line.partition(b" ")
        raw = raw.rstrip(b"\r")
        ns = int(ts)
        if ns < 10**17:  # older collector files store microseconds
            ns *= 1000
        t0 = ns if t0 is None else t0
        t = (ns - t0) / 1e9
        if raw.startswith(b'{"stream"'):
            frames.append((t, raw))
        else:
            rest.append((t, None, raw))
    return RawCapture(Path(path).name, tuple(frames), tuple(rest))


@functools.lru_cache(maxsize=16)
def read_cryptofeed(path: str | Path) -> RawCapture:
    """cryptofeed capture format 2: ``recv`` lines are frames (``b64`` ones binary)."""
    with open(path, "rb") as f:
        text = zstandard.ZstdDecompressor().stream_reader(f).read()
    frames: list[tuple[float, bytes]] = []
    rest: list[tuple[float, str | None, bytes]] = []
    t0 = None
    for line in text.split(b"\n"):
        if not line:
            continue
        rec = orjson.loads(line)
        kind = rec.get("t")
        if kind not in ("recv", "http"):
            continue
        ts = float(rec["ts"])
        t0 = ts if t0 is None else t0
        if kind == "http":
            rest.append((ts - t0, rec["url"], rec["data"].encode()))
        elif "b64" in rec:
            frames.append((ts - t0, base64.b64decode(rec["b64"])))
        else:
            frames.append((ts - t0, rec["data"].encode()))
    return RawCapture(Path(path).name, tuple(frames), tuple(rest))
