"""The record source contract (``tests/recorder/journal/test_source.py``) run against the
follower: the same three captures' journal published through the broker, whole and pruned
(its first day archived: the stream starts after seq 1), each shard a stream of its own."""

from __future__ import annotations

import asyncio

import pytest

from recorder.daemon.broker import BrokerPublisher
from recorder.daemon.config import BrokerConfig
from recorder.journal.reader import JournalReader
from recorder.journal.remote import RemoteSource
from tests.recorder.journal.test_source import (  # noqa: F401 (the contract's fixture and tests)
    _day_one_end,
    built,
    test_a_range_that_selects_nothing_is_empty,
    test_holds_the_same_records_byte_for_byte,
    test_is_a_record_source,
    test_seq_and_time_bounds_together_are_both_applied,
    test_seq_at_time_is_the_first_record_at_or_after,
    test_seq_bounds_are_inclusive_at_both_ends,
    test_streams_are_the_same_and_a_copy,
    test_time_bounds_include_the_start_and_exclude_the_end,
)
from tools.natsserver import NatsServer

pytestmark = pytest.mark.timeout(300)


async def _publish(data, url: str, shard: str) -> None:
    """Publish a finished journal whole: the publisher takes it all from the journal."""
    with JournalReader(data) as r:
        last, streams = r.last_seq, r.streams()
    pub = BrokerPublisher(BrokerConfig(url=url, batch_records=500), data_dir=data, shard=shard,
                          committed=lambda: last, stream_of=streams.get)
    pub.start()
    deadline = asyncio.get_running_loop().time() + 60
    while pub.published_seq < last and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    await pub.close()
    assert pub.published_seq == last and pub.recovered_records > 0


@pytest.fixture(scope="module")
def server(tmp_path_factory, built):  # noqa: F811 (the contract's fixture)
    srv = NatsServer(tmp_path_factory.mktemp("nats")).start()
    try:
        asyncio.run(_publish(built.full, srv.url, "full"))
        asyncio.run(_publish(built.tail, srv.url, "tail"))
        yield srv
    finally:
        srv.stop()


@pytest.fixture(params=["remote", "remote-pruned"])
def case(request, built, server):  # noqa: F811 (the contract's fixture)
    """(the source, the records it must hold, the streams it must know), as the contract's.

    The publisher sends a stream before its first record, so a stream of the pruned records
    alone never reaches the broker: the follower knows the streams of what it holds."""
    shard = "full" if request.param == "remote" else "tail"
    want = built.records if shard == "full" else built.records[_day_one_end(built):]
    used = {r.stream for r in want}
    src = RemoteSource(server.url, shard)
    yield src, want, {sid: info for sid, info in built.streams.items() if sid in used}
    src.close()
