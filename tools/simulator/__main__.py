"""``python -m tools.simulator --venue binance-usdm,upbit --port 0 [--speed 10|max] ...``"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from .config import SimConfig
from .server import Simulator


def parse_args(argv: list[str] | None = None) -> SimConfig:
    p = argparse.ArgumentParser(prog="python -m tools.simulator", description=__doc__)
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
    a = p.parse_args(argv)
    rest_port = a.rest_port if a.rest_port is not None else (a.port + 1 if a.port else 0)
    return SimConfig(
        venues=tuple(v.strip() for v in a.venue.split(",") if v.strip()), host=a.host,
        ws_port=a.port, rest_port=rest_port, source=a.source,
        speed="max" if a.speed == "max" else float(a.speed), rate=a.rate, seed=a.seed,
        binance_symbols=tuple(a.symbols.split(",")) if a.symbols else None,
        upbit_codes=tuple(a.codes.split(",")) if a.codes else None,
        rotate_after_s=a.rotate_after, binance_ping_interval_s=a.ping_interval,
        record_sent=not a.no_record)


async def run(config: SimConfig) -> None:
    sim = Simulator(config)
    urls = await sim.start()
    print(f"ws {urls.ws}\nrest {urls.rest}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse_args(argv)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(run(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
