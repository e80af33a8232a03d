"""``recorder``: the command line of the journal and the live daemon.

    recorder import --data DIR [--venue V] [--again] [--clamp-times] [--[no-]progress] FILE...
    recorder status --data DIR [--json] [--follow]
    recorder verify --data DIR [--json]
    recorder tail   --data DIR [--from-seq N | --from-time ISO] [--to-seq N] [-n N]
                    [--stream ID] [--kind K] [--symbol S] [--follow] [--json]
    recorder ls     --data DIR [--json]
    recorder run    ... (see ``recorder run --help``)
    recorder subscribe   --data DIR --venue V --symbols A,B [--channels C,D] [--json]
    recorder unsubscribe --data DIR --venue V --symbols A,B [--json]

``subscribe``/``unsubscribe`` ask the running daemon (its control socket, named by
``DIR/live/attach.json``) to record symbols too, or no longer: on the open connections
where the venue allows it, else on connections of their own. They print what changed;
exit 0 done, 1 the daemon refused (unknown venue or symbol, stopping), 2 no daemon runs
on DIR. ``--channels`` must be channels the daemon records for that venue (a running
daemon records one set of channels per venue).

``tail``: without ``--from-*`` the last ``-n`` records (default 20) up to ``--to-seq`` (or
the end), then with ``--follow`` every new one; with ``--from-seq``/``--from-time`` the
records from there, at most ``-n`` of them when it is given, up to ``--to-seq`` (or the
end; with ``--follow``, until ``--to-seq`` or ``-n`` is reached). ``--stream``, ``--kind``
and ``--symbol`` (each repeatable or comma-separated) keep only matching records, and
``-n`` counts the records kept. ``--symbol S`` keeps the records whose payload (or, for a
REST record, its URL) names S as a whole word, case-insensitively: letters, digits, ``_``
and ``-`` around it end the match, so ``BTCUSDT`` matches ``"s":"BTCUSDT"`` and
``btcusdt@depth`` but not ``1000BTCUSDT``, and ``KRW-BTC`` does not match ``KRW-BTCX``. A
payload is searched as bytes: a compressed binary frame names nothing.

``status`` counts every record up to the last committed one when it starts (one
snapshot: all its figures add up). ``ls`` decodes every record to list what is
recorded per venue and symbol (see ``recorder.inspect.listing``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .importer import VENUES, CaptureError, import_files, progress_bar
from .inspect import listing, record_json, status, verify
from .journal import KINDS, CorruptRecordError, JournalError, Record
from .journal.display import human_bytes, iso_ns, parse_iso_ns, render_rows
from .journal.reader import JournalReader

DEFAULT_DATA = "data"


def parse_time(text: str) -> int:
    """An ISO time or date (UTC unless it says otherwise) -> ns, for argparse."""
    try:
        return parse_iso_ns(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --- commands ------------------------------------------------------------------------


def cmd_import(args: argparse.Namespace, console: Console) -> int:
    # The bar (stderr, removed when done) is gone before the table, the JSON or an error.
    with progress_bar(args.progress) as on_progress:
        results = import_files(args.data, args.files, venue=args.venue, again=args.again,
                               clamp_times=args.clamp_times, on_progress=on_progress)
    if args.json:
        print(json.dumps([r.__dict__ for r in results]))
        return 0
    table = Table(title=f"imported into {args.data}")
    for col in ("file", "format", "records", "seq", "time unit", "clamped"):
        table.add_column(col)
    for r in results:
        table.add_row(Path(r.path).name, r.format, str(r.records), f"{r.first_seq}..{r.last_seq}", r.time_unit,
                      str(r.clamped))
    console.print(table)
    return 0


def render_status(s: dict, console: Console) -> None:
    console.print(
        f"[bold]journal[/bold] seq {s['first_seq']}..{s['last_seq']}  records {s['records']}  "
        f"time {iso_ns(s['first_ts_ns'])} .. {iso_ns(s['last_ts_ns'])}  "
        f"newest age {s['newest_age_s']} s"
        + (f"  shard {s['shard']} (number {s['shard_number']})" if s.get("shard") else "")
    )
    render_rows(["day", "first seq", "last seq", "records", "bytes"],
                [[row["day"], str(row["first_seq"]), str(row["last_seq"]), str(row["records"]),
                  human_bytes(row["bytes"])] for row in s["segments"]],
                console, title="segments", right=("first seq", "last seq", "records", "bytes"), keyed=True)
    render_rows(["id", "venue", "market", "conn", "url", "records"],
                [[str(row["id"]), row["venue"], row["market"], row["conn"], row["url"],
                  str(row["records"])] for row in s["streams"]],
                console, title="streams", right=("id", "records"), keyed=True)
    kinds = Table(title="records by kind")
    kinds.add_column("kind")
    kinds.add_column("records", justify="right")
    for k, v in s["kinds"].items():
        kinds.add_row(k, str(v))
    console.print(kinds)


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    with JournalReader(args.data) as reader:
        if not args.follow:
            s = status(reader, time.time_ns())
            if args.json:
                print(json.dumps(s))
            else:
                render_status(s, console)
            return 0
        from rich.live import Live

        with Live(console=console, refresh_per_second=2) as live:
            try:
                while True:
                    reader.refresh()
                    s = status(reader, time.time_ns())
                    table = Table(title=f"{args.data}  seq {s['last_seq']}  age {s['newest_age_s']} s")
                    table.add_column("kind")
                    table.add_column("records", justify="right")
                    for k, v in s["kinds"].items():
                        table.add_row(k, str(v))
                    live.update(table)
                    time.sleep(args.interval)
            except KeyboardInterrupt:
                return 0


def cmd_verify(args: argparse.Namespace, console: Console) -> int:
    with JournalReader(args.data) as reader:
        v = verify(reader)
    if args.json:
        print(json.dumps(v.as_json()))  # ok, records, segments, digest, problems, checked, unchecked, notes
        return 0 if v.ok else 1
    head, *rest = v.lines()
    console.print(head, style="green" if v.ok else "red", markup=False, highlight=False)
    for line in rest:
        console.print(line, markup=False, highlight=False)
    return 0 if v.ok else 1


class UsageError(ValueError):
    """Options that contradict each other (``recorder`` prints it and exits 2)."""


def symbol_pattern(symbols: Iterable[str]) -> re.Pattern[bytes]:
    """Bytes naming any of ``symbols`` as a whole word, case-insensitively (module docstring)."""
    alts = b"|".join(re.escape(s.encode()) for s in sorted(set(symbols), key=len, reverse=True))
    return re.compile(rb"(?<![A-Za-z0-9_-])(?:" + alts + rb")(?![A-Za-z0-9_-])", re.IGNORECASE)


def record_filter(streams: Iterable[int] = (), kinds: Iterable[str] = (),
                  symbols: Iterable[str] = ()) -> Callable[[Record], bool] | None:
    """The test ``tail`` keeps a record by (None: keep all); empty criteria match anything."""
    streams, kinds, symbols = set(streams), set(kinds), list(symbols)
    if not (streams or kinds or symbols):
        return None
    named = symbol_pattern(symbols).search if symbols else None

    def keep(rec: Record) -> bool:
        if streams and rec.stream not in streams or kinds and rec.kind not in kinds:
            return False
        if named is None:
            return True
        url = (rec.meta or {}).get("url") if rec.kind == "rest" else None
        return bool(named(rec.payload) or (isinstance(url, str) and named(url.encode())))

    return keep


def last_records(reader: JournalReader, n: int, upto: int,
                 keep: Callable[[Record], bool] | None) -> list[Record]:
    """The last ``n`` records kept by ``keep`` with seq <= ``upto``, oldest first.

    Reads backwards in windows that double, so a filter that matches rarely costs a
    read of what it has to look at, and no more.
    """
    floor = reader.first_seq
    if n <= 0 or not floor or upto < floor:
        return []
    if keep is None:
        return list(reader.read(max(floor, upto - n + 1), upto))
    found: list[Record] = []
    window = max(4 * n, 4096)
    hi = upto
    while hi >= floor and len(found) < n:
        lo = max(floor, hi - window + 1)
        found = [r for r in reader.read(lo, hi) if keep(r)] + found
        hi = lo - 1
        window *= 2
    return found[-n:]


def tail_records(reader: JournalReader, args: argparse.Namespace) -> Iterator[Record]:
    """The records ``recorder tail`` prints, in order (see the module docstring)."""
    keep = record_filter(args.stream, args.kind, args.symbol)
    to_seq = args.to_seq
    if args.from_seq is None and args.from_time is None:
        upto = reader.last_seq if to_seq is None else min(to_seq, reader.last_seq)
        n = 20 if args.lines is None else args.lines
        yield from last_records(reader, n, upto, keep)
        if not args.follow or (to_seq is not None and upto >= to_seq):
            return
        start, limit = upto + 1, None
    else:
        start = args.from_seq
        if args.from_time is not None:
            start = reader.seq_at_time(args.from_time) or reader.last_seq + 1
        limit = args.lines
        if to_seq is not None and to_seq < start:
            return
    records: Iterable[Record] = reader.follow(start) if args.follow else reader.read(start, to_seq)
    if keep is not None:
        records = filter(keep, records)
    if args.follow and to_seq is not None:
        records = _until(records, to_seq)
    if limit is not None:
        records = islice(records, limit)
    yield from records


def _until(records: Iterable[Record], to_seq: int) -> Iterator[Record]:
    for rec in records:
        if rec.seq > to_seq:
            return
        yield rec
        if rec.seq == to_seq:
            return


def cmd_tail(args: argparse.Namespace, console: Console) -> int:
    for name in ("stream", "kind", "symbol"):  # repeatable and comma-separated: one flat list
        setattr(args, name, [x for part in getattr(args, name) or () for x in part])
    if args.lines is not None and args.lines < 0:
        raise UsageError(f"-n/--lines must be >= 0, got {args.lines}")
    if args.from_seq is not None and args.to_seq is not None and args.to_seq < args.from_seq:
        raise UsageError(f"--to-seq {args.to_seq} is before --from-seq {args.from_seq}")
    bad = sorted(set(args.kind) - set(KINDS))
    if bad:
        raise UsageError(f"--kind {', '.join(bad)}: not a record kind ({', '.join(KINDS)})")
    out = sys.stdout
    with JournalReader(args.data, skip_damaged=args.skip_damaged) as reader:
        try:
            for rec in tail_records(reader, args):
                if args.json:
                    out.write(json.dumps(record_json(rec), ensure_ascii=False) + "\n")
                else:
                    text = rec.payload[:args.width].decode("utf-8", "replace").replace("\n", " ")
                    out.write(f"{rec.seq} {iso_ns(rec.ts_ns)} s{rec.stream} {rec.kind:5} {text}\n")
                if args.follow:
                    out.flush()
        except (KeyboardInterrupt, BrokenPipeError):
            return 0
        except CorruptRecordError as exc:  # stopped right after the record before it
            out.flush()
            print(f"error: {exc}; stopped there (--skip-damaged skips damaged records)", file=sys.stderr)
            return 1
        finally:
            if reader.damaged:
                n, shown = reader.damaged, reader.damage[:10]
                print(f"tail: skipped {n} damaged record{'s' if n > 1 else ''}: "
                      + "; ".join(map(str, shown)) + ("; ..." if n > len(shown) else ""), file=sys.stderr)
    return 0


def short_time(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def cmd_ls(args: argparse.Namespace, console: Console) -> int:
    with JournalReader(args.data) as reader:
        got = listing(reader)
    for row in got["symbols"]:
        row["first_time"], row["last_time"] = iso_ns(row["first_ts_ns"]), iso_ns(row["last_ts_ns"])
    if args.json:
        print(json.dumps(got))
        return 0
    if not got["records"]:
        console.print(f"nothing recorded in {args.data}", highlight=False)
        return 0
    render_rows(["symbol", "venue", "channels", "first (UTC)", "last (UTC)", "records"],
                [[r["symbol"], r["venue"], ",".join(r["channels"]), short_time(r["first_ts_ns"]),
                  short_time(r["last_ts_ns"]), str(r["records"])] for r in got["symbols"]],
                console, title=f"recorded in {args.data}: seq {got['first_seq']}..{got['last_seq']}",
                right=("records",), keyed=True)
    notes = [f"{got['other_records']} records name no symbol (opens, subscriptions, acks, marks...)"]
    if got["undecodable"]:
        notes.append("undecodable: " + ", ".join(f"{v} {k}" for k, v in got["undecodable"].items()))
    if got["seq_floor"]:
        notes.append(f"records up to seq {got['seq_floor']} are archived (query status)")
    for note in notes:
        console.print(note, highlight=False)
    return 0


def _csv_list(cast: Callable[[str], object]) -> Callable[[str], list]:
    """An option value ``a,b,c`` as a list (repeated options are flattened by ``cmd_tail``)."""
    def parse(text: str) -> list:
        try:
            return [cast(t.strip()) for t in text.split(",") if t.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a list of {cast.__name__}: {text!r}") from None
    return parse


def cmd_subscription(args: argparse.Namespace, console: Console) -> int:
    """``subscribe``/``unsubscribe``: one request to the running daemon; see the module docstring."""
    from .daemon.control_client import NoRecorderError, RecorderRefusedError, ask_recorder

    op = args.command
    symbols = [s for part in args.symbols for s in part]
    try:
        if args.channels:
            status = ask_recorder(args.data, {"op": "status"})
            have = status.get("channels", {}).get(args.venue)
            wanted = [c for part in args.channels for c in part]
            if have is not None and set(wanted) != set(have):
                print(f"error: {args.venue} records channels {','.join(have)} in this daemon; "
                      f"--channels {','.join(wanted)} would need a restart with another config",
                      file=sys.stderr)
                return 1
        reply = ask_recorder(args.data, {"op": op, "venue": args.venue, "symbols": symbols})
    except NoRecorderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RecorderRefusedError as exc:
        hint = f" (choose from: {', '.join(exc.choices)})" if exc.choices and exc.code == "unknown_venue" else ""
        print(f"error: {op} refused: {exc}{hint}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({k: v for k, v in reply.items() if k != "ok"}, sort_keys=True))
        return 0
    done, left = ("added", "already") if op == "subscribe" else ("removed", "absent")
    def names(key: str) -> str:
        return ", ".join(reply.get(key) or ()) or "none"
    print(f"{args.venue}: {done} {names(done)}; {left.replace('absent', 'not recorded')} {names(left)}")
    conns = [f"{label} {names(key)}" for key, label in (("live", "changed live"), ("new", "opened"),
                                                         ("closed", "closed")) if reply.get(key)]
    if conns:
        print("connections: " + "; ".join(conns))
    return 0


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from .daemon_cli import run_command

    return run_command(args, console)


# --- parser --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recorder", description="ticktape recorder: journal and live daemon")
    sub = p.add_subparsers(dest="command", required=True)

    def data_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--data", default=DEFAULT_DATA, help="data directory (default: data)")

    sp = sub.add_parser("import", help="import capture files into a journal")
    data_arg(sp)
    sp.add_argument("--venue", choices=VENUES, help="venue of an hftbacktest file (it names none)")
    sp.add_argument("--again", action="store_true",
                    help="import a file whose content this journal already holds (refused otherwise)")
    sp.add_argument("--clamp-times", action="store_true",
                    help="import records earlier than the journal's last one, their time clamped to it "
                         "(raw time in meta wall_ns; refused otherwise: use another --data)")
    sp.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                    help="progress bar on stderr (default: when stderr is a terminal)")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("files", nargs="+")
    sp.set_defaults(func=cmd_import)

    sp = sub.add_parser("status", help="what is in the journal")
    data_arg(sp)
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--follow", action="store_true", help="live view, refreshed")
    sp.add_argument("--interval", type=float, default=1.0)
    sp.set_defaults(func=cmd_status)

    sp = sub.add_parser("verify", help="prove the journal sound (exit 1 with a report if not)")
    data_arg(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_verify)

    sp = sub.add_parser("tail", help="print records, optionally following the tail")
    data_arg(sp)
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--from-seq", type=int, help="first seq to print")
    g.add_argument("--from-time", type=parse_time, help="ISO time, UTC unless stated")
    sp.add_argument("--to-seq", type=int, help="last seq to print (inclusive; --follow stops there)")
    sp.add_argument("--follow", "-f", action="store_true")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--lines", "-n", type=int, default=None,
                    help="without --from-*: the last N records (default 20); with one: at most N")
    sp.add_argument("--stream", action="append", type=_csv_list(int), metavar="ID[,ID]",
                    help="only these stream ids (repeatable)")
    sp.add_argument("--kind", action="append", type=_csv_list(str), metavar="KIND[,KIND]",
                    help=f"only these kinds: {', '.join(KINDS)} (repeatable)")
    sp.add_argument("--symbol", action="append", type=_csv_list(str), metavar="SYM[,SYM]",
                    help="only records whose payload (a REST record: its URL) names the symbol as "
                         "a whole word, any case (repeatable)")
    sp.add_argument("--width", type=int, default=160, help="payload characters shown (text mode)")
    sp.add_argument("--skip-damaged", action="store_true",
                    help="skip records whose checksum does not match (counted, named on stderr) "
                         "instead of stopping at the first")
    sp.set_defaults(func=cmd_tail)

    sp = sub.add_parser("ls", help="what is recorded: per venue and symbol, channels, "
                                   "first and last time, records (reads every record)")
    data_arg(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_ls)

    for name, what in (("subscribe", "record symbols too, on the running daemon"),
                       ("unsubscribe", "stop recording symbols, on the running daemon")):
        sp = sub.add_parser(name, help=what)
        data_arg(sp)
        sp.add_argument("--venue", required=True)
        sp.add_argument("--symbols", required=True, action="append", type=_csv_list(str),
                        metavar="SYM[,SYM]", help="native symbols (repeatable or comma-separated)")
        if name == "subscribe":
            sp.add_argument("--channels", action="append", type=_csv_list(str), metavar="CH[,CH]",
                            help="check these are the channels the daemon records for the venue")
        sp.add_argument("--json", action="store_true")
        sp.set_defaults(func=cmd_subscription, channels=None)

    try:
        from .daemon_cli import add_listing_parser, add_run_parser
    except ImportError:
        pass
    else:
        add_run_parser(sub, cmd_run)
        add_listing_parser(sub, cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(soft_wrap=True)  # report lines stay whole for grep
    try:
        return args.func(args, console)
    except (JournalError, CaptureError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
