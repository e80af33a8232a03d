"""``recorder``: the command line of the journal and the live daemon.

    recorder import --data DIR [--venue V] [--again] [--clamp-times] [--[no-]progress] FILE...
    recorder status --data DIR [--json] [--follow]
    recorder verify --data DIR [--json]
    recorder tail   --data DIR [--from-seq N | --from-time ISO] [--follow] [--json]
    recorder run    ... (see ``recorder run --help``)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .importer import VENUES, CaptureError, import_files, progress_bar
from .inspect import record_json, status, verify
from .journal import JournalError
from .journal.reader import JournalReader

DEFAULT_DATA = "data"


def iso_ns(ts_ns: int | None) -> str:
    if ts_ns is None:
        return "-"
    dt = datetime.fromtimestamp(ts_ns // 1_000_000_000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ts_ns % 1_000_000_000:09d}Z"


def parse_time(text: str) -> int:
    """ISO time or date (UTC unless it says otherwise) -> ns."""
    t = text.strip().replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO time: {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


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
    )
    seg = Table(title="segments")
    for col in ("day", "first seq", "last seq", "records", "bytes"):
        seg.add_column(col, justify="right" if col != "day" else "left")
    for row in s["segments"]:
        seg.add_row(row["day"], str(row["first_seq"]), str(row["last_seq"]), str(row["records"]),
                    human_bytes(row["bytes"]))
    console.print(seg)
    st = Table(title="streams")
    for col in ("id", "venue", "market", "conn", "url", "records"):
        st.add_column(col)
    for row in s["streams"]:
        st.add_row(str(row["id"]), row["venue"], row["market"], row["conn"], row["url"][:80], str(row["records"]))
    console.print(st)
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
        print(json.dumps({"ok": v.ok, "records": v.records, "segments": v.segments, "digest": v.digest,
                          "problems": [p.__dict__ for p in v.problems]}))
    elif v.ok:
        console.print(f"[green]ok[/green]: {v.records} records in {v.segments} segments, "
                      f"seq gapless, all values decode, streams known, time monotone")
    else:
        console.print(f"[red]{len(v.problems)} problem(s)[/red] in {v.records} records:")
        for p in v.problems:
            console.print(f"  {p}", markup=False)
    return 0 if v.ok else 1


def cmd_tail(args: argparse.Namespace, console: Console) -> int:
    out = sys.stdout
    with JournalReader(args.data) as reader:
        start = args.from_seq
        if args.from_time is not None:
            start = reader.seq_at_time(args.from_time) or reader.last_seq + 1
        if start is None:
            start = max(reader.first_seq, reader.last_seq - args.lines + 1)
        records = reader.follow(start) if args.follow else reader.read(start)
        try:
            for rec in records:
                if args.json:
                    out.write(json.dumps(record_json(rec), ensure_ascii=False) + "\n")
                else:
                    text = rec.payload[:args.width].decode("utf-8", "replace").replace("\n", " ")
                    out.write(f"{rec.seq} {iso_ns(rec.ts_ns)} s{rec.stream} {rec.kind:5} {text}\n")
                if args.follow:
                    out.flush()
        except (KeyboardInterrupt, BrokenPipeError):
            return 0
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
    g.add_argument("--from-seq", type=int)
    g.add_argument("--from-time", type=parse_time, help="ISO time, UTC unless stated")
    sp.add_argument("--follow", "-f", action="store_true")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--lines", "-n", type=int, default=20, help="without --from-*: the last N records")
    sp.add_argument("--width", type=int, default=160, help="payload characters shown (text mode)")
    sp.set_defaults(func=cmd_tail)

    try:
        from .daemon_cli import add_run_parser
    except ImportError:
        pass
    else:
        add_run_parser(sub, cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(soft_wrap=True)  # report lines stay whole for grep
    try:
        return args.func(args, console)
    except (JournalError, CaptureError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
