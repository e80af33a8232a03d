"""The daemon's optional InfluxDB feed: 1 s features and 1 m bars from the live projection.

    feed = InfluxFeed(projection, config.influx)   # attaches a Deriver to the projection
    feed.push()      # every push_interval_s, on the loop thread: hand finished rows over
    feed.close()     # at stop (any thread): push, then flush the sink for a few seconds

Rows are made by ``query.derive.Deriver`` over the live projector, so a point written
live equals the row compaction later archives for the same second (same code, same
records). The sink (``query.influx.InfluxSink``) queues, batches and retries on its own
thread behind a bounded queue: when InfluxDB is slow or down, points are dropped and
counted, and recording never waits. Rows are sampled on record time: a feed that goes
quiet emits its last second once the next record arrives. After a restart the
sampling starts afresh at the next boundary (a bar open at the crash is not sent).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import InfluxConfig
    from .projection import LiveProjection

SENT = ("features", "klines")  # the derived tables that go to InfluxDB; the rest are discarded
CLOSE_TIMEOUT_S = 5.0


def make_sink(cfg: InfluxConfig) -> Any:
    from query.influx import InfluxSink

    return InfluxSink(cfg.url, cfg.token, cfg.org, cfg.bucket, bars_bucket=cfg.bars_bucket,
                      batch_size=cfg.batch_size, flush_interval=cfg.flush_interval_s,
                      max_pending=cfg.max_pending, max_retries=cfg.max_retries)


class InfluxFeed:
    """Derives rows from the live projection and offers them to an ``InfluxSink``."""

    def __init__(self, projection: LiveProjection, cfg: InfluxConfig, *, sink: Any = None) -> None:
        from query.derive import SCHEMAS, DeriveParams, Deriver

        params = DeriveParams(depth_levels=projection.depth_levels,
                              feature_interval_ms=cfg.feature_interval_ms)
        self.deriver = Deriver({}, params, projector=projection.projector)
        projection.attach_deriver(self.deriver)
        self.columns = {t: SCHEMAS[t].names for t in SENT}
        self.sink = sink if sink is not None else make_sink(cfg)
        self.offered = {"features": 0, "klines": 0}  # rows handed to the sink

    def push(self) -> int:
        """Hand the rows finished since the last push to the sink; returns how many.

        Call on the thread that appends (the deriver's rows are only touched there).
        Rows of the other derived tables are dropped here: they are not sent anywhere.
        """
        rows = self.deriver.rows
        n = 0
        for table in rows:
            got, rows[table] = rows[table], []
            if table not in SENT or not got:
                continue
            cols = self.columns[table]
            dicts = [dict(zip(cols, r, strict=True)) for r in got]
            write = self.sink.write_features if table == "features" else self.sink.write_bars
            write(dicts)
            self.offered[table] += len(dicts)
            n += len(dicts)
        return n

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Flush the sink for up to ``timeout`` s and stop it (blocking: run it off the loop)."""
        self.sink.close(timeout)

    def stats(self) -> dict[str, Any]:
        return {**self.sink.stats(), "offered": dict(self.offered)}
