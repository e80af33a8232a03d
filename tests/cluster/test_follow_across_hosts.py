"""The journal followed from another host: two real hosts (network namespaces), the cable
between recorder and consumer cut for seconds, then healed.

Host A runs the exchange simulator (on its own loopback) and ``recorder run`` with
``[broker]``; host B runs a follower process (``RemoteSource.follow``, each seq it is handed
written to a file) and, at the end, ``replay state --follow``. The broker sits on A (the
consumer loses it: it must resume after its last seq) or on B (the recorder loses it: its
publisher drops, then recovers what it missed from the journal). Either way the follower ends
holding every seq of the journal exactly once and in order, and ``replay state`` on B over
the broker gives the digest ``replay state`` on A gives over the journal.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from recorder.journal.reader import JournalReader
from tests.recorder.daemon.helpers import write_config
from tools.netns import Cluster, Host, wait_port

from .conftest import NATS_PORT, nats_on

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
WS, REST = 9001, 9002  # host A's own ports: its namespace has nothing else
CUT_S = 5.0


class Urls:
    ws = f"ws://127.0.0.1:{WS}"
    rest = f"http://127.0.0.1:{REST}"


def last_seq(data: Path) -> int:
    with JournalReader(data) as r:
        return r.last_seq


def seqs(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [int(x) for x in path.read_text().split("\n")[:-1]]  # a torn last line is left


def wait(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.1)


def state(host: Host, *args: str) -> dict:
    done = host.run([sys.executable, "-m", "replay.cli", "state", "--json", *args], env=ENV, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("broker_on", ["a", "b"])
def test_a_cut_cable_costs_time_not_records(cluster: Cluster, tmp_path, broker_on):
    a, b = cluster.a, cluster.b
    broker = a if broker_on == "a" else b
    url = nats_on(broker, tmp_path / "nats")
    a.spawn([sys.executable, "-m", "tools.simulator", "--venue", "binance-usdm,upbit", "--port", str(WS),
             "--rest-port", str(REST), "--speed", "20", "--seed", "5", "--no-record"],
            log=tmp_path / "sim.log", env=ENV, cwd=ROOT)
    wait_port(a, "127.0.0.1", REST)
    wait_port(a, broker.addr, NATS_PORT)
    wait_port(b, broker.addr, NATS_PORT)

    data = tmp_path / "data"
    cfg = write_config(tmp_path / "rec.toml", data, Urls, binance=["BTCUSDT"], upbit=["KRW-WAVES"],
                       sections={"broker": {"url": url, "queue": 8, "batch_records": 128}})
    rec_log = tmp_path / "recorder.log"
    recorder = a.spawn([sys.executable, "-m", "recorder.cli", "run", "--config", str(cfg)],
                       log=rec_log, env=ENV, cwd=ROOT)
    got = tmp_path / "followed.txt"
    b.spawn([sys.executable, "-m", "tests.recorder.broker.follow_child", url, "1", str(got)],
            log=tmp_path / "follower.log", env=ENV, cwd=ROOT)

    wait(lambda: len(seqs(got)) > 2000, 90, "the follower on B to get records")
    cluster.cut()
    time.sleep(CUT_S)
    behind = last_seq(data) - len(seqs(got))
    cluster.heal()
    # the recorder went on recording through the cut: B was held up, A was not
    assert behind > 0, "the cut held nothing up"
    healed_at = last_seq(data)
    wait(lambda: len(seqs(got)) > healed_at, 90, "the follower past the cut")
    assert a.stop(recorder) == 0, rec_log.read_text()[-3000:]

    last = last_seq(data)
    wait(lambda: len(seqs(got)) >= last, 90, "the follower at the journal's end")
    time.sleep(0.5)  # anything more than the journal would show now
    assert seqs(got) == list(range(1, last + 1))  # exactly once, in order, none missing
    if broker_on == "b":  # the recorder lost the broker and said so, then caught up
        said = rec_log.read_text()
        assert "broker_down" in said and "broker_synced" in said

    here = state(a, "--data", str(data), "--at", str(last), "--no-checkpoint")
    there = state(b, "--follow", url, "--at", str(last))
    assert there["digest"] == here["digest"] and there["symbols"] == here["symbols"]
