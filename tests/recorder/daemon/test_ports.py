"""The daemon's ports: every part depends on them, not on the Recorder, and every
implementation (the hooks in query included) has exactly the shape its port declares."""

from __future__ import annotations

import ast
import inspect
import logging
import random
from pathlib import Path
from typing import Protocol

import pytest

from query.influx import InfluxHook
from query.schedule import NightlyHook
from recorder.daemon import ports
from recorder.daemon.adapters import adapter_for
from recorder.daemon.config import CompactionConfig, InfluxConfig, Supervision, VenueConfig
from recorder.daemon.hooks import HookRunner
from recorder.daemon.metrics import Metrics
from recorder.daemon.projection import LiveProjection
from recorder.daemon.resync import Resync
from recorder.daemon.runtime import JournalAccess, Stopper
from recorder.daemon.snapshots import SnapshotFetcher
from recorder.daemon.status import StatusView
from recorder.journal.writer import JournalWriter

DAEMON = Path(ports.__file__).parent
LOG = logging.getLogger("test")


def members(proto: type) -> dict[str, object]:
    """Name -> what the protocol declares (a function, a property, or an annotation)."""
    out: dict[str, object] = {n: "attribute" for n in getattr(proto, "__annotations__", {})}
    for name, value in vars(proto).items():
        if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, property)):
            out[name] = value
    return out


def assert_shape(proto: type, obj: object) -> None:
    for name, decl in members(proto).items():
        assert hasattr(obj, name), f"{type(obj).__name__} lacks {proto.__name__}.{name}"
        if inspect.isfunction(decl):
            want = [p for p in inspect.signature(decl).parameters if p != "self"]
            got = list(inspect.signature(getattr(obj, name)).parameters)
            assert set(want) <= set(got), f"{type(obj).__name__}.{name}{got} vs {want}"
            positional = [p for p in want if p in got[:len(want)]]
            assert got[:len(positional)] == positional, f"{type(obj).__name__}.{name}{got} vs {want}"


@pytest.fixture
def parts(tmp_path):
    writer = JournalWriter(tmp_path, durability="os", background=False)
    journal = JournalAccess(writer, config_hash="h", on_stream=lambda info: None,
                            on_failure=lambda exc: None)
    proj = LiveProjection(data_dir=str(tmp_path), depth_levels=5, log=LOG,
                          on_gap=lambda gap, stream: None, checkpoint_every_records=10,
                          checkpoint_every_s=1.0)
    adapter = adapter_for(VenueConfig("binance-usdm", ("BTCUSDT",), ("depth",)), Supervision())
    fetcher = SnapshotFetcher(adapter, journal=journal, log=LOG, rest_timeout_s=1.0,
                              rng=random.Random(1))
    runner = HookRunner(LOG)
    status = StatusView(config_hash="h", journal=lambda: journal, supervisors=[], links={},
                        fetchers={"binance-usdm": fetcher}, projection=lambda: proj, hooks=runner)
    resync = Resync(journal=journal, fetchers={"binance-usdm": fetcher}, log=LOG,
                    source="projection", schedule=lambda fn: None)

    def ctx(name, settings):
        return ports.HookContext(name, str(tmp_path), settings, LOG, writer, proj,
                                 writer.release_segment)

    class Sink:
        def stats(self):
            return {"written": 1, "dropped": 2, "failed": 3, "pending": 4}

    hooks = [NightlyHook(ctx("compaction", CompactionConfig())),
             InfluxHook(ctx("influx", InfluxConfig(enabled=True, url="http://x", org="o")), sink=Sink())]
    yield {"journal": journal, "writer": writer, "proj": proj, "fetcher": fetcher, "status": status,
           "resync": resync, "hooks": hooks, "metrics": Metrics(status)}
    writer.close()


async def test_every_part_has_the_shape_of_its_port(parts):
    stopper = Stopper()
    stopper.begin()
    assert_shape(ports.Lifecycle, stopper)
    assert_shape(ports.Journal, parts["journal"])
    assert_shape(ports.JournalView, parts["writer"])
    assert_shape(ports.Resync, parts["resync"])
    assert_shape(ports.SnapshotQueue, parts["fetcher"])
    assert_shape(ports.Counters, parts["metrics"])
    assert_shape(ports.Status, parts["status"])
    assert_shape(ports.LiveState, parts["proj"])
    for hook in parts["hooks"]:
        assert_shape(ports.Hook, hook)


def test_hook_samples_are_sample_tuples(parts):
    nightly, influx = parts["hooks"]
    assert (nightly.name, influx.name) == ("compaction", "influx")
    got = [ports.Sample(*s) for s in nightly.samples()]
    assert [(s.name, s.kind, s.labels, s.value) for s in got] == [
        ("ticktape_compaction_runs", "counter", {"result": "error"}, 0),
        ("ticktape_compaction_runs", "counter", {"result": "ok"}, 0),
        ("ticktape_compaction_runs", "counter", {"result": "skipped"}, 0),
        ("ticktape_compaction_days", "counter", {}, 0),
        ("ticktape_compaction_last_success_timestamp_seconds", "gauge", {}, 0.0)]
    got = [ports.Sample(*s) for s in influx.samples()]
    assert [(s.name, s.labels, s.value) for s in got] == [
        ("ticktape_influx_points", {"result": "written"}, 1),
        ("ticktape_influx_points", {"result": "dropped"}, 2),
        ("ticktape_influx_points", {"result": "failed"}, 3),
        ("ticktape_influx_pending", {}, 4)]


def test_the_influx_hook_folds_the_live_projection_through_its_deriver(parts):
    proj = parts["proj"]
    _, influx = parts["hooks"]
    assert proj._fold == influx.feed.fold and influx.feed.deriver.p is proj.projector


def test_status_reads_the_parts(parts):
    journal, status = parts["journal"], parts["status"]
    sid = journal.register("binance-usdm", url="https://x", conn="binance-usdm.rest",
                           channels=("rest",))
    journal.append(sid, "rest", b"abc", meta={"url": "u"})
    journal.mark(sid, "gap", symbol="BTCUSDT")
    parts["fetcher"].request("BTCUSDT", "start")
    assert [(c.venue, c.conn, c.kind, c.records) for c in status.streams()] == [
        ("binance-usdm", "binance-usdm.rest", "rest", 1), ("binance-usdm", "binance-usdm.rest", "mark", 1)]
    assert [(s.symbol, s.fetched, s.queued) for s in status.snapshots()] == [("BTCUSDT", 0, True)]
    assert status.projection() == ports.ProjectionStatus("live", 0, {})
    assert status.journal.last_seq == 2 and status.connections(0.0) == []


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
            names.update(a.name for a in node.names)
    return names


def test_no_part_of_the_daemon_holds_the_recorder():
    """Only app.py (which wires them) and the package's __init__ know the Recorder."""
    for path in sorted(DAEMON.glob("*.py")):
        if path.name in ("app.py", "__init__.py"):
            continue
        imported = _imports(path)
        assert ".app" not in imported and "Recorder" not in imported, path.name
        assert "Recorder" not in {n.id for n in ast.walk(ast.parse(path.read_text()))
                                  if isinstance(n, ast.Name)}, path.name


def test_ports_are_protocols():
    for name in ("Journal", "JournalView", "Lifecycle", "Resync", "SnapshotQueue", "Counters",
                 "Status", "LiveState", "Hook"):
        proto = getattr(ports, name)
        assert Protocol in proto.__mro__ and members(proto), name
