"""``Link.on_frames``: one read's messages journaled in order, counted and inspected as a batch."""

from __future__ import annotations

import logging

import pytest

from recorder.daemon.connection import BIN, Link
from recorder.journal import JournalWriteError, Record

UP = b'{"status":"UP"}'
TRADE = b'{"ty":"trade","cd":"KRW-BTC"}'
ERR = b'{"error":{"name":"NO_TICKET","message":"x"}}'


class FakeJournal:
    """The ``Journal`` port over a list; ``fail_at`` makes that append (1-based) raise."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.records: list[tuple[str, bytes, dict | None]] = []
        self.fail_at = fail_at
        self.failures: list[JournalWriteError] = []

    def append_frame(self, sid, kind, payload, meta=None) -> Record:
        if self.fail_at is not None and len(self.records) + 1 == self.fail_at:
            raise JournalWriteError("disk full", committed_seq=0)
        self.records.append((kind, payload, meta))
        return Record(len(self.records), 0, sid, kind, payload, meta)

    def append(self, sid, kind, payload, meta=None) -> None:
        self.records.append((kind, payload, meta))

    def failed(self, exc) -> None:
        self.failures.append(exc)


def link(journal, rules="upbit", errors=None):
    seen = []

    def on_error(lk, text):
        seen.append(text)
        lk.journal.append(lk.sid, "error", text.encode())
        if errors is not None:
            raise errors

    lk = Link(journal, sid=1, venue="upbit", conn="upbit.ws.0", url="ws://x", log=logging.getLogger("t"),
              rules=rules, on_error=on_error, latency=lambda rec: seen.append(rec.seq))
    return lk, seen


async def test_an_error_reply_is_journaled_right_after_its_frame():
    j = FakeJournal()
    lk, seen = link(j)
    lk.on_frames([UP, TRADE, ERR, TRADE, ERR, UP], True)
    assert [(k, p) for k, p, _ in j.records] == [
        ("frame", UP), ("frame", TRADE), ("frame", ERR), ("error", b"NO_TICKET: x"),
        ("frame", TRADE), ("frame", ERR), ("error", b"NO_TICKET: x"), ("frame", UP)]
    assert all(m is BIN for k, _, m in j.records if k == "frame")
    assert (lk.frames, lk.data_frames, lk.bytes) == (6, 4, 2 * len(UP) + 2 * len(TRADE) + 2 * len(ERR))
    assert lk.first_data.done()
    assert seen == ["NO_TICKET: x", "NO_TICKET: x", 8]  # the latency sample: the batch's last frame


async def test_keepalive_answers_alone_prove_nothing():
    lk, _ = link(FakeJournal())
    lk.on_frames([UP, UP], True)
    assert (lk.frames, lk.data_frames, lk.first_data.done()) == (2, 0, False)


async def test_without_rules_every_frame_is_data():
    j = FakeJournal()
    lk, seen = link(j, rules=None)
    lk.on_frames([UP, ERR], False)
    assert [k for k, _, _ in j.records] == ["frame", "frame"]
    assert (lk.frames, lk.data_frames, lk.bytes) == (2, 2, len(UP) + len(ERR))
    assert j.records[0][2] is None  # a text frame has no meta


async def test_an_error_handler_that_raises_is_counted_and_the_batch_goes_on():
    j = FakeJournal()
    lk, _ = link(j, errors=RuntimeError("bug"))
    lk.on_frames([ERR, TRADE, ERR], True)
    assert [k for k, _, _ in j.records] == ["frame", "error", "frame", "frame", "error"]
    assert lk.inspect_errors == 2 and lk.frames == 3


async def test_a_journal_failure_counts_only_what_was_appended():
    j = FakeJournal(fail_at=3)
    lk, _ = link(j)
    lk.on_frames([TRADE, TRADE, TRADE, TRADE], True)
    assert len(j.failures) == 1
    assert (lk.frames, lk.data_frames, lk.bytes) == (2, 2, 2 * len(TRADE))


# Each venue's keep-alive answer and error reply as its simulator sends them, with a data frame.
VENUE_FRAMES = {
    "bybit": (b'{"success":true,"ret_msg":"pong","conn_id":"c","op":"ping"}',
              b'{"success":false,"ret_msg":"Invalid symbol :[x]","conn_id":"c","op":"subscribe"}',
              b'{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[]}',
              "subscribe: Invalid symbol :[x]"),
    "okx": (b"pong", b'{"event":"error","code":"60018","msg":"no","connId":"c"}',
            b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[]}', "60018: no"),
    "gate": (b'{"time":1,"channel":"spot.pong","event":"","result":null}',
             b'{"time":1,"channel":"spot.trades","event":"subscribe","error":{"code":2,"message":"no"}}',
             b'{"time":1,"channel":"spot.trades","event":"update","result":{}}', "2: no"),
    "kucoin": (b'{"id":"1","type":"pong"}', b'{"id":"2","type":"error","code":404,"data":"no"}',
               b'{"type":"message","topic":"/market/match:BTC-USDT","data":{}}', "404: no"),
    "phemex": (b'{"error":null,"id":0,"result":"pong"}',
               b'{"error":{"code":6001,"message":"no"},"id":1,"result":null}',
               b'{"trades":[],"sequence":1,"symbol":"BTCUSD","type":"incremental"}', "6001: no"),
}


@pytest.mark.parametrize("venue", sorted(VENUE_FRAMES))
async def test_each_venues_pongs_are_no_data_and_its_errors_are_handed_over(venue):
    pong, err, data, text = VENUE_FRAMES[venue]
    j = FakeJournal()
    lk, seen = link(j, rules=venue)
    lk.on_frames([pong, pong], False)
    assert (lk.frames, lk.data_frames, lk.first_data.done()) == (2, 0, False)
    lk.on_frames([err, data, pong], False)
    assert [k for k, _, _ in j.records] == ["frame"] * 3 + ["error"] + ["frame"] * 2
    assert (lk.frames, lk.data_frames, lk.first_data.done()) == (5, 2, True)  # the error reply is no pong
    assert [s for s in seen if isinstance(s, str)] == [text]
