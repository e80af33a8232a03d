"""Two real hosts on one machine: network namespaces joined by a veth cable (the cluster tests
in tests/cluster/ and `tools/bench/remote.py` run on them).

    with Cluster.make("tt1") as c:            # hosts c.a (10.231.X.1) and c.b (10.231.X.2)
        p = c.a.spawn(["nats-server", "-a", c.a.addr, ...])
        c.b.run(["python", "-c", "..."])
        c.cut(); ...; c.heal()                # the cable pulled out, then put back

Each host is a namespace of its own (``ip netns add``) with its loopback and one end of the
cable, so a process in one reaches the other only by its address, through the cable: what a
program on another machine would see. ``cut`` takes the cable's B end down (A's end loses its
carrier: what A sends is dropped, what B sends finds no route), ``heal`` brings it back up.

Everything made here is removed by ``close``: the processes spawned (by pid, their process
group), then the namespaces (which takes the cable with them). Nothing outside the two
namespaces is touched: their names and the /24 carry the test's own token, and the machine's
own interfaces and servers are never seen from inside.

Needs root and iproute2 (``ip``): ``available()`` says why not, for a skip on a machine
without them (CI runs as root with iproute2).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


def available() -> str | None:
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "network namespaces need iproute2's `ip`"
    return None


def _ip(*args: str, ns: str | None = None) -> None:
    argv = ["ip", *(["-n", ns] if ns else []), *args]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")


@dataclass
class Host:
    """One namespace: its name, its address on the cable and the processes started in it."""

    ns: str
    addr: str
    dev: str
    procs: list[subprocess.Popen] = field(default_factory=list)

    def argv(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *argv]

    def spawn(self, argv: Sequence[str], *, log: Path | None = None,
              env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
        """Start ``argv`` in this host (its own process group), output to ``log``."""
        out: IO[Any] | int = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        try:
            p = subprocess.Popen(self.argv(argv), stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                 start_new_session=True)
        finally:
            if log:
                out.close()  # type: ignore[union-attr]
        self.procs.append(p)
        return p

    def run(self, argv: Sequence[str], *, timeout: float = 120, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in this host to its end; its output captured."""
        return subprocess.run(self.argv(argv), capture_output=True, text=True, timeout=timeout,
                              env=env, cwd=cwd, check=False)

    def stop(self, p: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 20) -> int:
        """Signal ``p``'s process group and reap it (SIGKILL after ``wait`` seconds)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, sig)
        try:
            return p.wait(wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            return p.wait(10)

    def stop_all(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                self.stop(p)
        self.procs.clear()


class Cluster:
    """Hosts ``a`` and ``b`` on one cable (a /24 of 10.231.0.0/16 picked by the token)."""

    def __init__(self, token: str) -> None:
        net = zlib.crc32(token.encode()) % 250 + 1
        tag = f"{token}{os.getpid() % 100000}"[-9:]
        self.a = Host(f"tt-{tag}-a", f"10.231.{net}.1", f"vt{tag}a")
        self.b = Host(f"tt-{tag}-b", f"10.231.{net}.2", f"vt{tag}b")
        self._made: list[str] = []

    @classmethod
    def make(cls, token: str) -> Cluster:
        c = cls(token)
        try:
            c._build()
        except BaseException:
            c.close()
            raise
        return c

    def _build(self) -> None:
        for h in (self.a, self.b):
            _ip("netns", "add", h.ns)
            self._made.append(h.ns)
            _ip("link", "set", "lo", "up", ns=h.ns)
        _ip("link", "add", self.a.dev, "netns", self.a.ns, "type", "veth",
            "peer", "name", self.b.dev, "netns", self.b.ns)
        for h in (self.a, self.b):
            _ip("addr", "add", f"{h.addr}/24", "dev", h.dev, ns=h.ns)
            _ip("link", "set", h.dev, "up", ns=h.ns)

    def cut(self) -> None:
        """Pull the cable out: B's end down."""
        _ip("link", "set", self.b.dev, "down", ns=self.b.ns)

    def heal(self) -> None:
        _ip("link", "set", self.b.dev, "up", ns=self.b.ns)

    def close(self) -> None:
        for h in (self.b, self.a):
            h.stop_all()
        for ns in reversed(self._made):
            with contextlib.suppress(RuntimeError):
                _ip("netns", "del", ns)
        self._made.clear()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_port(host: Host, addr: str, port: int, timeout: float = 20) -> None:
    """Until ``addr:port`` accepts a TCP connection from ``host``."""
    probe = ("import socket,sys\n"
             "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=1);s.close()")
    deadline = time.monotonic() + timeout
    while True:
        done = host.run([sys.executable, "-c", probe, addr, str(port)], timeout=10)
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{addr}:{port} not reachable from {host.ns}: {done.stderr[-300:]}")
        time.sleep(0.2)
