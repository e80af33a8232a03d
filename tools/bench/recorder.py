"""The recorder's durable rate and state latency against bare WebSocket clients, on loopback.

    python tools/bench/recorder.py [--frames N] [--repeat K] [--split] [--thread-committer] [--json]
    python tools/bench/recorder.py --latency-only [--busy-neighbour] [--switch-interval S]
    python tools/bench/recorder.py --soak SECONDS [--soak-rate R]

Throughput. A lean sender (a separate process) pre-encodes N distinct Binance USD-M
frames (the hftbacktest BTCUSDT capture looped by the simulator's market with shifted
ids and times: ``btcusdt@depth@100ms`` diffs and ``btcusdt@bookTicker`` in the combined
wrapper) and writes them to each WebSocket connection as fast as loopback takes them,
in 256-frame writes. Its REST port serves ``/fapi/v1/depth`` snapshots that bracket a diff
still ahead of the stream, so the recorder's book syncs exactly as against Binance.
Measured in the same run, each client in its own process receiving the same N frames:

- ``recorder``: the real daemon, ``recorder run --config`` with ``durability = "fsync"``
  (group commits fsync'ed), the live projection and metrics on. Its rate is N over the
  time from the first frame's receipt (its ``ts_ns``) until the bench, polling the
  journal from outside, sees the last frame committed. The journal is then read back:
  N frames, byte for byte what was sent (blake2b digest), or the run fails. Receiving
  may run ahead of the journal's committer process (up to ``max_pending`` records,
  then the writer applies backpressure); the rate counts only what is committed. ``--split``
  adds a run with the live projection off, to show where the time goes;
  ``--thread-committer`` one with the journal's commit thread instead of its process.
- ``websockets recv``: a bare ``websockets`` client, ``async for msg in ws: n += 1``.
- ``websockets events``: a bare ``websockets`` connection counting messages in
  ``process_event`` (no queue, no await), the recorder's receive path before picows.
- ``picows``: a bare picows client taking each payload as bytes, when picows is
  importable (``pip install picows``, or ``BENCH_EXTRA_PATH=DIR``).

Each client is run ``--repeat`` times, alternating, and the best rate of each is kept
(the machine is shared; the best run is the least disturbed one). ``ratio`` = recorder /
the fastest bare client measured in the run, named by ``baseline_client`` (picows when it
is importable; without it the ratio is against ``websockets`` and says so). Peak RSS is the recorder process's
``VmHWM``; ``RssAnon`` is shown beside it (LMDB's file pages are page cache, not heap).

Latency. The simulator (``python -m tools.simulator --rate 10000``, a separate process)
sends a synthetic BTCUSDT market on every Binance channel at a steady 10k frames/s to a
``Recorder`` running in this benchmark's child process. The time from a frame's arrival
(picows handing the first frame of the socket read that carried it to the connection's
``on_ws_frame``; the read's syscall and that frame's parse in C, well under a microsecond,
are not counted) to the live projection having folded it (a ``LiveProjection`` listener,
called after ``Projector.apply``) is taken for every frame after a warm-up; p50/p99/max are
printed. ``--busy-neighbour`` runs a spinning process (a pure-Python busy loop, its own process) beside it for the whole
latency run: the machine is then as busy as one shared with another job.

Goals (issue 16): ratio >= 0.5 of the fastest bare client and >= 300k frames/s, p99 < 0.5 ms
at 10k frames/s with a busy neighbour. ``--json`` prints a last line ``{"ratio",
"baseline_client", "frames_per_s", "peak_rss_mb", "p99_state_latency_ms", ...}``.

Soak. ``--soak SECONDS`` runs the simulator (both venues, synthetic, ``--soak-rate``
events/s per venue) into ``recorder run`` (fsync) for that long, samples the recorder's
RSS every 5 s and says whether ``RssAnon`` stayed flat once the live projection's trade
windows are full: the projection keeps each symbol's trades for its longest feature
window (900 s) and compacts at twice that, so memory rises for the first 1800 s by
design; after that the later half's peak must not exceed the earlier half's by more than
max(8 MB, 5%). Shorter runs say "inconclusive". The issue asks for an hour: ``--soak 3600``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SYMBOL = "BTCUSDT"
STREAMS = {"depth": b"btcusdt@depth@100ms", "bookTicker": b"btcusdt@bookTicker"}
CHUNK = 256  # frames per socket write
SNAP_EVERY = 50_000  # frames between precomputed REST snapshots
LAT_RATE = 10_000  # frames/s for the latency run
LAT_CHANNELS = ["depth", "aggTrade", "trade", "kline_1m", "bookTicker", "markPrice"]
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CLIENT_NAMES = {"recv": "websockets recv", "events": "websockets events", "picows": "picows"}


# ---------------------------------------------------------------------------- helpers


def proc_status(pid: int) -> dict[str, float]:
    """``VmRSS``, ``VmHWM``, ``RssAnon``, ``RssFile`` of a process in MB (empty if gone)."""
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                    out[key] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return out


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A Python child; stderr goes to a file (a full pipe nobody reads would block it)."""
    errfile = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=errfile, text=True, env=env)
    proc.errfile = errfile  # type: ignore[attr-defined]
    return proc


def errors(proc: subprocess.Popen) -> str:
    """The end of a child's stderr."""
    f = proc.errfile  # type: ignore[attr-defined]
    f.seek(0)
    return f.read().decode(errors="replace")[-3000:]


def stop(proc: subprocess.Popen, timeout: float = 20.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def child_json(proc: subprocess.Popen, timeout: float) -> dict:
    """The JSON object a child prints as its last stdout line."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise SystemExit(f"bench: child timed out\n{errors(proc)}") from None
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"bench: child failed ({proc.returncode})\n{out[-1000:]}\n{errors(proc)}")
    return json.loads(lines[-1])


def recorder_toml(data: Path, venues: list[dict], log: Path, *, projection: bool = True,
                  committer: str = "process") -> str:
    lines = ["[recorder]", f'data = "{data}"', 'durability = "fsync"', f'committer = "{committer}"',
             f'log_file = "{log}"',
             'log_level = "warning"', "", "[compaction]", "enabled = false", "",
             "[projection]", f"enabled = {'true' if projection else 'false'}", ""]
    for v in venues:
        lines.append("[[venue]]")
        lines += [f"{k} = {json.dumps(val)}" for k, val in v.items()]
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- lean sender


def ws_frame(payload: bytes) -> bytes:
    """An unmasked server text frame."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


def build_block(n: int) -> tuple[bytes, list[int], list[tuple[int, bytes]], str, str]:
    """N encoded frames, their offsets, REST snapshots by frame index, payload digests."""
    from tools.simulator.binance_market import BinanceMarket
    from tools.simulator.captures import read_hftbacktest

    market = BinanceMarket([read_hftbacktest()], base_ms=0)
    parts: list[bytes] = []
    offsets = [0]
    snaps: list[tuple[int, bytes]] = []
    digest = hashlib.blake2b(digest_size=16)
    last = b""
    e_ms = 0
    while len(parts) < n:
        if len(parts) >= len(snaps) * SNAP_EVERY and market.has_book(SYMBOL):
            snaps.append((len(parts), market.depth_body(SYMBOL, 1000, e_ms)))
        ev = market.next()
        name = STREAMS.get(ev.kind)
        if name is None:
            continue
        last = b'{"stream":"%s","data":%s}' % (name, ev.data)
        digest.update(hashlib.blake2b(last, digest_size=16).digest())
        frame = ws_frame(last)
        parts.append(frame)
        offsets.append(offsets[-1] + len(frame))
    return b"".join(parts), offsets, snaps, digest.hexdigest(), hashlib.blake2b(last, digest_size=16).hexdigest()


class LeanSender:
    """One port: WebSocket upgrades get the whole block; plain GETs get a depth snapshot."""

    def __init__(self, n: int) -> None:
        self.blob, self.offsets, self.snaps, self.digest, self.last = build_block(n)
        self.n = n
        self.pos = 0  # frames written on the newest connection

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:]) if k}
            if headers.get("upgrade", "").lower() == "websocket":
                await self._websocket(reader, writer, headers["sec-websocket-key"])
            else:
                self._rest(writer, lines[0])
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _rest(self, writer: asyncio.StreamWriter, request_line: str) -> None:
        path = request_line.split(" ")[1]
        if path.startswith("/fapi/v1/depth"):
            # the first snapshot still ahead of this connection's stream: it brackets a
            # diff the client has not seen yet, as a real snapshot taken "now" would
            body = next((b for i, b in self.snaps if i >= self.pos), self.snaps[-1][1])
            status = "200 OK"
        else:
            body, status = b'{"code":-1000,"msg":"not served by the bench sender"}', "404 Not Found"
        writer.write(b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n%s" % (status.encode(), len(body), body))

    async def _websocket(self, reader, writer, key: str) -> None:
        accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept)
        writer.transport.set_write_buffer_limits(high=1 << 20)
        self.pos = 0
        replies = asyncio.create_task(self._answer(reader, writer))
        mv, off = memoryview(self.blob), self.offsets
        for i in range(0, self.n, CHUNK):
            j = min(i + CHUNK, self.n)
            writer.write(mv[off[i]:off[j]])
            self.pos = j
            await writer.drain()
        await replies  # until the client closes

    @staticmethod
    async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer the client's pings and close frame (client frames are masked)."""
        while True:
            b0, b1 = await reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(await reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await reader.readexactly(8), "big")
            mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
            data = bytes(c ^ mask[k % 4] for k, c in enumerate(await reader.readexactly(n)))
            op = b0 & 0x0F
            if op == 0x9:
                writer.write(bytes((0x8A, len(data))) + data)
            elif op == 0x8:
                writer.write(bytes((0x88, len(data))) + data)
                await writer.drain()
                return


async def sender_main(n: int) -> None:
    sender = LeanSender(n)
    server = await asyncio.start_server(sender.handle, "127.0.0.1", 0, limit=1 << 16)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port, "digest": sender.digest, "last": sender.last,
                      "bytes": len(sender.blob)}), flush=True)
    stop_ev = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop_ev.set)
    await stop_ev.wait()
    server.close()


# ---------------------------------------------------------------------------- bare clients


async def client_main(kind: str, url: str, n: int) -> None:
    t_first = t_last = 0
    count = 0
    perf = time.perf_counter_ns
    if kind == "recv":
        from websockets.asyncio.client import connect

        async with connect(url, max_size=None, compression=None, ping_interval=None) as ws:
            async for _msg in ws:
                if count == 0:
                    t_first = perf()
                count += 1
                if count == n:
                    t_last = perf()
                    break
    elif kind == "events":
        from websockets.asyncio.client import ClientConnection, connect
        from websockets.frames import Opcode

        done = asyncio.get_running_loop().create_future()

        class Counting(ClientConnection):
            def process_event(self, event) -> None:
                nonlocal count, t_first, t_last
                if self.response is None or event.opcode not in (Opcode.TEXT, Opcode.BINARY):
                    super().process_event(event)
                    return
                _payload = event.data  # what a consumer would take
                if count == 0:
                    t_first = perf()
                count += 1
                if count == n:
                    t_last = perf()
                    done.set_result(None)

        async with connect(url, max_size=None, compression=None, ping_interval=None,
                           create_connection=Counting):
            await done
    elif kind == "picows":
        from picows import WSListener, WSMsgType, ws_connect

        done = asyncio.get_running_loop().create_future()

        class Listener(WSListener):
            def on_ws_frame(self, transport, frame) -> None:
                nonlocal count, t_first, t_last
                if frame.msg_type is not WSMsgType.TEXT and frame.msg_type is not WSMsgType.BINARY:
                    return
                _payload = frame.get_payload_as_bytes()
                if count == 0:
                    t_first = perf()
                count += 1
                if count == n:
                    t_last = perf()
                    transport.send_close()
                    done.set_result(None)

        transport, _ = await ws_connect(Listener, url, max_frame_size=1 << 26)
        await done
        transport.disconnect()
    else:
        raise SystemExit(f"unknown client {kind}")
    print(json.dumps({"frames": count, "seconds": (t_last - t_first) / 1e9,
                      "rss": proc_status(os.getpid())}), flush=True)


# ---------------------------------------------------------------------------- the recorder


def run_recorder_throughput(port: int, n: int, digest: str, last: str, work: Path, *,
                            projection: bool = True, committer: str = "process") -> dict:
    """``recorder run`` against the sender until all N frames are committed."""
    from recorder.journal.reader import JournalReader

    data = work / "rec-data"
    shutil.rmtree(data, ignore_errors=True)
    base = f"127.0.0.1:{port}"
    toml = work / "recorder.toml"
    toml.write_text(recorder_toml(data, [{
        "venue": "binance-usdm", "symbols": [SYMBOL], "channels": ["depth", "bookTicker"],
        "ws_url": f"ws://{base}", "rest_url": f"http://{base}"}], work / "recorder.log",
        projection=projection, committer=committer))
    proc = spawn("-m", "recorder.cli", "run", "--config", str(toml))
    reader = None
    t_end = 0
    mem: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 120
        seen = 0
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
            if reader is None:
                if not (data / "journal").exists():
                    continue
                try:
                    reader = JournalReader(data)
                except Exception:  # noqa: BLE001 (not created yet)
                    continue
            reader.refresh()
            top = reader.last_seq
            if top <= seen:
                continue
            tail = list(reader.read(max(seen + 1, top - 16), top))
            seen = top
            if any(r.kind == "frame" and hashlib.blake2b(r.payload, digest_size=16).hexdigest() == last
                   for r in tail):
                t_end = time.time_ns()
                mem = proc_status(proc.pid)
                break
        if not t_end:
            raise SystemExit(f"bench: the recorder did not commit {n} frames in time "
                             f"(exit {proc.poll()}): {(work / 'recorder.log').read_text()[-2000:]}")
    finally:
        code = stop(proc)
        if reader is not None:
            reader.close()
    if code != 0:
        raise SystemExit(f"bench: recorder exited {code}: {errors(proc)}")
    with JournalReader(data) as r:
        frames = [rec for rec in r.read() if rec.kind == "frame"]
        kinds: dict[str, int] = {}
        for rec in r.read():
            kinds[rec.kind] = kinds.get(rec.kind, 0) + 1
    h = hashlib.blake2b(digest_size=16)
    for rec in frames:
        h.update(hashlib.blake2b(rec.payload, digest_size=16).digest())
    if len(frames) != n or h.hexdigest() != digest:
        raise SystemExit(f"bench: journal holds {len(frames)} frames, digest "
                         f"{'matches' if h.hexdigest() == digest else 'differs'}; expected {n}")
    seconds = (t_end - frames[0].ts_ns) / 1e9
    return {"frames": n, "seconds": seconds, "rss": mem, "records": kinds}


def run_client(kind: str, port: int, n: int, env: dict[str, str] | None = None) -> dict:
    url = f"ws://127.0.0.1:{port}/public/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker"
    return child_json(spawn(__file__, "_client", kind, url, str(n), env=env), timeout=180)


def picows_env() -> dict[str, str] | None:
    """An environment in which picows imports (``BENCH_EXTRA_PATH`` adds a directory)."""
    env = dict(os.environ)
    extra = env.get("BENCH_EXTRA_PATH")
    if extra:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (extra, env.get("PYTHONPATH")) if p)
    ok = subprocess.run([sys.executable, "-c", "import picows"], env=env, capture_output=True).returncode == 0
    return env if ok else None


# ---------------------------------------------------------------------------- latency


async def latency_main(ws: str, rest: str, seconds: float, warmup: float, switch: float) -> None:
    import gc

    import recorder.daemon.picows_connection as picows_connection
    from recorder.daemon import Recorder, build_config

    perf = time.perf_counter_ns
    arrival = [0, 0]  # perf ns of the current socket read; frames folded since
    chunks: list[int] = []  # frames per socket read, while measuring
    measuring = [False]
    on_frame = picows_connection.PicowsConnection.on_ws_frame
    read_done = [True]

    def stamped_frame(self, transport, frame) -> None:
        # picows parses a read in C and calls this per frame: the first one stamps the
        # read's arrival (its syscall and the frame's parse, well under a microsecond, are
        # not counted); the last one (last_in_buffer) ends it.
        if read_done[0]:
            arrival[0], arrival[1] = perf(), 0
            read_done[0] = False
        on_frame(self, transport, frame)
        if frame.last_in_buffer:
            read_done[0] = True
            if measuring[0] and arrival[1]:
                chunks.append(arrival[1])

    picows_connection.PicowsConnection.on_ws_frame = stamped_frame
    if switch > 0:
        sys.setswitchinterval(switch)  # an experiment (--switch-interval), not the daemon's default
    gc_pauses: list[int] = []
    gc_t0 = [0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_t0[0] = perf()
        elif measuring[0]:
            gc_pauses.append(perf() - gc_t0[0])

    gc.callbacks.append(on_gc)
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    try:
        cfg = build_config({
            "recorder": {"data": str(work), "durability": "fsync", "log_level": "warning",
                         "log_file": str(work / "recorder.log")},
            "compaction": {"enabled": False},
            "venue": [{"venue": "binance-usdm", "symbols": [SYMBOL], "channels": LAT_CHANNELS,
                       "ws_url": ws, "rest_url": rest}]})
        rec = Recorder(cfg)
        task = asyncio.create_task(rec.run())
        await asyncio.wait_for(rec.started.wait(), 30)
        assert rec.projection is not None, "the live projection is off"
        lats: list[int] = []
        firsts: list[int] = []  # latency of the first frame of each read: no queueing behind others

        def listener(record) -> None:
            if measuring[0] and record.kind == "frame":
                lat = perf() - arrival[0]
                lats.append(lat)
                if not arrival[1]:
                    firsts.append(lat)
                arrival[1] += 1

        rec.projection.listeners.append(listener)
        await asyncio.sleep(warmup)
        measuring[0] = True
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        measuring[0] = False
        elapsed = time.monotonic() - t0
        rss = proc_status(os.getpid())
        rec.request_stop()
        code = await task
        failed = rec.projection.failed
    finally:
        gc.callbacks.remove(on_gc)
        shutil.rmtree(work, ignore_errors=True)
    if not lats:
        raise SystemExit("bench: no frame reached the projection")

    def pct(values: list[int], p: float) -> float:
        values = sorted(values)
        return values[min(len(values) - 1, int(p * len(values)))] / 1e6 if values else 0.0

    chunks.sort()
    print(json.dumps({
        "frames": len(lats), "frames_per_s": len(lats) / elapsed, "p50_ms": pct(lats, 0.5),
        "p99_ms": pct(lats, 0.99), "p999_ms": pct(lats, 0.999), "max_ms": max(lats) / 1e6,
        "first_p50_ms": pct(firsts, 0.5), "first_p99_ms": pct(firsts, 0.99),
        "reads": len(chunks), "frames_per_read_p50": chunks[len(chunks) // 2] if chunks else 0,
        "frames_per_read_p99": chunks[int(0.99 * len(chunks))] if chunks else 0,
        "gc_pauses": len(gc_pauses), "gc_max_ms": max(gc_pauses, default=0) / 1e6,
        "gc_total_ms": sum(gc_pauses) / 1e6,
        "exit": code, "projection_failed": failed, "rss": rss}), flush=True)


def start_simulator(*args: str) -> tuple[subprocess.Popen, str, str]:
    sim = spawn("-m", "tools.simulator", "--port", "0", "--source", "synthetic", "--no-record", *args)
    ws = sim.stdout.readline().split()
    rest = sim.stdout.readline().split()
    if len(ws) != 2 or len(rest) != 2:
        stop(sim)
        raise SystemExit(f"bench: simulator did not start: {errors(sim)}")
    return sim, ws[1], rest[1]


def run_latency(seconds: float, warmup: float, switch: float = 0.0, busy: bool = False) -> dict:
    sim, ws, rest = start_simulator("--venue", "binance-usdm", "--symbols", SYMBOL,
                                    "--rate", str(LAT_RATE))
    neighbour = spawn("-c", "while True: pass") if busy else None
    try:
        res = child_json(spawn(__file__, "_latency", ws, rest, str(seconds), str(warmup), str(switch)),
                         timeout=seconds + warmup + 90)
    finally:
        if neighbour is not None:
            stop(neighbour)
        stop(sim)
    res["busy_neighbour"] = busy
    return res


# ---------------------------------------------------------------------------- soak


def soak(seconds: float, rate: float, as_json: bool) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    sim, ws, rest = start_simulator("--venue", "binance-usdm,upbit", "--symbols", "BTCUSDT,ETHUSDT",
                                    "--codes", "KRW-BTC,KRW-ETH", "--rate", str(rate))
    toml = work / "recorder.toml"
    toml.write_text(recorder_toml(work / "data", [
        {"venue": "binance-usdm", "symbols": ["BTCUSDT", "ETHUSDT"], "channels": LAT_CHANNELS,
         "ws_url": ws, "rest_url": rest},
        {"venue": "upbit", "symbols": ["KRW-BTC", "KRW-ETH"], "channels": ["orderbook", "trade", "ticker"],
         "ws_url": ws, "rest_url": rest}], work / "recorder.log"))
    proc = spawn("-m", "recorder.cli", "run", "--config", str(toml))
    samples: list[tuple[float, dict[str, float]]] = []
    t0 = time.monotonic()
    try:
        while (t := time.monotonic() - t0) < seconds and proc.poll() is None:
            time.sleep(min(5.0, max(0.0, seconds - t)))
            st = proc_status(proc.pid)
            if st:
                samples.append((time.monotonic() - t0, st))
                print(f"  t={samples[-1][0]:6.0f}s  rss={st['VmRSS']:7.1f} MB  anon={st['RssAnon']:7.1f} MB"
                      f"  file={st['RssFile']:7.1f} MB", file=sys.stderr if as_json else sys.stdout,
                      flush=True)
        alive = proc.poll() is None
    finally:
        code = stop(proc)
        stop(sim)
        from recorder.journal.reader import JournalReader

        try:
            with JournalReader(work / "data") as r:
                records = r.last_seq
        except Exception:  # noqa: BLE001 (reported as 0)
            records = 0
        shutil.rmtree(work, ignore_errors=True)
    if not alive or code != 0 or len(samples) < 4:
        print(f"soak: the recorder stopped early (exit {code})", file=sys.stderr)
        return 1
    # The live projection keeps each symbol's trades for its longest feature window and
    # compacts them once evicted entries outnumber live ones: its memory grows for up to
    # twice that window by design. Flat means: no higher after that than just after it.
    settle = max(0.2 * seconds, 2 * projection_horizon_s())
    settled = [s for s in samples if s[0] >= settle]
    anon_all = [s[1]["RssAnon"] for s in samples]
    trend = settled if len(settled) >= 4 else samples  # MB/h once settled, else while filling
    xs, ys = [s[0] for s in trend], [s[1]["RssAnon"] for s in trend]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs) or 1.0
    slope_h = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var * 3600
    if len(settled) >= 4:
        half = len(settled) // 2
        first, second = max(s[1]["RssAnon"] for s in settled[:half]), max(s[1]["RssAnon"] for s in settled[half:])
        flat: bool | None = second <= first + max(8.0, 0.05 * first)
        verdict = (f"after {settle:.0f} s: max RssAnon {first:.1f} MB, then {second:.1f} MB: "
                   + ("flat" if flat else "GROWING"))
    else:
        flat = None
        verdict = (f"inconclusive: the projection's memory settles only after {settle:.0f} s "
                   f"(2 x its {projection_horizon_s():.0f} s longest window); run --soak {settle + 600:.0f}")
    result = {"seconds": seconds, "records": records, "records_per_s": records / seconds,
              "rss_anon_first_mb": anon_all[0], "rss_anon_last_mb": anon_all[-1],
              "rss_anon_max_mb": max(anon_all), "rss_anon_slope_mb_per_h": slope_h,
              "peak_rss_mb": max(s[1]["VmHWM"] for s in samples), "settle_s": settle, "flat": flat}
    print(f"soak {seconds:.0f} s, {records} records ({records / seconds:.0f}/s): RssAnon "
          f"{anon_all[0]:.1f} -> {anon_all[-1]:.1f} MB (max {max(anon_all):.1f}; trend "
          f"{'after settling' if trend is settled else 'while filling'} {slope_h:+.1f} MB/h), "
          f"peak RSS {result['peak_rss_mb']:.1f} MB; {verdict}")
    if as_json:
        print(json.dumps(result))
    return 1 if flat is False else 0


def projection_horizon_s() -> float:
    """The longest feature window of the daemon's live projection (its default ``Projector``)."""
    import inspect

    from state.projector import Projector

    return float(max(inspect.signature(Projector.__init__).parameters["windows"].default))


# ---------------------------------------------------------------------------- main


def throughput(frames: int, repeat: int, say, split: bool = False,
               thread_committer: bool = False) -> tuple[dict[str, dict], int]:
    """Best run of each client against one lean sender; returns (best by kind, frames)."""
    work = Path(tempfile.mkdtemp(prefix="bench-recorder-"))
    say(f"building {frames} frames ...")
    sender = spawn(__file__, "_sender", str(frames))
    try:
        line = sender.stdout.readline()
        if not line:
            raise SystemExit(f"bench: sender failed: {errors(sender)}")
        info = json.loads(line)
        port = info["port"]
        say(f"sender on 127.0.0.1:{port}: {frames} frames, {info['bytes'] / 1e6:.1f} MB")
        env = picows_env()
        kinds = (["recv", "events", "recorder"] + (["picows"] if env else [])
                 + (["recorder-noproj"] if split else [])
                 + (["recorder-thread"] if thread_committer else []))
        best: dict[str, dict] = {}
        for r in range(repeat):
            for kind in kinds:
                if kind.startswith("recorder"):
                    res = run_recorder_throughput(
                        port, frames, info["digest"], info["last"], work,
                        projection=kind != "recorder-noproj",
                        committer="thread" if kind == "recorder-thread" else "process")
                else:
                    res = run_client(kind, port, frames, env if kind == "picows" else None)
                res["rate"] = res["frames"] / res["seconds"]
                say(f"  run {r + 1} {kind:9s} {res['rate']:10,.0f} frames/s")
                if kind not in best or res["rate"] > best[kind]["rate"]:
                    best[kind] = res
    finally:
        stop(sender)
        shutil.rmtree(work, ignore_errors=True)
    return best, frames


def report(best: dict[str, dict] | None, frames: int, lat: dict, say) -> dict:
    result: dict = {"p99_state_latency_ms": round(lat["p99_ms"], 3),
                    "p50_state_latency_ms": round(lat["p50_ms"], 3),
                    "max_state_latency_ms": round(lat["max_ms"], 3),
                    "latency_frames_per_s": round(lat["frames_per_s"]),
                    "latency_busy_neighbour": lat.get("busy_neighbour", False)}
    say("")
    if best is not None:
        rec = best["recorder"]
        bare_kinds = [k for k in ("recv", "events", "picows") if k in best]
        baseline = max(bare_kinds, key=lambda k: best[k]["rate"])
        ratio = rec["rate"] / best[baseline]["rate"]
        result = {
            "ratio": round(ratio, 3), "baseline_client": CLIENT_NAMES[baseline],
            "frames_per_s": round(rec["rate"]),
            "peak_rss_mb": round(rec["rss"].get("VmHWM", 0.0), 1), **result,
            "bare_recv_frames_per_s": round(best["recv"]["rate"]),
            "bare_events_frames_per_s": round(best["events"]["rate"]),
            "picows_frames_per_s": round(best["picows"]["rate"]) if "picows" in best else None,
            "recorder_rss_anon_mb": round(rec["rss"].get("RssAnon", 0.0), 1), "frames": frames,
        }
        say(f"recorder (fsync, projection on)   {rec['rate']:10,.0f} frames/s durable, byte-exact "
            f"({frames} frames; records {rec['records']})")
        say(f"bare websockets, async for recv   {best['recv']['rate']:10,.0f} frames/s")
        say(f"bare websockets, process_event    {best['events']['rate']:10,.0f} frames/s")
        if "recorder-noproj" in best:
            say(f"recorder, projection off (--split) {best['recorder-noproj']['rate']:9,.0f} frames/s durable")
            result["recorder_no_projection_frames_per_s"] = round(best["recorder-noproj"]["rate"])
        if "recorder-thread" in best:
            say(f"recorder, committer thread          {best['recorder-thread']['rate']:9,.0f} frames/s durable")
            result["recorder_thread_committer_frames_per_s"] = round(best["recorder-thread"]["rate"])
        if "picows" in best:
            say(f"bare picows, payload as bytes     {best['picows']['rate']:10,.0f} frames/s")
        else:
            say("bare picows                       not importable (pip install picows, or BENCH_EXTRA_PATH=DIR)")
        say(f"ratio recorder / fastest bare client ({CLIENT_NAMES[baseline]}) = {ratio:.3f}  "
            f"(goal >= 0.5; >= 300k frames/s)")
        say(f"recorder peak RSS {result['peak_rss_mb']} MB (RssAnon {result['recorder_rss_anon_mb']} MB)")
    busy = " beside a busy neighbour" if lat.get("busy_neighbour") else ""
    say(f"state latency at {lat['frames_per_s']:,.0f} frames/s{busy}: p50 {lat['p50_ms']:.3f} ms, "
        f"p99 {lat['p99_ms']:.3f} ms, p99.9 {lat['p999_ms']:.3f} ms, max {lat['max_ms']:.3f} ms "
        f"over {lat['frames']} frames (goal p99 < 0.5 ms with a busy neighbour)")
    say(f"  first frame of each socket read: p50 {lat['first_p50_ms']:.3f} ms, p99 {lat['first_p99_ms']:.3f} ms; "
        f"frames per read p50 {lat['frames_per_read_p50']}, p99 {lat['frames_per_read_p99']}; "
        f"GC {lat['gc_pauses']} pauses, max {lat['gc_max_ms']:.1f} ms, total {lat['gc_total_ms']:.0f} ms")
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_sender":
        asyncio.run(sender_main(int(argv[1])))
        return 0
    if argv and argv[0] == "_client":
        asyncio.run(client_main(argv[1], argv[2], int(argv[3])))
        return 0
    if argv and argv[0] == "_latency":
        asyncio.run(latency_main(argv[1], argv[2], float(argv[3]), float(argv[4]), float(argv[5])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=400_000, help="frames per throughput run")
    ap.add_argument("--repeat", type=int, default=2, help="runs per client; the best is kept")
    ap.add_argument("--latency-seconds", type=float, default=10.0)
    ap.add_argument("--latency-only", action="store_true", help="skip the throughput runs")
    ap.add_argument("--split", action="store_true",
                    help="also run the recorder with its live projection off (where the time goes)")
    ap.add_argument("--thread-committer", action="store_true",
                    help="also run the recorder with committer = \"thread\" (the process's alternative)")
    ap.add_argument("--busy-neighbour", action="store_true",
                    help="run a spinning process beside the latency run (a machine shared with a busy job)")
    ap.add_argument("--switch-interval", type=float, default=0.0, metavar="S",
                    help="experiment: sys.setswitchinterval(S) in the latency run's recorder "
                         "(Python's default 0.005 s bounds how long another thread keeps the GIL)")
    ap.add_argument("--soak", type=float, default=None, metavar="SECONDS")
    ap.add_argument("--soak-rate", type=float, default=2500.0, help="events/s per venue in the soak")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    # a SIGTERM unwinds like an exception, so the children are stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.soak is not None:
        return soak(args.soak, args.soak_rate, args.json)
    if args.frames < CHUNK or args.repeat < 1 or args.latency_seconds <= 0:
        ap.error("--frames >= 256, --repeat >= 1, --latency-seconds > 0")
    say = (lambda *a: None) if args.json else print
    best = None
    if not args.latency_only:
        best, _ = throughput(args.frames, args.repeat, say, args.split, args.thread_committer)
    say(f"latency: {LAT_RATE} frames/s from the simulator for {args.latency_seconds:.0f} s ...")
    lat = run_latency(args.latency_seconds, 3.0, args.switch_interval, args.busy_neighbour)
    result = report(best, args.frames, lat, say)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
