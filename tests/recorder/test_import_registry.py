"""The journal's import register: what was imported, by content, kept in the catalog."""

from __future__ import annotations

import hashlib

import pytest

from recorder import import_registry as registry
from recorder.importer import CaptureError, import_files
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter
from tests.conftest import capture_path


def test_each_import_is_registered_by_its_content(tmp_path):
    upbit, okx = capture_path("UPBIT"), capture_path("OKX")
    import_files(tmp_path, [upbit, okx])
    entries = registry.imports(tmp_path)
    assert [(e.name, e.format, e.first_seq, e.last_seq, e.records, e.state) for e in entries] == [
        ("UPBIT.jsonl.zst", "cryptofeed", 1, 452, 452, "done"),
        ("OKX.jsonl.zst", "cryptofeed", 453, 891, 439, "done")]
    assert entries[0].digest == hashlib.sha256(upbit.read_bytes()).hexdigest() == registry.file_digest(upbit)
    assert (entries[0].first_ts_ns, entries[0].last_ts_ns) == (1618678261680079200, 1618678292777509200)
    assert entries[0].size == upbit.stat().st_size and entries[0].path == str(upbit)
    assert entries[0].started_ns <= entries[0].finished_ns
    with JournalReader(tmp_path) as r:  # the catalog's own tables are as before
        assert len(r.streams()) == 4 and r.meta["format"] == 1


def test_a_journal_without_a_register_holds_no_imports(tmp_path):
    with JournalWriter(tmp_path, background=False) as w:
        w.append(w.register_stream("upbit"), "frame", b"x", ts_ns=1)
        assert registry.find(w, "00" * 32) == []
    assert registry.imports(tmp_path) == []


def _killed_import(data, path, records: int) -> None:
    """What a recorder killed during an import leaves: its entry "started", ``records`` committed."""
    with JournalWriter(data, background=False) as w:
        registry.begin(w, digest=registry.file_digest(path), path=path, fmt="cryptofeed")
        sid = w.register_stream("okx", conn=f"{path.name}:OKX.ws.1")
        for i in range(records):
            w.append(sid, "frame", b"{}", ts_ns=1652458996256593000 + i)


def test_an_import_killed_half_way_is_settled_and_refused(tmp_path):
    okx = capture_path("OKX")
    _killed_import(tmp_path, okx, 10)
    assert [e.state for e in registry.imports(tmp_path)] == ["started"]
    with pytest.raises(CaptureError) as info:
        import_files(tmp_path, [okx])
    assert (f"{okx}: its content (sha256 cf796749e6a1ab8b...) was being imported into {tmp_path} as "
            "OKX.jsonl.zst when that import stopped (noticed ") in str(info.value)
    assert "seq 1..10 of it are in the journal, the rest is not. Nothing was imported" in str(info.value)
    [e] = registry.imports(tmp_path)
    assert (e.state, e.first_seq, e.last_seq, e.records) == ("interrupted", 1, 10, 10)
    with JournalReader(tmp_path) as r:
        assert r.last_seq == 10


def test_an_import_killed_before_its_first_record_is_forgotten(tmp_path):
    okx = capture_path("OKX")
    _killed_import(tmp_path, okx, 0)
    [res] = import_files(tmp_path, [okx])
    assert (res.first_seq, res.last_seq) == (1, 439)
    assert [(e.first_seq, e.state) for e in registry.imports(tmp_path)] == [(1, "done")]


def test_an_import_stopped_in_this_process_says_what_of_it_is_in(tmp_path):
    def stop(name, phase, done, total):
        if phase == "importing" and done == 4096:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_files(tmp_path, [capture_path("KUCOIN")], on_progress=stop)
    [e] = registry.imports(tmp_path)
    assert (e.state, e.first_seq, e.last_seq) == ("interrupted", 1, 4096)
    with JournalReader(tmp_path) as r:
        assert r.last_seq == 4096
    with pytest.raises(CaptureError, match=r"when that import stopped .* seq 1\.\.4096 of it are in the journal"):
        import_files(tmp_path, [capture_path("KUCOIN")])


def test_fields_a_later_version_writes_are_kept():
    e = registry.ImportEntry.from_value("ab" * 32, {"name": "x.gz", "path": "x.gz", "size": 1, "format": "hftbacktest",
                                                   "first_seq": 3, "started_ns": 5, "state": "done", "new": [1]})
    assert e.extra == {"new": [1]} and e.to_value()["new"] == [1] and e.to_value()["first_seq"] == 3
