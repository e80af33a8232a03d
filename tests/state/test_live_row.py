"""state.live_row: a folded symbol's row round-trips, stays within its depth, and refuses
what is not a row of its format."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from recorder.journal.reader import JournalReader
from state.live_row import (
    ROW_FORMAT,
    LiveRow,
    RowFormatError,
    decode_row,
    encode,
    encode_row,
    row_key,
    row_of,
)
from state.projector import Projector


@pytest.fixture(scope="module", params=["UPBIT", "BINANCE_FUTURES", "OKX"])
def projector(request, capture_journal):
    data = capture_journal(request.param)
    with JournalReader(data) as r:
        p = Projector(r.streams(), depth_levels=20)
        p.apply_many(r.read())
    assert p.symbols()
    return p


def test_every_symbol_round_trips(projector):
    for venue, key in projector.symbols():
        sym = projector.symbol_state(venue, key)
        row = decode_row(encode_row(sym, 10))
        assert row == row_of(sym, 10)
        assert (row.format, row.venue, row.symbol, row.norm) == (ROW_FORMAT, venue, key, sym.norm)
        assert (row.seq, row.ts_ns) == (sym.seq, sym.ts_ns)
        book = sym.book
        assert row.has_book is (book is not None)
        if book is not None:
            assert row.valid is bool(book.valid)
            # the venue's strings, the same levels as the book's Decimal view
            assert [tuple(map(Decimal, lv)) for lv in row.bids] == [tuple(lv) for lv in book.top_bids(10)]
            assert [tuple(map(Decimal, lv)) for lv in row.asks] == [tuple(lv) for lv in book.top_asks(10)]
            assert all(isinstance(x, str) for lv in row.bids + row.asks for x in lv)
            assert len(row.bids) <= 10 and len(row.asks) <= 10
        else:
            assert (row.valid, row.bids, row.asks) == (False, (), ())
        t = sym.last_trade
        if t is None:
            assert row.last_trade is None
        else:
            assert row.last_trade is not None
            assert (row.last_trade.price, row.last_trade.size, row.last_trade.side,
                    row.last_trade.trade_id, row.last_trade.seq) == (t.price, t.size, t.side,
                                                                     t.trade_id, t.seq)
        assert row.ticker == {k: v for k, v in sym.ticker.items() if v is not None}
        q = sym.quote
        assert (row.quote is None) is (q is None)
        if q is not None and row.quote is not None:
            assert (row.quote.bid_px, row.quote.ask_px) == (q.bid_px, q.ask_px)


def test_core_encoder_matches_the_reference(projector):
    """The compiled encoder (FoldedSymbol.live_row) and the Python one decode alike."""
    for venue, key in projector.symbols():
        sym = projector.symbol_state(venue, key)
        for depth in (0, 1, 10, 1000):
            assert decode_row(sym.live_row(depth)) == row_of(sym, depth), (venue, key, depth)
            assert decode_row(sym.live_row(depth)) == decode_row(encode(row_of(sym, depth)))


def test_some_rows_carry_each_part(projector):
    rows = [row_of(projector.symbol_state(v, k), 5) for v, k in projector.symbols()]
    assert any(r.bids and r.asks for r in rows)
    assert any(r.last_trade is not None for r in rows)


def test_bad_payloads_are_refused():
    row = LiveRow(ROW_FORMAT, "upbit", "KRW-BTC", "BTC-KRW", 5, 6, True, True,
                  (("1", "2"),), (("3", "4"),), None, {"last": "2"}, None)
    assert decode_row(encode(row)) == row
    for bad in (b"", b"\xc1", b"garbage", msgspec.msgpack.encode([1, 2, 3]),
                encode(row)[:-1]):
        with pytest.raises(RowFormatError):
            decode_row(bad)
    other = msgspec.msgpack.encode([ROW_FORMAT + 1, *msgspec.msgpack.decode(encode(row))[1:]])
    with pytest.raises(RowFormatError, match="format 2"):
        decode_row(other)


def test_row_key():
    assert row_key("binance-usdm", "BTCUSDT") == "binance-usdm/BTCUSDT"
