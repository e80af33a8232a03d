"""The ``Status`` port over the daemon's parts: what metrics and the dashboard read.

Built once by the ``Recorder`` from the parts it wires (the lists and maps are shared,
so connections added later are seen); read from any thread, so every collection is
copied before it is walked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .connection import Link
from .hooks import HookRunner
from .ports import (
    ConnectionStatus,
    JournalView,
    ProjectionStatus,
    Sample,
    SnapshotStatus,
    StreamCount,
)
from .projection import LiveProjection
from .runtime import JournalAccess
from .snapshots import SnapshotFetcher
from .supervisor import Supervisor


class StatusView:
    """``Status`` (``recorder.daemon.ports``) over live parts; see the module docstring.

    ``journal`` and ``projection`` are called at read time: they exist once ``run`` opened them.
    """

    def __init__(self, *, config_hash: str, journal: Callable[[], JournalAccess],
                 supervisors: list[Supervisor], links: Mapping[int, Link],
                 fetchers: Mapping[str, SnapshotFetcher],
                 projection: Callable[[], LiveProjection | None], hooks: HookRunner) -> None:
        self.config_hash = config_hash
        self._journal = journal
        self._supervisors = supervisors
        self._links = links
        self._fetchers = fetchers
        self._projection = projection
        self._hooks = hooks

    @property
    def journal(self) -> JournalView:
        return self._journal().writer

    def streams(self) -> list[StreamCount]:
        access = self._journal()
        names = access.stream_names
        out = []
        for (sid, kind), (n, b) in list(access.counts.items()):
            venue, conn = names.get(sid, ("", ""))
            out.append(StreamCount(venue, conn, sid, kind, n, b))
        for link in list(self._links.values()):
            out.append(StreamCount(link.venue, link.conn, link.sid, "frame", link.frames, link.bytes))
        return out

    def connections(self, now: float) -> list[ConnectionStatus]:
        links = list(self._links.values())
        out = []
        for s in list(self._supervisors):
            if s.retiring and not s.links:
                continue  # its symbols were all removed: closed for good, not down
            mine = [lk for lk in links if lk.conn == s.name]
            newest = s.links[-1] if s.links else None
            up = s.up
            out.append(ConnectionStatus(
                name=s.name, venue=s.venue, up=up, links=len(s.links),
                failed=s.failed.error_class.value if s.failed is not None else None,
                down_s=0.0 if up else now - s.down_since,
                stream=newest.sid if newest is not None else None,
                frames=sum(lk.frames for lk in mine), bytes=sum(lk.bytes for lk in mine),
                reconnects=s.reconnects, rotations=s.rotations, stale=s.stale,
                live_changes=s.changes_sent, live_refused=s.changes_refused))
        return out

    def snapshots(self) -> list[SnapshotStatus]:
        out = []
        for venue, f in list(self._fetchers.items()):
            queued = set(f.queue)
            fetched = dict(f.fetched)
            for sym in sorted(set(fetched) | queued):
                out.append(SnapshotStatus(venue, sym, fetched.get(sym, 0), sym in queued, f.calls))
        return out

    def projection(self) -> ProjectionStatus | None:
        proj = self._projection()
        if proj is None:
            return None
        return ProjectionStatus(proj.failed or "live", proj.frames, proj.validation_counts())

    def hook_samples(self) -> list[Sample]:
        return self._hooks.samples()
