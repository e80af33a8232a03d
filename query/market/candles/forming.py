"""The still-forming candle, built from live trades, and its merge with completed history.

Pure functions: no clock (the caller passes ``now_ns``), no I/O. Trades are
``state.events.Trade`` (prices as the venue's strings) or ``query.market.types.Trade``
(``Decimal``); both become exact ``Decimal`` sums (no float anywhere). A trade's time is
its ``exch_ts_ns`` (the venue's trade time; ``recv_ts_ns`` when the venue sent none), and
the period of an interval of length L holding time t starts at ``t - t % L`` (epoch
aligned, UTC: how Upbit and Binance cut minutes, hours and days). A trade exactly at a
period's end belongs to the next period.

The rule for a candle still forming (``forming``):

- the live trades cover the period from its start (``since_ns <= period start``): the candle
  is built from the trades alone, whatever REST said (``base`` is ignored). No trade yet: a
  ``fill`` candle at ``prev_close`` (None when that is unknown too);
- otherwise the trades miss the period's beginning and a REST candle of the same period
  (``base``) is needed: the result is ``base``'s OHLCV so far plus the trades after the time
  ``base`` is complete to (``as_of``). Without ``base`` the answer is None (fetch the REST
  candle, then call again), never a candle silently missing its first trades.

``merge(history, candle)`` then puts that candle at the end of the completed history.

Not from ``state.features.TradeTape``: its sums are float64 and its times are receive times,
so a candle made from it would be neither exact nor cut where the venue cuts its periods.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from query.market.normalize import interval_ms
from query.market.types import Candle, age_ms

MS = 1_000_000
# Exact sums: enough digits that price * size and their totals are never rounded
# (28, the default, would round a quote volume of 19 integer digits with 10 decimals).
_EXACT = decimal.Context(prec=80, traps=[decimal.Inexact, decimal.InvalidOperation])


def span_ns(interval: str) -> int:
    """Length of ``interval`` in ns; ``ValueError`` for a month or a name we cannot measure."""
    ms = interval_ms(interval)
    if ms is None:
        raise ValueError(f"interval {interval!r} has no fixed length")
    return ms * MS


def period_start(ts_ns: int, interval: str) -> int:
    """Start of the period of ``interval`` holding ``ts_ns`` (a time at a boundary starts one)."""
    return ts_ns - ts_ns % span_ns(interval)


def trade_time(t: Any) -> int:
    """When a trade happened: the venue's time, else ours."""
    return t.exch_ts_ns or t.recv_ts_ns


def _dec(v: Decimal | str) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(v)


def as_of(base: Candle) -> int:
    """The time up to which a REST candle's OHLCV counts trades (inclusive).

    Upbit's ``exch_ts_ns`` is the candle's last tick, before we received it: trades up to it
    are in. Binance's is the kline's close time, still ahead while the candle forms, so the
    receive time stands in (the answer held every trade the venue had when it was sent;
    trades made while it travelled are missed, at most the network's latency of them).
    The earlier of the two is the one that means "complete up to". A trade in the same ms
    as Upbit's last tick but after it is missed (the venue's times are whole ms).
    """
    return min(base.exch_ts_ns, base.recv_ts_ns) if base.exch_ts_ns else base.recv_ts_ns


def forming(trades: Iterable[Any], *, venue: str, symbol: str, norm: str, interval: str,
            now_ns: int, since_ns: int, prev_close: Decimal | None = None,
            base: Candle | None = None) -> Candle | None:
    """The candle of the period holding ``now_ns``, from ``symbol``'s live ``trades``.

    ``trades`` may hold other symbols' and other periods' trades (they are skipped), in the
    order received (seq order: the first is the open, the last the close, never re-sorted by
    time). ``since_ns`` is when the caller's trades became complete (its subscription or its
    last resync); ``base`` is the REST candle of the same period, used only when
    ``since_ns`` is after the period's start (see the module docstring). Returns an open
    candle (``closed=False``, ``source="memory"``), or None when it cannot be known.
    """
    start = period_start(now_ns, interval)
    end = start + span_ns(interval)
    mine = [t for t in trades if t.symbol == symbol and start <= trade_time(t) < end]
    whole = since_ns <= start
    if not whole:
        if base is None or base.open_time_ns != start:
            return None
        cut = as_of(base)
        mine = [t for t in mine if trade_time(t) > cut]
    if not mine:
        if not whole:
            assert base is not None
            return _restamp(base, now_ns)
        if prev_close is None:
            return None
        return Candle(venue=venue, symbol=symbol, norm=norm, interval=interval, open_time_ns=start,
                      open=prev_close, high=prev_close, low=prev_close, close=prev_close,
                      volume=Decimal(0), quote_volume=Decimal(0), closed=False, exch_ts_ns=0,
                      recv_ts_ns=now_ns, source="memory", age_ms=0, fill=True)
    prices = [_dec(t.price) for t in mine]
    sizes = [_dec(t.size) for t in mine]
    volume = _EXACT.create_decimal(0)
    quote = _EXACT.create_decimal(0)
    for p, s in zip(prices, sizes, strict=True):
        volume = _EXACT.add(volume, s)
        quote = _EXACT.add(quote, _EXACT.multiply(p, s))
    hi, lo = max(prices), min(prices)
    open_ = prices[0]
    if not whole:
        assert base is not None
        open_, hi, lo = base.open, max(hi, base.high), min(lo, base.low)
        volume, quote = _EXACT.add(volume, base.volume), _EXACT.add(quote, base.quote_volume)
    exch = max(trade_time(t) for t in mine)
    recv = max(t.recv_ts_ns for t in mine)
    return Candle(venue=venue, symbol=symbol, norm=norm, interval=interval, open_time_ns=start,
                  open=open_, high=hi, low=lo, close=prices[-1], volume=volume, quote_volume=quote,
                  closed=False, exch_ts_ns=exch, recv_ts_ns=recv, source="memory",
                  age_ms=age_ms(now_ns, exch, recv))


def _restamp(c: Candle, now_ns: int) -> Candle:
    """``c`` as answered at ``now_ns`` (its own source and times kept)."""
    return Candle(**{**_fields(c), "age_ms": age_ms(now_ns, c.exch_ts_ns, c.recv_ts_ns)})


def _fields(c: Candle) -> dict[str, Any]:
    return {f: getattr(c, f) for f in c.__struct_fields__}


def merge(history: Sequence[Candle], candle: Candle | None) -> list[Candle]:
    """``history`` (ascending) with ``candle`` in place of its last period, or after it.

    A ``candle`` of the last period replaces it (a REST forming candle there is superseded:
    build ``candle`` with that one as ``forming``'s ``base``); one of a later period is
    appended; one older than the last period, or None, leaves ``history`` as it is (the
    history already knows that period whole). Periods in between are not filled here.
    """
    out = list(history)
    if candle is None:
        return out
    if not out or candle.open_time_ns > out[-1].open_time_ns:
        out.append(candle)
    elif candle.open_time_ns == out[-1].open_time_ns and not out[-1].closed:
        out[-1] = candle
    return out
