from __future__ import annotations

import pytest

from tools.natsserver import NatsServer


@pytest.fixture
def nats_server(tmp_path):
    """A running ``nats-server -js`` (``.url``), stopped by pid after the test."""
    server = NatsServer(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_down(tmp_path):
    """A ``NatsServer`` not started yet (the test starts, kills and restarts it)."""
    server = NatsServer(tmp_path / "nats")
    try:
        yield server
    finally:
        server.stop()
