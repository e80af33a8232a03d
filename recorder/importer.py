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
checked completely before its first record is appended, so a bad file adds nothing.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import zstandard

from .errors import CaptureError
from .journal import FRAME, OPEN, REST, SENT
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



@dataclass
class ImportResult:
    path: str
    format: str
    records: int = 0
    first_seq: int = 0
    last_seq: int = 0
    streams: dict[str, int] = field(default_factory=dict)  # conn name -> stream id
    time_unit: str = "ns"


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


def open_text(path: str | os.PathLike[str]) -> io.TextIOBase:
    """Open a capture as text, decompressing zstd or gzip by magic bytes."""
    raw = open(path, "rb")  # noqa: SIM115 (returned wrapped)
    head = raw.read(4)
    raw.seek(0)
    if head.startswith(_ZSTD_MAGIC):
        stream: Any = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
    elif head.startswith(_GZIP_MAGIC):
        stream = gzip.GzipFile(fileobj=raw, mode="rb")
    else:
        stream = raw
    return io.TextIOWrapper(io.BufferedReader(stream), encoding="utf-8", newline="\n")


_READ_ERRORS = (OSError, UnicodeDecodeError, zstandard.ZstdError, EOFError)


def _lines(path: Path, f: io.TextIOBase, start: int) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` from ``start``; a file that cannot be read on (truncated
    compression, bytes that are not UTF-8, an I/O error) is a ``CaptureError`` naming the
    last line read."""
    lineno = start - 1
    try:
        for lineno, line in enumerate(f, start=start):  # noqa: B007 (read after the loop)
            yield lineno, line
    except _READ_ERRORS as exc:
        raise CaptureError(f"{path}: cannot read past line {lineno}: {type(exc).__name__}: {exc}"
                           " (a truncated or damaged file?)") from None


def detect_format(path: str | os.PathLike[str]) -> str:
    """``cryptofeed`` or ``hftbacktest``; raises ``CaptureError`` otherwise."""
    try:
        with open_text(path) as f:
            first = f.readline()
    except _READ_ERRORS as exc:
        raise CaptureError(f"{path}: cannot read: {exc}") from None
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


def _cryptofeed(path: Path) -> tuple[dict[str, _Conn], list[_Item]]:
    conns: dict[str, _Conn] = {}
    items: list[_Item] = []
    with open_text(path) as f:
        header = json.loads(f.readline())
        if header.get("format") != 2:
            raise CaptureError(f"{path}: cryptofeed format {header.get('format')!r}, expected 2")
        exchange = header.get("exchange", "")
        if exchange not in CRYPTOFEED_VENUES:
            raise CaptureError(f"{path}: unknown cryptofeed exchange {exchange!r}")
        venue, market = CRYPTOFEED_VENUES[exchange]
        for lineno, line in _lines(path, f, 2):
            if not line.strip():
                continue
            try:
                rec = json.loads(line, parse_float=Decimal)  # exact ts -> exact ns
                items.append(_cryptofeed_item(rec, conns, venue, market))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise CaptureError(f"{path}:{lineno}: {type(exc).__name__}: {exc}") from None
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


def _hftbacktest(path: Path, venue: str | None) -> tuple[dict[str, _Conn], list[_Item], str]:
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
    with open_text(path) as f:
        for lineno, line in _lines(path, f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            head, sep, body = line.partition(" ")
            if not sep or not head.isdigit():
                raise CaptureError(f"{path}:{lineno}: expected '<time> <json>'")
            t = int(head)
            if unit is None:
                unit = "us" if t < _US_BELOW else "ns"
            try:
                msg = json.loads(body)
            except json.JSONDecodeError as exc:
                raise CaptureError(f"{path}:{lineno}: invalid JSON: {exc}") from None
            if not isinstance(msg, dict):
                raise CaptureError(f"{path}:{lineno}: expected a JSON object")
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


def import_files(data_dir: str | os.PathLike[str], paths: Iterable[str | os.PathLike[str]], *,
                 venue: str | None = None, writer: JournalWriter | None = None) -> list[ImportResult]:
    """Append each capture, in the order given, to the journal under ``data_dir``."""
    own = writer is None
    if writer is None:
        writer = JournalWriter(data_dir, background=False, commit_max_records=20_000,
                               commit_interval_ms=1_000)
    results = []
    try:
        for path in paths:
            results.append(import_file(writer, Path(path), venue=venue))
    finally:
        if own:
            writer.close()
    return results


def import_file(writer: JournalWriter, path: Path, *, venue: str | None = None) -> ImportResult:
    if not path.is_file():
        raise CaptureError(f"{path}: no such file")
    fmt = detect_format(path)
    unit = "ns"
    if fmt == "cryptofeed":
        conns, items = _cryptofeed(path)
    else:
        conns, items, unit = _hftbacktest(path, venue)
    result = ImportResult(str(path), fmt, time_unit=unit)
    ids: dict[str, int] = {}
    for item in _with_streams(items, conns, ids, writer, path):
        rec = writer.append(ids[item.conn], item.kind, item.payload, ts_ns=item.ts_ns, meta=item.meta)
        if not result.first_seq:
            result.first_seq = rec.seq
        result.last_seq = rec.seq
        result.records += 1
    writer.flush()
    result.streams = {f"{path.name}:{k}": v for k, v in ids.items()}
    return result


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
