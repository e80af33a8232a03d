"""What every venue decoder shares: the stream context, error quarantine, helpers."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from recorder.journal.record import FRAME, REST, Record, StreamInfo
from state.bounds import out_of_range
from state.events import DecodeError, Event
from state.symbols import normalize, symbol_key

MS = 1_000_000  # ns per ms
EXCERPT = 120  # bytes of a bad record kept in its DecodeError

# Integer fields bounded in the wire schema itself (checked by msgspec, in C): an id
# fits int64, a time in ms fits int64 once in ns. For a decoder whose hot path bypasses
# ``Decoder.decode`` (and so ``state.bounds``), as Binance's does.
I64 = Annotated[int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]
Ms = Annotated[int, msgspec.Meta(ge=0, le=((1 << 63) - 1) // MS)]


class Decoder:
    """Decode one stream's records. Subclasses implement ``frame`` and ``rest``.

    ``decode`` never raises: anything a venue module cannot read becomes one
    ``DecodeError`` event carrying the seq, and the caller goes on.
    """

    venue = ""

    def __init__(self, info: StreamInfo, *, ids_only: bool = False) -> None:
        """``ids_only``: book events carry their ids and no levels, where the venue's module
        has schemas for that (see ``state.decode``)."""
        self.info = info
        self.ids_only = ids_only
        self.venue = info.venue
        self.market = info.market
        self._names: dict[tuple[str, str], tuple[str, str]] = {}

    def decode(self, rec: Record) -> list[Event]:
        try:
            if rec.kind == FRAME:
                events = self.frame(rec)
            elif rec.kind == REST:
                events = self.rest(rec, (rec.meta or {}).get("url", ""))
            else:
                return []
        except Exception as exc:  # quarantine: a bad frame must never stop the projection
            return [self.error(rec, f"{type(exc).__name__}: {exc}")]
        for i, ev in enumerate(events):  # a time or id past int64 is no event (see state.bounds)
            why = out_of_range(ev)
            if why:
                events[i] = self.error(rec, why)
        return events

    def frame(self, rec: Record) -> list[Event]:
        raise NotImplementedError

    def rest(self, rec: Record, url: str) -> list[Event]:
        return []

    # -- helpers ------------------------------------------------------------------

    def error(self, rec: Record, reason: str) -> DecodeError:
        return DecodeError(venue=self.venue, symbol="", norm="", exch_ts_ns=0, recv_ts_ns=rec.ts_ns,
                           seq=rec.seq, stream=rec.stream, reason=reason[:300],
                           excerpt=bytes(rec.payload[:EXCERPT]))

    def names(self, native: str, market: str | None = None) -> tuple[str, str]:
        """(symbol key, normalized) for a native symbol, memoized per stream."""
        m = self.market if market is None else market
        got = self._names.get((m, native))
        if got is None:
            key = symbol_key(self.venue, m, native)
            got = self._names[(m, native)] = (key, normalize(self.venue, key))
        return got


class NullDecoder(Decoder):
    """For a venue we have no decoder for: every frame is reported, none is guessed at."""

    def frame(self, rec: Record) -> list[Event]:
        return [self.error(rec, f"no decoder for venue {self.venue!r}")]


def query(url: str) -> tuple[str, dict[str, str]]:
    """(path, first value of each query parameter) of a URL."""
    parts = urlsplit(url)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def dec_str(value: Any) -> str:
    """A JSON number or string as an exact fixed-point decimal string."""
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a decimal, got {type(value).__name__}")


def scaled(value: int, scale: int) -> str:
    """A scaled integer (Phemex ``priceEp``) as an exact decimal string."""
    return format(Decimal(value).scaleb(-scale), "f")


json_any = msgspec.json.Decoder()  # untyped fallback for control frames

NO_RAW = msgspec.Raw(b"")  # default of an optional Raw field (msgspec has no ``Raw | None``)
