"""Hooks: registered as entry points, built per enabled section, run through their
lifecycle, their failures logged and never the recording's."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from recorder.daemon.hooks import GROUP, HookRunner, factory_for, registered
from recorder.daemon.ports import HookContext
from recorder.errors import HookError
from tools.simulator import Simulator

from .helpers import Journal, Running, config, until


class FakeHook:
    """Records what the daemon asked of it, in order."""

    def __init__(self, context: HookContext, *, fail: str = "") -> None:
        self.ctx = context
        self.name = context.name
        self.fail = fail
        self.calls: list[str] = []
        self.threads: dict[str, bool] = {}
        self.ticks = 0

    def ready(self) -> bool:
        self.calls.append("ready")
        return self.ctx.journal.committed_seq > 0

    def start(self) -> None:
        import threading

        self.threads["start"] = threading.current_thread() is threading.main_thread()
        self.calls.append("start")
        if self.fail == "start":
            raise RuntimeError("no scheduler")

    def tick(self) -> None:
        self.ticks += 1
        if self.fail == "tick":
            raise RuntimeError("sink gone")

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        import threading

        self.threads["close"] = threading.current_thread() is threading.main_thread()
        self.calls.append("close")

    def samples(self):
        return [("ticktape_fake_runs", "counter", "Fake runs", {"result": "ok"}, 3),
                ("ticktape_fake_pending", "gauge", "Fake pending", {}, 1.5)]

    def stats(self) -> dict:
        return {"ticks": self.ticks}


def test_query_registers_the_compaction_and_influx_hooks():
    eps = registered()
    assert {n: eps[n].value for n in ("compaction", "influx")} == {
        "compaction": "query.schedule:recorder_hook", "influx": "query.influx:recorder_hook"}
    assert all(ep.group == GROUP for ep in eps.values())
    assert callable(factory_for("compaction"))
    with pytest.raises(HookError, match="no hook 'backup' registered"):
        factory_for("backup")
    given = {"compaction": FakeHook}
    assert factory_for("compaction", given) is FakeHook
    with pytest.raises(HookError, match="no hook 'influx' among those given"):
        factory_for("influx", given)


async def test_the_daemon_runs_a_hook_through_its_lifecycle(tmp_path):
    built: list[FakeHook] = []

    def factory(ctx: HookContext) -> FakeHook:
        built.append(FakeHook(ctx))
        return built[-1]

    async with Simulator(source="synthetic", speed=20, seed=41) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade"],
                     sections={"compaction": {"enabled": True, "hour": 3}})
        run = Running(cfg, hooks={"compaction": factory})
        async with run as rec:
            (hook,) = built
            assert rec.hooks["compaction"] is hook
            await until(lambda: hook.ticks >= 2, 10, "the hook ticking")
            text = generate_latest(rec.metrics.registry).decode()
            assert await run.stop() == 0
    ctx = hook.ctx
    assert (ctx.name, ctx.data_dir, ctx.settings.hour) == ("compaction", str(tmp_path), 3)
    assert ctx.projection is rec.projection and ctx.journal is rec.writer
    assert hook.calls[-3:] == ["start", "stop", "close"] and set(hook.calls[:-3]) == {"ready"}
    assert hook.threads == {"start": False, "close": False}  # both off the event loop
    samples = {(s.name, tuple(s.labels.items())): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    assert samples[("ticktape_fake_runs_total", (("result", "ok"),))] == 3
    assert samples[("ticktape_fake_pending", ())] == 1.5


@pytest.mark.parametrize("fail", ["build", "start", "tick"])
async def test_a_failing_hook_is_logged_dropped_and_recording_goes_on(tmp_path, fail):
    def factory(ctx: HookContext) -> FakeHook:
        if fail == "build":
            raise ValueError("bad settings")
        return FakeHook(ctx, fail=fail)

    log = tmp_path / "rec.log"
    async with Simulator(source="synthetic", speed=20, seed=42) as s:
        cfg = config(tmp_path / "data", s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade"],
                     sections={"influx": {"enabled": True, "url": "http://127.0.0.1:9", "org": "o"}},
                     recorder={"log_file": str(log)})
        run = Running(cfg, hooks={"influx": factory})
        async with run as rec:
            await until(lambda: "influx" not in rec.hooks, 10, "the hook dropped")
            base = sum(lk.frames for lk in rec.links.values())
            await until(lambda: sum(lk.frames for lk in rec.links.values()) > base + 50, 10, "frames")
            assert await run.stop() == 0
    events = [json.loads(x) for x in log.read_text().splitlines()]
    want = "influx_failed" if fail == "tick" else "influx_unavailable"
    (ev,) = [e for e in events if e["event"] in ("influx_failed", "influx_unavailable")]
    assert ev["event"] == want and ev["error"].split(":")[0] in ("ValueError", "RuntimeError")
    Journal(tmp_path / "data").assert_gapless()


async def test_an_enabled_section_without_a_hook_is_reported_once(tmp_path):
    log = logging.getLogger("test-hooks")
    runner = HookRunner(log)
    ctx = HookContext("influx", "d", None, log, None, None, lambda day: None)  # type: ignore[arg-type]
    assert runner.build("influx", ctx, {}) is None and "influx" not in runner
    runner.poll()
    runner.stop()
    await runner.close()
    assert runner.samples() == []


async def test_runner_samples_skip_a_hook_that_cannot_say():
    runner = HookRunner(logging.getLogger("test-hooks"))

    class Mute(FakeHook):
        def samples(self):
            raise RuntimeError("busy")

    ctx = HookContext("compaction", "d", None, runner.log, None, None, lambda day: None)  # type: ignore[arg-type]
    runner.build("compaction", ctx, {"compaction": Mute})
    runner.build("influx", HookContext("influx", "d", None, runner.log, None, None, lambda d: None),  # type: ignore[arg-type]
                 {"influx": FakeHook})
    assert [s.name for s in runner.samples()] == ["ticktape_fake_runs", "ticktape_fake_pending"]
    await asyncio.sleep(0)
