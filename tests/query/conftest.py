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
from recorder.journal import FRAME
from recorder.journal.reader import JournalReader
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


# --- a synthetic two-venue journal crossing UTC midnight ---------------------------------

SYN_DAYS = ("2025-01-01", "2025-01-02")
SYN_CURRENT = "2025-01-03"
SYN_START = 1_735_775_850 * 10**9  # 2025-01-01T23:57:30Z
SYN_END = SYN_START + 300 * 10**9  # 2025-01-02T00:02:30Z
SYN_GAP_AT = SYN_START + 200 * 10**9
USDT_KRW = 1380


def _mid(i: int) -> int:
    """Binance BTCUSDT mid in tenths of a dollar: a deterministic wobble."""
    return 660_000 + (i * 37) % 50 - 25


def write_synthetic(data: Path, *, shard: str = "", shard_number: int = 0) -> Path:
    """Binance USD-M book ticker/aggTrade/diff depth (one forced gap) and Upbit trades.

    Upbit KRW-BTC trades at 2% over Binance's mid at Upbit's KRW-USDT rate, so the
    premium example has a known answer. ``shard``/``shard_number``: a shard's journal.
    """
    from recorder.journal import FRAME, REST
    from recorder.journal.writer import JournalWriter

    w = JournalWriter(data, background=False, durability="os", shard=shard, shard_number=shard_number)
    bws = w.register_stream("binance-usdm", market="usdm", url="wss://fstream.binance.com/stream",
                            conn="syn.binance", opened_ns=SYN_START)
    brest = w.register_stream("binance-usdm", market="usdm", url="https://fapi.binance.com",
                              conn="syn.binance.rest", opened_ns=SYN_START)
    up = w.register_stream("upbit", market="spot", url="wss://api.upbit.com/websocket/v1",
                           conn="syn.upbit", opened_ns=SYN_START)

    def bin_frame(stream: str, data: dict) -> bytes:
        return json.dumps({"stream": stream, "data": data}, separators=(",", ":")).encode()

    deep_bids = [["60000.0", "3.000"], ["59999.0", "4.000"]]
    deep_asks = [["70000.0", "3.000"], ["70001.0", "4.000"]]

    def snapshot(ts: int, uid: int, mid: int) -> None:
        ms = ts // 10**6
        body = {"lastUpdateId": uid, "E": ms, "T": ms,
                "bids": [[f"{(mid - 1) / 10:.1f}", "1.5"], *deep_bids],
                "asks": [[f"{(mid + 1) / 10:.1f}", "2.5"], *deep_asks]}
        w.append(brest, REST, json.dumps(body).encode(), ts_ns=ts,
                 meta={"url": "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000",
                       "status": 200})

    uid = 1000
    prev = _mid(0)
    snapshot(SYN_START, uid, prev)
    trade_id = 0
    up_id = 0
    gap_state = 0  # 0 before the gap, 1 gapped (snapshot due), 2 re-synced
    for i in range(1, 1200):  # every 250 ms
        ts = SYN_START + i * 250_000_000
        ms = ts // 10**6
        mid = _mid(i)
        # Diff depth: the old best levels leave, the new ones (the book ticker's) arrive.
        pu = uid
        first, uid = uid, uid + 3
        if ts >= SYN_GAP_AT and gap_state == 0:
            pu -= 7  # a lost update: the book must report a Gap
            gap_state = 1
        bids = [[f"{(prev - 1) / 10:.1f}", "0"], [f"{(mid - 1) / 10:.1f}", "1.5"]]
        asks = [[f"{(prev + 1) / 10:.1f}", "0"], [f"{(mid + 1) / 10:.1f}", "2.5"]]
        if prev == mid:
            bids, asks = bids[1:], asks[1:]
        w.append(bws, FRAME, bin_frame("btcusdt@depth@100ms", {
            "e": "depthUpdate", "E": ms, "T": ms, "s": "BTCUSDT", "U": first, "u": uid, "pu": pu,
            "b": bids, "a": asks}), ts_ns=ts)
        prev = mid
        if gap_state == 1 and i % 8 == 0:  # the recorder fetched a snapshot after the gap
            snapshot(ts + 5, uid, mid)
            gap_state = 2
        w.append(bws, FRAME, bin_frame("btcusdt@bookTicker", {
            "e": "bookTicker", "u": uid, "s": "BTCUSDT", "b": f"{(mid - 1) / 10:.1f}", "B": "1.5",
            "a": f"{(mid + 1) / 10:.1f}", "A": "2.5", "T": ms, "E": ms}), ts_ns=ts + 10)
        if i % 2 == 0:
            trade_id += 1
            w.append(bws, FRAME, bin_frame("btcusdt@aggTrade", {
                "e": "aggTrade", "E": ms, "a": trade_id, "s": "BTCUSDT", "p": f"{mid / 10:.1f}",
                "q": f"0.{i % 9 + 1:03d}", "f": trade_id, "l": trade_id, "T": ms, "m": i % 3 == 0}),
                ts_ns=ts + 20)
        if i % 3 == 0:
            up_id += 1
            code, price = ("KRW-USDT", USDT_KRW) if i % 15 == 0 else (
                "KRW-BTC", round(mid / 10 * USDT_KRW * 1.02))
            w.append(up, FRAME, json.dumps({
                "type": "trade", "code": code, "trade_price": price, "trade_volume": 0.01,
                "ask_bid": "BID" if i % 2 else "ASK", "sequential_id": up_id,
                "trade_timestamp": ms, "timestamp": ms}).encode(), ts_ns=ts + 30, meta={"bin": True})
    # The newest day: one record, so both synthetic days are finished.
    w.append(bws, FRAME, bin_frame("btcusdt@bookTicker", {
        "e": "bookTicker", "u": uid, "s": "BTCUSDT", "b": f"{(prev - 1) / 10:.1f}", "B": "1.5",
        "a": f"{(prev + 1) / 10:.1f}", "A": "2.5", "T": 0, "E": 0}), ts_ns=SYN_START + 86_400 * 10**9)
    w.close()
    return data


@pytest.fixture(scope="session")
def synthetic_source(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("syn") / "data")


@pytest.fixture
def synthetic(synthetic_source, tmp_path) -> Path:
    dest = tmp_path / "syn"
    shutil.copytree(synthetic_source, dest)
    return dest
