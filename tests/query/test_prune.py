"""Pruning: a journal day goes only when the archive holds exactly it, oldest first, in one run."""

from __future__ import annotations

import pytest

from query import manifest
from query.compact import compact
from query.errors import PruneError, SettingsError
from query.prune import prune
from recorder.journal.reader import JournalReader
from tests.query.conftest import CURRENT, FINISHED_SMALL


def journal_days(data) -> list[str]:
    with JournalReader(data) as r:
        return [s.day for s in r.segments()]


@pytest.fixture
def archived(multi_day) -> dict[str, dict]:
    """Every finished day archived, none pruned yet: the manifest's day entries."""
    compact(multi_day, keep_days=len(FINISHED_SMALL))
    assert journal_days(multi_day) == [*FINISHED_SMALL, CURRENT]
    return manifest.load(multi_day)["days"]


def test_prunes_oldest_first_and_calls_before_delete(multi_day, archived):
    closed: list[str] = []
    assert prune(multi_day, archived, keep_days=1, before_delete=closed.append) == list(FINISHED_SMALL[:2])
    assert closed == list(FINISHED_SMALL[:2])
    assert journal_days(multi_day) == [FINISHED_SMALL[2], CURRENT]
    with JournalReader(multi_day) as r:
        assert r.first_seq == archived[FINISHED_SMALL[1]]["last_seq"] + 1


def test_a_day_unlike_its_archive_is_kept_and_nothing_after_it_goes(multi_day, archived):
    wrong = {d: dict(e) for d, e in archived.items()}
    wrong[FINISHED_SMALL[1]]["records"] -= 1
    with pytest.raises(PruneError, match=f"journal day {FINISHED_SMALL[1]} holds seq .* not deleting it"):
        prune(multi_day, wrong)
    # The day before it matched and went; the mismatched day and every later one stay.
    assert journal_days(multi_day) == [*FINISHED_SMALL[1:], CURRENT]


def test_only_archived_days_go_and_the_journal_stays_one_run(multi_day, archived):
    middle_missing = {d: e for d, e in archived.items() if d != FINISHED_SMALL[1]}
    assert prune(multi_day, middle_missing) == [FINISHED_SMALL[0]]
    assert journal_days(multi_day) == [*FINISHED_SMALL[1:], CURRENT]


def test_a_negative_keep_days_is_misuse_and_deletes_nothing(multi_day, archived):
    with pytest.raises(SettingsError, match="keep_days must be >= 0") as exc:
        prune(multi_day, archived, keep_days=-1)
    assert exc.value.name == "keep_days"
    assert journal_days(multi_day) == [*FINISHED_SMALL, CURRENT]
