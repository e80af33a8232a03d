r"""``recorder run``: the live daemon's command line (config file, env, flags).

    recorder run --config data/recorder.example.toml
    recorder run --venue binance-usdm --symbols BTCUSDT,ETHUSDT --channels depth,aggTrade \
                 --data data [--duration 60] [--ws-url ws://127.0.0.1:9001] [--metrics-port 9108]
    recorder run --venue binance-usdm,upbit --symbols binance-usdm:all,upbit:KRW-BTC \
                 --channels binance-usdm:aggTrade,upbit:trade --data data

``--venue`` takes a comma list. ``--symbols``, ``--channels``, ``--market``, ``--ws-url``
and ``--rest-url`` apply to every venue given, or, an item written ``VENUE:VALUE``, to that
venue only (``--symbols all`` records every symbol a venue lists). ``--market`` picks a
venue's market where it has several (Bybit spot/linear, Gate spot/futures). ``--ws-url``
and ``--rest-url`` replace scheme, host and port only: each venue's own paths stay.
Globs and the "not on Upbit KRW" filter are ``include``/``exclude``/``not_on_upbit_krw`` in
a ``[[venue]]`` table of the TOML.

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
import dataclasses
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
             ("--ws-url", r"venue\[\d+\]\.ws_url"), ("--rest-url", r"venue\[\d+\]\.rest_url"),
             ("--market", r"venue\[\d+\]\.market"))
# Flags that take VENUE:VALUE items (or plain ones for every venue), and their config key.
PER_VENUE = (("symbols", "--symbols"), ("channels", "--channels"), ("market", "--market"),
             ("ws_url", "--ws-url"), ("rest_url", "--rest-url"))


def name_flags(problem: str, given: set[str]) -> str:
    """``recorder.duration_s: ...`` -> ``--duration (recorder.duration_s): ...`` when
    ``--duration`` was given (``given``: the flags typed)."""
    for flag, key in FLAG_KEYS:
        if flag in given:
            m = re.match(rf"({key}):", problem)
            if m:
                return f"{flag} ({m[1]}):{problem[m.end():]}"
    return problem


def split_per_venue(items: list[str], venues: list[str], flag: str,
                    problems: list[str]) -> dict[str, list[str]]:
    """``VENUE:VALUE`` items to that venue, plain ones to every venue in ``venues``.

    A prefix naming a known venue not in ``venues`` is a problem; anything else before a
    colon is part of the value (``ws://host``)."""
    out: dict[str, list[str]] = {v: [] for v in venues}
    for item in items:
        head, sep, rest = item.partition(":")
        if sep and head in VENUES:
            if head not in out:
                problems.append(f"{flag}: {item!r} names {head}, which --venue does not give "
                                f"({', '.join(venues) or 'none'})")
                continue
            out[head].append(rest)
        else:
            for v in out.values():
                v.append(item)
    return out


def venue_overrides(args: argparse.Namespace, problems: list[str]) -> Any:
    """The ``venue_override`` of ``load_config``: one table per ``--venue`` (its per-venue
    values split out), or, without ``--venue``, URL keys patching every configured venue."""
    venues = list(dict.fromkeys(args.venue or []))
    for v in venues:
        if v not in VENUES:
            problems.append(f"--venue: {v!r} is not a venue (one of {', '.join(VENUES)})")
    if not venues:
        urls = {}
        for key, flag in PER_VENUE[3:]:
            values = getattr(args, key) or []
            if any(x.partition(":")[0] in VENUES for x in values):
                problems.append(f"{flag}: VENUE:URL needs --venue")
            if values:
                urls[key] = values[-1]
        return {**urls, "format": args.format}
    split = {key: split_per_venue(getattr(args, key) or [], venues, flag, problems)
             for key, flag in PER_VENUE}
    tables = []
    for v in (v for v in venues if v in VENUES):
        t: dict[str, Any] = {"venue": v, "format": args.format}
        for key, flag in PER_VENUE:
            got = split[key][v]
            if key in ("symbols", "channels"):
                t[key] = got
            elif len(got) > 1:
                problems.append(f"{flag}: {len(got)} values for {v} ({', '.join(got)})")
            elif got:
                t[key] = got[0]
        tables.append(t)
    return tables


def add_run_parser(sub: Any, func: Callable[..., int]) -> argparse.ArgumentParser:
    """Add the ``run`` subcommand to ``sub`` (the ``recorder`` subparsers)."""
    p = sub.add_parser("run", help="record live market data into the journal",
                       description=plain(__doc__ or ""),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="TOML config (see data/recorder.example.toml)")
    p.add_argument("--venue", type=_csv, metavar="VENUE[,VENUE]",
                   help=f"record these venues (replaces the config's): {', '.join(VENUES)}")
    p.add_argument("--symbols", type=_csv, help="comma-separated, each VENUE:SYMBOL or for every "
                   "venue; 'all' = every listed one; e.g. " + " or ".join(
                       f"{d.symbol_example} ({d.name})" for d in VENUES.values()))
    p.add_argument("--channels", type=_csv, help="comma-separated, each VENUE:CHANNEL or for "
                   "every venue: " + "; ".join(
                       f"{d.name} {','.join(d.channels)}" for d in VENUES.values()))
    p.add_argument("--market", type=_csv, help="the venue's market where it has several "
                   "(e.g. bybit:linear, gate:futures)")
    p.add_argument("--format", choices=upbit.CONFIG_FORMATS, help="Upbit field names")
    p.add_argument("--data", help="data directory (the journal is DATA/journal)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--ws-url", type=_csv, help="replace the venues' WebSocket scheme/host/port "
                   "(the path stays); VENUE:URL for one venue")
    p.add_argument("--rest-url", type=_csv, help="replace the venues' REST scheme/host/port "
                   "(the path stays); VENUE:URL for one venue")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics here (0: any free port)")
    p.add_argument("--log-file", help="JSON log lines go here instead of stderr "
                   "(with --dashboard, default DATA/logs/recorder.jsonl)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    p.add_argument("--durability", choices=("fsync", "periodic", "os"))
    p.add_argument("--dashboard", action="store_true", default=None,
                   help="live view in the terminal (rates, uptime, connections); log lines "
                        "go to the log file, never under it")
    add_listing_flags(p)
    p.set_defaults(func=func)
    return p


def add_listing_flags(p: argparse.ArgumentParser) -> None:
    """The ``[listing]`` flags ``recorder run`` and ``recorder listing`` share."""
    p.add_argument("--notice-url", help="replace the Upbit notice board's scheme/host/port "
                   "(path and query stay); turns the listing watcher on")
    p.add_argument("--market-url", help="replace Upbit's market list scheme/host/port for the "
                   "watcher's second signal (path and query stay)")
    p.add_argument("--interval-ms", type=int, help="poll the notice board this often "
                   "(default 1000)")


def add_listing_parser(sub: Any, func: Callable[..., int]) -> argparse.ArgumentParser:
    """``recorder listing``: the Upbit listing watcher alone (no venue recorded)."""
    p = sub.add_parser("listing", help="watch Upbit's notices for new KRW listings (journaled)")
    p.add_argument("--data", required=True, help="data directory (the journal is DATA/journal)")
    p.add_argument("--config", help="TOML config: its [recorder] and [listing] sections")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics here (0: any free port)")
    p.add_argument("--log-file", help="JSON log lines go here instead of stderr")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    add_listing_flags(p)
    p.set_defaults(func=func, venue=None, symbols=None, channels=None, market=None, format=None,
                   ws_url=None, rest_url=None, durability=None, dashboard=None, listing_only=True)
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
    problems: list[str] = []
    listing_only = getattr(args, "listing_only", False)
    sections = listing_section(args, problems)
    if not args.venue and (args.symbols or args.channels):
        problems.append("--symbols/--channels need --venue")
    if not args.venue and args.market:
        problems.append("--market needs --venue")
    venue = [] if listing_only else venue_overrides(args, problems)
    try:
        config = load_config(args.config, environ=os.environ if environ is None else environ,
                             overrides=overrides, venue_override=venue, sections=sections)
    except ConfigError as exc:
        given = {"--" + k.replace("_", "-") for k, v in vars(args).items() if v is not None}
        problems += [name_flags(p, given) for p in getattr(exc, "problems", [str(exc)])]
    if problems:
        raise config_error(problems)
    return with_listing_origins(config, args)


def listing_section(args: argparse.Namespace, problems: list[str]) -> dict[str, dict[str, Any]]:
    """``[listing]`` keys from the flags: any listing flag (or ``recorder listing``) turns
    the watcher on."""
    keys: dict[str, Any] = {}
    if getattr(args, "interval_ms", None) is not None:
        keys["interval_ms"] = args.interval_ms
    if (keys or getattr(args, "notice_url", None) or getattr(args, "market_url", None)
            or getattr(args, "listing_only", False)):
        keys["enabled"] = True
    for flag in ("notice_url", "market_url"):
        value = getattr(args, flag, None)
        if value is not None and "://" not in value:
            problems.append(f"--{flag.replace('_', '-')}: an absolute URL (http://HOST:PORT), "
                            f"got {value!r}")
    return {"listing": keys} if keys else {}


def with_listing_origins(config: Any, args: argparse.Namespace) -> Any:
    """``--notice-url``/``--market-url`` replace scheme, host and port of the configured URLs."""
    from recorder.listing.watcher import with_origin

    c = config.listing
    notice, market = getattr(args, "notice_url", None), getattr(args, "market_url", None)
    if not notice and not market:
        return config
    listing = dataclasses.replace(c, notice_url=with_origin(c.notice_url, notice or ""),
                                  market_url=with_origin(c.market_url, market or ""))
    return dataclasses.replace(config, listing=listing)


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
    except ConfigError as exc:  # the venues' lists refused a symbol (recorder.daemon.universe)
        print(f"error: bad configuration: {exc}", file=sys.stderr)
        return 2
    except JournalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. the metrics port is taken
        print(f"error: {exc}", file=sys.stderr)
        return 1
