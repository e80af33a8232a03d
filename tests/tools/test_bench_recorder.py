"""The recorder benchmark's lean sender: valid WebSocket frames, distinct, with usable snapshots.

The benchmark's figures are only as good as what it sends, so this checks the sender,
never a speed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os

import orjson

from recorder.venues import binance_usdm as bn
from tools.bench import recorder as bench

from .simhelp import DepthChains, http, recv_n, ws_connect


async def test_lean_sender_frames_are_exact_distinct_and_snapshots_sync_the_book(monkeypatch):
    monkeypatch.setattr(bench, "SNAP_EVERY", 1000)
    n = 4000
    sender = bench.LeanSender(n)
    server = await asyncio.start_server(sender.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        url = f"ws://127.0.0.1:{port}/public/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker"
        async with ws_connect(url) as ws:
            first = await recv_n(ws, 1500)
            # the snapshot served now lies ahead of what the client has read
            status, _, body = await http("GET", f"http://127.0.0.1:{port}/fapi/v1/depth?symbol=BTCUSDT&limit=1000")
            rest = await recv_n(ws, n - 1500)
        got = [m.encode() for m in first + rest]
    finally:
        server.close()
    digest = hashlib.blake2b(digest_size=16)
    for p in got:
        digest.update(hashlib.blake2b(p, digest_size=16).digest())
    assert digest.hexdigest() == sender.digest
    assert hashlib.blake2b(got[-1], digest_size=16).hexdigest() == sender.last
    assert len(set(got)) == n  # distinct: looped ids are shifted, nothing repeats
    assert {orjson.loads(p)["stream"] for p in got} == {"btcusdt@depth@100ms", "btcusdt@bookTicker"}
    assert status == 200
    chains = DepthChains()
    assert [g for p in got[:1500] for g in chains.frame(p)] == []  # buffered until the snapshot
    assert chains.snapshot("BTCUSDT", bn.snapshot_last_update_id(body)) == []
    assert [g for p in got[1500:] for g in chains.frame(p)] == []
    assert chains.live("BTCUSDT")


def test_ws_frame_headers_and_proc_status():
    assert bench.ws_frame(b"x" * 5)[:2] == b"\x81\x05"
    assert bench.ws_frame(b"x" * 300)[:4] == b"\x81\x7e\x01\x2c"
    assert bench.ws_frame(b"x" * 70000)[:10] == b"\x81\x7f" + (70000).to_bytes(8, "big")
    st = bench.proc_status(os.getpid())
    assert {"VmRSS", "VmHWM", "RssAnon", "RssFile"} <= set(st) and st["VmHWM"] >= st["VmRSS"] > 0
    assert bench.proc_status(2**31 - 1) == {}
