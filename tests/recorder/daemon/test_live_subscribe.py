"""Subscriptions that change live, against the simulator: added and removed on the open
connections (Binance SUBSCRIBE/UNSUBSCRIBE, Upbit's whole-list replace), journaled as
``sent`` with their answers, kept across a reconnect, refusals backed off; the CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time

import orjson
import pytest

from recorder.venues.descriptor import LiveChange
from tools.simulator import Simulator

from .helpers import Journal, Running, config, until

pytestmark = pytest.mark.timeout(60)


def sim(**kw) -> Simulator:
    return Simulator(source="synthetic", speed=kw.pop("speed", 20), seed=11, **kw)


def sids(rec, venue: str) -> dict[str, list[int]]:
    return {s.name: [lk.sid for lk in s.links] for s in rec.supervisors if s.venue == venue}


def sent_json(j: Journal, sid: int) -> list:
    return [orjson.loads(r.payload) for r in j.kinds(sid, "sent")]


def answers(j: Journal, sid: int, rid: int) -> list:
    out = []
    for r in j.kinds(sid, "frame"):
        if r.payload.startswith((b'{"result"', b'{"code"')):  # replies, not data
            msg = orjson.loads(r.payload)
            if msg.get("id") == rid:
                out.append((r.seq, msg))
    return out


async def test_binance_subscribe_and_unsubscribe_on_the_open_connections(tmp_path):
    async with sim() as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["depth", "aggTrade"],
                     upbit=["KRW-BTC"], upbit_channels=["trade"])
        async with Running(cfg) as rec:
            await until(lambda: all(s.ready for s in rec.supervisors), 10, "all connections up")
            before = {**sids(rec, "binance-usdm"), **sids(rec, "upbit")}
            n_conns = len(s.connections)
            added, already = rec.subscribe("binance-usdm", ["ethusdt", "BTCUSDT"])
            assert (added, already) == (["ETHUSDT"], ["BTCUSDT"])
            assert sorted(rec.last_change["live"]) == ["binance-usdm.market.1", "binance-usdm.public.0"]
            assert rec.last_change["new"] == []
            slots = {s.name: s for s in rec.supervisors}
            await until(lambda: all(s.changes_sent for s in slots.values() if s.venue == "binance-usdm")
                        and not any(s._pending for s in slots.values()), 10, "SUBSCRIBE acks")
            # the new symbol's frames arrive on the same connections; its diff book is synced
            await asyncio.sleep(1.0)
            removed, absent = rec.unsubscribe("binance-usdm", ["ETHUSDT", "XRPUSDT"])
            assert (removed, absent) == (["ETHUSDT"], ["XRPUSDT"])
            assert sorted(rec.last_change["live"]) == ["binance-usdm.market.1", "binance-usdm.public.0"]
            await until(lambda: not any(s._pending for s in slots.values())
                        and all(s.changes_sent == 2 for s in slots.values() if s.venue == "binance-usdm"),
                        10, "UNSUBSCRIBE acks")
            await asyncio.sleep(1.0)  # frames for ETHUSDT would keep coming now if they did
            # no reconnect: every connection open before is the same one, none was added
            assert {**sids(rec, "binance-usdm"), **sids(rec, "upbit")} == before
            assert len(s.connections) == n_conns
            assert rec.venues()["binance-usdm"] == ["BTCUSDT"]
            # a reconnect would subscribe the current set: the plans name BTCUSDT only
            assert all("eth" not in st for sup in slots.values() for st in sup.plan.streams)
    j = Journal(tmp_path)
    j.assert_gapless()
    for name, (sid,) in before.items():
        if not name.startswith("binance"):
            assert len(j.kinds(sid, "sent")) == 1  # its request on connecting, nothing since
            continue
        sub, unsub = sent_json(j, sid)
        assert sub["method"] == "SUBSCRIBE" and unsub["method"] == "UNSUBSCRIBE"
        assert sub["params"] == unsub["params"] and sub["params"][0].startswith("ethusdt@")
        for msg in (sub, unsub):  # each answered, journaled as received after what we sent
            (seq, ack), = answers(j, sid, msg["id"])
            assert ack == {"result": None, "id": msg["id"]}
        sub_ack = answers(j, sid, sub["id"])[0][0]
        unsub_ack = answers(j, sid, unsub["id"])[0][0]
        eth = [r.seq for r in j.kinds(sid, "frame") if b'"s":"ETHUSDT"' in r.payload]
        assert eth, f"{name}: no ETHUSDT frame while subscribed"
        assert min(eth) > sub_ack - 5  # (a first frame may overtake the ack by a little)
        assert max(eth) < unsub_ack, f"{name}: ETHUSDT frames after the UNSUBSCRIBE ack"
        assert [r.kind for r in j.by_stream[sid]].count("open") == 1


async def test_upbit_live_change_replaces_the_whole_list(tmp_path):
    async with sim() as s:
        cfg = config(tmp_path, s.urls, upbit=["KRW-BTC"], upbit_channels=["trade", "orderbook"])
        async with Running(cfg) as rec:
            await until(lambda: all(s.ready for s in rec.supervisors), 10, "up")
            (sup,) = rec.supervisors
            (sid,) = [lk.sid for lk in sup.links]
            assert rec.subscribe("upbit", ["KRW-ETH"]) == (["KRW-ETH"], [])
            assert rec.last_change == {"live": ["upbit.ws.0"], "new": [], "closed": []}
            await until(lambda: sup.changes_sent == 1, 10, "the replace sent")
            await asyncio.sleep(1.0)
            assert rec.unsubscribe("upbit", ["KRW-ETH"]) == (["KRW-ETH"], [])
            await until(lambda: sup.changes_sent == 2, 10, "the second replace sent")
            t_unsub = time.time_ns()
            await asyncio.sleep(1.0)
            assert [lk.sid for lk in sup.links] == [sid] and len(s.connections) == 1
            (st,) = rec.status.connections(time.monotonic())
            assert (st.live_changes, st.live_refused) == (2, 0)  # ticktape_live_changes_total
            assert rec.unsubscribe("upbit", ["KRW-BTC"]) == (["KRW-BTC"], [])
            assert rec.last_change["closed"] == ["upbit.ws.0"]  # nothing left: closed
            await until(lambda: not sup.links, 10, "the emptied connection closed")
            await asyncio.sleep(0.3)
            assert not sup.links and len(s.connections) == 1  # and no other opened
            assert rec.status.connections(time.monotonic()) == []  # closed for good, not "down"
    j = Journal(tmp_path)
    first, add, remove = sent_json(j, sid)
    codes = [[i["codes"] for i in m if "type" in i] for m in (first, add, remove)]
    assert codes == [[["KRW-BTC"]] * 2, [["KRW-BTC", "KRW-ETH"]] * 2, [["KRW-BTC"]] * 2]
    tickets = {m[0]["ticket"] for m in (first, add, remove)}
    assert len(tickets) == 3  # a fresh ticket per request
    eth = [r for r in j.kinds(sid, "frame") if b"KRW-ETH" in r.payload]
    assert eth, "no KRW-ETH frame while subscribed"
    late = [r for r in eth if r.ts_ns > t_unsub + 300_000_000]
    assert not late, "KRW-ETH frames after its unsubscribe"
    close = j.kinds(sid, "close")[-1]
    assert close.meta["reason"] == "unsubscribed" and close.meta["by"] == "us"


async def test_reconnect_resubscribes_the_current_set(tmp_path):
    async with sim() as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade"],
                     upbit=["KRW-BTC"], upbit_channels=["trade"])
        async with Running(cfg) as rec:
            await until(lambda: all(s.ready for s in rec.supervisors), 10, "up")
            rec.subscribe("binance-usdm", ["ETHUSDT"])
            rec.subscribe("upbit", ["KRW-ETH"])
            await until(lambda: all(s.changes_sent for s in rec.supervisors), 10, "changes sent")
            old = {s.name: s.links[0].sid for s in rec.supervisors}
            s.fault("drop", code=1011)
            await until(lambda: all(s.links and s.links[0].sid != old[s.name] and s.ready
                                    for s in rec.supervisors), 10, "reconnected")
            new = {s.name: s.links[0].sid for s in rec.supervisors}
            await asyncio.sleep(1.0)
    j = Journal(tmp_path)
    binance = j.streams[new["binance-usdm.market.0"]]
    assert "btcusdt@aggTrade/ethusdt@aggTrade" in binance.url  # named in the URL
    assert any(b'"s":"ETHUSDT"' in r.payload for r in j.kinds(binance.id, "frame"))
    (req,) = sent_json(j, new["upbit.ws.0"])
    assert [i["codes"] for i in req if "type" in i] == [["KRW-BTC", "KRW-ETH"]]
    assert any(b"KRW-ETH" in r.payload for r in j.kinds(new["upbit.ws.0"], "frame"))


async def test_refused_change_is_journaled_reverted_and_backed_off(tmp_path):
    """The simulator answers an unknown symbol as Binance does, ``{"result":null}`` and no
    data; what it refuses is a request it cannot read: ``{"code":2,"msg":"Invalid
    request..."}`` with our id. Both are journaled as received."""
    async with sim(binance_symbols=("BTCUSDT", "ETHUSDT")) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade"],
                     supervision={"backoff_initial_s": 1.0, "backoff_max_s": 4.0, "jitter": 0.0})
        async with Running(cfg) as rec:
            await until(lambda: all(s.ready for s in rec.supervisors), 10, "up")
            (sup,) = rec.supervisors
            (sid,) = [lk.sid for lk in sup.links]
            # an unknown symbol: acknowledged, nothing delivered
            rec.subscribe("binance-usdm", ["NOPEUSDT"])
            await until(lambda: sup.changes_sent == 1 and not sup._pending, 10, "the ack")
            assert sup.changes_refused == 0
            rec.unsubscribe("binance-usdm", ["NOPEUSDT"])
            await until(lambda: sup.changes_sent == 2 and not sup._pending, 10, "the ack")
            # a refused request: the plan is reverted, the next change waits the backoff
            plan = sup.plan
            bad = dataclasses.replace(plan, streams=(*plan.streams, "ethusdt@aggTrade"))
            rec.served["binance-usdm"].append("ETHUSDT")  # as a subscribe would have
            sup.change(LiveChange(bad, (b'{"method":"SUBSCRIBEX","params":["ethusdt@aggTrade"],"id":777}',),
                                  (777,), added=("ethusdt@aggTrade",)))
            assert sup.plan is bad
            await until(lambda: sup.changes_refused == 1, 10, "the refusal")
            refused_at = time.monotonic()
            assert sup.plan is plan  # a reconnect would not ask again
            assert rec.venues()["binance-usdm"] == ["BTCUSDT"]  # no longer served: ask again
            rec.subscribe("binance-usdm", ["ETHUSDT"])  # queued behind the backoff
            await asyncio.sleep(0.5)
            assert sup.changes_sent == 3  # not yet
            await until(lambda: sup.changes_sent == 4, 10, "the next change, after the backoff")
            assert time.monotonic() - refused_at >= 0.9
            assert [lk.sid for lk in sup.links] == [sid]  # a refusal is no reason to reconnect
    j = Journal(tmp_path)
    msgs = sent_json(j, sid)
    assert [m.get("method") for m in msgs[-4:]] == ["SUBSCRIBE", "UNSUBSCRIBE", "SUBSCRIBEX", "SUBSCRIBE"]
    nope = msgs[-4]
    assert answers(j, sid, nope["id"])[0][1] == {"result": None, "id": nope["id"]}
    assert not [r for r in j.kinds(sid, "frame") if b"NOPEUSDT" in r.payload]
    (_, err), = answers(j, sid, 777)
    assert err["code"] == 2 and "Invalid request" in err["msg"]
    errors = [r for r in j.kinds(sid, "error") if b"Invalid request" in r.payload]
    assert errors and errors[0].meta["source"] == "frame"
    sent_at = {m["id"]: r.ts_ns for m, r in zip(msgs, j.kinds(sid, "sent"), strict=True)}
    assert sent_at[msgs[-1]["id"]] - sent_at[777] >= 900_000_000  # backed off, ~1 s


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "recorder.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, out.decode(), err.decode()


async def test_cli_subscribe_unsubscribe_end_to_end(tmp_path):
    data = str(tmp_path)
    code, out, err = await run_cli("subscribe", "--data", data, "--venue", "upbit", "--symbols", "KRW-ETH")
    assert code == 2 and err.startswith("error: no recorder running on") and err.count("\n") == 1
    async with sim() as s:
        cfg = config(tmp_path, s.urls, upbit=["KRW-BTC"], upbit_channels=["trade"])
        async with Running(cfg) as rec:
            await until(lambda: all(s.ready for s in rec.supervisors), 10, "up")
            code, out, err = await run_cli("subscribe", "--data", data, "--venue", "upbit",
                                           "--symbols", "KRW-ETH,KRW-BTC")
            assert code == 0, err
            assert out.splitlines() == ["upbit: added KRW-ETH; already KRW-BTC",
                                        "connections: changed live upbit.ws.0"]
            code, out, err = await run_cli("unsubscribe", "--data", data, "--venue", "upbit",
                                           "--symbols", "KRW-ETH", "--json")
            assert code == 0, err
            assert orjson.loads(out) == {"removed": ["KRW-ETH"], "absent": [], "live": ["upbit.ws.0"],
                                         "new": [], "closed": []}
            code, out, err = await run_cli("subscribe", "--data", data, "--venue", "okx",
                                           "--symbols", "BTC-USDT")
            assert code == 1 and "unknown" in err.lower() or "not recorded" in err, err
            assert err.count("\n") == 1
            code, out, err = await run_cli("subscribe", "--data", data, "--venue", "upbit",
                                           "--symbols", "BTCUSDT")
            assert code == 1 and "not upbit symbols: BTCUSDT" in err, err
            code, out, err = await run_cli("subscribe", "--data", data, "--venue", "upbit",
                                           "--symbols", "KRW-XRP", "--channels", "orderbook")
            assert code == 1 and "records channels trade" in err, err
            assert rec.venues()["upbit"] == ["KRW-BTC"]


async def test_binance_changes_keep_within_10_messages_a_second(tmp_path):
    """Fifteen subscribes at once: SUBSCRIBEs leave through the control limiter, never more
    than 10 in any second (the simulator, like Binance, cuts a connection beyond that)."""
    async with sim() as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade"])
        async with Running(cfg) as rec:
            await until(lambda: all(s.ready for s in rec.supervisors), 10, "up")
            (sup,) = rec.supervisors
            (sid,) = [lk.sid for lk in sup.links]
            for i in range(15):
                rec.subscribe("binance-usdm", [f"S{i}USDT"])
            await until(lambda: sup.changes_sent == 15 and not sup._pending, 15, "15 acks")
            assert [lk.sid for lk in sup.links] == [sid] and len(s.connections) == 1
            assert len(sup.plan.streams) == 16
    j = Journal(tmp_path)
    ts = [r.ts_ns for r in j.kinds(sid, "sent")]
    assert len(ts) == 15
    assert all(sum(1 for t in ts if a <= t < a + 1_000_000_000) <= 10 for a in ts)
    assert ts[-1] - ts[0] >= 1_000_000_000  # the last ones waited for tokens


@pytest.mark.parametrize("subscribe_mode", [False, True], ids=["url", "subscribe-messages"])
async def test_a_change_while_connecting_reaches_the_new_connection(tmp_path, subscribe_mode):
    """Subscribed while the connection is still opening: it gets the change once its own
    plan is sent (or opens with it), never before, never twice."""
    async with sim() as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade"],
                     binance_extra={"subscribe": subscribe_mode})
        async with Running(cfg) as rec:
            (sup,) = rec.supervisors
            rec.subscribe("binance-usdm", ["ETHUSDT"])
            await until(lambda: sup.up and not sup._changes and not sup._pending, 10, "settled")
            await until(lambda: any(lk.frames > 20 for lk in sup.links), 10, "frames")
            (sid,) = [lk.sid for lk in sup.links]
            await asyncio.sleep(0.5)
    j = Journal(tmp_path)
    params = [p for m in sent_json(j, sid) for p in m["params"]]
    url = j.streams[sid].url
    assert sorted(params + [p for p in ("btcusdt@aggTrade", "ethusdt@aggTrade") if p in url]) == [
        "btcusdt@aggTrade", "ethusdt@aggTrade"]  # each stream asked for exactly once
    assert any(b'"s":"ETHUSDT"' in r.payload for r in j.kinds(sid, "frame"))
    assert not [r for r in j.kinds(sid, "frame") if r.payload.startswith(b'{"code"')]


async def test_a_venue_that_cannot_change_live_gets_connections_of_their_own(tmp_path):
    """``subscribe_messages``/``unsubscribe_messages`` None (a venue module without live
    changes): an added symbol opens a connection of its own; a removed one reconnects only
    the connection that carried it, on what remains."""
    async with sim() as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT", "ETHUSDT"], binance_channels=["aggTrade"],
                     upbit=["KRW-BTC"], upbit_channels=["trade"])
        async with Running(cfg) as rec:
            await until(lambda: all(s.ready for s in rec.supervisors), 10, "up")
            adapter = rec.subscriptions.adapter("binance-usdm")
            adapter.subscribe_messages = lambda plan, streams: None
            adapter.unsubscribe_messages = lambda plan, streams: None
            old = {s.name: s.links[0].sid for s in rec.supervisors}
            rec.subscribe("binance-usdm", ["XRPUSDT"])
            assert rec.last_change == {"live": [], "new": ["binance-usdm.market.1"], "closed": []}
            await until(lambda: len(rec.supervisors) == 3 and rec.supervisors[-1].ready, 10, "the new one")
            rec.unsubscribe("binance-usdm", ["ETHUSDT"])
            assert rec.last_change == {"live": ["binance-usdm.market.0"], "new": [], "closed": []}
            first = rec.supervisors[0]
            await until(lambda: first.ready and first.links[0].sid != old[first.name], 10, "reconnected")
            assert first.plan.streams == ("btcusdt@aggTrade",)
            assert "streams=btcusdt@aggTrade" in first.links[0].url and "eth" not in first.links[0].url
            assert rec.supervisors[1].links[0].sid == old["upbit.ws.0"]  # the others untouched
            rec.unsubscribe("binance-usdm", ["XRPUSDT"])
            assert rec.last_change["closed"] == ["binance-usdm.market.1"]
            await until(lambda: not rec.supervisors[-1].links, 10, "its connection closed")
    j = Journal(tmp_path)
    close = j.kinds(old["binance-usdm.market.0"], "close")[-1]
    assert close.meta["reason"] == "resubscribe"


async def test_upbit_error_frame_refuses_the_change_it_answers(tmp_path):
    """Upbit acknowledges nothing: an error frame soon after a change is its refusal (the
    simulator refuses a request without codes with ``NO_CODES``, as Upbit does)."""
    async with sim() as s:
        cfg = config(tmp_path, s.urls, upbit=["KRW-BTC"], upbit_channels=["trade"],
                     supervision={"backoff_initial_s": 1.0, "backoff_max_s": 4.0, "jitter": 0.0})
        async with Running(cfg) as rec:
            await until(lambda: all(s.ready for s in rec.supervisors), 10, "up")
            (sup,) = rec.supervisors
            (sid,) = [lk.sid for lk in sup.links]
            plan = sup.plan
            bad = dataclasses.replace(plan, streams=(*plan.streams, "trade:KRW-ETH"))
            sup.change(LiveChange(bad, (b'[{"ticket":"t-bad"},{"type":"trade","codes":[]}]',),
                                  added=("trade:KRW-ETH",)))
            await until(lambda: sup.changes_refused == 1, 10, "the refusal")
            assert sup.plan is plan and sup.change_attempt == 1
            rec.subscribe("upbit", ["KRW-ETH"])
            await asyncio.sleep(0.5)
            assert sup.changes_sent == 1  # waits the backoff
            await until(lambda: sup.changes_sent == 2, 10, "the next change")
            assert [lk.sid for lk in sup.links] == [sid]
            await asyncio.sleep(0.5)
    j = Journal(tmp_path)
    errors = [r for r in j.kinds(sid, "error") if b"NO_CODES" in r.payload]
    assert errors and errors[0].meta["class"] == "fatal"
    assert any(b"KRW-ETH" in r.payload for r in j.kinds(sid, "frame"))  # the later one was taken
