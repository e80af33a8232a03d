"""The manifest: absent is empty, unreadable is a ManifestError, saving twice writes once."""

from __future__ import annotations

import json

import pytest

from query import manifest
from query.errors import ManifestError


def test_absent_is_empty_and_a_save_round_trips(tmp_path):
    assert manifest.load(tmp_path) == {"format": manifest.FORMAT, "streams": None, "days": {}}
    m = manifest.empty()
    m["days"]["2025-01-02"] = {"records": 3, "tables": {"raw": {"files": [{"path": "b"}]}}}
    m["days"]["2025-01-01"] = {"records": 2, "tables": {"raw": {"files": [{"path": "a"}]}}}
    assert manifest.save(tmp_path, m) is True
    path = tmp_path / "archive" / "manifest.json"
    written = path.read_bytes()
    assert manifest.save(tmp_path, m) is False and path.read_bytes() == written
    assert manifest.load(tmp_path) == m
    assert manifest.days(m) == ["2025-01-01", "2025-01-02"]
    assert manifest.table_files(m, "raw") == ["a", "b"] and manifest.table_files(m, "trades") == []


@pytest.mark.parametrize("content,msg", [
    (b"{not json", "not JSON"),
    (json.dumps({"format": 99, "days": {}}).encode(), "unknown manifest format 99"),
    (b"[1]", r"unknown manifest format \[1\]"),
])
def test_an_unreadable_manifest_is_a_manifest_error(tmp_path, content, msg):
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "manifest.json").write_bytes(content)
    with pytest.raises(ManifestError, match=msg):
        manifest.load(tmp_path)


def test_file_entry_names_size_and_digest(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"0123456789")
    e = manifest.file_entry(tmp_path, "x.parquet", rows=4)
    assert e == {"path": "x.parquet", "bytes": 10, "blake2b": manifest.file_digest(tmp_path / "x.parquet"),
                 "rows": 4}
    assert len(e["blake2b"]) == 32
