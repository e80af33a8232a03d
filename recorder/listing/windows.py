"""Capture windows: a listing's minutes on the overseas venues, cut out of the tier for good.

When the watcher marks a KRW listing of coin X announced at T, ``Windows.add`` books the
window ``[T - before_s, T + after_s)`` (receive time). Until it is cut, the tier keeps every
hour it touches (``keep``), and the booking survives a restart (``DATA/listing/windows.json``,
written before ``add`` returns).

Once the tier's writer has committed past the window's end (``due``), ``cut`` copies out
every frame of the window in which a tier venue speaks of X (decoded by ``state``: a
trade, a book or a top-of-book update whose base currency is X) into a journal of its own,
``DATA/listings/<NAME>/`` (made under a hidden name and renamed when whole), with:

- each frame with its receive time, its connection's stream (same venue, URL,
  channels) and ``meta["tier_seq"]``, the seq it has in the tier;
- before them, for a book kept by diffs, the frames since its last snapshot before the
  window (``meta["context"]``: they rebuild the book the window opens on; not counted as the
  window's frames);
- the listing's ``mark`` (as the main journal has it, on a ``recorder`` stream) at its
  detection time among them: a backtest over the window learns of the listing when the
  watcher did, never earlier.

So ``replay``, ``recorder verify`` and ``query`` work on a window as on any journal, and
the window outlives the tier's retention. The daemon then journals a ``window`` mark
(name, frames per venue) and forgets the booking.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from recorder.journal import FRAME, Record, StreamInfo
from recorder.journal.reader import JournalReader
from recorder.journal.retention import fsync_dir
from recorder.journal.writer import JournalWriter
from state.events import BookDelta, BookSnapshot, BookTicker, Ticker, Trade
from state.projector import Projector

BOOKINGS = "listing/windows.json"
LISTINGS_DIR = "listings"
MARKET_EVENTS = (Trade, BookTicker, BookSnapshot, BookDelta, Ticker)
CONTEXT_NS = 300 * 1_000_000_000  # how far before a window its books' last snapshot is looked for


@dataclass(frozen=True, slots=True)
class Window:
    """One booked window: coin ``symbol`` from ``start_ns`` to ``end_ns`` (receive time)."""

    name: str  # the directory under DATA/listings: "<notice or 'market'>-<SYMBOL>-<start s>"
    symbol: str
    start_ns: int
    end_ns: int
    listing: dict[str, Any]  # the listing mark's fields


def window_for(listing: dict[str, Any], *, before_s: float, after_s: float) -> Window:
    t = int(listing["announced_at_ns"])
    source = listing.get("notice_id") or "market"
    symbol = str(listing["symbol"])
    return Window(f"{source}-{symbol}-{t // 1_000_000_000}", symbol,
                  t - int(before_s * 1e9), t + int(after_s * 1e9), dict(listing))


def base_of(norm: str) -> str:
    """``X`` of a normalized symbol (``X-USDT``, ``X-USDT-PERP``, ``X-KRW``)."""
    return norm.partition("-")[0]


class Windows:
    """The booked windows of one data directory; the daemon calls ``add``, ``due``, ``cut``."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / BOOKINGS
        self.booked: list[Window] = self._load()

    def _load(self) -> list[Window]:
        try:
            rows = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return []
        return [Window(**r) for r in rows]

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(json.dumps([asdict(w) for w in self.booked], sort_keys=True).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def add(self, window: Window) -> None:
        """Book ``window`` durably (a second booking of one name is ignored)."""
        if all(w.name != window.name for w in self.booked):
            self.booked.append(window)
            self._save()

    def done(self, window: Window) -> None:
        self.booked = [w for w in self.booked if w.name != window.name]
        self._save()

    def keep(self) -> list[tuple[int, int]]:
        """What the tier must not expire yet."""
        return [(w.start_ns, w.end_ns) for w in self.booked]

    def due(self, committed_ts_ns: int) -> list[Window]:
        """Windows whose end the tier has committed past."""
        return [w for w in self.booked if committed_ts_ns >= w.end_ns]

    def out_dir(self, window: Window) -> Path:
        return self.data_dir / LISTINGS_DIR / window.name

    def cut(self, window: Window, tier_dir: str | os.PathLike[str]) -> dict[str, int]:
        """Copy the window's frames of its coin out of the tier; frames per venue.

        Idempotent: a window already cut is read back, not cut again; a half-made one (a
        crash) is made again from the start.
        """
        out = self.out_dir(window)
        if out.exists():
            return counts_of(out)
        tmp = out.with_name(f".new-{out.name}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        counts: dict[str, int] = {}
        mark = json.dumps({**window.listing, "mark": "listing"}, sort_keys=True).encode()
        detected = int(window.listing.get("detected_at_ns", window.start_ns))
        with JournalWriter(tmp, committer="inline", durability="os") as w:
            rid = w.register_stream("recorder", conn="recorder", channels=())
            marked = False
            ids: dict[int, int] = {}
            for info, rec, context in _frames_of(tier_dir, window):
                if not marked and rec.ts_ns >= detected:
                    w.append(rid, "mark", mark, ts_ns=detected)
                    marked = True
                if rec.stream not in ids:
                    ids[rec.stream] = w.register_stream(
                        info.venue, market=info.market, url=info.url, conn=info.conn,
                        channels=info.channels, config_hash=info.config_hash)
                meta = {**(rec.meta or {}), "tier_seq": rec.seq}
                if context:
                    meta["context"] = True
                w.append(ids[rec.stream], rec.kind, rec.payload, ts_ns=rec.ts_ns, meta=meta)
                if not context:
                    counts[info.venue] = counts.get(info.venue, 0) + 1
            if not marked:
                w.append(rid, "mark", mark, ts_ns=detected)
        _fsync_tree(tmp)
        os.replace(tmp, out)
        fsync_dir(out.parent)
        return counts


def _frames_of(tier_dir: str | os.PathLike[str], window: Window,
               context_ns: int = CONTEXT_NS) -> Iterator[tuple[StreamInfo, Record, bool]]:
    """The tier's frames that carry an event of the window's coin: (stream, record,
    context). Context frames come first: for a book kept by diffs (Bybit's ``orderbook.1``,
    Phemex's ``orderbook``), the frames since its last snapshot before the window (looked for
    up to ``context_ns`` before it), so the book is whole when the window opens."""
    needle = window.symbol.encode()
    with JournalReader(tier_dir) as reader:
        streams = reader.streams()
        projector = Projector(streams)
        since_snapshot: dict[tuple[int, str], list[Record]] = {}  # (stream, symbol) -> frames
        start = window.start_ns - context_ns
        for rec in reader.read(from_ts_ns=start, to_ts_ns=window.end_ns):
            if rec.kind != FRAME or needle not in rec.payload:
                continue
            events = [e for e in projector.apply(rec)
                      if isinstance(e, MARKET_EVENTS) and base_of(e.norm) == window.symbol]
            if not events:
                continue
            if rec.ts_ns >= window.start_ns:
                if since_snapshot:
                    for recs in since_snapshot.values():
                        for ctx in recs:
                            yield streams[ctx.stream], ctx, True
                    since_snapshot.clear()
                yield streams[rec.stream], rec, False
                continue
            for e in events:
                if isinstance(e, BookSnapshot):
                    since_snapshot[(rec.stream, e.symbol)] = [rec]
                elif isinstance(e, BookDelta) and (rec.stream, e.symbol) in since_snapshot:
                    since_snapshot[(rec.stream, e.symbol)].append(rec)
        for recs in since_snapshot.values():  # a window with no frame of its own
            for ctx in recs:
                yield streams[ctx.stream], ctx, True


def counts_of(out: Path) -> dict[str, int]:
    """Frames per venue of a window already cut."""
    counts: dict[str, int] = {}
    with JournalReader(out) as reader:
        streams = reader.streams()
        for rec in reader.read():
            if rec.kind == FRAME and not (rec.meta or {}).get("context"):
                venue = streams[rec.stream].venue
                counts[venue] = counts.get(venue, 0) + 1
    return counts


def _fsync_tree(root: Path) -> None:
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(Path(dirpath) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))
