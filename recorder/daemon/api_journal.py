"""What other processes fetch or note, appended on a venue's API stream of the journal.

    api = ApiJournal(writer, journal=access, adapters=adapters, life=life, on_failure=...)
    seq = api.journal_rest("upbit", url, 200, body, recv_ns, via="control")
    seq = api.journal_mark("upbit", "listing", {"symbol": "KRW-XYZ"})

A REST answer is a ``rest`` record (``error`` outside 2xx and 304) whose meta says the
URL, the status, who fetched it (``via``: ``control``, ``api``, ``universe``, ``listing``)
and when it arrived; a mark is a ``mark`` record ``{"mark": text, **fields}``. Each venue
gets one stream for them (conn ``VENUE.api``, registered on first use); marks of no venue
(venue ``""``) go on the recorder's own (venue ``recorder``, conn ``recorder.api``).
Both answer ``ControlError`` when they cannot append (an unknown venue, a stop, a journal
that failed: ``on_failure`` hears that one first).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from recorder.journal import JournalWriteError
from recorder.journal.writer import JournalWriter
from recorder.venues import VENUES
from recorder.venues.descriptor import Adapter

from .control import ControlError
from .ports import Lifecycle
from .runtime import JournalAccess


def check_venue(venue: str, *, none_ok: bool = False) -> None:
    """``ControlError`` unless ``venue`` is a known one (or ``""`` with ``none_ok``)."""
    if none_ok and not venue:
        return
    if venue not in VENUES:
        alt = ", or \"\"" if none_ok else ""
        raise ControlError(f"unknown venue {venue!r} (known: {', '.join(VENUES)}{alt})",
                           code="unknown_venue", choices=tuple(VENUES))


class ApiJournal:
    """The API streams of one open journal; see the module docstring."""

    def __init__(self, writer: JournalWriter, *, journal: JournalAccess,
                 adapters: Sequence[Adapter], life: Lifecycle,
                 on_failure: Callable[[JournalWriteError], None]) -> None:
        self.writer = writer
        self.journal = journal
        self.adapters = adapters
        self.life = life
        self.on_failure = on_failure
        self._streams: dict[str, int] = {}  # venue -> its API stream

    def journal_rest(self, venue: str, url: str, status: int, body: bytes,
                     recv_ns: int | None, *, via: str = "control") -> int:
        """Append a REST answer fetched elsewhere (a ``rest`` record, ``error`` outside 2xx)
        on the venue's API stream; its seq. ``via`` says who fetched it: ``control`` (a
        process attached over the socket) or ``api`` (the market-data API in this process)."""
        check_venue(venue)
        if self.life.stopping:
            raise ControlError("the recorder is stopping", code="stopping")
        sid = self._stream(venue)
        kind = "rest" if 200 <= status < 300 or status == 304 else "error"
        meta: dict[str, Any] = {"url": url, "status": status, "via": via}
        if recv_ns is not None:
            meta["recv_ns"] = recv_ns
        try:
            rec = self.writer.append(sid, kind, body, meta=meta)
        except JournalWriteError as exc:
            self.on_failure(exc)
            raise ControlError(f"the journal failed: {exc}", code="journal_failed") from None
        return rec.seq

    def journal_mark(self, venue: str, text: str, fields: dict[str, Any]) -> int:
        """Append a ``mark`` an API process sent (``{"mark": text, **fields}``); its seq."""
        check_venue(venue, none_ok=True)
        if self.life.stopping:
            raise ControlError("the recorder is stopping", code="stopping")
        try:
            payload = json.dumps({**fields, "mark": text}, sort_keys=True).encode()
        except (TypeError, ValueError) as exc:
            raise ControlError(f"'fields': {exc}", code="bad_request") from None
        try:
            rec = self.writer.append(self._stream(venue), "mark", payload)
        except JournalWriteError as exc:
            self.on_failure(exc)
            raise ControlError(f"the journal failed: {exc}", code="journal_failed") from None
        return rec.seq

    def _stream(self, venue: str) -> int:
        """The stream of what API processes send over the control socket, per venue (venue
        ``""``: the recorder's own, for marks of no venue)."""
        sid = self._streams.get(venue)
        if sid is None:
            if venue:
                base = next((a.options.rest_base for a in self.adapters if a.venue == venue),
                            VENUES[venue].rest_url)
                sid = self.journal.register(venue, url=base, conn=f"{venue}.api", channels=("rest",))
            else:
                sid = self.journal.register("recorder", url="", conn="recorder.api", channels=())
            self._streams[venue] = sid
        return sid
