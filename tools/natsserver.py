"""A real ``nats-server -js`` for the broker and cluster tests and ``tools/bench/remote.py``:
127.0.0.1 (or a namespace host's address), a free port, a temp store dir, stopped (and
restarted on the same port and store) by its pid. ``command()`` is its argv, for a process
started elsewhere (inside a network namespace: ``tools.netns.Host.spawn``)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    """``start()``, ``kill()`` (SIGKILL: a broker that dies), ``stop()``; ``url``."""

    def __init__(self, store: Path, *, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.store = store
        self.host = host
        self.port = port or free_port()
        self.url = f"nats://{host}:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        if not Path(NATS_SERVER).exists():
            raise RuntimeError("nats-server is missing: `make test` installs Debian's nats-server "
                               "(tools/ci/system-deps.sh); or apt-get install nats-server")
        self.store.mkdir(parents=True, exist_ok=True)
        return [NATS_SERVER, "-js", "-a", self.host, "-p", str(self.port), "-sd", str(self.store / "js")]

    def start(self) -> NatsServer:
        argv = self.command()
        log = open(self.store / "server.log", "ab")  # noqa: SIM115 (the child holds it)
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection((self.host, self.port), 0.2):
                    return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nats-server did not start: {(self.store / 'server.log').read_text()[-500:]}") from None
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None
