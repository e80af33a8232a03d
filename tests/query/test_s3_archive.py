"""Archives on S3: compaction uploads and verifies, readers read there (a real s3s-fs server).

Each test starts its own server on 127.0.0.1 (fixture ``s3``, ``tools/s3server.py``).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from query import manifest as _manifest
from query.archive import ArchiveSource
from query.catalog import connect, examples
from query.cli import main as query_main
from query.compact import compact
from query.errors import ArchiveError
from query.store import S3Store, open_store
from recorder.journal.reader import JournalReader
from recorder.journal.writer import shard_stream_base
from state.projector import Projector
from tests.query.conftest import SYN_DAYS

URL = "s3://arch/desk"
NOW = 1_800_000_000 * 10**9  # the clock: both synthetic days are over
DAYS = list(SYN_DAYS)


def answers(con) -> dict[str, list]:
    out = {}
    for name, stmts in examples().items():
        rel = None
        for s in stmts:
            rel = con.sql(s)
        out[name] = rel.fetchall() if rel is not None else []
    return out


def journal_days(data: Path) -> list[str]:
    with JournalReader(data) as r:
        return [s.day for s in r.segments() if s.records]


def digest_of(records, streams) -> tuple[int, str]:
    p = Projector(streams=streams)
    n = 0
    for rec in records:
        p.apply(rec)
        n += 1
    return n, p.digest()


def test_compact_to_s3_answers_as_the_local_archive(synthetic, tmp_path, s3):
    local = tmp_path / "local"
    shutil.copytree(synthetic, local)
    compact(local, now_ns=NOW)
    res = compact(synthetic, archive=URL, now_ns=NOW)
    assert res.compacted == DAYS
    assert res.pruned == DAYS  # pruned only once the S3 manifest lists them
    assert not (synthetic / "archive" / "manifest.json").exists()  # nothing local but the lock
    store = open_store(URL)
    m = _manifest.load(store)
    assert m == _manifest.load(local)  # same files, rows, digests: the same manifest bytes
    for day in m["days"]:
        for t in m["days"][day]["tables"].values():
            for f in t["files"]:
                assert (s3.root / "arch" / "desk" / f["path"]).stat().st_size == f["bytes"]
    got = answers(connect(None, archive=URL))
    want = answers(connect(local, hot=False))
    assert got == want
    assert all(got[k] for k in ("minute_vwap", "upbit_premium", "gaps_per_day"))
    # With the (now empty) journal too, as for a local archive.
    assert answers(connect(synthetic, archive=URL)) == answers(connect(local))


def test_hot_rows_come_on_top_of_an_s3_archive(synthetic, tmp_path, s3):
    local = tmp_path / "local"
    shutil.copytree(synthetic, local)
    assert compact(local).compacted == DAYS[:1]  # the second day is the newest: it stays hot
    assert compact(synthetic, archive=URL).compacted == DAYS[:1]
    assert answers(connect(synthetic, archive=URL)) == answers(connect(local))


def test_query_sql_and_status_take_archive(synthetic, s3, capsys, tmp_path):
    assert query_main(["compact", "--data", str(synthetic), "--archive", URL, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["compacted"] == list(SYN_DAYS)
    sql = "SELECT date, count(*) AS n FROM raw GROUP BY 1 ORDER BY 1"
    assert query_main(["sql", "--data", str(tmp_path / "none"), "--archive", URL, sql,
                       "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    m = _manifest.load(open_store(URL))
    assert [(r["date"], r["n"]) for r in rows] == [(d, m["days"][d]["records"]) for d in SYN_DAYS]
    assert query_main(["status", "--archive", URL, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["day"] for r in doc["shards"][""]] == list(SYN_DAYS)


def test_replay_reads_the_s3_archive_to_the_same_digest(synthetic, tmp_path, s3):
    local = tmp_path / "local"
    shutil.copytree(synthetic, local)
    compact(local, now_ns=NOW)
    compact(synthetic, archive=URL, now_ns=NOW)
    remote = ArchiveSource(open_store(URL))
    here = ArchiveSource(local)
    assert (remote.first_seq, remote.last_seq) == (here.first_seq, here.last_seq)
    assert list(remote.read()) == list(here.read())
    n, digest = digest_of(remote.read(), remote.streams())
    assert (n, digest) == digest_of(here.read(), here.streams())
    assert n == remote.last_seq
    # Time bounds go through the row groups' statistics over S3 as they do locally.
    t = list(here.read())[500].ts_ns
    assert remote.seq_at_time(t) == here.seq_at_time(t)
    assert list(remote.read(from_ts_ns=t, to_seq=900)) == list(here.read(from_ts_ns=t, to_seq=900))


def test_wrong_key_and_missing_bucket_are_clear_errors_and_prune_nothing(synthetic, s3, monkeypatch, capsys):
    days = journal_days(synthetic)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-" + "x" * 20)
    with pytest.raises(ArchiveError, match="access denied"):
        compact(synthetic, archive=URL, now_ns=NOW)
    assert query_main(["compact", "--data", str(synthetic), "--archive", URL]) == 2
    err = capsys.readouterr().err
    assert "access denied" in err and "not-the-secret" not in err and s3.access_key not in err
    assert journal_days(synthetic) == days
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    with pytest.raises(ArchiveError, match="no bucket 'nobucket'"):
        compact(synthetic, archive="s3://nobucket/desk")
    assert query_main(["compact", "--data", str(synthetic), "--archive", "s3://nobucket/x"]) == 2
    assert "no bucket" in capsys.readouterr().err
    assert journal_days(synthetic) == days
    assert not list((s3.root / "arch").iterdir())  # nothing written
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    assert query_main(["compact", "--data", str(synthetic), "--archive", URL]) == 2
    assert "no S3 credentials" in capsys.readouterr().err


def test_keys_stay_out_of_repr(s3):
    store = open_store(URL)
    assert isinstance(store, S3Store)
    text = repr(store) + repr(store.settings)
    assert s3.secret_key not in text and s3.access_key not in text


def test_shared_credentials_file_and_profile(tmp_path):
    from query.store import s3_settings

    creds = tmp_path / "credentials"
    creds.write_text("[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n"
                     "[desk]\naws_access_key_id = A2\naws_secret_access_key = S2\n")
    config = tmp_path / "config"
    config.write_text("[profile desk]\nregion = eu-west-3\nendpoint_url = http://127.0.0.1:9\n")
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(creds), "AWS_CONFIG_FILE": str(config)}
    s = s3_settings(env)
    assert (s.access_key, s.secret_key, s.region, s.endpoint) == ("A1", "S1", "us-east-1", None)
    s = s3_settings({**env, "AWS_PROFILE": "desk"})
    assert (s.access_key, s.region, s.endpoint, s.scheme, s.host) == (
        "A2", "eu-west-3", "http://127.0.0.1:9", "http", "127.0.0.1:9")
    s = s3_settings({**env, "AWS_ACCESS_KEY_ID": "E", "AWS_SECRET_ACCESS_KEY": "F",
                     "AWS_ENDPOINT_URL": "https://s3.example:8443/ignored", "AWS_REGION": "ap-1"})
    assert (s.access_key, s.secret_key, s.region, s.host, s.scheme) == ("E", "F", "ap-1", "s3.example:8443", "https")
    with pytest.raises(ArchiveError, match="AWS_ENDPOINT_URL"):
        s3_settings({**env, "AWS_ENDPOINT_URL": "127.0.0.1:9000"})


KILL_SCRIPT = """
import sys, time
from query.compact import compact
def paused(rel):
    print("uploaded", rel, flush=True)
    time.sleep(600)
compact(sys.argv[1], archive=sys.argv[2], now_ns=int(sys.argv[3]), on_uploaded=paused)
"""


def test_a_compaction_killed_mid_upload_is_finished_by_the_next(synthetic, tmp_path, s3):
    local = tmp_path / "local"
    shutil.copytree(synthetic, local)
    compact(local, now_ns=NOW)
    env = {**s3.env(), "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(synthetic), URL, str(NOW)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("uploaded raw/date="), (line, proc.stderr.read() if proc.poll() else "")
    finally:
        proc.kill()
        proc.wait()
    # Killed after one file: the file is there, the manifest is not; readers see nothing.
    rel = line.split()[1]
    assert (s3.root / "arch" / "desk" / rel).exists()
    assert _manifest.load(open_store(URL))["days"] == {}
    assert connect(None, archive=URL).sql("SELECT count(*) FROM raw").fetchone() == (0,)
    assert journal_days(synthetic) == DAYS  # nothing pruned
    res = compact(synthetic, archive=URL, now_ns=NOW)
    assert res.compacted == DAYS and res.pruned == DAYS
    assert _manifest.load(open_store(URL)) == _manifest.load(local)
    remote = ArchiveSource(open_store(URL))
    assert list(remote.read()) == list(ArchiveSource(local).read())  # nothing lost, nothing twice
    assert answers(connect(None, archive=URL)) == answers(connect(local, hot=False))


def test_an_upload_retried_while_the_server_restarts(synthetic, tmp_path, s3, caplog):
    local = tmp_path / "local"
    shutil.copytree(synthetic, local)
    compact(local, now_ns=NOW)
    restarted = threading.Event()
    uploads: list[str] = []

    def down_then_up(rel: str) -> None:
        uploads.append(rel)
        if len(uploads) == 1:  # the server dies between two uploads, and is back in a second
            s3.stop()
            timer = threading.Timer(1.0, lambda: (s3.start(), restarted.set()))
            timer.start()

    with caplog.at_level(logging.WARNING, logger="query.store"):
        res = compact(synthetic, archive=URL, now_ns=NOW, on_uploaded=down_then_up)
    assert restarted.is_set()
    assert res.compacted == DAYS
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert retries and all(s3.secret_key not in t and s3.access_key not in t for t in retries)
    assert _manifest.load(open_store(URL)) == _manifest.load(local)
    assert list(ArchiveSource(open_store(URL)).read()) == list(ArchiveSource(local).read())


# --- shards ---------------------------------------------------------------------------------


@pytest.fixture
def two_shards(tmp_path) -> tuple[Path, Path]:
    """The synthetic day as two recorders' journals: shard "a" (number 1) and "b" (number 2)."""
    from tests.query.conftest import write_synthetic

    return (write_synthetic(tmp_path / "a", shard="a", shard_number=1),
            write_synthetic(tmp_path / "b", shard="b", shard_number=2))


def test_two_shards_compact_into_one_root_and_query_as_one_table(two_shards, synthetic, tmp_path, s3):
    from replay.merge import MergedSource
    from replay.source import open_archive

    a, b = two_shards
    plain = tmp_path / "plain"
    shutil.copytree(synthetic, plain)
    compact(plain, now_ns=NOW)
    for d in (a, b):
        assert compact(d, archive=URL, now_ns=NOW).compacted == DAYS
    root = open_store(URL)
    assert root.shards() == ["a", "b"]
    assert (s3.root / "arch" / "desk" / "shard=a" / "manifest.json").exists()
    assert not (s3.root / "arch" / "desk" / "manifest.json").exists()
    con = connect(None, archive=URL)
    one = connect(plain, hot=False)
    n = one.sql("SELECT count(*) FROM raw").fetchone()[0]
    assert con.sql("SELECT shard, count(*) FROM raw GROUP BY 1 ORDER BY 1").fetchall() == [("a", n), ("b", n)]
    assert con.sql("SELECT count(*) FROM (SELECT DISTINCT shard, seq FROM raw)").fetchone() == (2 * n,)
    got = con.sql("SELECT id, venue, shard FROM streams ORDER BY id").fetchall()
    ids = [r[0] for r in one.sql("SELECT id FROM streams ORDER BY id").fetchall()]
    base_a, base_b = shard_stream_base(1), shard_stream_base(2)
    assert [r[0] for r in got] == [base_a + i for i in ids] + [base_b + i for i in ids]  # never collide
    assert [r[2] for r in got] == ["a"] * len(ids) + ["b"] * len(ids)
    for t in ("trades", "quotes", "gaps"):
        per = con.sql(f"SELECT shard, count(*) FROM {t} GROUP BY 1 ORDER BY 1").fetchall()
        total = one.sql(f"SELECT count(*) FROM {t}").fetchone()[0]
        assert per == [("a", total), ("b", total)], t
    # Replay over the root: one source, both shards merged by (ts_ns, shard, seq).
    src = open_archive(URL)
    assert isinstance(src, MergedSource)
    tagged = list(src.tagged())
    assert len(tagged) == 2 * n == src.last_seq
    keys = [(r.ts_ns, s, r.seq) for s, r in tagged]
    assert keys == sorted(keys)
    for shard in ("a", "b"):
        assert [r.seq for s, r in tagged if s == shard] == list(range(1, n + 1))
    # Equal times interleave a, b, a, b...: the tie rule puts shard "a" first.
    assert [s for s, _ in tagged[:2]] == ["a", "b"]
    recs = list(src.read())
    assert [r.seq for r in recs] == list(range(1, 2 * n + 1))
    assert [(r.ts_ns, r.payload) for r in recs] == [(r.ts_ns, r.payload) for _, r in tagged]
    t = recs[777].ts_ns
    assert src.seq_at_time(t) == next(r.seq for r in recs if r.ts_ns >= t)
    assert list(src.read(from_ts_ns=t, to_seq=900)) == [r for r in recs if r.ts_ns >= t and r.seq <= 900]
    assert digest_of(src.read(), src.streams()) == digest_of(open_archive(URL).read(), src.streams())


def test_replay_cli_reads_an_archive_url(two_shards, s3, capsys):
    from replay.cli import main as replay_main
    from replay.source import open_archive

    for d in two_shards:
        compact(d, archive=URL, now_ns=NOW)
    src = open_archive(URL)
    n, digest = digest_of(src.read(), src.streams())
    assert replay_main(["state", "--archive", URL, "--at", str(n), "--json", "--no-checkpoint"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["digest"] == digest
    assert replay_main(["state", "--archive", "s3://arch/nothing", "--at", "1"]) == 2
    assert "no archive there" in capsys.readouterr().err


def test_a_sharded_journal_compacts_under_its_shard_locally(two_shards):
    a, _ = two_shards
    compact(a, now_ns=NOW)
    assert (a / "archive" / "shard=a" / "manifest.json").exists()
    assert not (a / "archive" / "manifest.json").exists()
    con = connect(a)
    assert con.sql("SELECT DISTINCT shard FROM raw").fetchall() == [("a",)]
    assert ArchiveSource(a).last_seq == con.sql("SELECT max(seq) FROM raw").fetchone()[0]


def test_a_backtest_over_the_s3_archive_equals_one_over_the_data_dir(synthetic, tmp_path, s3, capsys):
    from replay.cli import main as replay_main

    strategy = Path(__file__).resolve().parents[2] / "data" / "strategies" / "kimchi_premium.py"
    local = tmp_path / "local"
    shutil.copytree(synthetic, local)
    compact(local, now_ns=NOW)
    compact(synthetic, archive=URL, now_ns=NOW)
    args = ["--strategy", str(strategy), "--json", "--no-progress", "--no-checkpoint"]
    assert replay_main(["--data", str(local), *args]) == 0
    here = json.loads(capsys.readouterr().out)
    assert replay_main(["--archive", URL, *args]) == 0
    there = json.loads(capsys.readouterr().out)
    assert there == here
    assert there["period"]["records"] == ArchiveSource(local).last_seq


def test_the_nightly_job_compacts_to_s3(synthetic, s3):
    from query.schedule import run_compaction

    outcomes = []
    res = run_compaction(synthetic, archive=URL, now_ns=NOW, on_outcome=lambda o, v: outcomes.append(o))
    assert outcomes == ["ok"] and res is not None and res.compacted == DAYS
    assert _manifest.days(_manifest.load(open_store(URL))) == DAYS


def test_replay_state_over_s3_starts_from_the_archive_checkpoint(synthetic, s3, capsys):
    from query.checkpoints import ArchiveCheckpoints
    from replay.cli import main as replay_main

    compact(synthetic, archive=URL, now_ns=NOW)
    cks = ArchiveCheckpoints(open_store(URL))
    first_day_end = cks.seqs()[0]
    at = first_day_end + 25
    docs = []
    for extra in ([], ["--no-checkpoint"]):
        assert replay_main(["state", "--archive", URL, "--at", str(at), "--json", *extra]) == 0
        docs.append(json.loads(capsys.readouterr().out))
    warm, cold = docs
    assert warm["from_checkpoint"] == first_day_end and cold["from_checkpoint"] == 0
    assert warm["digest"] == cold["digest"]
    assert cks.load(at_or_before=first_day_end - 1) is None
    seq, blob = cks.load()
    src = ArchiveSource(open_store(URL))
    assert seq == cks.seqs()[-1] == src.last_seq
    assert Projector.restore(blob, src.streams()).digest() == digest_of(src.read(), src.streams())[1]


def test_archive_in_another_directory(synthetic, tmp_path):
    local = tmp_path / "local"
    shutil.copytree(synthetic, local)
    compact(local, now_ns=NOW)
    elsewhere = tmp_path / "shared" / "archive"
    assert query_main(["compact", "--data", str(synthetic), "--archive", str(elsewhere),
                       "--now", "2027-01-01"]) == 0
    assert _manifest.load(open_store(str(elsewhere))) == _manifest.load(local)
    assert not (synthetic / "archive" / "manifest.json").exists()
    assert answers(connect(None, archive=str(elsewhere))) == answers(connect(local, hot=False))


def test_shards_sharing_a_stream_id_are_refused(tmp_path, s3):
    from replay.source import open_archive
    from tests.query.conftest import write_synthetic

    for name in ("a", "b"):  # both recorders given shard number 1: one block of stream ids
        compact(write_synthetic(tmp_path / name, shard=name, shard_number=1), archive=URL, now_ns=NOW)
    sid = shard_stream_base(1) + 1
    with pytest.raises(ArchiveError, match=f"stream id {sid} is in shard 'a' and in shard 'b'"):
        connect(None, archive=URL)
    with pytest.raises(ArchiveError, match="disjoint stream ids"):
        open_archive(URL)


def test_replay_archive_refuses_live_and_says_a_missing_bucket(s3, capsys):
    from replay.cli import main as replay_main

    strategy = Path(__file__).resolve().parents[2] / "data" / "strategies" / "kimchi_premium.py"
    assert replay_main(["--archive", URL, "--live", "--strategy", str(strategy)]) == 2
    assert "--live follows a journal" in capsys.readouterr().err
    assert replay_main(["--archive", "s3://nobucket/x", "--strategy", str(strategy), "--no-progress"]) == 2
    assert "no bucket 'nobucket'" in capsys.readouterr().err
