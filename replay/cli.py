"""``replay``: backtests, paper trading and state inspection from the command line.

    replay --from 2025-01-01 [--to 2025-02-01] --strategy x.py[:Class] [options]   # backtest
    replay --live --strategy x.py [--from SEQ|TIME] [--duration S] [options]      # paper trading
    replay state --at SEQ|TIME [--venue V --symbol S] [--depth N] [--json]         # inspect

``--from``/``--to``/``--at`` take a seq (``123``), a UTC date (``2025-01-01``) or an
ISO time (``2025-01-01T09:30:00Z``); ``--to`` is inclusive for a seq, exclusive for
a time. ``state`` must be the first argument; anything else is a run. Exit status:
0 done, 1 the strategy raised (its traceback and the seq are printed), 2 bad
arguments or data. ``--live`` stops on SIGINT/SIGTERM or ``--duration``
and still writes its report.

A run that starts after the first record (``--from X``; ``--live``, which starts at
the end) starts warm: the records before X are projected without the strategy, from
the newest checkpoint at or before X - 1 (``DATA/state``; ``--no-checkpoint``: from
the first record), so its strategy sees the state ``replay state --at X-1`` shows
(every venue's), then the record X. The summary then has ``warm_start`` (that state's
seq and digest, the books invalid there, the events the strategy got on an invalid
book and the orders refused for one). Filters that select nothing are errors (exit 2,
one line naming what there is): a venue no stream is of, a symbol no record has, a
``--from`` past the end or a ``--to`` before the start.

``--archive URL`` reads an archive alone (``s3://bucket/prefix`` or a directory; several
shards there merged by receive time, ``replay.merge``) instead of ``--data``; a warm start
there begins at the archive's newest day-end checkpoint (``query.checkpoints``; one shard).

``--follow nats://HOST:4222 [--shard NAME]`` (a run, ``--live`` or not, and ``state``) reads
the journal a recorder on another host publishes to NATS JetStream (its ``[broker]``;
``recorder.journal.remote``) instead of ``--data``: the same records, so the same results.

``main(argv, source=...)`` reads a given ``RecordSource`` (a ``MemorySource``, one
archive) instead of ``--data``: the same command over records from anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
from rich.table import Table
from rich.text import Text

from query.archive import ArchiveSource
from query.checkpoints import ArchiveCheckpoints
from query.errors import QueryError
from recorder.journal import JournalError, Record, StreamInfo
from recorder.journal.remote import RemoteSource
from recorder.journal.source import RecordSource
from state.checkpoint import CheckpointSource
from state.projector import Projector

from .engine import NS, Engine, EngineConfig, WarmStart
from .errors import BoundError, RunError, UnknownMarketError
from .fills import FeeSchedule, load_fees
from .live import LiveSource, stop_after, stop_on_signals
from .orders import BOOK_INVALID
from .report import CHART
from .run import listed, run_strategy, warm_start
from .source import Bound, Feed, HistoricalSource, check_range, iso, open_archive, parse_bound, said
from .state_at import project_until, target_seq
from .strategy import load_strategy

DEFAULT_DATA = "data"
ARCHIVE_HELP = ("read this archive instead of --data: s3://BUCKET/PREFIX (AWS_ENDPOINT_URL, "
                "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or a directory; several shards there "
                "are merged by receive time (replay.merge)")


def _archive(args: argparse.Namespace, source: RecordSource | None) -> RecordSource | None:
    """``--archive``'s source (``replay.source.open_archive``), else ``source`` as given."""
    if args.archive and getattr(args, "follow", None):
        raise ValueError("--archive and --follow name two sources: give one")
    if source is not None or not args.archive:
        return source
    return open_archive(args.archive)


def _checkpoints(args: argparse.Namespace, source: RecordSource | None) -> bool | CheckpointSource:
    """Where a warm start looks: the archive's day-end checkpoints for ``--archive`` of one shard."""
    if args.no_checkpoint:
        return False
    if args.archive and isinstance(source, ArchiveSource):
        return ArchiveCheckpoints(source.store)
    return True


def _bound(text: str) -> Bound:
    try:
        return parse_bound(text)
    except BoundError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _names(values: list[str] | None) -> list[str]:
    return [n.strip() for v in values or [] for n in v.split(",") if n.strip()]


def _speed(text: str) -> float | None:
    """``max`` -> None (as fast as possible), ``realtime`` -> 1.0, ``10x`` -> 10.0."""
    t = text.strip().lower()
    if t == "max":
        return None
    if t == "realtime":
        return 1.0
    try:
        factor = float(t[:-1] if t.endswith("x") else t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--speed: max, realtime or Nx, not {text!r}") from None
    if factor <= 0:
        raise argparse.ArgumentTypeError("--speed must be positive")
    return factor


def _fx(text: str) -> tuple[str, Decimal]:
    cur, sep, rate = text.partition("=")
    try:
        value = Decimal(rate)
    except InvalidOperation:
        value = Decimal(0)
    if not sep or not cur.strip() or not value > 0:
        raise argparse.ArgumentTypeError(f"--fx: CURRENCY=USDT_PER_UNIT, e.g. KRW=0.00072, not {text!r}")
    return cur.strip().upper(), value


# -- the run ---------------------------------------------------------------------------


def run_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="replay", description="Run a strategy over recorded data (backtest) or the journal "
        "tail (--live, paper trading). 'replay state --help' inspects projected state.")
    ap.add_argument("--data", default=DEFAULT_DATA, help="data dir holding journal/ (and archive/)")
    ap.add_argument("--archive", help=ARCHIVE_HELP)
    ap.add_argument("--from", dest="start", type=_bound, help="seq, date or ISO time (inclusive); "
                    "backtest default: the first record; live default: the current end")
    ap.add_argument("--to", dest="end", type=_bound, help="seq (inclusive) or date/time (exclusive)")
    ap.add_argument("--strategy", required=True, help="path/to/x.py or path/to/x.py:Class")
    ap.add_argument("--venues", action="append", help="only these venues (comma-separated)")
    ap.add_argument("--symbols", action="append", help="events of only these symbols reach the "
                    "strategy (native or normalized, comma-separated)")
    ap.add_argument("--param", action="append", default=[], metavar="K=V", help="strategy parameter")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="order travel time to the venue")
    ap.add_argument("--fees", help="fee file (TOML or JSON: [venue] maker=.. taker=..)")
    ap.add_argument("--capital", type=Decimal, default=Decimal(10_000), help="USDT (default 10000)")
    ap.add_argument("--fx", type=_fx, action="append", default=[], metavar="CUR=RATE",
                    help="fallback USDT per unit when the journal has no market for it")
    ap.add_argument("--sample-ms", type=int, default=1000, help="equity sampling period (record time)")
    ap.add_argument("--report", help="write summary.json, fills.parquet, equity.parquet, chart.html here")
    ap.add_argument("--speed", type=_speed, default=None, help="max (default), realtime or Nx")
    ap.add_argument("--live", action="store_true", help="paper trading on the journal tail")
    ap.add_argument("--no-checkpoint", action="store_true", help="a run starting after the first "
                    "record projects up to its start from the first record, not from a checkpoint")
    ap.add_argument("--skip-damaged", action="store_true", help="skip journal records whose "
                    "checksum fails (counted and named on stderr) instead of stopping at the first")
    ap.add_argument("--duration", type=float, help="--live: stop after this many seconds")
    _follow_args(ap)
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--no-progress", action="store_true")
    return ap


class _RateColumn(ProgressColumn):
    """Records per second, as rich measures it (display only)."""

    def render(self, task: Any) -> Text:
        return Text(f"{task.speed:,.0f} rec/s" if task.speed else "- rec/s")


class Paced:
    """A feed replayed at ``factor`` x record time (``--speed``); delegates streams."""

    def __init__(self, source: HistoricalSource, factor: float) -> None:
        self.source = source
        self.factor = factor
        self.venues = source.venues

    def streams(self) -> dict[int, StreamInfo]:
        return self.source.streams()

    def stream(self, stream_id: int) -> StreamInfo | None:
        return self.source.stream(stream_id)

    def __iter__(self) -> Iterator[Record]:
        wall0 = ts0 = None
        for rec in self.source:
            now = time.monotonic()  # noqa: TID251  det-ok: --speed pacing only, never in results
            if wall0 is None:
                wall0, ts0 = now, rec.ts_ns
            else:
                wait = wall0 + (rec.ts_ns - ts0) / NS / self.factor - now
                if wait > 0:
                    time.sleep(wait)
            yield rec


def _config(args: argparse.Namespace) -> EngineConfig:
    check_range(args.start, args.end)
    fees = load_fees(args.fees) if args.fees else FeeSchedule()
    symbols = _names(args.symbols)
    return EngineConfig(latency_ns=int(round(args.latency_ms * 1_000_000)), fees=fees,
                        capital=args.capital, symbols=frozenset(symbols) if symbols else None,
                        sample_ns=args.sample_ms * 1_000_000, fx_fixed=dict(args.fx))


def _summary_table(s: dict[str, Any], invalid_book_events: int = 0) -> Table:
    t = Table(title=f"replay: {s['strategy']['name']}", show_header=False)
    p = s["period"]
    rows = [
        ("records", f"{p['records']:,} (seq {p['first_seq']}..{p['last_seq']})"),
        ("period", f"{iso(p['first_ts_ns'])} .. {iso(p['last_ts_ns'])}"),
        ("final equity", f"{s['final_equity']} {s['config']['currency']}"),
        ("pnl", s["pnl"]), ("return", f"{s['return']:.6%}" if s["return"] is not None else "-"),
        ("max drawdown", f"{s['max_drawdown']} ({s['max_drawdown_pct']:.4%})"),
        ("sharpe", f"{s['sharpe']} (annualized from {s['minute_returns']} {s['sharpe_period']} returns)"),
        ("trades / orders", f"{s['trades']} / {s['orders']}"),
        ("rejected", f"{s['rejected_orders']} {s['rejections'] or ''}"),
    ]
    warm = s.get("warm_start")
    if warm is not None:
        rows.append(("warm start", f"after seq {warm['seq']}, digest {warm['digest'][:12]}"))
        if warm["invalid_books"]:
            rows.append(("invalid at start", ", ".join(warm["invalid_books"])))
    if warm is not None or invalid_book_events or s["rejections"].get(BOOK_INVALID):
        rows.append(("invalid book", f"{invalid_book_events} events seen, "
                     f"{s['rejections'].get(BOOK_INVALID, 0)} orders rejected"))
    rows += [
        ("turnover", s["turnover"]), ("fees", s["fees"]),
    ]
    rows += [(f"position {k}", v) for k, v in s["positions"].items()]
    if s["unpriced_currencies"]:
        rows.append(("unpriced", ", ".join(s["unpriced_currencies"])))
    for k, v in rows:
        t.add_row(k, str(v))
    return t


def _said_warm(err: Console, warm: WarmStart) -> None:
    """Where the projection starts, on stderr: from a checkpoint or the first record."""
    how = (f"the checkpoint at seq {warm.from_checkpoint} + {warm.records:,} records" if warm.from_checkpoint
           else f"the first record ({warm.records:,} records)")
    if warm.skipped:
        err.print(f"[yellow]replay: {warm.skipped}; projecting from the first record[/yellow]",
                  soft_wrap=True, highlight=False)
    err.print(f"warm start: the state after seq {warm.through_seq}, projected from {how} "
              "without the strategy", soft_wrap=True, highlight=False)
    if warm.invalid_books:
        err.print(f"[yellow]invalid at the start (no snapshot before it): "
                  f"{', '.join(f'{v}:{k}' for v, k in warm.invalid_books)}[/yellow]",
                  soft_wrap=True, highlight=False)


def _follow_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--follow", metavar="nats://HOST:4222", help="read the journal a recorder on "
                    "another host publishes to NATS JetStream instead of --data")
    ap.add_argument("--shard", default="", help="--follow: the recorder's shard (default: the unnamed one)")


def _followed(args: argparse.Namespace, source: RecordSource | None, err: Console, *, live: bool,
              body: Callable[[argparse.Namespace, RecordSource | None, Console], int]) -> int:
    """``body`` over the ``RemoteSource`` ``--follow`` names (closed after it), else over
    ``source``; 2 after saying why the follower cannot be opened. A live run waits for a
    stream nobody published yet; a backtest or ``state`` does not."""
    if not args.follow or source is not None:
        return body(args, source, err)
    try:
        remote = RemoteSource(args.follow, args.shard, wait_for_stream=live)
    except (JournalError, ValueError) as exc:
        err.print(f"[red]replay: {exc}[/red]", soft_wrap=True, highlight=False)
        return 2
    with remote:
        return body(args, remote, err)


def cmd_run(argv: list[str], source: RecordSource | None = None) -> int:
    """A backtest or paper run; over ``source`` instead of ``--data`` when given."""
    args = run_parser().parse_args(argv)
    return _followed(args, source, Console(stderr=True), live=args.live, body=_run)


def _run(args: argparse.Namespace, source: RecordSource | None, err: Console) -> int:
    out = Console()
    if args.live and args.archive:
        err.print("[red]replay: --live follows a journal's tail; --archive is history (use --data)[/red]")
        return 2
    try:
        source = _archive(args, source)
    except (QueryError, ValueError) as exc:
        err.print(f"[red]replay: {exc}[/red]", soft_wrap=True, highlight=False)
        return 2
    data: Any = args.data if source is None else source
    try:
        config = _config(args)
        load_strategy(args.strategy)  # a missing or broken file is said before any progress is shown
    except (OSError, ValueError) as exc:
        err.print(f"[red]replay: {exc}[/red]", soft_wrap=True)
        return 2
    venues = _names(args.venues) or None
    stop = threading.Event()
    try:
        if args.live:
            feed: HistoricalSource = LiveSource(data, stop=stop, start=args.start, end=args.end,
                                                venues=venues)
        else:
            feed = HistoricalSource(data, start=args.start, end=args.end, venues=venues)
    except (JournalError, ValueError) as exc:
        err.print(f"[red]replay: {exc}[/red]")
        return 2
    if args.skip_damaged and feed.reader is not None:
        feed.reader.skip_damaged = True  # counted, and said after the run
    try:
        feed.check_selection(live=args.live)
    except (JournalError, ValueError) as exc:
        feed.close()
        err.print(f"[red]replay: {exc}[/red]", soft_wrap=True, highlight=False)
        return 2
    if args.live:
        stop_on_signals(stop)
        if args.start is None:
            feed.start = Bound(seq=feed.source.last_seq + 1)
        if args.duration:
            stop_after(stop, args.duration)
        err.print(f"paper trading from {said(feed.start)}; stop with Ctrl-C or SIGTERM", highlight=False)
    total = None if args.live else feed.estimate()
    iterable: Feed = Paced(feed, args.speed) if args.speed else feed
    show = not args.no_progress
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        TextColumn("{task.completed:,.0f}/{task.total:,.0f}" if total else
                                   "{task.completed:,.0f} rec"),
                        TextColumn("{task.fields[sim]}"), _RateColumn(),
                        console=err, disable=not show, transient=False)

    def tick(engine: Engine) -> None:
        progress.update(task, completed=engine.records, sim=iso(engine.now_ns))

    warm_task = None

    def warming(folded: int, to_fold: int) -> None:
        nonlocal warm_task
        if warm_task is None:
            warm_task = progress.add_task("warm-up", total=to_fold, sim="no strategy")
        progress.update(warm_task, completed=folded)

    try:
        with progress:
            warm = warm_start(feed, config=config, checkpoints=_checkpoints(args, source),
                              on_progress=warming)
            if warm is not None:
                _said_warm(err, warm)
            task = progress.add_task("paper" if args.live else "backtest", total=total, sim="")
            result, summ = run_strategy(iterable, args.strategy, params=args.param, config=config,
                                        report_dir=args.report, on_progress=tick, warm=warm or False)
            progress.update(task, completed=result.records, sim=iso(result.last_ts_ns))
    except RunError as exc:
        # The strategy's own frames are what its author needs.
        cause = exc.__cause__
        if cause is not None:
            sys.stderr.write("".join(traceback.format_exception(cause, limit=-6)))
        err.print(f"[red]replay: {exc}[/red]", soft_wrap=True)
        return 1
    except (ValueError, OSError, JournalError) as exc:
        err.print(f"[red]replay: {exc}[/red]", soft_wrap=True, highlight=False)
        return 2
    finally:
        damaged = feed.reader.damaged_seqs if feed.reader is not None else []
        feed.close()
    if damaged:
        shown = ", ".join(map(str, damaged[:10])) + (", ..." if len(damaged) > 10 else "")
        err.print(f"replay: skipped {len(damaged)} damaged record(s): seq {shown}", highlight=False)
    chart = (Path(args.report) / CHART).resolve() if args.report else None
    if args.json:
        # The last stdout line stays the summary; the chart's path goes to stderr.
        print(json.dumps(summ, sort_keys=True))
        if chart is not None:
            err.print(f"chart: {chart}", soft_wrap=True, highlight=False)
    else:
        out.print(_summary_table(summ, result.invalid_book_events))
        if chart is not None:
            out.print(f"report: {chart.parent}", soft_wrap=True, highlight=False)
            out.print(f"chart: {chart}", soft_wrap=True, highlight=False)
    return 0


# -- state -----------------------------------------------------------------------------


def state_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="replay state", description="Projected state after the "
                                 "record at --at: book levels, market state, features, digest.")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--archive", help=ARCHIVE_HELP)
    ap.add_argument("--at", required=True, type=_bound,
                    help="seq (state after applying it) or date/time (after every record at or before it)")
    ap.add_argument("--venue")
    ap.add_argument("--symbol", help="native or normalized")
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-checkpoint", action="store_true",
                    help="project from the first record even when the recorder left a checkpoint")
    _follow_args(ap)
    return ap


def _select(p: Projector, venue: str | None, symbol: str | None) -> list[tuple[str, str]] | None:
    """(venue, symbol key) pairs ``--venue``/``--symbol`` name (None: all); ``UnknownMarketError`` if none.

    ``symbol`` may be native (``KRW-BTC``, ``BTCUSDT``) or normalized (``BTC-KRW``,
    ``BTC-USDT-PERP``); without ``venue`` it is looked up on every venue.
    """
    if venue is None and symbol is None:
        return None
    known = p.symbols()
    venues = sorted({v for v, _ in known})
    if venue is not None and venue not in venues:
        raise UnknownMarketError(f"no venue {venue!r} at seq {p.last_seq} (venues: {', '.join(venues) or 'none'})")
    if symbol is None:
        return [(v, k) for v, k in known if v == venue]
    found = []
    for v in [venue] if venue else venues:
        try:
            found.append((v, p.resolve_symbol(v, symbol)))
        except KeyError:
            continue
    if not found:
        names = [f"{v}:{k} ({p.symbol_state(v, k).norm})" for v, k in known if venue is None or v == venue]
        raise UnknownMarketError(f"no symbol {symbol!r} on {venue or 'any venue'} at seq {p.last_seq} "
                                 f"(symbols: {listed(names)})")
    return found


def state_json(p: Projector, venue: str | None, symbol: str | None, depth: int) -> dict[str, Any]:
    """The ``--json`` document: ``seq``, ``digest``, ``symbols`` (book, market state, features), ..."""
    chosen = _select(p, venue, symbol)
    if chosen is None:
        doc = p.to_json(None, None, depth)
    else:
        doc = p.to_json(chosen[0][0], chosen[0][1], depth)
        for v, k in chosen[1:]:
            doc["symbols"] += p.to_json(v, k, depth)["symbols"]
    return {"seq": p.last_seq, **doc}


def _print_state(doc: dict[str, Any], out: Console) -> None:
    start = f"  (from the checkpoint at seq {doc['from_checkpoint']})" if doc.get("from_checkpoint") else ""
    out.print(f"seq {doc['seq']}  at {iso(doc['ts_ns'])}  digest {doc['digest']}{start}")
    for row in doc["symbols"]:
        f = row["features"]
        t = Table(title=f"{row['venue']} {row['symbol']} ({row['norm']})  "
                  f"valid={row['valid']} crossed={row['crossed']} source={row['source']}")
        for col in ("bid size", "bid", "ask", "ask size"):
            t.add_column(col, justify="right")
        bids, asks = row.get("bids", []), row.get("asks", [])
        for i in range(max(len(bids), len(asks))):
            b = bids[i] if i < len(bids) else ["", ""]
            a = asks[i] if i < len(asks) else ["", ""]
            t.add_row(b[1], b[0], a[0], a[1])
        out.print(t)
        facts = {"best_bid": row["best_bid"], "best_ask": row["best_ask"], **{
            k: v for k, v in f.items() if k != "windows"}}
        out.print("  " + "  ".join(f"{k}={v}" for k, v in facts.items()))
        for w, stats in f["windows"].items():
            out.print(f"  {w}s: " + "  ".join(f"{k}={v}" for k, v in stats.items() if k != "seconds"))
    for stream, counts in sorted(doc.get("counters", {}).items()):
        out.print(f"stream {stream} validation: " + "  ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    for v, k in doc.get("books_needing_snapshot", []):
        out.print(f"[yellow]book {v} {k} needs a snapshot (invalid)[/yellow]")
    for prem in doc.get("premiums", []):
        out.print(f"premium {prem['upbit_symbol']} vs {prem['venue']} {prem['symbol']}: "
                  f"{prem['premium']:.4%} at {prem['usdt_krw']} KRW/USDT")


def cmd_state(argv: list[str], source: RecordSource | None = None) -> int:
    """``replay state``; over ``source`` (from its first record) instead of ``--data`` when given."""
    args = state_parser().parse_args(argv)
    return _followed(args, source, Console(stderr=True), live=False, body=_state)


def _state(args: argparse.Namespace, source: RecordSource | None, err: Console) -> int:
    def fail(msg: object) -> int:
        err.print(f"[red]replay state: {msg}[/red]", soft_wrap=True, highlight=False)
        return 2

    if args.depth < 0:
        return fail("--depth must be >= 0")
    try:
        source = _archive(args, source)
    except (QueryError, ValueError) as exc:
        return fail(exc)
    data = args.data if source is None else source
    try:
        with HistoricalSource(data) as held:  # a given source stays open
            src = held.source
            what = ""
            if not src.last_seq:
                what = "no records"
            elif target_seq(src, args.at) > src.last_seq:
                what = f"--at {said(args.at)} is after the last record"
            elif target_seq(src, args.at) < src.first_seq:
                what = f"--at {said(args.at)} is before the first record"
            if what:
                return fail(f"{what}: {held.where()} holds {held.holds()}")
        at = project_until(data, args.at, checkpoints=_checkpoints(args, source))
    except (JournalError, ValueError) as exc:
        return fail(exc)
    if at.skipped:
        err.print(f"[yellow]replay state: {at.skipped}; projected from the first record[/yellow]")
    p = at.projector
    try:
        doc = state_json(p, args.venue, args.symbol, args.depth)
    except KeyError as exc:
        return fail(exc.args[0] if exc.args else exc)
    doc["from_checkpoint"] = at.from_checkpoint
    if args.json:
        print(json.dumps(doc, sort_keys=True))
    else:
        _print_state(doc, Console())
    return 0


def main(argv: list[str] | None = None, *, source: RecordSource | None = None) -> int:
    """The ``replay`` command; ``source``: records to read instead of ``--data``'s."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "state":
        return cmd_state(argv[1:], source)
    return cmd_run(argv, source)


if __name__ == "__main__":
    sys.exit(main())
