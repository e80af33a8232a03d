"""Import real recordings into a journal.

Two capture formats, auto-detected (compression by magic bytes, format by the first
line):

- cryptofeed capture format 2 (``.jsonl.zst``): a header line, then one record per
  line with ``t`` in connect/send/recv/http. Each ``conn`` becomes a stream;
  ``connect`` -> ``open`` (payload: the URL), ``send`` -> ``sent``, ``recv`` -> ``frame``
  (``b64`` marks a binary frame: ``meta["bin"]``), ``http`` -> ``rest`` (``meta["url"]``).
- hftbacktest collector text (``.gz``): ``<local time> <raw JSON>`` per line, combined-
  stream frames plus bare REST depth snapshots. The file names neither venue nor REST
  URL, so the caller says the venue; the symbol comes from the frames. Times are ns,
  or µs in older files (detected from their magnitude).

Every line but a header becomes exactly one record, payload byte-exact. A file is
checked completely before its first record is appended, so a refused file adds nothing:

- unreadable: not a capture, a bad line (``file:line: what``), or a compressed file that
  is truncated (zstd: the file ends inside a frame, which zstandard's own reader passes
  over in silence; gzip: before its end marker) or damaged (``cannot read past line N``);
- already imported: the journal's import register (``recorder.import_registry``, in its
  catalog) holds the file's content (sha256), or the command names it twice; ``again=``
  (``--again``) imports it once more;
- out of time order: a record earlier than the journal's last one would be clamped to it
  (time never goes backwards in a journal), so the file is refused with a data directory
  of its own to use (``DIR-<its first day>``); ``clamp_times=`` (``--clamp-times``) clamps
  them, the raw time kept in ``meta["wall_ns"]``, as before. Records a little out of order
  inside one file (one in most shared captures) are clamped as ever, and counted
  (``ImportResult.clamped``).

``on_progress`` is told how far the reading and the appending of each file are;
``progress_bar`` draws it with rich on stderr.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, TextIO
from urllib.parse import urlsplit

import rich.progress
import zstandard
from rich.console import Console

from . import import_registry as registry
from .errors import CaptureError
from .journal import FRAME, OPEN, REST, SENT, JournalError
from .journal.reader import JournalReader
from .journal.writer import JournalWriter

VENUES = ("binance-usdm", "binance-spot", "upbit", "bybit", "okx", "gate", "kucoin", "phemex")

# cryptofeed exchange name -> (venue, market)
CRYPTOFEED_VENUES: dict[str, tuple[str, str]] = {
    "BINANCE_FUTURES": ("binance-usdm", "usdm"),
    "BINANCE": ("binance-spot", "spot"),
    "UPBIT": ("upbit", "spot"),
    "BYBIT": ("bybit", ""),
    "OKX": ("okx", ""),
    "GATEIO": ("gate", "spot"),
    "GATEIO_FUTURES": ("gate", "futures"),
    "KUCOIN": ("kucoin", "spot"),
    "PHEMEX": ("phemex", ""),
}

# hftbacktest files carry no URLs: the venue's public endpoints, by venue.
# (websocket base, REST depth-snapshot URL template with {symbol})
HFT_ENDPOINTS: dict[str, tuple[str, str]] = {
    "binance-usdm": ("wss://fstream.binance.com/stream", "https://fapi.binance.com/fapi/v1/depth?symbol={symbol}"),
    "binance-spot": ("wss://stream.binance.com:9443/stream", "https://api.binance.com/api/v3/depth?symbol={symbol}"),
    "upbit": ("wss://api.upbit.com/websocket/v1", "https://api.upbit.com/v1/orderbook?markets={symbol}"),
    "bybit": ("wss://stream.bybit.com/v5/public/linear", "https://api.bybit.com/v5/market/orderbook?category=linear&symbol={symbol}"),
    "okx": ("wss://ws.okx.com:8443/ws/v5/public", "https://www.okx.com/api/v5/market/books?instId={symbol}"),
    "gate": ("wss://api.gateio.ws/ws/v4/", "https://api.gateio.ws/api/v4/spot/order_book?currency_pair={symbol}"),
    "kucoin": ("wss://ws-api-spot.kucoin.com/", "https://api.kucoin.com/api/v1/market/orderbook/level2_100?symbol={symbol}"),
    "phemex": ("wss://phemex.com/ws", "https://api.phemex.com/md/orderbook?symbol={symbol}"),
}

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
_US_BELOW = 10**17  # an epoch time below this is µs (ns epochs are ~1.7e18 today)



Progress = Callable[[str, str, int, int], None]
"""``on_progress(file name, phase, done, total)``: phase ``reading`` (done and total in bytes
of the file) while a file is parsed, then ``importing`` (in records) while it is appended."""


@dataclass
class ImportResult:
    path: str
    format: str
    records: int = 0
    first_seq: int = 0
    last_seq: int = 0
    streams: dict[str, int] = field(default_factory=dict)  # conn name -> stream id
    time_unit: str = "ns"
    digest: str = ""  # sha256 of the file's bytes (the journal's import register keys on it)
    clamped: int = 0  # records whose time was before the one before them: clamped to it


@dataclass(frozen=True)
class _Item:
    conn: str
    kind: str
    ts_ns: int
    payload: bytes
    meta: dict[str, Any] | None


@dataclass
class _Conn:
    venue: str
    market: str
    url: str
    channels: tuple[str, ...] = ()


class _ZstdFrames(io.RawIOBase):
    """The decompressed bytes of a zstd file, frame after frame.

    zstandard's ``stream_reader`` ends quietly where a truncated file ends; this raises
    ``EOFError`` when the file ends inside a frame, so a capture cut short (a recorder
    killed mid-write, a copy interrupted) is never taken for a whole one.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._frame: Any = None  # the decompressobj of the frame being read
        self._out = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while self._pos >= len(self._out):
            chunk = self._raw.read(1 << 17)
            if not chunk:
                if self._frame is not None and not self._frame.eof:
                    raise EOFError("the file ends inside a zstd frame")
                return 0
            self._out, self._pos = self._feed(chunk), 0
        n = min(len(b), len(self._out) - self._pos)
        b[:n] = self._out[self._pos:self._pos + n]
        self._pos += n
        return n

    def _feed(self, chunk: bytes) -> bytes:
        out = []
        while chunk:
            if self._frame is None or self._frame.eof:
                self._frame = self._dctx.decompressobj()
            out.append(self._frame.decompress(chunk))
            chunk = self._frame.unused_data if self._frame.eof else b""
        return b"".join(out)

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def _open(path: str | os.PathLike[str]) -> tuple[io.TextIOWrapper, Callable[[], int]]:
    """(text, how many of the file's bytes were read so far) of a capture."""
    raw = open(path, "rb")  # noqa: SIM115 (closed with the text wrapper)
    head = raw.read(4)
    raw.seek(0)
    if head.startswith(_ZSTD_MAGIC):
        stream: Any = _ZstdFrames(raw)
    elif head.startswith(_GZIP_MAGIC):
        raw.close()
        stream = gzip.open(path, "rb")  # owns (and closes) its file, unlike GzipFile(fileobj=)
        raw = stream.fileobj
    else:
        stream = raw
    text = io.TextIOWrapper(io.BufferedReader(stream, 1 << 16), encoding="utf-8", newline="\n")
    return text, raw.tell


def open_text(path: str | os.PathLike[str]) -> io.TextIOBase:
    """Open a capture as text, decompressing zstd or gzip by magic bytes.

    Reading a compressed file that was cut short raises ``EOFError``.
    """
    return _open(path)[0]


_READ_ERRORS = (OSError, UnicodeDecodeError, zstandard.ZstdError, EOFError, zlib.error)
_TICK_LINES = 4096  # progress is reported every so many lines or records


def _unreadable(path: Path, last_line: int, exc: BaseException) -> CaptureError:
    where = f"cannot read past line {last_line}" if last_line else "cannot read its first line"
    why = "truncated (it ends before its compressed data does)" if isinstance(exc, EOFError) else \
        "damaged"
    return CaptureError(f"{path}: {where}: {type(exc).__name__}: {exc}: the file is {why}; "
                        "nothing of it was imported")


def _lines(path: Path, f: io.TextIOBase, start: int,
           tick: Callable[[], None] | None = None) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` from ``start``; a file that cannot be read on (truncated
    compression, bytes that are not UTF-8, an I/O error) is a ``CaptureError`` naming the
    last line read. ``tick()`` is called every ``_TICK_LINES`` lines."""
    lineno = start - 1
    try:
        for lineno, line in enumerate(f, start=start):  # noqa: B007 (read after the loop)
            if tick is not None and not lineno % _TICK_LINES:
                tick()
            yield lineno, line
    except _READ_ERRORS as exc:
        raise _unreadable(path, lineno, exc) from None


def _bad_line(path: Path, f: io.TextIOBase, lineno: int, what: str) -> CaptureError:
    """``path:line: what``, unless the rest of the file does not decompress: then the line
    is the damage showing (a gzip file's checksum is read at its end), and it says so."""
    try:
        while f.read(1 << 20):
            pass
    except _READ_ERRORS as exc:
        err = _unreadable(path, lineno - 1, exc)
        return CaptureError(f"{err} (line {lineno}, already: {what})")
    return CaptureError(f"{path}:{lineno}: {what}")


def detect_format(path: str | os.PathLike[str]) -> str:
    """``cryptofeed`` or ``hftbacktest``; raises ``CaptureError`` otherwise."""
    try:
        with open_text(path) as f:
            first = f.readline()
    except _READ_ERRORS as exc:
        raise _unreadable(Path(path), 0, exc) from None
    if not first.strip():
        raise CaptureError(f"{path}: empty file")
    if first.lstrip().startswith("{"):
        try:
            header = json.loads(first)
        except json.JSONDecodeError:
            header = None
        if isinstance(header, dict) and header.get("t") == "header":
            return "cryptofeed"
    head, _, rest = first.partition(" ")
    if head.isdigit() and rest.lstrip().startswith("{"):
        return "hftbacktest"
    raise CaptureError(f"{path}: line 1 is neither a cryptofeed header nor '<time> <json>'")


# --- cryptofeed ----------------------------------------------------------------------


def _ticker(path: Path, position: Callable[[], int], on_read: Progress | None) -> Callable[[], None] | None:
    if on_read is None:
        return None
    size = path.stat().st_size
    return lambda: on_read(path.name, "reading", position(), size)


def _cryptofeed(path: Path, on_progress: Progress | None = None) -> tuple[dict[str, _Conn], list[_Item]]:
    conns: dict[str, _Conn] = {}
    items: list[_Item] = []
    f, position = _open(path)
    with f:
        try:
            header = json.loads(f.readline())
        except _READ_ERRORS as exc:
            raise _unreadable(path, 0, exc) from None
        if header.get("format") != 2:
            raise CaptureError(f"{path}: cryptofeed format {header.get('format')!r}, expected 2")
        exchange = header.get("exchange", "")
        if exchange not in CRYPTOFEED_VENUES:
            raise CaptureError(f"{path}: unknown cryptofeed exchange {exchange!r}")
        venue, market = CRYPTOFEED_VENUES[exchange]
        for lineno, line in _lines(path, f, 2, _ticker(path, position, on_progress)):
            if not line.strip():
                continue
            try:
                rec = json.loads(line, parse_float=Decimal)  # exact ts -> exact ns
                items.append(_cryptofeed_item(rec, conns, venue, market))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise _bad_line(path, f, lineno, f"{type(exc).__name__}: {exc}") from None
    return conns, items


def _cryptofeed_item(rec: dict[str, Any], conns: dict[str, _Conn], venue: str, market: str) -> _Item:
    t = rec["t"]
    conn = rec["conn"]
    ts_ns = int(Decimal(rec["ts"]) * 1_000_000_000)
    url = rec.get("addr") or rec.get("url") or ""
    if conn not in conns:
        if t == "http":
            parts = urlsplit(url)
            url = f"{parts.scheme}://{parts.netloc}"
        conns[conn] = _Conn(venue, market or _market_from_url(url), url)
    if t == "connect":
        return _Item(conn, OPEN, ts_ns, rec["addr"].encode(), None)
    if t == "send":
        return _Item(conn, SENT, ts_ns, _text(rec["data"]), None)
    if t == "recv":
        if "b64" in rec:
            return _Item(conn, FRAME, ts_ns, base64.b64decode(rec["b64"], validate=True), {"bin": True})
        return _Item(conn, FRAME, ts_ns, _text(rec["data"]), None)
    if t == "http":
        return _Item(conn, REST, ts_ns, _text(rec["data"]), {"url": rec["url"]})
    raise ValueError(f"unknown record type t={t!r}")


def _text(data: Any) -> bytes:
    if not isinstance(data, str):
        raise TypeError(f"expected text data, got {type(data).__name__}")
    return data.encode("utf-8")


def _market_from_url(url: str) -> str:
    path = urlsplit(url).path
    for market in ("linear", "inverse", "spot", "option"):
        if path.endswith("/" + market):
            return market
    return ""


# --- hftbacktest ---------------------------------------------------------------------


def _hftbacktest(path: Path, venue: str | None,
                 on_progress: Progress | None = None) -> tuple[dict[str, _Conn], list[_Item], str]:
    if venue is None:
        raise CaptureError(
            f"{path}: an hftbacktest file names no venue: pass --venue (one of {', '.join(VENUES)})"
        )
    if venue not in HFT_ENDPOINTS:
        raise CaptureError(f"unknown venue {venue!r}: one of {', '.join(VENUES)}")
    ws_base, rest_template = HFT_ENDPOINTS[venue]
    parsed: list[tuple[int, str, bytes, bool]] = []  # (time, stream name or "", payload, is_rest)
    symbols: set[str] = set()
    streams: list[str] = []
    unit = None
    f, position = _open(path)
    with f:
        for lineno, line in _lines(path, f, 1, _ticker(path, position, on_progress)):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            head, sep, body = line.partition(" ")
            if not sep or not head.isdigit():
                raise _bad_line(path, f, lineno, "expected '<time> <json>'")
            t = int(head)
            if unit is None:
                unit = "us" if t < _US_BELOW else "ns"
            try:
                msg = json.loads(body)
            except json.JSONDecodeError as exc:
                raise _bad_line(path, f, lineno, f"invalid JSON: {exc}") from None
            if not isinstance(msg, dict):
                raise _bad_line(path, f, lineno, "expected a JSON object")
            name = msg.get("stream")
            is_rest = name is None and "lastUpdateId" in msg
            if isinstance(name, str):
                if name not in streams:
                    streams.append(name)
                data = msg.get("data")
                sym = data.get("s") if isinstance(data, dict) else None
                symbols.add((sym or name.split("@", 1)[0]).upper())
            parsed.append((t, name or "", body.encode("utf-8"), is_rest))
    if not parsed:
        raise CaptureError(f"{path}: no messages")
    if len(symbols) != 1:
        raise CaptureError(f"{path}: expected one symbol in the frames, found {sorted(symbols) or 'none'}")
    symbol = symbols.pop()
    scale = 1000 if unit == "us" else 1
    ws_url = f"{ws_base}?streams={'/'.join(streams)}" if venue.startswith("binance") else ws_base
    rest_url = rest_template.format(symbol=symbol)
    market = {"binance-usdm": "usdm", "binance-spot": "spot"}.get(venue, "")
    conns = {"ws": _Conn(venue, market, ws_url, tuple(streams)), "rest": _Conn(venue, market, rest_url)}
    items = [
        _Item("rest", REST, t * scale, payload, {"url": rest_url, "inferred": True})
        if is_rest
        else _Item("ws", FRAME, t * scale, payload, None)
        for t, _, payload, is_rest in parsed
    ]
    return conns, items, unit or "ns"


# --- driver --------------------------------------------------------------------------


def _iso(ts_ns: int) -> str:
    dt = datetime.fromtimestamp(ts_ns // 1_000_000_000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ts_ns % 1_000_000_000 // 1000:06d}Z"


def suggest_data_dir(data_dir: str | os.PathLike[str], first_ts_ns: int) -> Path:
    """A data directory beside ``data_dir`` for a file whose records start at ``first_ts_ns``:
    ``DIR-<its first day>`` (``-2``, ``-3``... when that one holds later records)."""
    base = Path(data_dir)
    if not base.name:  # "." or "/"
        base = base.resolve()
    day = datetime.fromtimestamp(first_ts_ns // 1_000_000_000, UTC).strftime("%Y-%m-%d")
    n = 1
    while True:
        cand = base.with_name(f"{base.name}-{day}" + (f"-{n}" if n > 1 else ""))
        if not cand.exists() or (cand.is_dir() and not any(cand.iterdir())):
            return cand
        try:
            with JournalReader(cand) as r:
                last = r.get(r.last_seq) if r.last_seq else None
        except (JournalError, OSError):
            last = None
        else:
            if last is None or last.ts_ns <= first_ts_ns:
                return cand  # a journal this file continues in time order
        n += 1


def _refuse_if_imported(writer: JournalWriter, path: Path, digest: str) -> None:
    held = [e for e in registry.find(writer, digest) if e.state in ("done", "interrupted")]
    if not held:
        return
    e = held[-1]
    when = _iso(e.finished_ns) if e.finished_ns else "?"
    if e.state == "done":
        what = (f"was already imported into {writer.data_dir} as {e.name} on {when}: "
                f"seq {e.first_seq}..{e.last_seq}, {e.records} records")
    else:
        what = (f"was being imported into {writer.data_dir} as {e.name} when that import stopped "
                f"(noticed {when}): seq {e.first_seq}..{e.last_seq} of it are in the journal, "
                "the rest is not")
    again = f" ({len(held)} times)" if len(held) > 1 else ""
    raise CaptureError(
        f"{path}: its content (sha256 {digest[:16]}...) {what}{again}. Nothing was imported; "
        "pass --again to append its records once more")


@dataclass
class _Parsed:
    fmt: str
    unit: str
    conns: dict[str, _Conn]
    items: list[_Item]


def _parse(path: Path, venue: str | None, on_progress: Progress | None) -> _Parsed:
    fmt = detect_format(path)
    if fmt == "cryptofeed":
        conns, items = _cryptofeed(path, on_progress)
        return _Parsed(fmt, "ns", conns, items)
    conns, items, unit = _hftbacktest(path, venue, on_progress)
    return _Parsed(fmt, unit, conns, items)


def _check_times(writer: JournalWriter, path: Path, parsed: _Parsed, *, clamp_times: bool,
                 venue: str | None) -> int:
    """How many of the file's records the writer will clamp (time before the one before it);
    refuses (``CaptureError``) a file with records before the journal's last one unless
    ``clamp_times``."""
    last = writer.last_ts_ns
    items = parsed.items
    before = sum(1 for it in items if it.ts_ns < last)
    if before and not clamp_times:
        first = min(it.ts_ns for it in items)
        suggested = suggest_data_dir(writer.data_dir, first)
        venue_arg = f" --venue {venue}" if parsed.fmt == "hftbacktest" and venue else ""
        raise CaptureError(
            f"{path}: its records start at {_iso(first)}, before the journal's last record "
            f"({_iso(last)}): {before} of its {len(items)} records would be clamped to that time "
            f"(time never goes backwards in a journal). Nothing was imported. Import it into its "
            f"own data directory instead, e.g.\n  recorder import --data {suggested}{venue_arg} {path}\n"
            "or pass --clamp-times to import it here with those times clamped (each raw time "
            'kept in meta["wall_ns"])')
    clamped, top = 0, last
    for it in items:
        if it.ts_ns < top:
            clamped += 1
        else:
            top = it.ts_ns
    return clamped


def import_files(data_dir: str | os.PathLike[str], paths: Iterable[str | os.PathLike[str]], *,
                 venue: str | None = None, writer: JournalWriter | None = None,
                 again: bool = False, clamp_times: bool = False,
                 on_progress: Progress | None = None) -> list[ImportResult]:
    """Append each capture, in the order given, to the journal under ``data_dir``.

    Refused with ``CaptureError``, adding nothing of that file: a file missing or not a
    capture, truncated or damaged; one whose content the journal already holds (its
    import register, ``recorder.import_registry``), or that appears twice in ``paths``,
    unless ``again``; one with records earlier than the journal's last record (they would
    be clamped), unless ``clamp_times``. Files missing, repeated or already imported are
    refused before anything is appended; the others are checked one by one, each
    completely before its first record is appended, so files before a refused one stay
    imported (the message lists them).
    """
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.is_file():
            raise CaptureError(f"{path}: no such file")
    digests = [registry.file_digest(p) for p in paths]
    first_of: dict[str, Path] = {}
    for path, digest in zip(paths, digests, strict=True):
        if digest in first_of and not again:
            raise CaptureError(f"{path}: same content as {first_of[digest]}, given before it. "
                               "Nothing was imported; pass --again to import it twice")
        first_of.setdefault(digest, path)
    own = writer is None
    if writer is None:
        writer = JournalWriter(data_dir, background=False, commit_max_records=20_000,
                               commit_interval_ms=1_000)
    results: list[ImportResult] = []
    try:
        registry.settle(writer)
        if not again:
            for path, digest in zip(paths, digests, strict=True):
                _refuse_if_imported(writer, path, digest)
        for path, digest in zip(paths, digests, strict=True):
            try:
                results.append(_import_one(writer, path, digest, venue=venue,
                                           clamp_times=clamp_times, on_progress=on_progress))
            except CaptureError as exc:
                if not results:
                    raise
                done = ", ".join(f"{Path(r.path).name} (seq {r.first_seq}..{r.last_seq})" for r in results)
                raise CaptureError(f"{exc}\n(imported before it: {done})") from None
    finally:
        if own:
            writer.close()
    return results


def import_file(writer: JournalWriter, path: Path, *, venue: str | None = None, again: bool = False,
                clamp_times: bool = False, on_progress: Progress | None = None) -> ImportResult:
    """Append one capture with an open writer: ``import_files`` of that one file."""
    (result,) = import_files(writer.data_dir, [path], venue=venue, writer=writer, again=again,
                             clamp_times=clamp_times, on_progress=on_progress)
    return result


def _import_one(writer: JournalWriter, path: Path, digest: str, *, venue: str | None,
                clamp_times: bool, on_progress: Progress | None) -> ImportResult:
    parsed = _parse(path, venue, on_progress)
    clamped = _check_times(writer, path, parsed, clamp_times=clamp_times, venue=venue)
    result = ImportResult(str(path), parsed.fmt, time_unit=parsed.unit, digest=digest, clamped=clamped)
    entry = registry.begin(writer, digest=digest, path=path, fmt=parsed.fmt)
    try:
        _append(writer, path, parsed, result, on_progress)
        writer.flush()
    except BaseException:
        try:
            writer.flush()
        except Exception:
            pass  # the writer failed: what it committed is what counts
        registry.abandon(writer, entry)
        raise
    times = [it.ts_ns for it in parsed.items]
    entry.records, entry.last_seq, entry.clamped = result.records, result.last_seq, clamped
    entry.first_ts_ns, entry.last_ts_ns = min(times, default=0), max(times, default=0)
    registry.finish(writer, entry)
    return result


def _append(writer: JournalWriter, path: Path, parsed: _Parsed, result: ImportResult,
            on_progress: Progress | None) -> None:
    ids: dict[str, int] = {}
    total = len(parsed.items)
    append = writer.append
    n = 0
    for item in _with_streams(parsed.items, parsed.conns, ids, writer, path):
        rec = append(ids[item.conn], item.kind, item.payload, ts_ns=item.ts_ns, meta=item.meta)
        n += 1
        if n == 1:
            result.first_seq = rec.seq
        if on_progress is not None and not n % _TICK_LINES:
            on_progress(path.name, "importing", n, total)
        result.last_seq = rec.seq
    result.records = n
    result.streams = {f"{path.name}:{k}": v for k, v in ids.items()}
    if on_progress is not None:
        on_progress(path.name, "importing", n, total)


@contextmanager
def progress_bar(show: bool | None = None, file: TextIO | None = None) -> Iterator[Progress | None]:
    """A rich progress bar for ``import_files(on_progress=...)``, drawn on ``file`` (stderr).

    ``show``: None draws it only when ``file`` is a terminal, True always (drawn as on a
    terminal), False never (yields None). The bar is removed when the block ends, so what
    the command prints next (its table, its JSON, an error) is the same with or without it.
    """
    out = file if file is not None else sys.stderr
    if show is None:
        show = out.isatty()
    if not show:
        yield None
        return
    bar = rich.progress.Progress(
        rich.progress.TextColumn("{task.description}"), rich.progress.BarColumn(),
        rich.progress.TextColumn("{task.fields[count]}"), rich.progress.TimeRemainingColumn(),
        console=Console(file=out, force_terminal=True), transient=True)
    tasks: dict[tuple[str, str], Any] = {}  # (file, phase) -> task: one bar per file and phase
    units = {"reading": "bytes", "importing": "records"}

    def update(name: str, phase: str, done: int, total: int) -> None:
        task = tasks.get((name, phase))
        if task is None:
            for old in tasks.values():  # the phase before, or the file before: done
                bar.update(old, visible=False)
            task = tasks[name, phase] = bar.add_task(f"{phase} {name}", total=total, count="")
        bar.update(task, completed=done, total=total, count=f"{done:,}/{total:,} {units.get(phase, '')}")

    with bar:
        yield update


def _with_streams(items: list[_Item], conns: dict[str, _Conn], ids: dict[str, int],
                  writer: JournalWriter, path: Path) -> Iterator[_Item]:
    """Register each connection as a stream just before its first record."""
    for item in items:
        if item.conn not in ids:
            c = conns[item.conn]
            ids[item.conn] = writer.register_stream(
                c.venue, market=c.market, url=c.url, conn=f"{path.name}:{item.conn}",
                channels=c.channels, opened_ns=item.ts_ns,
            )
        yield item
