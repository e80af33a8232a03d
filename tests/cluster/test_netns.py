"""The harness itself: two hosts that reach each other only through their cable."""

from __future__ import annotations

import sys
import time

PROBE = ("import socket,sys\n"
         "try:\n"
         "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()\n"
         "except OSError as e:\n"
         "    print(type(e).__name__); sys.exit(3)\n")

# A JetStream round trip from host B, across the cut: published before, during (buffered
# by the client while it reconnects) and after, all read back once and in order.
ROUND_TRIP = r"""
import asyncio, sys
import nats

async def main(url, n):
    nc = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    await js.add_stream(name="PROBE", subjects=["probe"])
    for i in range(n):
        await js.publish("probe", str(i).encode())
    sub = await js.pull_subscribe("probe", durable="reader")
    got = []
    while len(got) < n:
        for m in await sub.fetch(n - len(got), timeout=5):
            got.append(int(m.data))
            await m.ack()
    print(",".join(map(str, got)))
    await nc.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_hosts_reach_each_other_only_through_the_cable(cluster, nats_on_a):
    port = nats_on_a.rsplit(":", 1)[1]
    ok = cluster.b.run([sys.executable, "-c", PROBE, cluster.a.addr, port])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # host B's own loopback is not A's: nothing listens there
    own = cluster.b.run([sys.executable, "-c", PROBE, "127.0.0.1", port])
    assert own.returncode == 3 and "ConnectionRefused" in own.stdout
    cluster.cut()
    cut = cluster.b.run([sys.executable, "-c", PROBE, cluster.a.addr, port])
    assert cut.returncode == 3, cut.stdout + cut.stderr
    cluster.heal()
    deadline = time.monotonic() + 10
    while cluster.b.run([sys.executable, "-c", PROBE, cluster.a.addr, port]).returncode:
        assert time.monotonic() < deadline, "the healed cable carries nothing"
        time.sleep(0.2)


def test_jetstream_round_trip_from_the_other_host(cluster, nats_on_a):
    done = cluster.b.run([sys.executable, "-c", ROUND_TRIP, nats_on_a, "500"], timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ",".join(map(str, range(500)))
