"""Live subscription changes per venue against its simulator: a symbol subscribed and then
unsubscribed on an open connection, the other connections untouched, ``sent`` records and
their acks journaled, the removed symbol's frames stopping, a reconnect subscribing the
current set. One ``Spec`` per venue says how its messages, acks and frames look."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import pytest

from recorder.daemon import build_config
from recorder.venues.descriptor import LiveChange
from tools.simulator import Simulator

from .helpers import FAST, Journal, Running, until

pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class Spec:
    """One venue's test table: what it records and how its journal reads."""

    venue: str
    symbols: list[str]  # the first connection fills up with all but the last
    channels: list[str]
    per_connection: int  # max_streams_per_connection: the last symbol gets a connection of its own
    added: str  # subscribed live, on the last connection (it has room)
    sub: Callable[[dict], bool]  # a sent message subscribing
    unsub: Callable[[dict], bool]  # a sent message unsubscribing
    ack: Callable[[dict, dict], bool]  # (sent, received) the ack of that message
    has: Callable[[bytes, str], bool]  # a data frame of the symbol
    names: Callable[[dict], list[str]]  # symbols a subscribe message names
    extra: dict = field(default_factory=dict)
    in_url: Callable[[str, str], bool] = lambda url, sym: False  # the URL names its streams


def _okx_names(m: dict) -> list[str]:
    return [a["instId"] for a in m.get("args", [])]


SPECS = {
    "okx": Spec(
        venue="okx", symbols=["BTC-USDT", "ETH-USDT", "SOL-USDT"], channels=["trades", "tickers"],
        per_connection=4, added="XRP-USDT",
        sub=lambda m: m.get("op") == "subscribe", unsub=lambda m: m.get("op") == "unsubscribe",
        ack=lambda s, r: r.get("id") == s["id"] and r.get("event") == s["op"],
        has=lambda p, sym: p.startswith(b'{"arg"') and f'"instId":"{sym}"'.encode() in p,
        names=_okx_names),
    "bybit": Spec(
        venue="bybit", symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"], channels=["orderbook.50", "publicTrade"],
        per_connection=4, added="XRPUSDT",
        sub=lambda m: m.get("op") == "subscribe", unsub=lambda m: m.get("op") == "unsubscribe",
        ack=lambda s, r: r.get("req_id") == s["req_id"] and r.get("op") == s["op"]
        and r.get("success") is True,
        has=lambda p, sym: p.startswith(b'{"topic"') and f'.{sym}"'.encode() in p[:60],
        names=lambda m: [t.rsplit(".", 1)[-1] for t in m.get("args", [])]),
    "gate": Spec(
        venue="gate", symbols=["BTC_USDT", "ETH_USDT", "SOL_USDT"],
        channels=["spot.order_book_update", "spot.trades"], per_connection=4, added="XRP_USDT",
        sub=lambda m: m.get("event") == "subscribe", unsub=lambda m: m.get("event") == "unsubscribe",
        ack=lambda s, r: r.get("id") == s["id"] and r.get("event") == s["event"]
        and r.get("result") == {"status": "success"},
        has=lambda p, sym: b'"event":"update"' in p and f'"{sym}"'.encode() in p,
        names=lambda m: [p for p in m.get("payload", []) if "_" in p]),
    "kucoin": Spec(
        venue="kucoin", symbols=["BTC-USDT", "ETH-USDT", "SOL-USDT"], channels=["level2", "match"],
        per_connection=4, added="XRP-USDT",
        sub=lambda m: m.get("type") == "subscribe", unsub=lambda m: m.get("type") == "unsubscribe",
        ack=lambda s, r: r.get("id") == s["id"] and r.get("type") == "ack",
        has=lambda p, sym: b'"type":"message"' in p and f':{sym}"'.encode() in p,
        names=lambda m: m.get("topic", ":").split(":", 1)[1].split(",")),
    "binance-spot": Spec(
        venue="binance-spot", symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"], channels=["aggTrade", "trade"],
        per_connection=4, added="XRPUSDT",
        sub=lambda m: m.get("method") == "SUBSCRIBE", unsub=lambda m: m.get("method") == "UNSUBSCRIBE",
        ack=lambda s, r: r == {"result": None, "id": s["id"]},
        has=lambda p, sym: f'"stream":"{sym.lower()}@'.encode() in p,
        names=lambda m: [p.split("@", 1)[0].upper() for p in m.get("params", [])],
        in_url=lambda url, sym: f"{sym.lower()}@aggTrade" in url),
    # Phemex books cannot be removed one by one (see test_phemex_removing_one_book...)
    "phemex": Spec(
        venue="phemex", symbols=["BTCUSD", "ETHUSD", "XRPUSD"], channels=["trade", "kline"],
        per_connection=4, added="LTCUSD",
        sub=lambda m: m.get("method", "").endswith(".subscribe"),
        unsub=lambda m: m.get("method", "").endswith(".unsubscribe"),
        ack=lambda s, r: r.get("id") == s["id"] and r.get("error") is None
        and r.get("result") == {"status": "success"},
        has=lambda p, sym: f'"symbol":"{sym}"'.encode() in p,
        names=lambda m: [p for p in m.get("params", []) if isinstance(p, str)]),
}

# spot in subscribe mode: the bare endpoint, SUBSCRIBEs of the whole set on reconnect
SPECS["binance-spot-subscribe"] = dataclasses.replace(SPECS["binance-spot"], extra={"subscribe": True})


def sim(venue: str) -> Simulator:
    return Simulator(venues=(venue,), source="synthetic", speed=20, seed=5)


def cfg(data, urls, spec: Spec):
    return build_config({
        "recorder": {"data": str(data), "durability": "os", "commit_interval_ms": 5},
        "supervision": {**FAST},
        "compaction": {"enabled": False},
        "venue": [{"venue": spec.venue, "symbols": spec.symbols, "channels": spec.channels,
                   "ws_url": urls.ws, "rest_url": urls.rest, "listing": False,
                   "max_streams_per_connection": spec.per_connection, **spec.extra}],
    })


def received(j: Journal, sid: int) -> list:
    out = []
    for r in j.kinds(sid, "frame"):
        try:
            msg = orjson.loads(r.payload)
        except orjson.JSONDecodeError:
            continue
        out.append((r.seq, msg))
    return out


@pytest.mark.parametrize("name", list(SPECS))
async def test_subscribe_then_unsubscribe_on_the_open_connection(tmp_path, name):
    spec = SPECS[name]
    async with sim(spec.venue) as s:
        async with Running(cfg(tmp_path, s.urls, spec)) as rec:
            await until(lambda: all(s.ready for s in rec.supervisors), 10, "all connections up")
            slots = list(rec.supervisors)
            assert len(slots) == 2
            before = {sup.name: [lk.sid for lk in sup.links] for sup in slots}
            n_conns = len(s.connections)
            assert rec.subscribe(spec.venue, [spec.added]) == ([spec.added], [])
            assert rec.last_change == {"live": [slots[1].name], "new": [], "closed": []}
            await until(lambda: slots[1].changes_sent == 1 and not slots[1]._pending, 10, "the ack")
            await asyncio.sleep(1.0)
            assert rec.unsubscribe(spec.venue, [spec.added]) == ([spec.added], [])
            assert rec.last_change == {"live": [slots[1].name], "new": [], "closed": []}
            await until(lambda: slots[1].changes_sent == 2 and not slots[1]._pending, 10, "the ack")
            await asyncio.sleep(1.0)  # frames for the removed symbol would keep coming if they did
            assert {sup.name: [lk.sid for lk in sup.links] for sup in slots} == before
            assert len(s.connections) == n_conns
            assert (slots[0].changes_sent, slots[0].changes_refused, slots[1].changes_refused) == (0, 0, 0)
            assert all(spec.added not in st for sup in slots for st in sup.plan.streams)
            assert rec.venues()[spec.venue] == spec.symbols
    j = Journal(tmp_path)
    j.assert_gapless()
    (untouched,), (sid,) = before[slots[0].name], before[slots[1].name]
    assert all(spec.sub(orjson.loads(r.payload)) for r in j.kinds(untouched, "sent"))
    assert not [r for r in j.kinds(untouched, "frame") if spec.has(r.payload, spec.added)]
    msgs = [orjson.loads(r.payload) for r in j.kinds(sid, "sent")]
    subs = [m for m in msgs if spec.sub(m) and spec.added in spec.names(m)]
    unsubs = [m for m in msgs if spec.unsub(m)]
    assert subs and unsubs and msgs[-len(subs) - len(unsubs):] == subs + unsubs
    assert all(spec.added in spec.names(m) for m in unsubs)
    frames = received(j, sid)

    def ack(m: dict) -> int:
        got = [seq for seq, r in frames if isinstance(r, dict) and spec.ack(m, r)]
        assert len(got) >= 1, f"no ack of {m}"
        return got[0]

    sub_acks, unsub_acks = [ack(m) for m in subs], [ack(m) for m in unsubs]
    assert max(sub_acks) < min(unsub_acks)  # each answered, journaled after what we sent
    data = [r.seq for r in j.kinds(sid, "frame") if spec.has(r.payload, spec.added)]
    assert data, f"no {spec.added} frame while subscribed"
    assert min(data) > min(sub_acks) - 5  # a first frame may overtake the ack by a little
    assert max(data) < max(unsub_acks), f"{spec.added} frames after the unsubscribe acks"
    assert [r.kind for r in j.by_stream[sid]].count("open") == 1


@pytest.mark.parametrize("name", list(SPECS))
async def test_reconnect_subscribes_the_current_set(tmp_path, name):
    spec = SPECS[name]
    async with sim(spec.venue) as s:
        async with Running(cfg(tmp_path, s.urls, spec)) as rec:
            await until(lambda: all(s.ready for s in rec.supervisors), 10, "up")
            last = rec.supervisors[-1]
            rec.subscribe(spec.venue, [spec.added])
            await until(lambda: last.changes_sent == 1 and not last._pending, 10, "the ack")
            old = {sup.name: sup.links[0].sid for sup in rec.supervisors}
            s.fault("drop", code=1011)
            await until(lambda: all(sup.links and sup.links[0].sid != old[sup.name] and sup.ready
                                    for sup in rec.supervisors), 10, "reconnected")
            new = last.links[0].sid
            await asyncio.sleep(1.0)
    j = Journal(tmp_path)
    msgs = [orjson.loads(r.payload) for r in j.kinds(new, "sent")]
    named = [n for m in msgs if spec.sub(m) for n in spec.names(m)]
    named += [n for n in (*spec.symbols, spec.added) if spec.in_url(j.streams[new].url, n)]
    assert spec.added in named and spec.symbols[-1] in named
    assert any(spec.has(r.payload, spec.added) for r in j.kinds(new, "frame"))


async def test_phemex_removing_one_book_among_several_reconnects_only_that_connection(tmp_path):
    """``orderbook.unsubscribe`` drops every book of a connection: a removed book whose
    connection keeps other books reconnects that connection on what remains; a symbol
    added goes live, and the other connection keeps its stream id."""
    spec = dataclasses.replace(SPECS["phemex"], channels=["orderbook", "trade"])
    async with sim("phemex") as s:
        async with Running(cfg(tmp_path, s.urls, spec)) as rec:
            await until(lambda: all(s.ready for s in rec.supervisors), 10, "up")
            first, last = rec.supervisors
            old = {sup.name: sup.links[0].sid for sup in rec.supervisors}
            assert rec.subscribe("phemex", ["LTCUSD"]) == (["LTCUSD"], [])
            assert rec.last_change == {"live": [last.name], "new": [], "closed": []}
            await until(lambda: last.changes_sent == 1 and not last._pending, 10, "the acks")
            assert rec.unsubscribe("phemex", ["LTCUSD"]) == (["LTCUSD"], [])
            assert rec.last_change == {"live": [last.name], "new": [], "closed": []}
            await until(lambda: last.ready and last.links[0].sid != old[last.name], 10, "reconnected")
            await asyncio.sleep(1.0)
            assert first.links[0].sid == old[first.name]
            assert last.plan.streams == ("orderbook:XRPUSD", "trade:XRPUSD")
            new = last.links[0].sid
    j = Journal(tmp_path)
    assert j.kinds(old[last.name], "close")[-1].meta["reason"] == "resubscribe"
    sent = [orjson.loads(r.payload) for r in j.kinds(new, "sent")]
    assert [(m["method"], m["params"]) for m in sent] == [
        ("orderbook.subscribe", ["XRPUSD"]), ("trade.subscribe", ["XRPUSD"])]
    assert not [r for r in j.kinds(new, "frame") if spec.has(r.payload, "LTCUSD")]
    assert any(spec.has(r.payload, "XRPUSD") for r in j.kinds(new, "frame"))


# A request each simulator refuses as its venue does (an unknown channel or method), with
# the id its refusal carries.
REFUSED: dict[str, tuple[bytes, int | str]] = {
    "okx": (b'{"id":"bad1","op":"subscribe","args":[{"channel":"nope","instId":"XRP-USDT"}]}', "bad1"),
    "bybit": (b'{"req_id":"bad1","op":"subscribe","args":["nope.XRPUSDT"]}', "bad1"),
    "gate": (b'{"time":1,"id":777,"channel":"spot.nope","event":"subscribe","payload":["XRP_USDT"]}', 777),
    "kucoin": (b'{"id":"bad1","type":"subscribe","topic":"/market/nope:XRP-USDT","privateChannel":false,'
               b'"response":true}', "bad1"),
    "phemex": (b'{"id":7777,"method":"nope.subscribe","params":["LTCUSD"]}', 7777),
    "binance-spot": (b'{"method":"SUBSCRIBEX","params":["xrpusdt@aggTrade"],"id":777}', 777),
}


@pytest.mark.parametrize("name", list(REFUSED))
async def test_a_refused_change_is_reverted_on_the_same_connection(tmp_path, name):
    spec = SPECS[name]
    msg, rid = REFUSED[name]
    async with sim(spec.venue) as s:
        async with Running(cfg(tmp_path, s.urls, spec)) as rec:
            await until(lambda: all(s.ready for s in rec.supervisors), 10, "up")
            sup = rec.supervisors[-1]
            (sid,) = [lk.sid for lk in sup.links]
            plan = sup.plan
            bad = dataclasses.replace(plan, streams=(*plan.streams, "nope"))
            sup.change(LiveChange(bad, (msg,), (rid,), added=("nope",)))
            await until(lambda: sup.changes_refused == 1, 10, "the refusal")
            assert sup.plan is plan  # a reconnect would not ask again
            await asyncio.sleep(0.5)
            assert [lk.sid for lk in sup.links] == [sid]  # a refusal is no reason to reconnect
    j = Journal(tmp_path)
    assert [r.payload for r in j.kinds(sid, "sent")][-1] == msg
    adapter_answers = [r for r in j.kinds(sid, "frame") if str(rid).encode() in r.payload]
    assert adapter_answers, "the refusal is journaled as received"
