"""The recorder's projections say which books broke, by the one sync rule (state.sync).

What the recorder's own depth watcher used to check, now through the projection it
runs: a new chain waits for its snapshot, a skipped diff is a ``sequence`` gap carrying
expected/got, a snapshot older than the buffered diffs is a ``stale_snapshot`` gap,
symbols are independent, and the real capture's chain is continuous.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging

from recorder.daemon.projection import LiveProjection, SyncProjection
from recorder.journal import Record, StreamInfo
from recorder.venues import binance_usdm as bn
from state.events import Gap
from tools.captures import HFTBACKTEST_USDM

LOG = logging.getLogger("test")
WS = StreamInfo(1, "binance-usdm", "usdm", "wss://x/public/stream?streams=btcusdt@depth@100ms",
                "binance-usdm.public.0")
REST = StreamInfo(2, "binance-usdm", "usdm", "https://x", "binance-usdm.rest", ("rest",))
UPBIT = StreamInfo(3, "upbit", "spot", "wss://x/websocket/v1", "upbit.ws.0")


def depth(symbol: str, first: int, last: int, prev: int) -> bytes:
    data = {"e": "depthUpdate", "E": 1, "T": 1, "s": symbol, "U": first, "u": last, "pu": prev,
            "b": [["1.0", "2"]], "a": [["2.0", "1"]]}
    return json.dumps({"stream": f"{symbol.lower()}@depth@100ms", "data": data},
                      separators=(",", ":")).encode()


def snapshot(last_update_id: int) -> bytes:
    return json.dumps({"lastUpdateId": last_update_id, "E": 1, "T": 1, "bids": [["1.0", "5"]],
                       "asks": [["2.0", "5"]]}).encode()


class Feed:
    """Records into a projection in seq order; collects what it reports."""

    def __init__(self, make) -> None:
        self.gaps: list[tuple[Gap, int]] = []
        self.proj = make(lambda gap, stream: self.gaps.append((gap, stream)))
        for info in (WS, REST, UPBIT):
            self.proj.add_stream(info)
        self.seq = 0

    def frame(self, payload: bytes, stream: int = 1) -> list[tuple[str, str, int | None, int | None]]:
        return self._put(Record(self._next(), self.seq * 1000, stream, "frame", payload))

    def rest(self, symbol: str, body: bytes) -> list[tuple[str, str, int | None, int | None]]:
        url = f"https://x/fapi/v1/depth?symbol={symbol}&limit=1000"
        return self._put(Record(self._next(), self.seq * 1000, 2, "rest", body,
                                {"url": url, "status": 200}))

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _put(self, rec: Record) -> list[tuple[str, str, int | None, int | None]]:
        n = len(self.gaps)
        self.proj(rec)
        assert all(stream == rec.stream for _, stream in self.gaps[n:])
        return [(g.symbol, g.reason, g.expected, g.got) for g, _ in self.gaps[n:]]


def sync_feed() -> Feed:
    return Feed(lambda on_gap: SyncProjection({"binance-usdm": bn.is_book_frame}, log=LOG, on_gap=on_gap))


def live_feed(tmp_path) -> Feed:
    def make(on_gap):
        p = LiveProjection(data_dir=str(tmp_path), depth_levels=20, log=LOG, on_gap=on_gap,
                           checkpoint_every_records=10**9, checkpoint_every_s=1e9)
        return p

    return Feed(make)


def book(feed: Feed, symbol: str = "BTCUSDT"):
    return feed.proj.projector.book("binance-usdm", symbol)


def test_a_chain_waits_for_its_snapshot_then_a_skipped_diff_is_a_gap():
    f = sync_feed()
    assert f.frame(depth("BTCUSDT", 100, 110, 95)) == []  # no snapshot yet: buffered, no gap
    assert f.frame(depth("BTCUSDT", 111, 120, 110)) == []
    assert f.rest("BTCUSDT", snapshot(115)) == []  # bracketed by a buffered diff
    assert book(f).valid
    assert f.frame(depth("BTCUSDT", 121, 130, 120)) == []
    # one diff (131..140) is skipped: the next pu is not the last u
    assert f.frame(depth("BTCUSDT", 141, 150, 140)) == [("BTCUSDT", "sequence", 130, 140)]
    assert not book(f).valid
    assert f.frame(depth("BTCUSDT", 151, 160, 150)) == []  # broken already: no second gap
    # a snapshot newer than every diff seen: the next diff brackets it
    assert f.rest("BTCUSDT", snapshot(165)) == []
    assert f.frame(depth("BTCUSDT", 161, 170, 160)) == []
    assert book(f).valid
    # another symbol is independent
    assert f.frame(depth("ETHUSDT", 1, 2, 0)) == []
    assert book(f).valid and not book(f, "ETHUSDT").valid


def test_snapshots_older_than_the_chain_are_stale():
    f = sync_feed()
    f.frame(depth("X", 100, 110, 90))
    f.frame(depth("X", 111, 120, 110))
    assert f.rest("X", snapshot(50)) == [("X", "stale_snapshot", 50, 100)]  # cannot be bridged
    assert f.rest("X", snapshot(125)) == []
    # the next diff starts after the snapshot's id: the snapshot is too old for it
    gaps = f.frame(depth("X", 130, 140, 128))
    assert [(s, e, g) for s, _, e, g in gaps] == [("X", 125, 130)]
    assert not book(f, "X").valid


def test_sync_projection_folds_only_book_frames_of_its_venues_streams():
    f = sync_feed()
    assert set(f.proj.projector.streams) == {1, 2}  # Upbit has no snapshots to fetch
    upbit = b'{"ty":"orderbook","cd":"KRW-BTC","tms":1,"obu":[{"ap":2,"as":1,"bp":1,"bs":1}]}'
    f.frame(upbit, stream=3)
    trade = (b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,'
             b'"p":"1.0","q":"1","f":1,"l":1,"T":1,"m":true}}')
    f.frame(trade)  # the descriptor's book_frame test says: no book data
    assert f.proj.projector.last_seq == 0 and f.proj.projector.symbols() == []
    f.frame(depth("BTCUSDT", 1, 2, 0))
    assert f.proj.projector.last_seq == 3 and f.proj.failed is None


def test_live_and_sync_report_the_same_gaps(tmp_path):
    frames = [depth("BTCUSDT", 1, 10, 0), depth("BTCUSDT", 11, 20, 10)]
    script = [("f", p) for p in frames] + [("r", snapshot(15)), ("f", depth("BTCUSDT", 21, 30, 20)),
                                           ("f", depth("BTCUSDT", 41, 50, 40)), ("r", snapshot(45)),
                                           ("f", depth("BTCUSDT", 51, 60, 50))]
    got = []
    for feed in (sync_feed(), live_feed(tmp_path)):
        out = []
        for kind, payload in script:
            out += feed.frame(payload) if kind == "f" else feed.rest("BTCUSDT", payload)
        got.append(out)
    assert got[0] == got[1] == [("BTCUSDT", "sequence", 30, 40)]


def test_live_projection_folds_through_a_hook(tmp_path):
    f = live_feed(tmp_path)
    seen = []

    def fold(rec):
        seen.append(rec.seq)
        return f.proj.projector.apply(rec)

    f.proj.set_fold(fold)
    f.frame(depth("BTCUSDT", 1, 10, 0))
    f.rest("BTCUSDT", snapshot(5))
    f.frame(depth("BTCUSDT", 11, 20, 10))
    assert f.frame(depth("BTCUSDT", 31, 40, 30)) == [("BTCUSDT", "sequence", 20, 30)]
    assert seen == [1, 2, 3, 4] and f.proj.frames == 3


def test_the_real_capture_chain_is_continuous_and_a_dropped_diff_is_found():
    frames, snap = [], None
    with gzip.open(HFTBACKTEST_USDM, "rb") as fh:
        for line in itertools.islice(fh, 3000):
            _, _, raw = line.rstrip(b"\n").partition(b" ")
            if raw.startswith(b'{"lastUpdateId"'):
                snap = snap or raw
            elif b"@depth" in raw[:40]:
                frames.append((raw, snap))
    assert snap is not None and len(frames) > 100
    f = sync_feed()
    given = False
    for raw, s in frames:
        assert f.frame(raw) == []
        if s is not None and not given:
            assert f.rest("BTCUSDT", s) == []
            given = True
    assert book(f).valid
    # Again, one diff after the snapshot dropped.
    lid = bn.snapshot_last_update_id(snap)
    live = [raw for raw, _ in frames if json.loads(raw)["data"]["u"] >= lid]
    g = sync_feed()
    g.rest("BTCUSDT", snap)
    for raw in live[:50]:
        assert g.frame(raw) == []
    gaps = g.frame(live[51])  # live[50] skipped
    assert gaps == [("BTCUSDT", "sequence", json.loads(live[49])["data"]["u"],
                     json.loads(live[51])["data"]["pu"])]
