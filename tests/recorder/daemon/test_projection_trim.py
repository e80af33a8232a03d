"""After a stored checkpoint the live projection hands the allocator's free pages back
(issue 18: each checkpoint's transient copies left RSS a step higher); only then."""

from __future__ import annotations

import logging

from recorder.daemon.projection import LiveProjection
from recorder.journal.checkpoints import MemoryCheckpointStore
from recorder.journal.record import FRAME, Record, StreamInfo

LOG = logging.getLogger("test")
NS = 1_000_000_000


def trade(seq: int) -> Record:
    body = (f'{{"stream":"btcusdt@trade","data":{{"e":"trade","E":1,"T":1,"s":"BTCUSDT",'
            f'"t":{seq},"p":"100","q":"1","m":false}}}}').encode()
    return Record(seq, seq * NS, 1, FRAME, body, None)


def test_a_stored_checkpoint_is_followed_by_a_trim_and_a_refused_one_is_not(tmp_path):
    trims = []
    store = MemoryCheckpointStore()
    p = LiveProjection(data_dir=str(tmp_path), depth_levels=20, log=LOG, on_gap=lambda g, s: None,
                       checkpoint_every_records=10**9, checkpoint_every_s=1e9,
                       checkpoints=store, trim=lambda: trims.append(p.checkpoint_seq))
    p.add_stream(StreamInfo(1, "binance-usdm", "usdm", "wss://fstream.binance.com/stream"))
    for seq in (1, 2, 3):
        p(trade(seq))
    seq, blob = p.capture()
    assert not p.store(seq, blob, committed_seq=seq - 1)  # not durable yet: refused
    assert trims == []
    assert p.store(seq, blob, committed_seq=seq)
    assert trims == [3] and store.seqs() == [3]  # after the save, with the seq it stored
    assert not p.store(seq, blob, committed_seq=seq)  # the same again: nothing stored
    assert trims == [3]

