"""Run the exchange simulator from the command line.

    python -m tools.simulator [--venue binance-usdm,upbit] [--port N] [--rest-port M]
                              [--source capture|synthetic] [--speed X|max] [--rate N]
                              [--symbols BTCUSDT,...] [--codes KRW-BTC,...] [--seed N]
                              [--rotate-after S] [--ping-interval S] [--duration S] [--no-record]
                              [--universe N|venue=N,...] [--universe-rate-scale X]

It serves both venues on 127.0.0.1: WebSocket on ``--port`` (0: any free port) and REST
plus the control API on ``--rest-port`` (default ``--port`` + 1; any free with port 0).
Once listening it prints exactly two lines to stdout, then runs until SIGINT/SIGTERM or
``--duration`` seconds::

    ws ws://127.0.0.1:9001
    rest http://127.0.0.1:9002

Point a recorder at them; only the base URL changes, the venues' own paths are kept::

    recorder run --venue binance-usdm --symbols BTCUSDT --channels depth,aggTrade \
        --data /tmp/rec --ws-url ws://127.0.0.1:9001 --rest-url http://127.0.0.1:9002

Sources: ``capture`` loops the real recordings (Binance BTCUSDT from hftbacktest and
SUSHI/AKRO/KEEP/CTK-USDT from cryptofeed; Upbit KRW-* from cryptofeed) with shifted ids
and times, and makes any other symbol asked for synthetic. Streams a capture lacks are
derived from the ones it has (``binance_derived``): BTCUSDT's ``aggTrade`` and ``kline_1m``
from its trades, every capture symbol's ``markPrice`` from its book tickers, and Upbit
tickers from trades; every Binance symbol's ``@ticker`` is made each second from the state
``/ticker/24hr`` answers from. ``synthetic`` serves only the seeded random-walk market. Pacing: ``--speed`` scales the recordings' clock (1 = real
time, ``max`` = as fast as the sockets take it); ``--rate`` sends N events/s instead.

``--universe`` lists that many synthetic long-tail symbols (``SYN1USDT``, ``SYN1-USDT``...)
on each of the six non-Upbit venues' instrument lists, streaming trades and top of book at
the per-symbol rates measured on the captures (``tools.simulator.universe``).

Faults are injected over HTTP while it runs (see ``Simulator.fault`` for parameters)::

    curl -XPOST $REST/_sim/fault -d '{"kind":"drop","venue":"binance-usdm"}'
    curl -XPOST $REST/_sim/fault -d '{"kind":"gap","symbol":"BTCUSDT","count":2}'
    curl -XPOST $REST/_sim/fault -d '{"kind":"silence","seconds":10}'
    curl -XPOST $REST/_sim/fault -d '{"kind":"rest_error","status":429,"times":3}'
    curl -XPOST $REST/_sim/fault -d '{"kind":"malformed","mode":"oversized"}'
    curl -XPOST $REST/_sim/fault -d '{"kind":"rotate","after_s":30}'
    curl -XPOST $REST/_sim/clear
    curl $REST/_sim/stats                 # connections, counts, REST calls, symbols
    curl "$REST/_sim/sent?conn=1&offset=0"  # every frame sent on a connection (base64)

Exit status: 0 after a signal or ``--duration``; 2 for a bad option.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from .config import SimConfig
from .server import Simulator
from .universe import parse_counts


def parse_args(argv: list[str] | None = None) -> tuple[SimConfig, float | None]:
    """The simulator's config and the ``--duration`` (raises ``ValueError`` when invalid)."""
    p = argparse.ArgumentParser(prog="python -m tools.simulator", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--venue", default="binance-usdm,upbit", help="comma-separated venues")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="WebSocket port (0: any free)")
    p.add_argument("--rest-port", type=int, default=None,
                   help="REST/control port (default: --port + 1, or any free with --port 0)")
    p.add_argument("--source", choices=("capture", "synthetic"), default="capture")
    p.add_argument("--speed", default="1", help="time scale of the recordings, or 'max'")
    p.add_argument("--rate", type=float, default=None, help="steady events/s instead of --speed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--symbols", default=None, help="Binance symbols allowed (default: any)")
    p.add_argument("--codes", default=None, help="Upbit codes allowed (default: any)")
    p.add_argument("--rotate-after", type=float, default=None, help="close connections this old (s)")
    p.add_argument("--ping-interval", type=float, default=180.0, help="Binance server ping interval (s)")
    p.add_argument("--no-record", action="store_true", help="keep counts only, not frame bytes")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--rest-latency", type=float, default=0.0,
                   help="seconds every REST reply waits first (a real venue's round trip)")
    p.add_argument("--universe", default=None,
                   help="synthetic symbols listed per venue: N (each of binance-spot, bybit, okx, "
                        "gate, kucoin, phemex) or venue=N,...")
    p.add_argument("--universe-rate-scale", type=float, default=1.0,
                   help="factor on the universe's per-symbol rates measured on the captures")
    a = p.parse_args(argv)
    if a.duration is not None and a.duration <= 0:
        raise ValueError("--duration must be > 0")
    if a.rest_latency < 0:
        raise ValueError("--rest-latency must be >= 0")
    universe = parse_counts(a.universe) if a.universe else ()
    rest_port = a.rest_port if a.rest_port is not None else (a.port + 1 if a.port else 0)
    return SimConfig(
        venues=tuple(v.strip() for v in a.venue.split(",") if v.strip()), host=a.host,
        ws_port=a.port, rest_port=rest_port, source=a.source,
        speed="max" if a.speed == "max" else float(a.speed), rate=a.rate, seed=a.seed,
        binance_symbols=tuple(a.symbols.split(",")) if a.symbols else None,
        upbit_codes=tuple(a.codes.split(",")) if a.codes else None,
        rotate_after_s=a.rotate_after, binance_ping_interval_s=a.ping_interval,
        record_sent=not a.no_record, rest_latency_s=a.rest_latency, universe=universe,
        universe_rate_scale=a.universe_rate_scale), a.duration


async def run(config: SimConfig, duration: float | None = None) -> None:
    """Serve until SIGINT/SIGTERM or ``duration`` seconds; prints the two URL lines first."""
    sim = Simulator(config)
    urls = await sim.start()
    print(f"ws {urls.ws}\nrest {urls.rest}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)
    await stop.wait()
    await sim.stop()


def main(argv: list[str] | None = None) -> int:
    try:
        config, duration = parse_args(argv)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(run(config, duration))
    return 0


if __name__ == "__main__":
    sys.exit(main())
