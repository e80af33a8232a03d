"""The archive store seam: one contract, run against a local directory and a real S3 server."""

from __future__ import annotations

import hashlib

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from query.errors import ArchiveError, UsageError
from query.store import LocalStore, S3Settings, S3Store, open_store, parse_s3, root_store


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "s3":
        request.getfixturevalue("s3")
        return open_store("s3://arch/pre/fix")
    return open_store(str(tmp_path / "arch"))


def blake(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def test_bytes_round_trip_and_absent_files(store):
    assert store.read_bytes("manifest.json") is None and store.size("x/y") is None
    store.write_bytes("a/b/c.bin", b"one")
    store.write_bytes("a/b/c.bin", b"two!")  # replaced whole
    assert store.read_bytes("a/b/c.bin") == b"two!" and store.size("a/b/c.bin") == 4
    assert store.digest("a/b/c.bin") == blake(b"two!")
    assert store.stamp("a/b/c.bin")[1] == 4 and store.stamp("nope") is None
    store.write_bytes("a/b/d.bin", b"")
    assert store.list_files("a/b") == ["c.bin", "d.bin"] and store.list_files("none") == []
    store.move("a/b/d.bin", "a/b/.e.bin")
    assert store.list_files("a/b") == [".e.bin", "c.bin"]
    store.delete_file("a/b/.e.bin")
    store.delete_file("a/b/.e.bin")  # absent: nothing
    store.delete_dir("a")
    assert store.list_files("a/b") == [] and store.read_bytes("a/b/c.bin") is None
    store.delete_dir("never")


def test_put_file_checks_what_it_copies(store, tmp_path):
    src = tmp_path / "part.bin"
    src.write_bytes(b"x" * 1000)
    store.put_file(src, "raw/date=2025-01-01/part.bin", size=1000, blake2b=blake(b"x" * 1000))
    assert store.read_bytes("raw/date=2025-01-01/part.bin") == b"x" * 1000
    with pytest.raises(ArchiveError, match="changed since it was verified|read back"):
        store.put_file(src, "raw/other.bin", size=1000, blake2b=blake(b"y" * 1000))
    with pytest.raises(ArchiveError, match="changed since it was verified"):
        store.put_file(src, "raw/other.bin", size=999, blake2b=blake(b"x" * 1000))


def test_shards_are_the_directories_with_a_manifest(store):
    assert store.shards() == []
    store.write_bytes("manifest.json", b"{}")
    store.shard("b").write_bytes("manifest.json", b"{}")
    store.shard("a").write_bytes("manifest.json", b"{}")
    store.sub("shard=c").write_bytes("raw/x", b"")  # no manifest: no shard yet
    assert store.shards() == ["", "a", "b"]
    assert store.shard("") is store and store.shard("a").url == store.url + "/shard=a"


def test_duckdb_and_pyarrow_read_the_same_file(store):
    t = pa.table({"seq": [1, 2, 3], "v": ["a", "b", "c"]})
    sink = pa.BufferOutputStream()
    pq.write_table(t, sink)
    store.write_bytes("t/date=2025-01-01/p.parquet", sink.getvalue().to_pybytes())
    con = duckdb.connect()
    store.attach(con)
    got = con.sql(f"SELECT sum(seq), string_agg(v, '') FROM read_parquet('{store.uri('t/date=2025-01-01/p.parquet')}')")
    assert got.fetchone() == (6, "abc")
    with store.fs.open_input_file(store.path("t/date=2025-01-01/p.parquet")) as f:
        assert pq.read_table(f).equals(t)


def test_urls_and_roots(tmp_path):
    assert parse_s3("s3://bkt/p/q/") == ("bkt", "p/q") and parse_s3("s3://my.bucket-1") == ("my.bucket-1", "")
    for bad in ("s3://", "s3:///x", "s3://b/x", "s3://Upper/x", "s3://a_b/x"):
        with pytest.raises(UsageError):
            parse_s3(bad)
    assert isinstance(root_store(tmp_path), LocalStore)
    assert root_store(tmp_path).url == str((tmp_path / "archive").absolute())
    assert root_store(tmp_path, str(tmp_path / "elsewhere")).url == str(tmp_path / "elsewhere")


def test_s3_check_names_the_fault(s3, monkeypatch):
    ok = open_store("s3://arch/x")
    assert isinstance(ok, S3Store)
    ok.check()
    assert ok.list_files("") == []  # the probe is gone
    with pytest.raises(ArchiveError, match="no bucket 'missing'"):
        open_store("s3://missing/x").check()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-value")
    with pytest.raises(ArchiveError, match="access denied") as e:
        open_store("s3://arch/x").check()
    assert "wrong-secret-value" not in str(e.value)


def test_a_transient_failure_checking_an_upload_is_retried(tmp_path, monkeypatch):
    # The bare requests after the copy (stat, read back) go through the retry loop:
    # one failure of each is retried, not said as an ArchiveError.
    (tmp_path / "arch" / "pre").mkdir(parents=True)
    fs = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    store = S3Store("arch", "pre", S3Settings(None, access_key="k", secret_key="s"), fs=fs, backoff_s=0)
    failing = {"_size": 1, "_digest": 1}
    for name in failing:
        real = getattr(store, name)

        def flaky(rel, name=name, real=real):
            if failing[name]:
                failing[name] -= 1
                raise OSError("connection reset by peer")
            return real(rel)

        monkeypatch.setattr(store, name, flaky)
    src = tmp_path / "part.bin"
    src.write_bytes(b"x" * 1000)
    store.put_file(src, "part.bin", size=1000, blake2b=blake(b"x" * 1000))
    assert failing == {"_size": 0, "_digest": 0}
    assert (tmp_path / "arch" / "pre" / "part.bin").read_bytes() == b"x" * 1000
