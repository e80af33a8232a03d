"""Parse Upbit's announcements and ``/v1/market/all`` bodies (bytes in, typed values out).

    page = parse_announcements(body)     # NoticePage: notices, fixed notices, total
    krw = parse_krw_markets(body)        # frozenset({"KRW-BTC", ...})

The announcements body is the web endpoint's (not part of Upbit's Open API)::

    GET https://api-manager.upbit.com/api/v1/announcements?os=web&page=1&per_page=20&category=trade
    {"success": true, "data": {"total_count": 5069, "total_pages": 254,
      "notices": [{"id": 5727, "title": "...", "category": "거래",
                   "listed_at": "2025-11-05T19:55:05+09:00",
                   "first_listed_at": "2025-11-05T17:44:16+09:00",
                   "need_new_badge": true, "need_update_badge": false}],
      "fixed_notices": []}}

``fixed_notices`` (pinned notices, same row shape) is read in ``data`` or beside it.
Times carry Upbit's offset (``+09:00``) and become integer ns UTC.

A body that cannot be used raises one of (``recorder.errors``)::

    NoticeBodyError              (a VenueReplyError) carries ``excerpt``, the body's start
    +-- NoticeNotJsonError       not JSON: a Cloudflare HTML page, a cut body
    +-- NoticeRefusedError       ``success: false`` or an Upbit ``error`` object
    +-- NoticeShapeError         a key gone, a wrong type, a time without an offset

Nothing else escapes for any ``bytes``: the caller journals the body first, logs the
error and polls again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from recorder.errors import (
    NoticeBodyError,
    NoticeNotJsonError,
    NoticeRefusedError,
    NoticeShapeError,
    VenueReplyError,
)
from recorder.venues.instruments import INSTRUMENTS

_EXCERPT = 120
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class WireNotice(msgspec.Struct, frozen=True, kw_only=True):
    """One row of ``data.notices`` as Upbit sends it (fields we do not read are ignored)."""

    id: int  # the notice's number; the page URL is upbit.com/service_center/notice?id=<id>
    title: str  # as shown, edited in place when Upbit amends the notice
    listed_at: str  # last (re)publication, ISO 8601 with offset; re-stamped on an edit
    category: str = ""  # "거래" or "Trade" (the locale's word), "안내", ...
    first_listed_at: str | None = None  # first publication; older rows lack it
    need_new_badge: bool = False  # the "new" badge is shown
    need_update_badge: bool = False  # the "updated" badge is shown (the notice was edited)


class WireData(msgspec.Struct, frozen=True, kw_only=True):
    """``data`` of the announcements body."""

    notices: list[WireNotice]
    total_count: int | None = None  # notices in the category, all pages
    total_pages: int | None = None
    fixed_notices: list[WireNotice] | None = None  # pinned notices (seen here or at the top)


class WireAnnouncements(msgspec.Struct, frozen=True, kw_only=True):
    """The whole announcements body."""

    success: bool
    data: WireData | None = None
    fixed_notices: list[WireNotice] | None = None


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    """One notice, times as integer ns UTC."""

    id: int
    title: str
    category: str
    listed_at_ns: int  # last (re)publication
    first_listed_at_ns: int | None  # first publication, when Upbit gives it
    need_new_badge: bool
    need_update_badge: bool
    fixed: bool = False  # from ``fixed_notices``

    @property
    def announced_at_ns(self) -> int:
        """When the notice was first visible: ``first_listed_at``, else ``listed_at``."""
        return self.listed_at_ns if self.first_listed_at_ns is None else self.first_listed_at_ns


class NoticePage(msgspec.Struct, frozen=True, kw_only=True):
    """One announcements response: its notices (Upbit's order, newest first) and pinned ones."""

    notices: tuple[Notice, ...]
    fixed: tuple[Notice, ...] = ()
    total_count: int | None = None


def excerpt(body: bytes | bytearray | memoryview | str) -> str:
    """The first characters of ``body`` for an error message (bytes decoded leniently)."""
    if not isinstance(body, str):
        body = bytes(body[: _EXCERPT * 4]).decode("utf-8", "replace")
    return " ".join(body[: _EXCERPT * 4].split())[:_EXCERPT]


def time_ns(text: str) -> int:
    """``2025-11-05T19:55:05+09:00`` as integer ns since the epoch, UTC.

    ``ValueError`` for a string that is not an ISO 8601 time with an offset.
    """
    when = datetime.fromisoformat(text)
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _notice(row: WireNotice, *, fixed: bool) -> Notice:
    try:
        listed = time_ns(row.listed_at)
        first = None if row.first_listed_at is None else time_ns(row.first_listed_at)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"notice {row.id}: {exc}") from None
    return Notice(id=row.id, title=row.title, category=row.category, listed_at_ns=listed,
                  first_listed_at_ns=first, need_new_badge=row.need_new_badge,
                  need_update_badge=row.need_update_badge, fixed=fixed)


def _decode_json(body: bytes, what: str) -> Any:
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError(f"a body is bytes, not {type(body).__name__}")
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise NoticeNotJsonError(what, f"not JSON: {exc}", excerpt(body)) from None
    except RecursionError:  # msgspec's guard against arrays nested thousands deep
        raise NoticeNotJsonError(what, "not JSON: nested too deep", excerpt(body)) from None


def _refusal(doc: Any) -> str | None:
    """What an Upbit refusal says, or None when ``doc`` is not one."""
    if isinstance(doc, dict):
        if doc.get("success") is False:
            return f"success is false: {str(doc.get('message') or doc.get('error') or '')[:80]}"
        if isinstance(doc.get("error"), dict | str):  # Open API errors: {"error": {"name", "message"}}
            return f"error: {str(doc['error'])[:80]}"
    return None


def parse_announcements(body: bytes) -> NoticePage:
    """The notices of one announcements response body.

    Raises ``NoticeNotJsonError``, ``NoticeRefusedError`` or ``NoticeShapeError`` (all
    ``NoticeBodyError``) for a body it cannot use; nothing else for any bytes.
    """
    what = "page of announcements"
    doc = _decode_json(body, what)
    if (refused := _refusal(doc)) is not None:
        raise NoticeRefusedError(what, refused, excerpt(body))
    try:
        wire = msgspec.convert(doc, WireAnnouncements)
        if wire.data is None:
            raise ValueError("no data")
        fixed = (wire.data.fixed_notices or []) + (wire.fixed_notices or [])
        return NoticePage(
            notices=tuple(_notice(r, fixed=False) for r in wire.data.notices),
            fixed=tuple(_notice(r, fixed=True) for r in fixed),
            total_count=wire.data.total_count)
    except (msgspec.ValidationError, ValueError) as exc:
        raise NoticeShapeError(what, str(exc), excerpt(body)) from None


def parse_markets(body: bytes) -> frozenset[str]:
    """Every market code (``KRW-BTC``, ``BTC-ETH``, ``USDT-SOL``) of a ``/v1/market/all`` body.

    Raises a ``NoticeBodyError`` as ``parse_announcements`` does.
    """
    what = "market list"
    doc = _decode_json(body, what)
    if (refused := _refusal(doc)) is not None:
        raise NoticeRefusedError(what, refused, excerpt(body))
    try:
        listed = INSTRUMENTS["upbit"].parse(bytes(body))  # the recorder's own reader of it
    except VenueReplyError as exc:
        raise NoticeShapeError(what, exc.reason, excerpt(body)) from None
    return frozenset(i.symbol for i in listed)


def parse_krw_markets(body: bytes) -> frozenset[str]:
    """The KRW market codes (``KRW-BTC``, ...) of a ``/v1/market/all`` body."""
    return frozenset(m for m in parse_markets(body) if m.startswith("KRW-"))


__all__ = [
    "Notice", "NoticeBodyError", "NoticePage", "WireAnnouncements", "WireData", "WireNotice",
    "excerpt", "parse_announcements", "parse_krw_markets", "parse_markets", "time_ns",
]
