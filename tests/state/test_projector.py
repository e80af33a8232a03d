"""The projector: one fold for ``apply`` and ``apply_many``, bad input never stops it, misuse
raises typed errors, the public API (snapshots and digests: test_digest.py)."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import msgpack
import msgspec
import pytest

from recorder.journal.record import FRAME, REST, Record, StreamInfo
from state.errors import RecordOrderError, SettingsError, UnknownSymbolError
from state.events import Anomaly, BookDelta, BookSnapshot, BookTicker, DecodeError, Gap, Trade
from state.projector import Projector
from tests.conftest import CRYPTOFEED_NAMES


def test_apply_and_apply_many_are_one_fold(mixed):
    """``apply`` returns each record's events; ``apply_many`` keeps none; both reach the
    same state, in any batching (determinism across batches: test_digest.py)."""
    streams, records = mixed
    one, many, single = Projector(streams), Projector(streams), Projector(streams)
    events = [ev for r in records for ev in one.apply(r)]
    many.apply_many(records)
    for r in records:
        single.apply_many((r,))
    assert one.digest() == many.digest() == single.digest()
    assert one.counters == many.counters and one.ts_ns == many.ts_ns == max(r.ts_ns for r in records)
    kinds = {type(e).__name__ for e in events}
    assert {"Trade", "BookDelta", "BookSnapshot", "BookTicker", "Anomaly"} <= kinds
    assert sum(type(e) is Anomaly for e in events) == sum(
        n for c in one.counters.values() for k, n in c.items() if k not in ("decode_error", "gap"))


def test_bad_input_is_counted_per_stream_and_never_stops_the_fold():
    info = {1: StreamInfo(1, "okx", "", "wss://ws.okx.com:8443/ws/v5/public"),
            2: StreamInfo(2, "upbit", "spot", "wss://api.upbit.com/websocket/v1")}
    p = Projector(info)
    bad = [
        (1, b"\xde\xad\xbe\xef"),  # garbage bytes
        (1, b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT"'),  # truncated
        (1, b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
            b'"tradeId":5,"px":"1","sz":"1","side":"buy","ts":"1"}]}'),  # wrong type: tradeId int
        (2, b'{"ty":"trade","cd":"KRW-BTC","tp":"x","tv":1,"ab":"BID","sid":1,"ttms":1}'),  # tp not a number
        (9, b'{"anything": 1}'),  # a stream nobody registered
    ]
    seq = 0
    for stream, payload in bad:
        seq += 1
        evs = p.apply(Record(seq, seq, stream, FRAME, payload, {"bin": True} if stream == 2 else None))
        assert [type(e) for e in evs] == [DecodeError] and evs[0].seq == seq
    seq += 1
    good = p.apply(Record(seq, seq, 1, FRAME, b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":'
                          b'[{"instId":"BTC-USDT","tradeId":"5","px":"30000.5","sz":"0.1","side":"buy",'
                          b'"ts":"1652459224818"}]}', None))
    assert [type(e) for e in good] == [Trade]
    assert p.counters[1]["decode_error"] == 3 and p.counters[2]["decode_error"] == 1
    assert p.counters[9]["decode_error"] == 1
    assert p.market("okx", "BTC-USDT").last_price == Decimal("30000.5")
    assert p.last_seq == seq


def test_nonpositive_and_nan_prices_and_duplicate_trades_are_anomalies():
    info = {1: StreamInfo(1, "binance-usdm", "usdm", "wss://fstream.binance.com/stream")}
    p = Projector(info)

    def trade(seq, tid, price, qty="1"):
        body = (f'{{"stream":"btcusdt@trade","data":{{"e":"trade","E":{seq},"T":{seq},"s":"BTCUSDT",'
                f'"t":{tid},"p":"{price}","q":"{qty}","m":false}}}}').encode()
        return [e for e in p.apply(Record(seq, seq, 1, FRAME, body, None)) if type(e) is Anomaly]

    assert trade(1, 10, "100") == []
    assert [a.kind for a in trade(2, 11, "-1")] == ["nonpositive_price"]
    assert [a.kind for a in trade(3, 12, "0")] == ["nonpositive_price"]
    assert [a.kind for a in trade(4, 13, "NaN")] == ["nan"]
    assert [a.kind for a in trade(5, 14, "100", "0")] == ["bad_size"]
    assert [a.kind for a in trade(6, 14, "101")] == []
    assert [a.kind for a in trade(7, 14, "101")] == ["duplicate_trade"]
    assert [a.kind for a in trade(8, 9, "101")] == ["out_of_order_trade"]
    c = p.counters[1]
    assert (c["nonpositive_price"], c["nan"], c["bad_size"], c["duplicate_trade"],
            c["out_of_order_trade"]) == (2, 1, 1, 1, 1)
    assert p.market("binance-usdm", "BTCUSDT").last_price == Decimal(101)  # bad ones not folded


def test_receive_time_going_backwards_is_counted():
    info = {1: StreamInfo(1, "binance-usdm", "usdm", "wss://fstream.binance.com/stream")}
    p = Projector(info)
    p.apply(Record(1, 100, 1, FRAME, b'{"result":null,"id":1}', None))
    evs = p.apply(Record(2, 50, 1, FRAME, b'{"result":null,"id":2}', None))
    assert [(e.kind, e.seq) for e in evs] == [("recv_ts_backwards", 2)]
    assert p.counters[1]["recv_ts_backwards"] == 1


def test_out_of_order_records_are_refused():
    p = Projector({})
    p.apply(Record(5, 1, 1, FRAME, b"{}", None))
    with pytest.raises(RecordOrderError, match="record seq 5 after 5") as e:
        p.apply(Record(5, 1, 1, FRAME, b"{}", None))
    assert (e.value.seq, e.value.last_seq, p.last_seq) == (5, 5, 5)
    assert isinstance(e.value, ValueError)  # what callers caught before the error tree
    # apply_many folds the records before the bad one, and says which one it was
    with pytest.raises(RecordOrderError, match="record seq 7 after 8"):
        p.apply_many([Record(6, 2, 1, FRAME, b"{}", None), Record(8, 3, 2, FRAME, b"{}", None),
                      Record(7, 4, 1, FRAME, b"{}", None)])
    assert (p.last_seq, p.ts_ns, p.counters[1]["decode_error"], p.counters[2]["decode_error"]) == (
        8, 3, 2, 1)
    p.apply(Record(9, 5, 1, FRAME, b"{}", None))  # and goes on from there
    assert p.last_seq == 9 and p.counters[1]["decode_error"] == 3


def upbit_frame(seq, code, price, ts):
    body = (f'{{"ty":"orderbook","cd":"{code}","tms":{ts},"tas":1.0,"tbs":1.0,"obu":[{{"ap":{price + 1},'
            f'"bp":{price - 1},"as":1.0,"bs":1.0}}]}}').encode()
    return Record(seq, ts * 1_000_000, 1, FRAME, body, {"bin": True})


def test_premium_of_an_upbit_krw_market_over_its_usdt_twins_at_upbits_usdt_rate():
    streams = {1: StreamInfo(1, "upbit", "spot", "wss://api.upbit.com/websocket/v1"),
               2: StreamInfo(2, "binance-spot", "spot", "wss://stream.binance.com:9443/stream"),
               3: StreamInfo(3, "binance-usdm", "usdm", "wss://fstream.binance.com/stream")}
    p = Projector(streams)
    p.apply(upbit_frame(1, "KRW-BTC", 141_000_000, 1000))  # mid 141,000,000 KRW
    p.apply(upbit_frame(2, "KRW-USDT", 1_400, 1001))  # mid 1,400 KRW per USDT
    p.apply(Record(3, 1_002_000_000, 2, FRAME, b'{"stream":"btcusdt@bookTicker","data":{"u":1,'
                   b'"s":"BTCUSDT","b":"99999","B":"1","a":"100001","A":"1"}}', None))
    p.apply(Record(4, 1_003_000_000, 3, FRAME, b'{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker",'
                   b'"u":1,"s":"BTCUSDT","b":"100700","B":"1","a":"100700.2","A":"1","T":1,"E":1}}', None))
    got = {(x.venue, x.symbol): x for x in p.premium("btc")}
    spot = got[("binance-spot", "BTCUSDT")]
    assert (spot.krw_price, spot.usdt_krw, spot.usdt_price) == (Decimal(141_000_000), Decimal(1400),
                                                                 Decimal(100000))
    assert spot.premium == pytest.approx(141_000_000 / (100_000 * 1400) - 1)  # ~0.714 %
    perp = got[("binance-usdm", "BTCUSDT")]
    assert perp.usdt_price == Decimal("100700.1") and perp.premium < spot.premium
    assert p.premiums() == p.premium("BTC")


def test_resolve_symbol_book_market_and_json(capture_records):
    streams, records = capture_records("BYBIT")
    p = Projector(streams)
    p.apply_many(records)
    assert p.resolve_symbol("bybit", "BTCUSDT") == "BTCUSDT"  # bare name: spot first
    assert p.resolve_symbol("bybit", "BTC-USDT-PERP") == "linear:BTCUSDT"
    assert p.resolve_symbol("bybit", "linear:BTCUSDT") == "linear:BTCUSDT"
    with pytest.raises(KeyError, match="no symbol 'NOPE' on 'bybit'") as e:
        p.resolve_symbol("bybit", "NOPE")
    assert isinstance(e.value, UnknownSymbolError) and (e.value.venue, e.value.name) == ("bybit", "NOPE")
    m = p.market("bybit", "BTC-USDT-PERP")
    b = p.book("bybit", "linear:BTCUSDT")
    assert m.valid and m.source == "book"
    assert (m.best_bid, m.best_ask) == (b.best_bid(), b.best_ask()) == (Decimal("65114.20"), Decimal("65114.30"))
    assert m.spread == m.best_ask - m.best_bid and m.mid == (m.best_bid + m.best_ask) / 2
    assert len(b.bids) == 20 and b.bids[0][0] == m.best_bid and b.bids == sorted(b.bids, reverse=True)
    assert m.bid_depth == sum(s for _, s in b.bids)
    assert -1 < m.imbalance < 1 and m.windows[60].trades > 0 and m.last_price is not None
    doc = p.to_json(venue="bybit", symbol="BTC-USDT-PERP", depth=5)
    json.dumps(doc)  # JSON-ready
    [row] = doc["symbols"]
    assert row["symbol"] == "linear:BTCUSDT" and row["best_bid"] == "65114.20" and row["valid"] is True
    assert len(row["bids"]) == 5 and row["features"]["mid"] == "65114.25"
    assert doc["digest"] == p.digest() and doc["last_seq"] == len(records)


def test_add_stream_registers_a_live_connection():
    p = Projector({})
    p.add_stream(StreamInfo(4, "binance-spot", "spot", "wss://stream.binance.com:9443/stream"))
    evs = p.apply(Record(1, 1, 4, FRAME, b'{"stream":"ethbtc@bookTicker","data":{"u":7,"s":"ETHBTC",'
                                         b'"b":"0.05","B":"1","a":"0.051","A":"2"}}', None))
    assert evs and evs[0].norm == "ETH-BTC"
    # a bare snapshot on a combined-stream connection names no symbol: quarantined
    [e] = p.apply(Record(2, 2, 4, FRAME, b'{"lastUpdateId":1,"bids":[],"asks":[]}', None))
    assert type(e) is DecodeError and p.counters[4]["decode_error"] == 1


def test_a_stream_registered_while_its_records_are_folding_gets_its_decoder_at_once():
    ticker = (b'{"stream":"ethbtc@bookTicker","data":{"u":7,"s":"ETHBTC","b":"0.05","B":"1",'
              b'"a":"0.051","A":"2"}}')
    p = Projector({})
    [e] = p.apply(Record(1, 100, 4, FRAME, ticker, None))  # not registered yet: reported
    assert type(e) is DecodeError and "no decoder" in e.reason
    p.add_stream(StreamInfo(4, "binance-spot", "spot", "wss://stream.binance.com:9443/stream"))
    a, t = p.apply(Record(2, 90, 4, FRAME, ticker, None))  # decoded by the new decoder
    assert t.norm == "ETH-BTC" and t.seq == 2
    assert (a.kind, a.detail) == ("recv_ts_backwards", "90 < 100")  # the stream's time was kept
    q = Projector({4: p.streams[4]})
    q.apply_many([Record(1, 100, 4, FRAME, b"{}", None), Record(2, 90, 4, FRAME, ticker, None)])
    assert dict(msgpack.unpackb(p.snapshot())[4]) == {4: 90} == dict(msgpack.unpackb(q.snapshot())[4])


def test_times_and_ids_that_do_not_fit_int64_are_decode_errors():
    """A frame's time or id must fit the checkpoint's and the archive's integers: the
    Binance schemas bound them (msgspec names the field), other decoders' events are
    checked by the projector (``state.bounds``)."""
    info = {1: StreamInfo(1, "binance-usdm", "usdm", "wss://fstream.binance.com/stream"),
            2: StreamInfo(2, "bybit", "linear", "wss://stream.bybit.com/v5/public/linear")}
    p = Projector(info)
    good = (b'{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5,"s":"BTCUSDT","b":"1",'
            b'"B":"1","a":"2","A":"1","T":1723161256933,"E":1723161256933}}')
    assert [type(e) for e in p.apply(Record(1, 1, 1, FRAME, good, None))] == [BookTicker]
    bad = [(good.replace(b'"T":1723161256933', b'"T":18446744073709551616'), "$.data.T"),  # 2^64 ms
           (good.replace(b'"T":1723161256933', b'"T":9223372036854775807'), "$.data.T"),  # not in ns
           (good.replace(b'"u":5', b'"u":18446744073709551616'), "$.data.u")]  # past int64
    trade = (b'{"topic":"publicTrade.SOLUSDT","type":"snapshot","ts":1786310830193,"data":[{"T":%d,'
             b'"s":"SOLUSDT","S":"Sell","v":"1.0","p":"77.300","L":"ZeroMinusTick","i":"e1","BT":false,'
             b'"seq":272903638606}]}')
    seq = 2
    for payload, field in bad:
        (ev,) = p.apply(Record(seq, seq, 1, FRAME, payload, None))
        # the reason names the field (the compiled decoder by its key: `T`, msgspec by path)
        assert type(ev) is DecodeError and ev.seq == seq and f"{field[7:]} = " in ev.reason.replace("`", ""), ev.reason
        seq += 1
    assert [type(e) for e in p.apply(Record(seq, seq, 2, FRAME, trade % 1786310830193, None))] == [Trade]
    (ev,) = p.apply(Record(seq + 1, seq + 1, 2, FRAME, trade % (1 << 64), None))
    assert type(ev) is DecodeError and "T = " in ev.reason.replace("`", "") and "out of range" in ev.reason
    assert p.counters[1]["decode_error"] == 3 and p.counters[2]["decode_error"] == 1
    m = p.market("binance-usdm", "BTCUSDT")
    assert (m.seq, m.best_bid, m.best_ask) == (1, 1, 2)  # the good one stays
    assert Projector.restore(p.snapshot()).digest() == p.digest()


def book_sync(p: Projector, venue: str, symbol: str) -> tuple | None:
    """A book's sync, nothing of its levels (see state.book)."""
    b = p.book(venue, symbol)
    return None if b is None else (b.valid, b.last_id, b.pending, b.mode, b.buffered,
                                   b.needs_snapshot, b.seq, b.updates, b.gaps, b.stale)


def broken(records: list[Record], seed: str) -> list[Record]:
    """The records with about 1% dropped and 1% repeated, and now and then an earlier REST
    snapshot again: sequence gaps, stale deltas, stale snapshots, full buffers (the payloads
    as captured; seqs renumbered)."""
    rng = random.Random(seed)
    out: list[Record] = []
    rest: list[Record] = []
    for rec in records:
        if rec.kind == REST:
            rest.append(rec)
        r = rng.random()
        if r < 0.01:
            continue
        if rest and rng.random() < 0.003:
            out.append(rng.choice(rest))
        out += [rec, rec] if r > 0.99 else [rec]
    return [msgspec.structs.replace(r, seq=i) for i, r in enumerate(out, 1)]


@pytest.mark.parametrize("variant", ["as captured", "broken"])
@pytest.mark.parametrize("name", [*CRYPTOFEED_NAMES, "hftbacktest"])
def test_a_sync_only_projection_has_the_full_ones_gaps_and_book_sync(capture_records, name, variant):
    """After every record: the same Gap events, the same books needing a snapshot, and each
    book the record touched at the same validity, id, buffer and counts; the sync-only
    books keep no levels (OKX's excepted) and no trade is folded. Every capture is clean
    as captured; broken, each has Gaps (Upbit's whole books excepted)."""
    streams, records = capture_records(name)
    if variant == "broken":
        records = broken(records, name)
    full, sync = Projector(streams), Projector(streams, sync_only=True)
    gaps: list[Gap] = []
    for rec in records:
        events = full.apply(rec)
        got = sync.apply(rec)
        want = [e for e in events if type(e) is Gap]
        assert [e for e in got if type(e) is Gap] == want, rec.seq
        gaps += want
        assert sync.books_needing_snapshot() == full.books_needing_snapshot(), rec.seq
        for key in {(e.venue, e.symbol) for e in events if type(e) in (BookDelta, BookSnapshot)}:
            assert book_sync(sync, *key) == book_sync(full, *key), (rec.seq, key)
    books = [(k, full.book(*k), sync.book(*k)) for k in full.symbols() if full.book(*k) is not None]
    assert books and all(book_sync(sync, *k) == book_sync(full, *k) for k, _, _ in books)
    assert bool(gaps) is (variant == "broken" and name != "UPBIT")
    if variant == "as captured":
        assert all(bf.valid for _, bf, _ in books)
    for (venue, _), bf, bs in books:
        assert bs.keeps_levels is (venue == "okx") and (len(bs) > 0) is (venue == "okx" and bf.valid)
    assert all(sync.symbol_state(*k).last_trade is None for k in sync.symbols())


@pytest.mark.parametrize("windows", [(), (300, 60), (0, 60), (-5,)])
def test_bad_windows_are_a_settings_error(windows):
    with pytest.raises(SettingsError, match=r"windows: increasing positive seconds") as e:
        Projector(windows=windows)
    assert e.value.name == "windows" and isinstance(e.value, ValueError)
