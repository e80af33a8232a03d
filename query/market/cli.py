"""``query market``: one answer of the market-data API on the command line.

    query market ticker  --venue upbit --symbol KRW-BTC [--json]
    query market book    --venue binance-usdm --symbol BTC-USDT-PERP [--depth 10]
    query market trades  --venue upbit --symbol KRW-BTC [--limit 20]
    query market candles --venue upbit --symbol KRW-BTC --interval 1m (--count 400 | --from T --to T) [--fill]
    common: [--json] [--rest-url URL] [--ws-url URL] [--attach DIR] [--follow URL [--shard S]] [--timeout S]

Without ``--attach`` or ``--ws-url`` it asks REST. With ``--attach DIR`` a ``recorder run`` on
this machine answers from memory what it records; with ``--ws-url`` the command subscribes the
symbol itself and answers from the stream once it has data (within ``--timeout``; candles
always come from REST and the cache). ``--rest-url`` and ``--ws-url`` replace scheme, host and
port only (``recorder run``'s rule), for every venue. With ``--follow nats://HOST:4222`` the
answer comes from the journal a recorder on another host publishes (its ``[broker]``; ``--shard``
names which): the command folds the stream up to its last record at the start (within
``--timeout``), then asks memory as ``--attach`` does (what memory lacks, REST answers).

``--json`` prints one JSON document: for candles ``{"candles": [{"open_time", "open", "high",
"low", "close", "volume"}...], "source", "requests"}`` (times ISO UTC, prices as strings,
ascending), for the others the unified fields plus ``source`` and ``age_ms``. A bad argument
is one line on stderr naming the valid choices, exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table

from .errors import BadRequestError, MarketDataError
from .rest import VENUES

COMMANDS = ("ticker", "book", "trades", "candles")


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one ``error: ...`` line on stderr, exit 2 (no usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: query market: {message}", file=sys.stderr)
        raise SystemExit(2)


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {n}")
    return n


def _time(text: str) -> datetime:
    """An ISO time (``2025-01-01``, ``2025-01-01T09:00``, with ``Z`` or an offset); naive is UTC."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO time: {text!r} (e.g. 2025-01-01T09:00Z)") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def add_parser(sub: Any) -> None:
    """``market`` under ``query``'s subcommands."""
    mp = sub.add_parser("market", help="ticker, order book, trades or candles from the market-data API",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mp.error = OneLineParser.error.__get__(mp)  # type: ignore[method-assign]
    msub = mp.add_subparsers(dest="what", required=True, metavar="{" + ",".join(COMMANDS) + "}",
                             parser_class=OneLineParser)
    for name in COMMANDS:
        sp = msub.add_parser(name)
        sp.add_argument("--venue", required=True, choices=VENUES, metavar="VENUE",
                        help=f"one of {', '.join(VENUES)}")
        sp.add_argument("--symbol", required=True, help="native (KRW-BTC, BTCUSDT) or normalized (BTC-KRW)")
        sp.add_argument("--json", action="store_true", help="one JSON document on stdout")
        sp.add_argument("--rest-url", default="", help="REST base URL (scheme, host and port used)")
        sp.add_argument("--ws-url", default="",
                        help="WebSocket base URL (scheme, host and port used): subscribe the symbol and "
                             "answer from the stream once it has data (within --timeout), else REST")
        sp.add_argument("--attach", default=None, metavar="DIR",
                        help="data dir of a running `recorder run`: answer from its memory")
        sp.add_argument("--follow", default=None, metavar="URL",
                        help="nats://HOST:4222: memory folds the journal a recorder publishes there")
        sp.add_argument("--shard", default="", help="with --follow: the recorder's shard name")
        sp.add_argument("--timeout", type=float, default=10.0, help="REST timeout in seconds")
        if name == "book":
            sp.add_argument("--depth", type=_positive, default=10)
        if name == "trades":
            sp.add_argument("--limit", type=_positive, default=20)
        if name == "candles":
            sp.add_argument("--interval", default="1m", help="1m 3m 5m 15m 30m 1h 4h 1d 1w 1M ...")
            sp.add_argument("--count", type=_positive, default=None)
            sp.add_argument("--from", dest="start", type=_time, default=None, metavar="T")
            sp.add_argument("--to", dest="end", type=_time, default=None, metavar="T")
            sp.add_argument("--fill", action="store_true", help="fill minutes without trades (fill=True)")
        sp.set_defaults(func=cmd_market)
    mp.set_defaults(func=cmd_market)


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, tuple | list):
        return [_plain(x) for x in v]
    return v


def as_json(obj: Any) -> dict[str, Any]:
    """One answer's unified fields as JSON-ready values (prices as strings)."""
    return {k: _plain(v) for k, v in msgspec.structs.asdict(obj).items()}


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


def candles_json(candles: list[Any], source: str, requests: int) -> dict[str, Any]:
    return {"candles": [{"open_time": _iso(c.open_time_ns), "open": _plain(c.open), "high": _plain(c.high),
                         "low": _plain(c.low), "close": _plain(c.close), "volume": _plain(c.volume),
                         **({"fill": True} if c.fill else {})} for c in candles],
            "source": source, "requests": requests}


async def _ask(args: argparse.Namespace) -> tuple[Any, int]:
    from .api import MarketData, Routing

    rest = {v: args.rest_url for v in VENUES} if args.rest_url else None
    ws = {v: args.ws_url for v in VENUES} if args.ws_url else None
    if args.follow is not None and args.attach is not None:
        raise BadRequestError("--follow and --attach are two memories: give one")
    stream = (bool(args.ws_url) and args.attach is None and args.follow is None
              and args.what in ("ticker", "book", "trades"))
    md = MarketData(attach=args.attach, live=stream, rest_urls=rest, ws_urls=ws, timeout_s=args.timeout,
                    routing=Routing(subscribe_after=0), follow=args.follow, shard=args.shard)
    async with md:
        if stream:
            await _from_stream(md, args)
        if args.follow is not None:
            await md.memory.caught_up(args.timeout)
        if args.what == "ticker":
            out: Any = await md.ticker(args.venue, args.symbol)
        elif args.what == "book":
            out = await md.orderbook(args.venue, args.symbol, args.depth)
        elif args.what == "trades":
            out = await md.trades(args.venue, args.symbol, args.limit)
        else:
            if (args.count is None) == (args.start is None):
                raise BadRequestError("candles need either --count N or --from T [--to T]")
            res = await md.candle_result(args.venue, args.symbol, args.interval, count=args.count,
                                         start=args.start, end=args.end, fill=args.fill)
            return res, res.requests  # candle pages (the symbol list's request not counted)
        return out, md.rest.requests


async def _from_stream(md: Any, args: argparse.Namespace) -> None:
    """Subscribe the symbol on a connection of this command's own and wait (up to
    ``--timeout``) until memory can answer; the ask that follows then comes from it."""
    await md.want(args.venue, [args.symbol])
    key = await md.universe.resolve(args.venue, args.symbol)
    kind = {"ticker": "ticker", "book": "orderbook"}.get(args.what)
    depth = getattr(args, "depth", 0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.timeout
    while loop.time() < deadline:
        if kind is None:
            if md.memory.kept_trades(args.venue, key) is not None:
                return
        elif md._memory(kind, args.venue, key, depth, None) is not None:
            return
        await asyncio.sleep(0.05)


def cmd_market(args: argparse.Namespace, console: Console) -> int:
    if getattr(args, "what", None) is None:
        print("error: query market: choose one of " + ", ".join(COMMANDS), file=sys.stderr)
        return 2
    try:
        out, requests = asyncio.run(_ask(args))
    except MarketDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    except ValueError as exc:  # a URL that is not one
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.what == "candles":
        doc: Any = candles_json(list(out.candles), out.source, requests)
    elif args.what == "trades":
        doc = {"trades": [as_json(t) for t in out], "source": out[-1].source if out else "rest",
               "requests": requests}
    else:
        doc = as_json(out)
    if args.json:
        json.dump(doc, sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
        return 0
    _render(args.what, out, doc, console)
    return 0


def _render(what: str, out: Any, doc: dict[str, Any], console: Console) -> None:
    if what in ("ticker",):
        t = Table(title=f"{out.venue} {out.symbol} ({out.norm}) ticker", show_header=False)
        for k, v in doc.items():
            t.add_row(k, "" if v is None else str(v))
        console.print(t)
    elif what == "book":
        pct = "" if out.spread_pct is None else f" ({out.spread_pct:.4f} %)"
        t = Table(title=f"{out.venue} {out.symbol} book: {out.source}, {out.age_ms} ms old, "
                        f"spread {doc['spread']}{pct}")
        for col in ("bid size", "bid", "ask", "ask size"):
            t.add_column(col, justify="right")
        for i in range(max(len(out.bids), len(out.asks))):
            b = out.bids[i] if i < len(out.bids) else ("", "")
            a = out.asks[i] if i < len(out.asks) else ("", "")
            t.add_row(str(b[1]), str(b[0]), str(a[0]), str(a[1]))
        console.print(t)
    elif what == "trades":
        t = Table(title=f"{len(out)} trades ({doc['source']}, {doc['requests']} requests)")
        for col in ("time (UTC)", "price", "size", "side", "id"):
            t.add_column(col, justify="left" if col in ("time (UTC)", "side") else "right")
        for tr in out:
            t.add_row(_iso(tr.exch_ts_ns), str(tr.price), str(tr.size), tr.side, tr.trade_id)
        console.print(t)
    else:
        rows = doc["candles"]
        t = Table(title=f"{len(rows)} candles ({doc['source']}, {doc['requests']} requests)")
        cols = list(rows[0]) if rows else []
        for c in cols:
            t.add_column(c)
        for r in rows:
            t.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in cols))
        console.print(t)
