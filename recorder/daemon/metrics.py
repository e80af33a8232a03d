"""Prometheus metrics of one daemon, in its own ``CollectorRegistry``.

Hot-path counts (frames, bytes) are plain integers on each connection, read at scrape
time by a custom collector: a scrape costs the daemon nothing between scrapes. Commit
timings come from ``JournalWriter.on_commit`` on the writer's commit thread (the one
that hands batches to the committer process).

    ticktape_records_total{venue,conn,stream,kind}       records journaled
    ticktape_record_bytes_total{venue,conn,stream,kind}  their payload bytes
    ticktape_connection_up{venue,conn}                   1 while a connection is open
    ticktape_connection_down_seconds{venue,conn}         how long it has been down (0 if up)
    ticktape_reconnects_total{venue,conn}                connections opened after the first
    ticktape_rotations_total{venue,conn}                 planned 24 h replacements
    ticktape_stale_total{venue,conn}                     watchdog reconnects (no data)
    ticktape_gaps_total{venue,symbol}                    depth-chain breaks seen
    ticktape_snapshots_total{venue,symbol}               snapshots journaled
    ticktape_rest_requests_total{venue,path,status}      REST calls made
    ticktape_validation_errors_total{kind}               projection findings (decode errors...)
    ticktape_frames_projected_total                      frames the live projection folded
    ticktape_writer_pending / ticktape_writer_max_pending  the commit queue
    ticktape_seq_last / ticktape_seq_committed           assigned vs durable seq
    ticktape_newest_record_age_seconds                   now - ts of the newest record
    ticktape_commit_seconds                              histogram of group-commit durations
    ticktape_receive_to_commit_seconds                   histogram: frame receipt -> durable
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from recorder.journal import Record

    from .app import Recorder

SAMPLE_NS = 1_000_000  # one latency sample per millisecond of records at most
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The registry, the HTTP endpoint and the few counters kept outside connections."""

    def __init__(self, app: Recorder, registry: CollectorRegistry | None = None) -> None:
        self.app = app
        self.registry = registry or CollectorRegistry()
        self.commit_seconds = Histogram(
            "ticktape_commit_seconds", "Duration of one journal group commit",
            registry=self.registry, buckets=LATENCY_BUCKETS)
        self.receive_to_commit = Histogram(
            "ticktape_receive_to_commit_seconds", "Frame receipt to durable commit",
            registry=self.registry, buckets=LATENCY_BUCKETS)
        self.rest_calls: dict[tuple[str, str, str], int] = {}
        self.snapshots: dict[tuple[str, str], int] = {}
        self.gaps: dict[tuple[str, str], int] = {}
        self._samples: deque[tuple[int, int]] = deque(maxlen=100_000)
        self._last_sample_ns = 0
        self.server: Any = None
        self.port: int | None = None
        self.registry.register(_Collector(app))

    # -- hooks ----------------------------------------------------------------------

    def sample_latency(self, rec: Record) -> None:
        """Remember (seq, ts) about once a millisecond; ``on_commit`` turns it into latency."""
        if rec.ts_ns - self._last_sample_ns >= SAMPLE_NS:
            self._last_sample_ns = rec.ts_ns
            self._samples.append((rec.seq, rec.ts_ns))

    def on_commit(self, records: int, seconds: float) -> None:
        """``JournalWriter.on_commit`` (the writer's commit thread)."""
        self.commit_seconds.observe(seconds)
        committed = self.app.writer.committed_seq
        now = time.time_ns()
        samples = self._samples
        while samples and samples[0][0] <= committed:
            _, ts = samples.popleft()
            self.receive_to_commit.observe(max(0, now - ts) / 1e9)

    def rest(self, venue: str, path: str, status: str) -> None:
        key = (venue, path, status)
        self.rest_calls[key] = self.rest_calls.get(key, 0) + 1

    def snapshot(self, venue: str, symbol: str) -> None:
        self.snapshots[(venue, symbol)] = self.snapshots.get((venue, symbol), 0) + 1

    def gap(self, venue: str, symbol: str) -> None:
        self.gaps[(venue, symbol)] = self.gaps.get((venue, symbol), 0) + 1

    # -- endpoint -------------------------------------------------------------------

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Start the HTTP endpoint (a daemon thread); returns the bound port."""
        self.server, _ = start_http_server(port, addr=host, registry=self.registry)
        self.port = self.server.server_port
        return self.port

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class _Collector(Collector):
    """Reads the daemon's live counters at scrape time (another thread: copies first)."""

    def __init__(self, app: Recorder) -> None:
        self.app = app

    def collect(self) -> Iterator[Any]:
        app = self.app
        labels = ["venue", "conn", "stream", "kind"]
        recs = CounterMetricFamily("ticktape_records", "Records journaled", labels=labels)
        byts = CounterMetricFamily("ticktape_record_bytes", "Payload bytes journaled", labels=labels)
        for (sid, kind), (n, b) in list(app.counts.items()):
            venue, conn = app.stream_names.get(sid, ("", ""))
            recs.add_metric([venue, conn, str(sid), kind], n)
            byts.add_metric([venue, conn, str(sid), kind], b)
        for link in list(app.links.values()):
            key = [link.venue, link.conn, str(link.sid), "frame"]
            recs.add_metric(key, link.frames)
            byts.add_metric(key, link.bytes)
        yield recs
        yield byts

        up = GaugeMetricFamily("ticktape_connection_up", "1 while the connection is open",
                               labels=["venue", "conn"])
        down = GaugeMetricFamily("ticktape_connection_down_seconds",
                                 "Seconds since the connection was last up (0 while up)",
                                 labels=["venue", "conn"])
        recon = CounterMetricFamily("ticktape_reconnects", "Connections opened after the first",
                                    labels=["venue", "conn"])
        rot = CounterMetricFamily("ticktape_rotations", "Planned connection replacements",
                                  labels=["venue", "conn"])
        stale = CounterMetricFamily("ticktape_stale", "Watchdog reconnects: no data",
                                    labels=["venue", "conn"])
        now = time.monotonic()
        for s in list(app.supervisors):
            lv = [s.venue, s.name]
            up.add_metric(lv, 1.0 if s.up else 0.0)
            down.add_metric(lv, 0.0 if s.up else now - s.down_since)
            recon.add_metric(lv, s.reconnects)
            rot.add_metric(lv, s.rotations)
            stale.add_metric(lv, s.stale)
        yield from (up, down, recon, rot, stale)

        m = app.metrics
        gaps = CounterMetricFamily("ticktape_gaps", "Depth-chain breaks", labels=["venue", "symbol"])
        for (venue, symbol), n in list(m.gaps.items()):
            gaps.add_metric([venue, symbol], n)
        snaps = CounterMetricFamily("ticktape_snapshots", "Snapshots journaled",
                                    labels=["venue", "symbol"])
        for (venue, symbol), n in list(m.snapshots.items()):
            snaps.add_metric([venue, symbol], n)
        rest = CounterMetricFamily("ticktape_rest_requests", "REST calls made",
                                   labels=["venue", "path", "status"])
        for (venue, path, status), n in list(m.rest_calls.items()):
            rest.add_metric([venue, path, status], n)
        yield from (gaps, snaps, rest)

        val = CounterMetricFamily("ticktape_validation_errors", "Projection findings by kind",
                                  labels=["kind"])
        proj = app.projection
        for kind, n in sorted((proj.validation_counts() if proj else {}).items()):
            val.add_metric([kind], n)
        yield val
        yield CounterMetricFamily("ticktape_frames_projected", "Frames the live projection folded",
                                  value=proj.frames if proj else 0)

        nightly = app.nightly
        if nightly is not None:
            st = nightly.stats()
            runs = CounterMetricFamily("ticktape_compaction_runs", "Nightly compaction runs by result",
                                       labels=["result"])
            for result, n in sorted(st["runs"].items()):
                runs.add_metric([result], n)
            yield runs
            yield CounterMetricFamily("ticktape_compaction_days", "Journal days archived by this process",
                                      value=st["days_compacted"])
            yield GaugeMetricFamily("ticktape_compaction_last_success_timestamp_seconds",
                                    "Unix time of the last successful compaction (0: none yet)",
                                    value=st["last_ok_unix"])

        feed = app.influx
        if feed is not None:
            st = feed.stats()
            pts = CounterMetricFamily("ticktape_influx_points", "Points for InfluxDB by outcome",
                                      labels=["result"])
            for result in ("written", "dropped", "failed"):
                pts.add_metric([result], st[result])
            yield pts
            yield GaugeMetricFamily("ticktape_influx_pending", "Points queued for InfluxDB",
                                    value=st["pending"])

        w = app.writer
        yield GaugeMetricFamily("ticktape_writer_pending", "Records waiting for commit", value=w.pending)
        yield GaugeMetricFamily("ticktape_writer_max_pending", "Commit queue bound (backpressure)",
                                value=w.max_pending)
        yield GaugeMetricFamily("ticktape_seq_last", "Last seq assigned", value=w.last_seq)
        yield GaugeMetricFamily("ticktape_seq_committed", "Last seq durable", value=w.committed_seq)
        age = (time.time_ns() - w.last_ts_ns) / 1e9 if w.last_ts_ns else 0.0
        yield GaugeMetricFamily("ticktape_newest_record_age_seconds", "Now minus the newest record's time",
                                value=max(0.0, age))
