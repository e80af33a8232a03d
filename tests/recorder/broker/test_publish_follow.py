"""The publisher and the follower against a real ``nats-server -js``: every committed record
reaches the stream once, in seq order, whatever the queue dropped or the broker did; a
follower hands each out exactly once and resumes after reconnects and restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from recorder.journal.remote import (
    BrokerUnreachableError,
    RemoteSource,
    RemoteStreamMissingError,
    stream_name,
)
from tools.natsserver import free_port

from .pipeline import Follower, Pipeline, journal, until

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[3]


async def test_every_record_once_in_order_with_its_streams(tmp_path, nats_server):
    data = tmp_path / "data"
    async with Pipeline(data, nats_server.url, queue=8, batch_records=100) as p:
        for _ in range(6):
            p.burst(500)
            await asyncio.sleep(0.01)
        p.burst(10, big=2_500_000)  # over the server's 1 MiB payload: sent in parts
        await p.published()
    local = journal(data)
    with RemoteSource(nats_server.url) as src:
        assert (src.first_seq, src.last_seq) == (1, len(local))
        got = list(src.read())
        assert got == local  # every field, every record, in seq order
        assert src.streams() == {sid: p.writer.streams[sid] for sid in p.sids}
        assert [r.seq for r in src.read(700, 705)] == list(range(700, 706))
        mid = local[1234]
        assert src.seq_at_time(mid.ts_ns) == next(r.seq for r in local if r.ts_ns >= mid.ts_ns)
        assert [r.seq for r in src.read(from_ts_ns=local[-3].ts_ns)][-1] == len(local)
    assert p.pub.published_records == len(local)  # each once (drops recovered from the journal)


async def test_a_tiny_queue_drops_counted_batches_and_the_stream_stays_gapless(tmp_path, nats_server):
    data = tmp_path / "data"
    async with Pipeline(data, nats_server.url, queue=1, batch_records=20) as p:
        for _ in range(5):
            p.burst(2000)  # no await: the publisher cannot run, the queue overflows
            await asyncio.sleep(0)
        await p.published()
        metrics = {s.name: s.value for m in p.registry.collect() for s in m.samples}
    assert p.pub.dropped_records > 0 and p.pub.dropped_batches > 0
    assert metrics["ticktape_broker_dropped_total"] == p.pub.dropped_records
    assert p.pub.recovered_records >= p.pub.dropped_records  # read back from the journal
    with RemoteSource(nats_server.url) as src:
        assert list(src.read()) == journal(data)


async def test_broker_down_at_start_then_killed_midway_the_follower_catches_up(tmp_path, nats_down):
    data = tmp_path / "data"
    async with Pipeline(data, nats_down.url, queue=4, batch_records=50) as p:
        p.burst(1500)
        p.writer.flush()
        await until(lambda: p.pub.errors > 0, 10, "the publisher said the broker is down")
        assert p.pub.published_seq == 0 and p.writer.committed_seq == 1500  # recording went on
        nats_down.start()
        await p.published()
        follower = await asyncio.to_thread(Follower, nats_down.url, reconnect_wait_s=0.2)
        try:
            await until(lambda: follower.last == 1500, 30, "the follower at 1500")
            nats_down.kill()  # the broker dies; both sides reconnect forever
            p.burst(1500)
            await asyncio.sleep(1.0)
            nats_down.start()  # same port, same store
            p.burst(1000)
            await p.published()
            await until(lambda: follower.last == p.writer.last_seq or follower.error is not None, 40,
                        "the follower caught up")
        finally:
            await asyncio.to_thread(follower.close)
        assert follower.error is None, follower.error
    local = journal(data)
    assert len(local) == 4000 and follower.records == local  # no loss, no duplicate
    assert follower.src.reconnects >= 1


def _child(url: str, from_seq: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.recorder.broker.follow_child", url,
                             str(from_seq), str(out)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _seqs(path: Path) -> list[int]:
    if not path.exists():
        return []
    lines = path.read_text().split("\n")
    return [int(x) for x in lines[:-1]]  # the last line may be cut by the kill


async def test_a_follower_killed_and_restarted_resumes_without_loss_or_duplicate(tmp_path, nats_server):
    data = tmp_path / "data"
    out = tmp_path / "applied.txt"
    async with Pipeline(data, nats_server.url, queue=8, batch_records=50) as p:
        child = _child(nats_server.url, 1, out)
        try:
            for _ in range(20):
                p.burst(200)
                await asyncio.sleep(0.05)
            await until(lambda: len(_seqs(out)) > 500, 30, "the follower's first records")
            os.kill(child.pid, signal.SIGKILL)  # mid-stream
            child.wait(10)
            p.burst(3000)
            done = _seqs(out)
            child = _child(nats_server.url, done[-1] + 1, out)  # resume after its last applied
            await p.published()
            await until(lambda: _seqs(out)[-1:] == [p.writer.last_seq], 30, "the follower caught up")
        finally:
            if child.poll() is None:
                os.kill(child.pid, signal.SIGTERM)
            child.wait(10)
    assert _seqs(out) == list(range(1, p.writer.last_seq + 1))


async def test_the_errors_are_clear(tmp_path, nats_server):
    with pytest.raises(BrokerUnreachableError, match=r"no NATS server answers at nats://127.0.0.1:\d+"):
        RemoteSource(f"nats://127.0.0.1:{free_port()}", connect_timeout_s=1)
    with pytest.raises(RemoteStreamMissingError, match="no JetStream stream TICKTAPE_EU1"):
        RemoteSource(nats_server.url, "eu1")
    with pytest.raises(ValueError, match="shard name"):
        stream_name("eu.1")


async def test_shards_have_streams_of_their_own(tmp_path, nats_server):
    async with Pipeline(tmp_path / "a", nats_server.url, shard="eu1", shard_number=1) as a, \
            Pipeline(tmp_path / "b", nats_server.url, shard="us1", shard_number=2) as b:
        a.burst(300)
        b.burst(200)
        await a.published()
        await b.published()
    for shard, data in (("eu1", tmp_path / "a"), ("us1", tmp_path / "b")):
        with RemoteSource(nats_server.url, shard) as src:
            assert src.name == stream_name(shard) and list(src.read()) == journal(data)


async def test_a_restarted_publisher_continues_after_the_stream_s_last_seq(tmp_path, nats_server):
    data = tmp_path / "data"
    async with Pipeline(data, nats_server.url) as p:
        p.burst(400)
        await p.published()
    async with Pipeline(data, nats_server.url) as p:  # the recorder restarted
        assert p.writer.last_seq == 400
        p.burst(100)
        await p.published()
        assert p.pub.published_records == 100  # nothing published twice
    with RemoteSource(nats_server.url) as src:
        assert list(src.read()) == journal(data)


def test_a_stream_ahead_of_the_journal_stops_publishing(tmp_path, nats_server):
    async def run() -> str | None:
        async with Pipeline(tmp_path / "a", nats_server.url) as p:
            p.burst(300)
            await p.published()
        async with Pipeline(tmp_path / "b", nats_server.url) as q:  # another journal, same shard
            q.burst(10)
            q.writer.flush()
            await until(lambda: q.pub.failed is not None, 10, "the publisher refused")
            return q.pub.failed

    failed = asyncio.run(run())
    assert failed is not None and "past this journal's 10" in failed
    with RemoteSource(nats_server.url) as src:
        assert list(src.read()) == journal(tmp_path / "a")  # untouched


async def test_a_link_silent_for_seconds_then_healed_costs_time_not_records(tmp_path, nats_server):
    """The broker frozen (SIGSTOP: connections open, nothing answers, as a cut link) for 5 s:
    both sides notice by their pings, reconnect after it heals, and catch up."""
    data = tmp_path / "data"
    async with Pipeline(data, nats_server.url, queue=4, batch_records=50, ack_timeout_s=2.0) as p:
        p.burst(500)
        await p.published()
        follower = await asyncio.to_thread(Follower, nats_server.url, reconnect_wait_s=0.2)
        try:
            await until(lambda: follower.last == 500, 30, "the follower at 500")
            os.kill(nats_server.proc.pid, signal.SIGSTOP)
            try:
                for _ in range(10):
                    p.burst(100)
                    await asyncio.sleep(0.5)
            finally:
                os.kill(nats_server.proc.pid, signal.SIGCONT)
            p.burst(300)
            await p.published(60)
            await until(lambda: follower.last == p.writer.last_seq or follower.error is not None, 60,
                        "the follower caught up")
        finally:
            await asyncio.to_thread(follower.close)
    assert follower.error is None, follower.error
    assert follower.records == journal(data)


async def test_a_trimmed_stream_starts_later_and_resuming_before_it_is_a_gap(tmp_path, nats_server):
    import nats

    from recorder.journal.remote import RemoteGapError, subjects

    data = tmp_path / "data"
    async with Pipeline(data, nats_server.url, batch_records=100, max_age_h=24.0) as p:
        for _ in range(10):
            p.burst(100)
            await asyncio.sleep(0.02)
        await p.published()
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream_name(""))
        assert info.config.max_age == 24 * 3600
        await js.purge_stream(stream_name(""), subject=subjects("")[0], keep=3)  # as limits would
    finally:
        await nc.close()
    local = journal(data)

    def check() -> None:
        with RemoteSource(nats_server.url) as src:
            first = src.first_seq
            assert 1 < first < len(local) and src.last_seq == len(local)
            assert list(src.read()) == local[first - 1:]
            assert next(iter(src.follow(1, idle_timeout=5))) == local[first - 1]
            with pytest.raises(RemoteGapError) as err:
                next(iter(src.follow(first - 1, idle_timeout=5)))
            assert (err.value.expected, err.value.got) == (first - 1, first)

    await asyncio.to_thread(check)


async def test_a_follower_started_before_the_first_record_knows_every_stream(tmp_path, nats_server):
    data = tmp_path / "data"
    async with Pipeline(data, nats_server.url) as p:
        await until(lambda: p.pub.syncs == 1, 10, "the stream created")

        def empty() -> None:
            with RemoteSource(nats_server.url) as src:  # the contract's empty source
                assert (src.first_seq, src.last_seq) == (0, 0) and src.streams() == {}
                assert list(src.read()) == [] and list(src.read(from_ts_ns=0, to_ts_ns=2**62)) == []
                assert src.seq_at_time(0) is None

        await asyncio.to_thread(empty)
        follower = await asyncio.to_thread(Follower, nats_server.url)
        try:
            await asyncio.sleep(0.3)
            p.burst(1500)  # three streams, each announced before its first record
            await p.published()
            await until(lambda: follower.last == 1500, 30, "the follower at 1500")
            assert follower.src.streams() == p.writer.streams
        finally:
            await asyncio.to_thread(follower.close)
    assert follower.records == journal(data)


async def test_stopped_while_the_broker_is_away_the_next_start_publishes_the_rest(tmp_path, nats_down):
    data = tmp_path / "data"
    async with Pipeline(data, nats_down.url) as p:
        p.burst(800)
        p.writer.flush()
        await until(lambda: p.pub.errors > 0, 10, "the publisher said the broker is down")
    assert p.pub.published_seq == 0  # it stopped without waiting for a broker that is away
    nats_down.start()
    async with Pipeline(data, nats_down.url) as q:  # the recorder started again
        q.burst(200)
        await q.published()
    with RemoteSource(nats_down.url) as src:
        assert list(src.read()) == journal(data) and src.last_seq == 1000


async def test_seq_at_time_finds_values_sent_in_parts(tmp_path, nats_server):
    """The binary search lands on parts after a value's first: it walks back to that value's
    first part and answers with the record, as a journal reader does."""
    data = tmp_path / "data"
    async with Pipeline(data, nats_server.url, batch_records=4) as p:
        for _ in range(4):
            p.burst(3, big=2_500_000)  # over the server's 1 MiB payload: three parts each
            await asyncio.sleep(0.01)
        await p.published()
    local = journal(data)

    def check() -> None:
        with RemoteSource(nats_server.url) as src:
            for r in local:
                assert src.seq_at_time(r.ts_ns) == next(x.seq for x in local if x.ts_ns >= r.ts_ns)
            assert src.seq_at_time(local[-1].ts_ns + 1) is None

    await asyncio.to_thread(check)


async def test_a_stream_trimmed_inside_a_value_in_parts_starts_after_that_value(tmp_path, nats_server):
    import nats

    from recorder.journal.remote import subjects

    data = tmp_path / "data"
    async with Pipeline(data, nats_server.url, batch_records=4) as p:
        p.burst(3, big=2_500_000)  # records 1..3 in one message, 4 in three parts
        await p.published()
        p.burst(3)  # 5..7
        await p.published()
    nc = await nats.connect(nats_server.url)
    try:
        # keep seq 4's last two parts and 5..7, as limits would trim a stream
        await nc.jetstream().purge_stream(stream_name(""), subject=subjects("")[0], keep=3)
    finally:
        await nc.close()
    local = journal(data)

    def check() -> None:
        with RemoteSource(nats_server.url) as src:
            assert (src.first_seq, src.last_seq) == (5, 7)
            assert list(src.read()) == local[4:]
            assert next(iter(src.follow(1, idle_timeout=5))) == local[4]
            assert src.seq_at_time(0) == 5 and src.seq_at_time(local[3].ts_ns) == 5

    await asyncio.to_thread(check)
