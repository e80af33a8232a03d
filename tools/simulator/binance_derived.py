"""Binance USD-M streams a capture lacks, derived from the streams it has.

A capture records what its collector subscribed to: the hftbacktest BTCUSDT file has
``trade``, ``depth`` and ``bookTicker`` only, the cryptofeed one ``aggTrade`` and
``kline_1m`` but no ``trade`` nor ``markPrice``. So that a recorder's channels deliver for
the capture symbols wherever the tape allows, these are derived from the same tape, in
the venue's own shapes, and inserted right after the frames they come from:

- ``aggTrade`` from ``trade``: consecutive trades with the same trade time, price and
  taker side and consecutive ids are one aggregate (``f``..``l``), ``q`` their summed
  quantity; aggregate ids ``a`` count up by one from the first trade id.
- ``kline_1m`` from ``trade``: the open minute's kline after the last trade of each 250 ms
  (Binance's kline push rate), and the minute's closed kline (``x`` true) before the first
  trade of the next minute, and at the end of the capture (the next loop starts in a later
  minute: ``BinanceCapture.time_delta_ms``). Its sums are the ones
  ``/fapi/v1/klines`` builds from the same trades, so stream and REST agree.
- ``markPrice`` (``markPrice@1s``) from ``bookTicker``: at the first ticker of each
  second, mark and index price the mid (8 decimals), funding rate 0.0001, next funding
  at the next 8 h boundary.

What cannot be derived exactly is not made up: ``trade`` from ``aggTrade`` (an aggregate
of several trades does not say how its quantity split).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import orjson

from .binance_synthetic import kline_add, kline_open, kline_payload

# derived kind -> the captured kind it is made from
SOURCES = {"aggTrade": "trade", "kline_1m": "trade", "markPrice": "bookTicker"}
KLINE_PUSH_MS = 250
MARK_EVERY_MS = 1000
FUNDING_MS = 8 * 3_600_000
_EIGHT = Decimal("0.00000001")

# (t, symbol, kind, payload): the captures' frames as BinanceCapture reads them
Frame = tuple[float, str, str, bytes]


def derive(frames: list[Frame]) -> tuple[list[Frame], set[tuple[str, str]]]:
    """``frames`` with the derived events inserted, and the ``(symbol, kind)`` derived."""
    have: dict[str, set[str]] = defaultdict(set)
    for _, sym, kind, _ in frames:
        have[sym].add(kind)
    wanted = {(sym, kind) for sym, kinds in have.items() for kind, src in SOURCES.items()
              if kind not in kinds and src in kinds}
    if not wanted:
        return frames, set()
    before: dict[int, list[tuple[str, bytes]]] = defaultdict(list)  # frame index -> sent first
    after: dict[int, list[tuple[str, bytes]]] = defaultdict(list)  # frame index -> sent after
    tail: list[tuple[str, str, bytes]] = []  # after the last frame
    trades: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    tickers: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for i, (_, sym, kind, data) in enumerate(frames):
        if kind == "trade" and ((sym, "aggTrade") in wanted or (sym, "kline_1m") in wanted):
            trades[sym].append((i, orjson.loads(data)))
        elif kind == "bookTicker" and (sym, "markPrice") in wanted:
            tickers[sym].append((i, orjson.loads(data)))
    for sym, trs in trades.items():
        if (sym, "aggTrade") in wanted:
            for i, data in _agg_trades(sym, trs):
                after[i].append(("aggTrade", data))
        if (sym, "kline_1m") in wanted:
            for where, i, data in _klines(sym, trs):
                if where == "tail":
                    tail.append((sym, "kline_1m", data))
                else:
                    (before if where == "before" else after)[i].append(("kline_1m", data))
    for sym, tks in tickers.items():
        for i, data in _mark_prices(sym, tks):
            after[i].append(("markPrice", data))
    out: list[Frame] = []
    for i, frame in enumerate(frames):
        t, sym = frame[0], frame[1]
        out.extend((t, sym, kind, data) for kind, data in before.get(i, ()))
        out.append(frame)
        out.extend((t, sym, kind, data) for kind, data in after.get(i, ()))
    t_end = frames[-1][0]
    out.extend((t_end, sym, kind, data) for sym, kind, data in tail)
    return out, wanted


def _agg_trades(sym: str, trs: list[tuple[int, dict]]) -> list[tuple[int, bytes]]:
    """``(index of the group's last trade, aggTrade payload)`` for each group of trades."""
    out: list[tuple[int, bytes]] = []
    agg = trs[0][1]["t"]
    group: list[dict] = []
    for k, (i, tr) in enumerate(trs):
        group.append(tr)
        nxt = trs[k + 1][1] if k + 1 < len(trs) else None
        if (nxt is not None and nxt["t"] == tr["t"] + 1 and nxt["T"] == tr["T"]
                and nxt["p"] == tr["p"] and nxt["m"] == tr["m"]):
            continue
        qty = sum((Decimal(g["q"]) for g in group), Decimal(0))
        out.append((i, orjson.dumps({
            "e": "aggTrade", "E": tr["E"], "a": agg, "s": sym, "p": tr["p"], "q": str(qty),
            "f": group[0]["t"], "l": tr["t"], "T": tr["T"], "m": tr["m"]})))
        agg += 1
        group = []
    return out


def _klines(sym: str, trs: list[tuple[int, dict]]) -> list[tuple[str, int, bytes]]:
    """``(where, frame index, kline payload)``; ``where`` is ``before``, ``after`` or ``tail``."""
    out: list[tuple[str, int, bytes]] = []
    k: dict | None = None
    for n, (i, tr) in enumerate(trs):
        start = tr["T"] // 60_000 * 60_000
        if k is not None and k["t"] != start:
            out.append(("before", i, kline_payload(sym, tr["E"], k, closed=True)))
            k = None
        px = Decimal(tr["p"])
        if k is None:
            k = kline_open(start, px)
        kline_add(k, px, Decimal(tr["q"]), tr["t"], taker_buy=not tr["m"])  # m: the buyer is the maker
        nxt = trs[n + 1][1] if n + 1 < len(trs) else None
        if nxt is None or nxt["E"] // KLINE_PUSH_MS != tr["E"] // KLINE_PUSH_MS:
            out.append(("after", i, kline_payload(sym, tr["E"], k, closed=False)))
    if k is not None:
        out.append(("tail", -1, kline_payload(sym, trs[-1][1]["E"], k, closed=True)))
    return out


def _mark_prices(sym: str, tks: list[tuple[int, dict]]) -> list[tuple[int, bytes]]:
    """``(index of the ticker, markPriceUpdate payload)``, one per second of ticker time."""
    out: list[tuple[int, bytes]] = []
    last = None
    for i, tk in tks:
        e_ms = tk["E"] or tk["T"]
        if last is not None and e_ms // MARK_EVERY_MS <= last:
            continue
        last = e_ms // MARK_EVERY_MS
        mid = str(((Decimal(tk["b"]) + Decimal(tk["a"])) / 2).quantize(_EIGHT))
        out.append((i, orjson.dumps({
            "e": "markPriceUpdate", "E": e_ms, "s": sym, "p": mid, "i": mid, "P": mid,
            "r": "0.00010000", "T": (e_ms // FUNDING_MS + 1) * FUNDING_MS})))
    return out
