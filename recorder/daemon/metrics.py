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
    ticktape_live_changes_total{venue,conn}              subscription changes sent live
    ticktape_live_changes_refused_total{venue,conn}      of them refused (or unanswered)
    ticktape_gaps_total{venue,symbol}                    book sequence breaks acted on (gap marks)
    ticktape_snapshots_total{venue,symbol}               snapshots journaled
    ticktape_rest_requests_total{venue,path,status}      REST calls made
    ticktape_validation_errors_total{kind}               projection findings (decode errors...)
    ticktape_frames_projected_total                      frames the live projection folded
    ticktape_writer_pending / ticktape_writer_max_pending  the commit queue
    ticktape_seq_last / ticktape_seq_committed           assigned vs durable seq
    ticktape_newest_record_age_seconds                   now - ts of the newest record
    ticktape_commit_seconds                              histogram of group-commit durations
    ticktape_receive_to_commit_seconds                   histogram: frame receipt -> durable
    ticktape_listing_polls_total{signal,verdict}         the listing watcher's requests ([listing])
    ticktape_listing_unreadable_total{signal}            answers it could not read (journaled)
    ticktape_listings_total                              new KRW listings marked
    ticktape_listing_detection_seconds                   histogram: announcement -> detection
    ticktape_tier_segments_expired_total                 tier hours deleted by age

plus whatever the running hooks report (``Hook.samples``: nightly compaction runs, InfluxDB
points). Everything is read through the ``Status`` port (``recorder.daemon.ports``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from recorder.journal import Record

from .ports import Status

SAMPLE_NS = 1_000_000  # one latency sample per millisecond of records at most
DETECTION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The registry, the HTTP endpoint and the few counters kept outside connections.

    It is the daemon's ``Counters`` port; it reads everything else from ``status``.
    """

    def __init__(self, status: Status, registry: CollectorRegistry | None = None) -> None:
        self.status = status
        self.registry = registry or CollectorRegistry()
        self.commit_seconds = Histogram(
            "ticktape_commit_seconds", "Duration of one journal group commit",
            registry=self.registry, buckets=LATENCY_BUCKETS)
        self.receive_to_commit = Histogram(
            "ticktape_receive_to_commit_seconds", "Frame receipt to durable commit",
            registry=self.registry, buckets=LATENCY_BUCKETS)
        self.detection = Histogram(
            "ticktape_listing_detection_seconds",
            "Upbit listing: the notice's first visibility to the listing mark",
            registry=self.registry, buckets=DETECTION_BUCKETS)
        self.watcher: Any = None  # the listing watcher, when [listing] runs (its .stats)
        self.tier: Any = None  # the short tier, when one runs (its .expired)
        self.rest_calls: dict[tuple[str, str, str], int] = {}
        self.gaps: dict[tuple[str, str], int] = {}
        self._samples: deque[tuple[int, int]] = deque(maxlen=100_000)
        self._last_sample_ns = 0
        self.server: Any = None
        self.port: int | None = None
        self.registry.register(_Collector(status, self))

    # -- hooks ----------------------------------------------------------------------

    def sample_latency(self, rec: Record) -> None:
        """Remember (seq, ts) about once a millisecond; ``on_commit`` turns it into latency."""
        if rec.ts_ns - self._last_sample_ns >= SAMPLE_NS:
            self._last_sample_ns = rec.ts_ns
            self._samples.append((rec.seq, rec.ts_ns))

    def on_commit(self, records: int, seconds: float) -> None:
        """``JournalWriter.on_commit`` (the writer's commit thread)."""
        self.commit_seconds.observe(seconds)
        committed = self.status.journal.committed_seq
        now = time.time_ns()
        samples = self._samples
        while samples and samples[0][0] <= committed:
            _, ts = samples.popleft()
            self.receive_to_commit.observe(max(0, now - ts) / 1e9)

    def rest(self, venue: str, path: str, status: str) -> None:
        key = (venue, path, status)
        self.rest_calls[key] = self.rest_calls.get(key, 0) + 1

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
    """Reads the daemon's live figures at scrape time (another thread: copies first)."""

    def __init__(self, status: Status, metrics: Metrics) -> None:
        self.status = status
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        st = self.status
        labels = ["venue", "conn", "stream", "kind"]
        recs = CounterMetricFamily("ticktape_records", "Records journaled", labels=labels)
        byts = CounterMetricFamily("ticktape_record_bytes", "Payload bytes journaled", labels=labels)
        for c in st.streams():
            key = [c.venue, c.conn, str(c.stream), c.kind]
            recs.add_metric(key, c.records)
            byts.add_metric(key, c.bytes)
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
        live = CounterMetricFamily("ticktape_live_changes", "Subscription changes sent live",
                                   labels=["venue", "conn"])
        refused = CounterMetricFamily("ticktape_live_changes_refused",
                                      "Live subscription changes refused or unanswered",
                                      labels=["venue", "conn"])
        for c in st.connections(time.monotonic()):
            lv = [c.venue, c.name]
            up.add_metric(lv, 1.0 if c.up else 0.0)
            down.add_metric(lv, c.down_s)
            recon.add_metric(lv, c.reconnects)
            rot.add_metric(lv, c.rotations)
            stale.add_metric(lv, c.stale)
            live.add_metric(lv, c.live_changes)
            refused.add_metric(lv, c.live_refused)
        yield from (up, down, recon, rot, stale, live, refused)

        m = self.metrics
        gaps = CounterMetricFamily("ticktape_gaps", "Depth-chain breaks", labels=["venue", "symbol"])
        for (venue, symbol), n in list(m.gaps.items()):
            gaps.add_metric([venue, symbol], n)
        snaps = CounterMetricFamily("ticktape_snapshots", "Snapshots journaled",
                                    labels=["venue", "symbol"])
        for s in st.snapshots():  # the fetchers' own counts
            if s.fetched:
                snaps.add_metric([s.venue, s.symbol], s.fetched)
        rest = CounterMetricFamily("ticktape_rest_requests", "REST calls made",
                                   labels=["venue", "path", "status"])
        for (venue, path, status), n in list(m.rest_calls.items()):
            rest.add_metric([venue, path, status], n)
        yield from (gaps, snaps, rest)

        val = CounterMetricFamily("ticktape_validation_errors", "Projection findings by kind",
                                  labels=["kind"])
        proj = st.projection()
        for kind, n in sorted((proj.findings if proj else {}).items()):
            val.add_metric([kind], n)
        yield val
        yield CounterMetricFamily("ticktape_frames_projected", "Frames the live projection folded",
                                  value=proj.frames if proj else 0)

        yield from hook_families(st.hook_samples())
        yield from self._listing()

        w = st.journal
        yield GaugeMetricFamily("ticktape_writer_pending", "Records waiting for commit", value=w.pending)
        yield GaugeMetricFamily("ticktape_writer_max_pending", "Commit queue bound (backpressure)",
                                value=w.max_pending)
        yield GaugeMetricFamily("ticktape_seq_last", "Last seq assigned", value=w.last_seq)
        yield GaugeMetricFamily("ticktape_seq_committed", "Last seq durable", value=w.committed_seq)
        age = (time.time_ns() - w.last_ts_ns) / 1e9 if w.last_ts_ns else 0.0
        yield GaugeMetricFamily("ticktape_newest_record_age_seconds", "Now minus the newest record's time",
                                value=max(0.0, age))


    def _listing(self) -> Iterator[Any]:
        watcher, tier = self.metrics.watcher, self.metrics.tier
        if tier is not None:
            yield CounterMetricFamily("ticktape_tier_segments_expired", "Tier hours deleted by age",
                                      value=len(tier.expired))
        if watcher is None:
            return
        stats = watcher.stats
        polls = CounterMetricFamily("ticktape_listing_polls", "Listing watcher requests",
                                    labels=["signal", "verdict"])
        for (signal, verdict), n in sorted(stats.polls.items()):
            polls.add_metric([signal, verdict], n)
        bad = CounterMetricFamily("ticktape_listing_unreadable", "Answers the watcher could not read",
                                  labels=["signal"])
        for signal, n in sorted(stats.unreadable.items()):
            bad.add_metric([signal], n)
        yield from (polls, bad)
        yield CounterMetricFamily("ticktape_listings", "New KRW listings marked", value=stats.listings)


def hook_families(samples: Iterable[tuple[str, str, str, dict[str, str], float]]) -> list[Any]:
    """Metric families of hook samples (name, kind, help, labels, value), by name, in order.

    A family's label names are those of its first sample.
    """
    fams: dict[str, Any] = {}
    for name, kind, help_, labels, value in samples:
        fam = fams.get(name)
        if fam is None:
            cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            fam = fams[name] = cls(name, help_, labels=sorted(labels))
        fam.add_metric([labels[k] for k in sorted(labels)], value)
    return list(fams.values())
