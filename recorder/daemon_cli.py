r"""``recorder run``: the live daemon's command line (config file, env, flags).

    recorder run --config data/recorder.example.toml
    recorder run --venue binance-usdm --symbols BTCUSDT,ETHUSDT --channels depth,aggTrade \
                 --data data [--duration 60] [--ws-url ws://127.0.0.1:9001] [--metrics-port 9108]

Exit status: 0 stopped by SIGINT/SIGTERM or ``--duration``; 1 the journal failed or every
connection was refused for good; 2 the configuration is wrong (every problem is named at
once, each option as typed: ``--duration (recorder.duration_s): must be > 0``).

With ``--dashboard`` the live view owns the terminal: JSON log lines go to ``--log-file``,
else to DATA/logs/recorder.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from recorder.errors import ConfigError
from recorder.journal import JournalError
from recorder.venues import VENUES, upbit


def _csv(text: str) -> list[str]:
    return [t for t in (s.strip() for s in text.split(",")) if t]


def plain(text: str) -> str:
    """Help text as people read it: reST ````literal```` markup dropped."""
    return re.sub(r"``(.+?)``", r"\1", text)


# Config keys each flag sets: a problem with one of them names the flag as typed.
FLAG_KEYS = (("--data", r"recorder\.data"), ("--duration", r"recorder\.duration_s"),
             ("--metrics-port", r"recorder\.metrics_port"), ("--log-file", r"recorder\.log_file"),
             ("--log-level", r"recorder\.log_level"), ("--durability", r"recorder\.durability"),
             ("--venue", r"venue\[\d+\]\.venue"), ("--symbols", r"venue\[\d+\]\.symbols"),
             ("--channels", r"venue\[\d+\]\.channels"), ("--format", r"venue\[\d+\]\.format"),
             ("--ws-url", r"venue\[\d+\]\.ws_url"), ("--rest-url", r"venue\[\d+\]\.rest_url"))


def name_flags(problem: str, given: set[str]) -> str:
    """``recorder.duration_s: ...`` -> ``--duration (recorder.duration_s): ...`` when
    ``--duration`` was given (``given``: the flags typed)."""
    for flag, key in FLAG_KEYS:
        if flag in given:
            m = re.match(rf"({key}):", problem)
            if m:
                return f"{flag} ({m[1]}):{problem[m.end():]}"
    return problem


def add_run_parser(sub: Any, func: Callable[..., int]) -> argparse.ArgumentParser:
    """Add the ``run`` subcommand to ``sub`` (the ``recorder`` subparsers)."""
    p = sub.add_parser("run", help="record live market data into the journal",
                       description=plain(__doc__ or ""),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="TOML config (see data/recorder.example.toml)")
    p.add_argument("--venue", choices=tuple(VENUES), help="record this venue (replaces the config's)")
    p.add_argument("--symbols", type=_csv, help="comma-separated, e.g. " + " or ".join(
        f"{d.symbol_example} ({d.name})" for d in VENUES.values()))
    p.add_argument("--channels", type=_csv, help="comma-separated: " + "; ".join(
        f"{d.name} {','.join(d.channels)}" for d in VENUES.values()))
    p.add_argument("--format", choices=upbit.CONFIG_FORMATS, help="Upbit field names")
    p.add_argument("--data", help="data directory (the journal is DATA/journal)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--ws-url", help="replace the venues' WebSocket scheme/host/port")
    p.add_argument("--rest-url", help="replace the venues' REST scheme/host/port")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics here (0: any free port)")
    p.add_argument("--log-file", help="JSON log lines go here instead of stderr "
                   "(with --dashboard, default DATA/logs/recorder.jsonl)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    p.add_argument("--durability", choices=("fsync", "periodic", "os"))
    p.add_argument("--dashboard", action="store_true", default=None,
                   help="live view in the terminal (rates, uptime, connections); log lines "
                        "go to the log file, never under it")
    p.set_defaults(func=func)
    return p


def config_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None):
    """The validated ``RecorderConfig`` for ``args``.

    Raises one ``ConfigError`` naming every problem, of the flags and of the
    configuration they complete, each flag as typed.
    """
    from recorder.daemon.config import config_error, load_config

    overrides = {"data": args.data, "duration_s": args.duration, "metrics_port": args.metrics_port,
                 "log_file": args.log_file, "log_level": args.log_level,
                 "durability": args.durability, "dashboard": args.dashboard}
    venue = {"venue": args.venue, "symbols": args.symbols, "channels": args.channels,
             "format": args.format, "ws_url": args.ws_url, "rest_url": args.rest_url}
    problems = []
    if not args.venue and (args.symbols or args.channels):
        problems.append("--symbols/--channels need --venue")
    try:
        config = load_config(args.config, environ=os.environ if environ is None else environ,
                             overrides=overrides, venue_override=venue)
    except ConfigError as exc:
        given = {"--" + k.replace("_", "-") for k, v in vars(args).items() if v is not None}
        problems += [name_flags(p, given) for p in getattr(exc, "problems", [str(exc)])]
    if problems:
        raise config_error(problems)
    return config


def run_command(args: argparse.Namespace, console: Console) -> int:
    """Run the daemon until a signal, ``--duration`` or a failure; returns the exit status."""
    from recorder.daemon.app import Recorder

    try:
        config = config_from_args(args)
        recorder = Recorder(config)
    except ConfigError as exc:
        print(f"error: bad configuration: {exc}", file=sys.stderr)
        return 2

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, recorder.request_stop)
        return await recorder.run()

    try:
        code = asyncio.run(main())
        if recorder.failure is not None:  # also in the log; the terminal must hear it too
            print(f"error: recorder stopped: {recorder.failure}", file=sys.stderr)
        return code
    except JournalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. the metrics port is taken
        print(f"error: {exc}", file=sys.stderr)
        return 1
