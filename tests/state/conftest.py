"""Fixtures for the projection tests: capture journals read back as records."""

from __future__ import annotations

import pytest

from recorder.journal.reader import JournalReader
from recorder.journal.record import Record


@pytest.fixture(scope="session")
def capture_records(capture_journal):
    """``capture_records(name)`` -> (streams, records) of a capture imported into a journal."""
    made: dict[str, tuple] = {}

    def get(name: str):
        if name not in made:
            with JournalReader(capture_journal(name)) as reader:
                made[name] = (reader.streams(), list(reader.read()))
        return made[name]

    return get


@pytest.fixture(scope="session")
def projected(capture_records):
    """``projected(name)`` -> (projector, events) after folding a whole capture one by one."""
    from state.projector import Projector

    made: dict[str, tuple] = {}

    def get(name: str):
        if name not in made:
            streams, records = capture_records(name)
            p = Projector(streams)
            events = [ev for rec in records for ev in p.apply(rec)]
            made[name] = (p, events)
        return made[name]

    return get


MIX = ("BINANCE", "BINANCE_FUTURES", "UPBIT", "BYBIT", "OKX", "GATEIO", "GATEIO_FUTURES", "KUCOIN", "PHEMEX")


@pytest.fixture(scope="session")
def mixed(capture_records):
    """Several captures as one journal: (streams, records), streams renumbered, seqs gapless from 1."""
    streams: dict = {}
    records: list = []
    for name in MIX:
        s, recs = capture_records(name)
        base = len(streams)
        for sid, info in s.items():
            streams[sid + base] = info._replace(id=sid + base)  # StreamInfo: a NamedTuple
        for r in recs:
            records.append(Record(len(records) + 1, r.ts_ns, r.stream + base, r.kind, r.payload, r.meta))
    return streams, records
