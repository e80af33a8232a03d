"""The market-data API's speeds, each against a baseline measured in the same run.

    python tools/bench/market.py [--reads N] [--latency S] [--json]

- memory: ``MarketData.ticker`` answered from an in-process projection (the hftbacktest
  capture folded by ``state.projector``), ``await`` included, against a plain dict lookup
  of the same ``Ticker`` object; p50/p99 of single reads (``memory_p99_us``, goal < 5 µs).
  The book read (``orderbook(depth=10)``) is reported beside it.
- attach: a second process reads a running recorder's live table through
  ``MarketData(attach=DATA)`` while the recorder writes (the simulator's captures at ten times
  real time): ``ticker`` and ``orderbook(depth=10)`` reads, the raw row read (``Attached.row``) and
  a dict lookup in that process, each timed one by one (``attach_ticker_p99_us``, goal < 20 µs).
- tickers: 189 (``--symbols``) Upbit KRW tickers in one ``tickers()`` call against 189 ``ticker()`` calls,
  at the simulator with Upbit's limit (10 requests a second per group) and every REST reply
  delayed ``--latency`` seconds (a real venue's round trip; default 0.03).
- cached candles: 400 closed Upbit one-minute candles fetched once over REST, then asked
  ``--candle-repeat`` times more and answered from the disk cache (Parquet through DuckDB,
  no request): p50/p99 of one answer (``cached_candles_p99_ms``, goal < 10 ms), and the first
  REST fetch's time over that p99.
- candles: 1200 Upbit one-minute candles in pages fetched 8 at a time against one at a time
  (``candle_result(concurrency=...)``), each side with its own limiter, at ``--latency`` and at
  ``--far-latency`` (0.1 s: a venue on another continent); the speed-up is what concurrency
  buys once the round trip, not the simulator, is the cost.

Times are wall-clock (``perf_counter_ns``); the machine should be quiet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from query.market.api import MarketData, Routing  # noqa: E402
from query.market.folded import FoldedMemory  # noqa: E402
from recorder.journal import Record  # noqa: E402
from state.projector import Projector  # noqa: E402
from tools.bench.projection import CAPTURE, STREAMS, load  # noqa: E402
from tools.simulator import Simulator  # noqa: E402


def krw_codes(n: int) -> tuple[str, ...]:
    return tuple(f"KRW-C{i:03d}" for i in range(n))


def pct(ns: list[int], p: float) -> float:
    s = sorted(ns)
    return s[min(len(s) - 1, int(len(s) * p))] / 1000  # µs


async def bench_memory(reads: int) -> dict:
    proj = Projector(STREAMS, depth_levels=20)
    records = load(CAPTURE)
    proj.apply_many(records)
    # The capture has no 24 h ticker frame; one in Binance's documented shape completes the
    # memory ticker (without it, ticker() would rightly go to REST).
    last = records[-1]
    frame = json.dumps({"stream": "btcusdt@ticker", "data": {
        "e": "24hrTicker", "E": last.ts_ns // 1_000_000, "s": "BTCUSDT", "p": "-5.00", "P": "-0.008",
        "w": "61700.12", "c": "61659.80", "Q": "0.010", "o": "61664.80", "h": "61900.00", "l": "61500.00",
        "v": "12345.678", "q": "761234567.89", "O": last.ts_ns // 1_000_000 - 86_400_000,
        "C": last.ts_ns // 1_000_000, "F": 1, "L": 2, "n": 2}}).encode()
    proj.apply(Record(last.seq + 1, last.ts_ns, 1, "frame", frame, None))
    mem = FoldedMemory(proj)
    md = MarketData(memory=mem, live=False)
    await md.start()
    md.universe.set("binance-usdm", ["BTCUSDT"])
    md.clock = lambda: proj.ts_ns  # "now" is the capture's last record: the state is fresh
    first = await md.ticker("binance-usdm", "BTCUSDT")
    assert first.source == "memory", first
    plain = {("binance-usdm", "BTCUSDT"): first}
    dict_ns, mem_ns, book_ns = [], [], []
    clock = time.perf_counter_ns
    for _ in range(reads):
        t0 = clock()
        plain[("binance-usdm", "BTCUSDT")]
        dict_ns.append(clock() - t0)
    for _ in range(reads):
        t0 = clock()
        await md.ticker("binance-usdm", "BTCUSDT")
        mem_ns.append(clock() - t0)
    for _ in range(reads):
        t0 = clock()
        await md.orderbook("binance-usdm", "BTCUSDT", 10)
        book_ns.append(clock() - t0)
    await md.close()
    return {"memory_p50_us": pct(mem_ns, 0.5), "memory_p99_us": pct(mem_ns, 0.99),
            "dict_p50_us": pct(dict_ns, 0.5), "dict_p99_us": pct(dict_ns, 0.99),
            "memory_vs_dict_p99": pct(mem_ns, 0.99) / max(pct(dict_ns, 0.99), 1e-3),
            "book_p50_us": pct(book_ns, 0.5), "book_p99_us": pct(book_ns, 0.99)}


async def bench_tickers(latency: float, n: int) -> dict:
    codes = krw_codes(n)
    async with Simulator(venues=("upbit",), source="synthetic", seed=5, speed=1.0, upbit_codes=codes,
                         rest_latency_s=latency) as sim:
        urls = {"upbit": sim.urls.rest}
        out = {}
        for name, one in (("one_call", True), ("per_symbol", False)):
            async with MarketData(live=False, rest_urls=urls, routing=Routing(ttl_ms={})) as md:
                await md.symbols("upbit")
                await asyncio.sleep(1.1)  # the listing's request leaves the window
                before = md.rest.requests
                t0 = time.perf_counter()
                if one:
                    got = await md.tickers("upbit", list(codes))
                else:
                    got = [await md.ticker("upbit", s) for s in codes]
                out[name] = (time.perf_counter() - t0, md.rest.requests - before)  # a 429's retry counts
                assert [t.symbol for t in got] == list(codes)
    return {"tickers_symbols": n, "tickers_one_call_s": out["one_call"][0], "tickers_one_call_requests": out["one_call"][1],
            "tickers_per_symbol_s": out["per_symbol"][0],
            "tickers_per_symbol_requests": out["per_symbol"][1],
            "tickers_speedup": out["per_symbol"][0] / out["one_call"][0]}


async def bench_candles(latency: float) -> dict:
    """1200 Upbit one-minute candles: 8 pages in flight against one at a time, each side with
    its own limiter (Upbit's 10 a second) at one simulator whose replies wait ``latency``."""
    async with Simulator(venues=("upbit",), source="synthetic", seed=6, speed=1.0, upbit_codes=("KRW-BTC",),
                         rest_latency_s=latency, history_minutes=3000) as sim:
        urls = {"upbit": sim.urls.rest}
        took = {}
        for name, concurrency in (("sequential", 1), ("concurrent", 8)):
            async with MarketData(live=False, rest_urls=urls) as md:
                await md.symbols("upbit")
                await asyncio.sleep(1.1)  # a fresh second of the budget for each side
                t0 = time.perf_counter()
                res = await md.candle_result("upbit", "KRW-BTC", "1m", count=1200, concurrency=concurrency)
                took[name] = (time.perf_counter() - t0, res.requests)
                assert len(res.candles) == 1200
    tag = f"{int(latency * 1000)}ms"
    return {f"candles_1200_sequential_s_{tag}": took["sequential"][0],
            f"candles_1200_concurrent_s_{tag}": took["concurrent"][0],
            f"candles_1200_pages_{tag}": took["concurrent"][1],
            f"candles_1200_speedup_{tag}": took["sequential"][0] / took["concurrent"][0]}


async def attach_reader(data: str, reads: int) -> dict:
    """In a second process: ``MarketData(attach=data)`` ticker and book reads, the raw row
    read (``Attached.row``) and a dict lookup, each timed one by one while the recorder writes."""
    md = MarketData(attach=data, live=False, routing=Routing(subscribe_after=0))
    await md.start()
    md.universe.set("upbit", ["KRW-BTC"])
    md.universe.set("binance-usdm", ["BTCUSDT"])
    att = md.memory.attached
    first = await md.ticker("binance-usdm", "BTCUSDT")
    assert first.source == "memory", first
    plain = {("binance-usdm", "BTCUSDT"): first}
    clock = time.perf_counter_ns
    out: dict[str, list[int]] = {"dict": [], "row": [], "ticker": [], "book": []}
    sources = set()
    for _ in range(reads):
        t0 = clock()
        plain[("binance-usdm", "BTCUSDT")]
        t1 = clock()
        att.row("binance-usdm", "BTCUSDT")
        t2 = clock()
        t = await md.ticker("binance-usdm", "BTCUSDT")
        t3 = clock()
        await md.orderbook("upbit", "KRW-BTC", 10)
        t4 = clock()
        out["dict"].append(t1 - t0)
        out["row"].append(t2 - t1)
        out["ticker"].append(t3 - t2)
        out["book"].append(t4 - t3)
        sources.add(t.source)
    stats = att.stats()
    await md.close()
    return {"attach_reads": reads, "attach_sources": sorted(sources), "attach_retries": stats["retries"],
            **{f"attach_{k}_p50_us": pct(v, 0.5) for k, v in out.items()},
            **{f"attach_{k}_p99_us": pct(v, 0.99) for k, v in out.items()}}


async def bench_attach(reads: int) -> dict:
    """A recorder writing (the simulator's captures at ten times real time) and
    ``attach_reader`` in another process."""
    import tempfile

    from recorder.daemon.app import Recorder
    from recorder.daemon.config import build_config

    data = tempfile.mkdtemp(prefix="tt-bench-attach-")
    async with Simulator(source="capture", speed=10.0, seed=7) as sim:
        doc = {"recorder": {"data": data, "durability": "periodic", "log_level": "warning"},
               "venue": [{"venue": "binance-usdm", "symbols": ["BTCUSDT"],
                          "channels": ["depth", "aggTrade", "bookTicker", "ticker"],
                          "ws_url": sim.urls.ws, "rest_url": sim.urls.rest},
                         {"venue": "upbit", "symbols": ["KRW-BTC"], "channels": ["orderbook", "trade", "ticker"],
                          "ws_url": sim.urls.ws, "rest_url": sim.urls.rest}],
               "compaction": {"enabled": False}}
        rec = Recorder(build_config(doc), metrics=False, hooks={})
        task = asyncio.create_task(rec.run())
        await rec.started.wait()
        while rec.publisher is None or len(rec.publisher.rows) < 2 or \
                rec.projection.projector.folded("binance-usdm", "BTCUSDT") is None or \
                not rec.projection.projector.folded("binance-usdm", "BTCUSDT").ticker.get("volume"):
            await asyncio.sleep(0.05)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--attach-reader", data, "--reads", str(reads),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        written = rec.publisher.stats()
        rec.request_stop()
        await task
    if proc.returncode != 0:
        raise RuntimeError(err.decode()[-2000:])
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["attach_rows_published"] = written.get("published", 0)
    return result


async def bench_cached_candles(latency: float, repeat: int) -> dict:
    """The 400 one-minute Upbit candles before an hour ago: fetched once over REST (pages at ``latency``),
    then asked again ``repeat`` times and answered from the disk cache (no request)."""
    import tempfile

    cache = tempfile.mkdtemp(prefix="tt-bench-candles-")
    async with Simulator(venues=("upbit",), source="synthetic", seed=9, speed=1.0, upbit_codes=("KRW-BTC",),
                         rest_latency_s=latency, history_minutes=1000) as sim:
        async with MarketData(live=False, rest_urls={"upbit": sim.urls.rest}, cache_dir=cache) as md:
            await md.symbols("upbit")
            minute = 60_000_000_000
            end = time.time_ns() // minute * minute - 60 * minute
            t0 = time.perf_counter()
            first = await md.candle_result("upbit", "KRW-BTC", "1m", count=400, end=end)
            assert len(first.candles) == 400
            rest_s = time.perf_counter() - t0
            ns = []
            for _ in range(repeat):
                t0 = time.perf_counter_ns()
                again = await md.candle_result("upbit", "KRW-BTC", "1m", count=400, end=end)
                ns.append(time.perf_counter_ns() - t0)
                assert again.requests == 0 and again.source == "cache"
    p99_ms = pct(ns, 0.99) / 1000
    return {"cached_candles": len(first.candles), "cached_candles_rest_ms": rest_s * 1000,
            "cached_candles_rest_requests": first.requests,
            "cached_candles_p50_ms": pct(ns, 0.5) / 1000, "cached_candles_p99_ms": p99_ms,
            "cached_candles_vs_rest": rest_s * 1000 / p99_ms}


async def run(args: argparse.Namespace) -> dict:
    result = {"reads": args.reads, "latency_s": args.latency}
    result |= await bench_memory(args.reads)
    result |= await bench_attach(args.reads)
    result |= await bench_tickers(args.latency, args.symbols)
    result |= await bench_cached_candles(args.latency, args.candle_repeat)
    for latency in (args.latency, args.far_latency):
        result |= await bench_candles(latency)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reads", type=int, default=100_000, help="single reads timed per memory figure")
    ap.add_argument("--latency", type=float, default=0.03, help="simulated REST round trip (s)")
    ap.add_argument("--far-latency", type=float, default=0.1,
                    help="a second round trip for the candle pages (a venue far away)")
    ap.add_argument("--symbols", type=int, default=189, help="Upbit KRW markets in the tickers figure")
    ap.add_argument("--candle-repeat", type=int, default=300, help="cached 400-candle reads timed")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--attach-reader", metavar="DATA", help=argparse.SUPPRESS)  # the second process
    args = ap.parse_args()
    if args.attach_reader:
        print(json.dumps(asyncio.run(attach_reader(args.attach_reader, args.reads))))
        return 0
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:36} {v:.3f}" if isinstance(v, float) else f"{k:36} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
