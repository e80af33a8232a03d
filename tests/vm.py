"""A VictoriaMetrics server on loopback (it speaks the InfluxDB v2 write API) and reading back."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

VM = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available() -> bool:
    return Path(VM).exists()


@contextmanager
def victoria(tmp: Path) -> Iterator[str]:
    """Run victoria-metrics on a free port with its data under ``tmp``; yields its base URL."""
    port = free_port()
    logf = open(tmp / "vm.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([VM, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={tmp / 'vm'}",
                             "-retentionPeriod=100y", "-search.latencyOffset=0s", "-loggerLevel=ERROR"],
                            stdout=logf, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                    if r.read().strip() == b"OK":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"victoria-metrics did not start: {(tmp / 'vm.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        logf.close()


def read_back(url: str, pattern: str, expect: int, timeout: float = 30.0) -> dict[tuple, dict[int, float]]:
    """{(metric, venue, symbol): {ts_ms: value}} matching ``pattern``, once ``expect`` points are in."""
    deadline = time.monotonic() + timeout
    while True:
        urllib.request.urlopen(f"{url}/internal/force_flush", timeout=10).read()
        q = urllib.parse.urlencode({"match[]": f'{{__name__=~"{pattern}"}}', "start": "0"})
        with urllib.request.urlopen(f"{url}/api/v1/export?{q}", timeout=30) as r:
            body = r.read().decode()
        out: dict[tuple, dict[int, float]] = defaultdict(dict)
        for ln in body.splitlines():
            j = json.loads(ln)
            m = j["metric"]
            key = (m["__name__"], m.get("venue"), m.get("symbol"))
            out[key].update(zip(j["timestamps"], j["values"], strict=True))
        if sum(len(v) for v in out.values()) >= expect or time.monotonic() > deadline:
            return dict(out)
        time.sleep(0.2)
