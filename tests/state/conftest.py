"""Fixtures for the projection tests: capture journals read back as records."""

from __future__ import annotations

import pytest

from recorder.journal.reader import JournalReader


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
