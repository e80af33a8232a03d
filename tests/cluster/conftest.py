"""Fixtures for the two-host cases: a ``Cluster`` of network namespaces and a NATS server on A."""

from __future__ import annotations

import pytest

from tools.natsserver import NatsServer
from tools.netns import Cluster, available, wait_port

NATS_PORT = 4222  # inside a host's own namespace: nothing else listens there


def nats_on(host, store) -> str:
    """``nats-server -js`` started on ``host``'s address; its URL as the other host sees it."""
    server = NatsServer(store, host=host.addr, port=NATS_PORT)
    host.spawn(server.command(), log=store.parent / f"{store.name}.log")
    return server.url


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
    url = nats_on(cluster.a, tmp_path / "nats-a")
    wait_port(cluster.b, cluster.a.addr, NATS_PORT)
    return url
