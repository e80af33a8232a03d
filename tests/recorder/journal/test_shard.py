"""A journal's shard: stored once at creation, read back, a writer of another shard refused,
stream ids from the shard's own block; an unsharded journal exactly as before shards."""

from __future__ import annotations

import pytest

from recorder.cli import main
from recorder.inspect import status
from recorder.journal.errors import JournalUsageError
from recorder.journal.reader import JournalReader
from recorder.journal.segments import CATALOG, journal_root, read_catalog
from recorder.journal.writer import SHARD_ID_BITS, JournalWriter, shard_problem, shard_stream_base
from tests.recorder.journal.util import MIDNIGHT, old_journal, write


def _register(data, n=2, **kw):
    with JournalWriter(data, background=False, **kw) as w:
        return [w.register_stream("okx", url=f"wss://ws.okx.com/{i}") for i in range(n)]


def test_shard_round_trips_through_the_catalog(tmp_path):
    with JournalWriter(tmp_path, background=False, shard="tokyo-1", shard_number=5) as w:
        assert (w.shard, w.shard_number) == ("tokyo-1", 5)
        sid = w.register_stream("okx", url="wss://ws.okx.com/ws/v5/public")
        w.append(sid, "frame", b"{}", ts_ns=MIDNIGHT)
    with JournalReader(tmp_path) as r:
        assert (r.shard, r.shard_number) == ("tokyo-1", 5)
        assert r.meta["shard"] == "tokyo-1" and r.meta["shard_number"] == 5
        s = status(r, MIDNIGHT)
        assert (s["shard"], s["shard_number"]) == ("tokyo-1", 5)
        assert [row["id"] for row in s["streams"]] == [(5 << 25) + 1]
    # reopened for the same shard: accepted, and ids continue in its block
    assert _register(tmp_path, shard="tokyo-1", shard_number=5) == [(5 << 25) + 2, (5 << 25) + 3]


@pytest.mark.parametrize(("name", "number"), [("tokyo-2", 5), ("tokyo-1", 6), ("", 0)],
                         ids=["other-name", "other-number", "unsharded"])
def test_a_writer_of_another_shard_is_refused_naming_both(tmp_path, name, number):
    write(tmp_path, 3, shard="tokyo-1", shard_number=5)
    with pytest.raises(JournalUsageError) as exc:
        JournalWriter(tmp_path, background=False, shard=name, shard_number=number)
    text = str(exc.value)
    assert "'tokyo-1' (number 5)" in text
    assert (f"{name!r} (number {number})" if name else "none (unsharded)") in text
    # the refusal left the journal as it was, and released it: the right shard opens it
    with JournalReader(tmp_path) as r:
        assert (r.shard, r.shard_number, r.last_seq) == ("tokyo-1", 5, 3)
    assert len(write(tmp_path, 1, shard="tokyo-1", shard_number=5, start_ts=MIDNIGHT)) == 1


def test_an_unsharded_journal_refuses_a_sharded_writer(tmp_path):
    write(tmp_path, 2)
    with pytest.raises(JournalUsageError, match=r"none \(unsharded\).*'a' \(number 1\)"):
        JournalWriter(tmp_path, background=False, shard="a", shard_number=1)


def test_an_unsharded_journal_is_unchanged(tmp_path):
    """No shard: the catalog holds the keys it always held, ids count from 1, the tier's from
    1 << 24, and a journal written before shards existed opens as unsharded."""
    assert _register(tmp_path / "main", 3) == [1, 2, 3]
    assert _register(tmp_path / "tier", 2, stream_base=1 << 24) == [(1 << 24) + 1, (1 << 24) + 2]
    meta, _ = read_catalog(journal_root(tmp_path / "main"))
    assert meta == {"format": 1, "shard": "", "seq_floor": 0}
    old = old_journal(tmp_path / "old")
    with JournalReader(old) as r:
        assert (r.shard, r.shard_number) == ("", 0)
        assert status(r, MIDNIGHT)["shard"] == ""
        last = r.last_seq
    with JournalWriter(old, background=False) as w:
        assert (w.shard, w.shard_number, w.last_seq) == ("", 0, last)
    with pytest.raises(JournalUsageError, match="none"):
        JournalWriter(old, background=False, shard="a", shard_number=1)


def test_stream_ids_of_two_shards_and_their_tiers_never_meet(tmp_path):
    got = {}
    for name, k in (("a", 1), ("b", 2), ("last", 63)):
        main_ids = _register(tmp_path / name / "main", 3, shard=name, shard_number=k)
        tier_ids = _register(tmp_path / name / "tier", 3, shard=name, shard_number=k,
                             stream_base=shard_stream_base(k) + (1 << 24))
        assert main_ids == [(k << 25) + i for i in (1, 2, 3)]
        assert tier_ids == [(k << 25) + (1 << 24) + i for i in (1, 2, 3)]
        got[name] = set(main_ids) | set(tier_ids)
    assert not (got["a"] & got["b"]) and not (got["a"] & got["last"]) and not (got["b"] & got["last"])
    assert max(got["last"]) < 1 << 31  # the top block still fits a signed 32-bit id


@pytest.mark.parametrize(("name", "number", "wrong"), [
    ("Tokyo", 1, "shard name"), ("a_b", 1, "shard name"), ("x" * 33, 1, "shard name"),
    ("a", 0, "shard number"), ("a", 64, "shard number"), ("a", True, "shard number"),
    ("", 3, "shard name"),
])
def test_a_bad_shard_identity_is_a_usage_error_and_makes_nothing(tmp_path, name, number, wrong):
    assert wrong in shard_problem(name, number)
    with pytest.raises(JournalUsageError, match=wrong):
        JournalWriter(tmp_path, background=False, shard=name, shard_number=number)
    assert not (journal_root(tmp_path) / CATALOG).exists()


def test_stream_base_must_lie_in_the_shards_block(tmp_path):
    with pytest.raises(JournalUsageError, match="stream_base must be in 33554432"):
        JournalWriter(tmp_path, background=False, shard="a", shard_number=1, stream_base=1 << 24)
    with pytest.raises(JournalUsageError, match="stream_base"):
        JournalWriter(tmp_path, background=False, stream_base=1 << SHARD_ID_BITS)
    assert not (journal_root(tmp_path) / CATALOG).exists()


def test_recorder_status_shows_the_shard(tmp_path, capsys):
    write(tmp_path / "a", 2, shard="osaka", shard_number=7)
    write(tmp_path / "plain", 2)
    assert main(["status", "--data", str(tmp_path / "a")]) == 0
    assert "shard osaka (number 7)" in " ".join(capsys.readouterr().out.split())  # wrapped or not
    assert main(["status", "--data", str(tmp_path / "plain")]) == 0
    assert "shard" not in capsys.readouterr().out


def test_a_journal_numbers_only_within_its_half_of_the_block(tmp_path):
    """The journal's ids stop below the tier's (and the tier's below the next shard's)."""
    for name, base in (("main", (1 << 25) + (1 << 24) - 2), ("tier", (2 << 25) - 2)):
        with JournalWriter(tmp_path / name, background=False, shard="a", shard_number=1,
                           stream_base=base) as w:
            assert w.register_stream("okx") == base + 1
            with pytest.raises(JournalUsageError, match=f"no stream id left below {base + 2}"):
                w.register_stream("okx")
            assert set(w.streams) == {base + 1}  # the refused one was never stored
