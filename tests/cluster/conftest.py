"""Fixtures for the two-host cases: a ``Cluster`` of network namespaces and a NATS server on A."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from tools.netns import Cluster, available, wait_port

NATS_PORT = 4222  # inside host A's own namespace: nothing else listens there


def nats_server() -> str:
    path = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not Path(path).exists():
        pytest.fail("nats-server is missing: `make test` installs Debian's nats-server "
                    "(tools/ci/system-deps.sh); or apt-get install nats-server")
    return path


@pytest.fixture
def cluster(request):
    why = available()
    if why:
        pytest.skip(why)
    with Cluster.make(request.node.name[:40]) as c:
        yield c


@pytest.fixture
def nats_on_a(cluster, tmp_path):
    """A NATS JetStream server on host A's address; its URL as host B sees it."""
    store = tmp_path / "nats-a"
    store.mkdir()
    cluster.a.spawn([nats_server(), "-a", cluster.a.addr, "-p", str(NATS_PORT), "-js",
                     "-sd", str(store)], log=tmp_path / "nats-a.log")
    wait_port(cluster.b, cluster.a.addr, NATS_PORT)
    return f"nats://{cluster.a.addr}:{NATS_PORT}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
