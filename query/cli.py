"""``query``: the command line of the archive.

    query compact  --data DIR [--archive s3://BUCKET/PREFIX|DIR] [--day D | --through D] [--keep-days N] [--json]
    query sql      [--data DIR] [--archive URL] "SELECT ..." [--format table|csv|json|jsonl|parquet] [--out FILE] [--no-hot]
    query schedule --data DIR [--archive URL] [--at HH:MM] [--keep-days N] [--no-catch-up]
    query rebuild  --data DIR [--table T ...] [--from D] [--to D] [--json]
    query influx   --data DIR --url URL --token T --org O [--bucket B] [--from T] [--to T]
    query status   --data DIR [--archive URL] [--json]
    query market   ticker|book|trades|candles --venue V --symbol S [...]   (query.market.cli)

Bad input (an unknown day, a malformed date, SQL that does not parse, an archive
that does not match its journal) prints ``error: ...`` on stderr and exits 2; the
message names each option as it is typed (``--include-current``, not the keyword
``include_current`` of the function that refused it).

``sql --format``: ``table`` (for people: a table when it fits the terminal, else one
block of ``column  value`` lines per row, so no header or value is cut), ``csv``,
``json`` (one JSON document: an array of row objects, ``[]`` when there are none),
``jsonl`` (one row object per line) or ``parquet`` (with ``--out``).

``--archive``: the archive is not ``DATA/archive`` but ``s3://bucket/prefix`` (endpoint and
keys from ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_REGION`` or the AWS shared files: ``query.store``) or another directory. ``sql
--archive`` without an existing ``--data`` reads the archive alone (no hot rows).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from recorder.journal import JournalError
from recorder.journal.display import human_bytes, parse_iso_ns, render_rows

from . import manifest as _manifest
from .archive import ArchiveError
from .errors import QueryError, UsageError

DEFAULT_DATA = "data"
ENV_TOKEN = "TICKTAPE_INFLUX_TOKEN"


# --- argument types ----------------------------------------------------------------------


def parse_day(text: str) -> str:
    """``YYYY-MM-DD`` (a UTC day), validated."""
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}") from None
    if len(text) != 10:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}")
    return text


def parse_time(text: str) -> int:
    """An ISO time or date (UTC unless it says otherwise) -> ns, for argparse."""
    try:
        return parse_iso_ns(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_at(text: str) -> tuple[int, int]:
    """``HH:MM`` (UTC) -> (hour, minute)."""
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise argparse.ArgumentTypeError(f"not a time of day (HH:MM): {text!r}")
    return int(m[1]), int(m[2])


def non_negative(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return n


def _require_data(data: str) -> None:
    if not Path(data).is_dir():
        raise UsageError(f"no data directory {data!r}")


def _store(data: str, archive: str | None) -> Any:
    """The archive root: ``--archive`` when given, else ``DATA/archive`` (``query.store``)."""
    from .store import root_store

    return root_store(data, archive)


# --- compact -----------------------------------------------------------------------------


def day_rows(m: dict[str, Any], days: list[str]) -> list[dict[str, Any]]:
    """Per archived day: records, seq range, rows per table, archive and journal bytes."""
    out = []
    for d in days:
        e = m["days"][d]
        tables = {t: v["rows"] for t, v in e["tables"].items()}
        size = sum(f["bytes"] for v in e["tables"].values() for f in v["files"])
        out.append({"day": d, "records": e["records"], "first_seq": e["first_seq"],
                    "last_seq": e["last_seq"], "tables": tables, "archive_bytes": size,
                    "journal_bytes": e.get("journal_bytes")})
    return out


def render_days(rows: list[dict[str, Any]], title: str, console: Console) -> None:
    names = ["day", "records", "seq", "trades", "quotes", "klines", "features", "gaps",
             "archive", "journal"]
    cells = []
    for r in rows:
        t = r["tables"]
        cells.append([r["day"], str(r["records"]), f"{r['first_seq']}..{r['last_seq']}",
                      *(str(t.get(k, "-")) for k in ("trades", "quotes", "klines", "features", "gaps")),
                      human_bytes(r["archive_bytes"]),
                      human_bytes(r["journal_bytes"]) if r["journal_bytes"] else "-"])
    render_rows(names, cells, console, title=title, right=names[1:])


def cmd_compact(args: argparse.Namespace, console: Console) -> int:
    from .compact import compact
    from .derive import DeriveParams

    _require_data(args.data)
    now_ns = args.now if args.now is not None else time.time_ns()
    params = DeriveParams(book_depth=args.book_depth, book_interval_ms=args.book_interval_ms)
    store = _store(args.data, args.archive)
    res = compact(args.data, day=args.day, through=args.through, keep_days=args.keep_days,
                  params=params, derived=not args.raw_only, include_current=args.include_current,
                  now_ns=now_ns, wait=not args.no_wait, archive=store)
    from .store import data_shard

    store = store.shard(data_shard(args.data))
    m = _manifest.load(store)
    rows = day_rows(m, res.compacted)
    if args.json:
        print(json.dumps({"compacted": res.compacted, "already": res.already, "pruned": res.pruned,
                          "records": res.records, "days": rows}))
        return 0
    if rows:
        render_days(rows, f"compacted into {store.url}", console)
    else:
        console.print("nothing to compact"
                      + (f" ({', '.join(res.already)} already archived)" if res.already else ""))
    console.print(f"journal days removed: {', '.join(res.pruned) or 'none'}"
                  f" (keeping {args.keep_days} archived day(s))")
    return 0


# --- sql ---------------------------------------------------------------------------------


def tables_named(sql: str) -> list[str]:
    """The catalog's derived tables a query mentions (only those get a hot projection pass)."""
    from .catalog import ALL_TABLES

    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql.lower()))
    return [t for t in ALL_TABLES if t in words]


def _cell(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bytes):
        try:
            return v.decode()
        except UnicodeDecodeError:
            return "0x" + v.hex()
    return str(v)


def _json_value(v: Any) -> Any:
    if isinstance(v, bytes):
        try:
            return v.decode()
        except UnicodeDecodeError:
            return "0x" + v.hex()
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_value(x) for x in v]
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    return str(v)


def cmd_sql(args: argparse.Namespace, console: Console) -> int:
    import duckdb
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from .catalog import connect, to_arrow

    data: str | None = args.data
    if args.archive is None:
        _require_data(args.data)
    elif not Path(args.data).is_dir():
        data = None  # the archive alone
    sql = args.query
    if sql == "-":
        sql = sys.stdin.read()
    elif sql.startswith("@"):
        try:
            sql = Path(sql[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {sql[1:]}: {exc.strerror}") from None
    if not sql.strip():
        raise UsageError("empty query")
    if args.format == "parquet" and not args.out:
        raise UsageError("--format parquet needs --out FILE")
    con = connect(data, hot=args.hot, tables=tables_named(sql), archive=args.archive)
    try:
        rel = con.sql(sql)
        result = to_arrow(rel) if rel is not None else None
    except duckdb.Error as exc:
        raise UsageError(f"SQL: {exc}") from None
    if result is None:
        return 0
    if args.format == "parquet":
        pq.write_table(result, args.out, compression="zstd")
        console.print(f"{result.num_rows} rows -> {args.out}", highlight=False)
        return 0
    out = open(args.out, "w", encoding="utf-8", newline="") if args.out else sys.stdout  # noqa: SIM115
    try:
        if args.format == "csv":
            buf = io.BytesIO()
            pcsv.write_csv(_printable(result), buf)
            out.write(buf.getvalue().decode())
        elif args.format in ("json", "jsonl"):
            write_json(result.to_pylist(), out, lines=args.format == "jsonl")
        else:
            shown = result.slice(0, args.max_rows).to_pylist()
            target = Console(file=out, soft_wrap=False, width=args.width) if args.out else console
            render_rows(result.column_names, [[_cell(v) for v in row.values()] for row in shown],
                        target)
            if result.num_rows > len(shown):
                target.print(f"({result.num_rows} rows, {len(shown)} shown; --max-rows N or "
                             "--format csv for all)", highlight=False)
    finally:
        if args.out:
            out.close()
    return 0


def write_json(rows: list[dict[str, Any]], out: Any, *, lines: bool) -> None:
    """Rows as one JSON document (an array of objects, a row a line) or as JSON Lines."""
    texts = [json.dumps({k: _json_value(v) for k, v in row.items()}, ensure_ascii=False)
             for row in rows]
    if lines:
        out.writelines(t + "\n" for t in texts)
    elif not texts:
        out.write("[]\n")
    else:
        out.write("[\n" + ",\n".join(texts) + "\n]\n")


def _printable(t: Any) -> Any:
    """Binary columns as text for CSV (the payload: UTF-8, else hex)."""
    import pyarrow as pa

    cols = []
    for i, f in enumerate(t.schema):
        c = t.column(i)
        if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type):
            c = pa.array([None if v is None else _cell(v) for v in c.to_pylist()], pa.string())
        elif pa.types.is_nested(f.type):
            c = pa.array([None if v is None else json.dumps(_json_value(v)) for v in c.to_pylist()],
                         pa.string())
        cols.append(c)
    return pa.Table.from_arrays(cols, names=t.column_names)


# --- schedule ----------------------------------------------------------------------------


def cmd_schedule(args: argparse.Namespace, console: Console) -> int:
    from .schedule import run_standalone

    _require_data(args.data)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    hour, minute = args.at
    console.print(f"compacting {args.data} nightly at {hour:02d}:{minute:02d} UTC"
                  f"{' (catching up now)' if args.catch_up else ''}; Ctrl-C to stop", highlight=False)
    run_standalone(args.data, hour=hour, minute=minute, catch_up=args.catch_up,
                   keep_days=args.keep_days, archive=args.archive)
    return 0


# --- rebuild -----------------------------------------------------------------------------


def cmd_rebuild(args: argparse.Namespace, console: Console) -> int:
    from .derive import TABLES, DeriveParams
    from .rebuild import rebuild

    _require_data(args.data)
    tables = None
    if args.table and "all" not in args.table:
        unknown = [t for t in args.table if t not in TABLES]
        if unknown:
            raise UsageError(f"not a derived table: {', '.join(unknown)} (choose from all, {', '.join(TABLES)})")
        tables = args.table
    if args.from_day and args.to_day and args.from_day > args.to_day:
        raise UsageError(f"--from {args.from_day} is after --to {args.to_day}")
    params = DeriveParams(book_depth=args.book_depth, book_interval_ms=args.book_interval_ms)
    res = rebuild(args.data, tables, from_day=args.from_day, to_day=args.to_day, params=params)
    if args.json:
        print(json.dumps({"days": res.days, "tables": res.tables, "rows": res.rows,
                          "replayed_days": res.replayed_days}))
        return 0
    table = Table(title=f"rebuilt {len(res.days)} day(s): {res.days[0]}..{res.days[-1]}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for t in res.tables:
        table.add_row(t, str(res.rows[t]))
    console.print(table)
    if res.replayed_days:
        console.print(f"(re-projected {res.replayed_days} earlier day(s) to reach the start state)")
    return 0


# --- influx ------------------------------------------------------------------------------


def cmd_influx(args: argparse.Namespace, console: Console) -> int:
    from .influx import InfluxSink, export

    _require_data(args.data)
    token = args.token if args.token is not None else os.environ.get(ENV_TOKEN)
    if not token:
        raise UsageError(f"--token (or ${ENV_TOKEN}) is required")
    if args.from_ns is not None and args.to_ns is not None and args.from_ns >= args.to_ns:
        raise UsageError("--from must be before --to")
    if not re.match(r"https?://", args.url):
        raise UsageError(f"--url must be http(s)://...: {args.url!r}")
    sink = InfluxSink(args.url, token, args.org, args.bucket, bars_bucket=args.bars_bucket,
                      batch_size=args.batch_size, max_retries=args.retries)
    try:
        counts = export(args.data, sink, from_ns=args.from_ns, to_ns=args.to_ns, hot=args.hot)
    finally:
        sink.close(timeout=60)
    st = sink.stats()
    if args.json:
        print(json.dumps({"rows": counts, **st}))
    else:
        table = Table(title=f"sent to {args.url} (org {args.org})")
        for col in ("table", "bucket", "rows"):
            table.add_column(col)
        table.add_row("features", args.bucket, str(counts.get("features", 0)))
        table.add_row("klines (bars_1m)", args.bars_bucket or args.bucket, str(counts.get("klines", 0)))
        console.print(table)
        console.print(f"points written {st['written']}, failed {st['failed']}, retries {st['retries']}",
                      highlight=False)
    if st["failed"]:
        print(f"error: {st['failed']} points not written: {st['last_error']}", file=sys.stderr)
        return 1
    return 0


# --- status ------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    from .store import data_shard

    if args.archive is None:
        _require_data(args.data)
    root = _store(args.data, args.archive)
    if args.archive is None:
        root = root.shard(data_shard(args.data))
    shards = root.shards() if args.archive is not None else [""]
    by_shard = {s: _manifest.load(root.shard(s)) for s in shards}
    if args.json:
        if args.archive is None:
            m = by_shard[""]
            print(json.dumps({"days": day_rows(m, _manifest.days(m))}))
        else:
            print(json.dumps({"shards": {s: day_rows(m, _manifest.days(m)) for s, m in by_shard.items()}}))
        return 0
    shown = False
    for s, m in by_shard.items():
        rows = day_rows(m, _manifest.days(m))
        if rows:
            render_days(rows, f"archived days in {root.shard(s).url}", console)
            shown = True
    if not shown:
        console.print(f"nothing archived in {root.url}")
    return 0


def cmd_listings(args: argparse.Namespace, console: Console) -> int:
    from .listing_report import render
    from .listings import listings_json, window_dirs, window_table

    _require_data(args.data)
    doc = listings_json(args.data)
    if args.html:
        by_window = {d["window"]: d for d in doc["listings"] if d["window"]}
        for w in window_dirs(args.data):
            page = render(by_window[w.name], window_table(w).to_pylist())
            (w / "report.html").write_text(page, encoding="utf-8")
            if not args.json:
                console.print(f"wrote {w / 'report.html'}")
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
        return 0
    if not doc["listings"]:
        console.print(f"no listing detected in {args.data}")
        return 0
    table = Table(title=f"Upbit listings detected in {args.data}")
    for col in ("symbol", "markets", "notice", "announced_at", "latency_ms", "window"):
        table.add_column(col)
    for d in doc["listings"]:
        table.add_row(d["symbol"], ",".join(d["markets"]), str(d["notice_id"] or "-"),
                      d["announced_at"], f"{d['latency_ms']:.0f}", d["window"] or "(booked)")
    console.print(table)
    return 0


# --- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from .derive import DeriveParams

    p = argparse.ArgumentParser(prog="query", description="ticktape archive: compaction, SQL, InfluxDB")
    sub = p.add_subparsers(dest="command", required=True)
    defaults = DeriveParams()

    def data_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--data", default=DEFAULT_DATA, help="data directory (default: data)")

    def archive_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--archive", help="the archive root if not DATA/archive: s3://BUCKET/PREFIX "
                        "(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or a directory")

    def derive_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--book-depth", type=int, default=defaults.book_depth,
                        help=f"levels per side in book_levels (default {defaults.book_depth})")
        sp.add_argument("--book-interval-ms", type=int, default=defaults.book_interval_ms,
                        help=f"book_levels sampling interval (default {defaults.book_interval_ms})")

    sp = sub.add_parser("compact", help="archive finished journal days as Parquet, then prune them")
    data_arg(sp)
    archive_arg(sp)
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--day", type=parse_day, help="only this day (older days must be archived)")
    g.add_argument("--through", type=parse_day, help="every finished day up to this one")
    sp.add_argument("--keep-days", type=non_negative, default=0,
                    help="archived days kept in the journal too (default 0)")
    sp.add_argument("--include-current", action="store_true",
                    help="with --day: allow the newest journal day (the recorder must be stopped)")
    sp.add_argument("--raw-only", action="store_true", help="no derived tables (add them with rebuild)")
    sp.add_argument("--now", type=parse_time, help=argparse.SUPPRESS)  # the clock, for tests
    sp.add_argument("--no-wait", action="store_true", help="fail if another compaction is running")
    sp.add_argument("--json", action="store_true")
    derive_args(sp)
    sp.set_defaults(func=cmd_compact)

    sp = sub.add_parser("sql", help="run SQL over the archive (and the hot journal)")
    data_arg(sp)
    archive_arg(sp)
    sp.add_argument("query", help='SQL text, "-" for stdin or @FILE')
    sp.add_argument("--format", choices=("table", "csv", "json", "jsonl", "parquet"), default="table",
                    help="table (for people), csv, json (one document: an array of row objects), "
                         "jsonl (a row object per line) or parquet (needs --out)")
    sp.add_argument("--out", help="write the result here instead of stdout")
    sp.add_argument("--hot", action=argparse.BooleanOptionalAction, default=True,
                    help="include journal records not yet archived (default on)")
    sp.add_argument("--max-rows", type=non_negative, default=200, help="rows shown as a table")
    sp.add_argument("--width", type=int, default=200, help="table width with --out")
    sp.set_defaults(func=cmd_sql)

    sp = sub.add_parser("schedule", help="compact nightly (standalone; catches up at start)")
    data_arg(sp)
    archive_arg(sp)
    sp.add_argument("--at", type=parse_at, default=(0, 10), help="UTC time of day (default 00:10)")
    sp.add_argument("--keep-days", type=non_negative, default=0)
    sp.add_argument("--catch-up", action=argparse.BooleanOptionalAction, default=True,
                    help="run once at start for nights missed (default on)")
    sp.set_defaults(func=cmd_schedule)

    sp = sub.add_parser("rebuild", help="regenerate derived tables from raw with the current code")
    data_arg(sp)
    sp.add_argument("--table", action="append", help="a derived table or 'all' (repeatable; default all)")
    sp.add_argument("--from", dest="from_day", type=parse_day, help="first day (default: the first)")
    sp.add_argument("--to", dest="to_day", type=parse_day, help="last day (default: the last)")
    sp.add_argument("--json", action="store_true")
    derive_args(sp)
    sp.set_defaults(func=cmd_rebuild)

    sp = sub.add_parser("influx", help="send features and 1 m bars to InfluxDB (v2 write API)")
    data_arg(sp)
    sp.add_argument("--url", default="http://127.0.0.1:8086")
    sp.add_argument("--token", help=f"API token (default ${ENV_TOKEN})")
    sp.add_argument("--org", default="ticktape")
    sp.add_argument("--bucket", default="ticktape_raw", help="bucket of the 1 s features")
    sp.add_argument("--bars-bucket", default="ticktape_1m", help="bucket of the 1 m bars")
    sp.add_argument("--from", dest="from_ns", type=parse_time, help="ISO time (UTC unless stated)")
    sp.add_argument("--to", dest="to_ns", type=parse_time, help="ISO time, exclusive")
    sp.add_argument("--hot", action=argparse.BooleanOptionalAction, default=True)
    sp.add_argument("--batch-size", type=int, default=5000)
    sp.add_argument("--retries", type=non_negative, default=5)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_influx)

    from .market.cli import add_parser as add_market

    add_market(sub)

    sp = sub.add_parser("listings", help="the Upbit listings the recorder detected, and their windows")
    data_arg(sp)
    sp.add_argument("--json", action="store_true",
                    help='one document: {"listings": [{symbol, markets, notice_id, title, '
                         'announced_at, detected_at, latency_ms, window}]}')
    sp.add_argument("--html", action="store_true",
                    help="also write each window's chart: DATA/listings/NAME/report.html")
    sp.set_defaults(func=cmd_listings)

    sp = sub.add_parser("status", help="what is archived")
    data_arg(sp)
    archive_arg(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_status)
    for sp in sub.choices.values():
        sp.set_defaults(flags=flag_names(sp))
    return p


def flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Keyword -> option as typed, for the options whose keyword is not their spelling
    (``include_current`` -> ``--include-current``, ``from_day`` -> ``--from``)."""
    out = {}
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs and "_" in action.dest:
            out[action.dest] = longs[0]
    return out


def name_flags(message: str, flags: dict[str, str]) -> str:
    """``message`` with each keyword of ``flags`` replaced by its option as typed."""
    for dest, flag in flags.items():
        message = re.sub(rf"(?<![\w-]){re.escape(dest)}(?![\w-])", flag, message)
    return message


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(soft_wrap=True)
    try:
        return args.func(args, console)
    # ArchiveError is a QueryError once query.archive takes it from query.errors.
    # ValueError: a bad value met below query/ (a damaged Parquet file is pyarrow's ArrowInvalid).
    # The functions below name their keyword arguments; the user typed options.
    except (QueryError, ArchiveError, JournalError, ValueError) as exc:
        print(f"error: {name_flags(str(exc), args.flags)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
