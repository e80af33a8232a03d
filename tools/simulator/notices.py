"""Upbit's announcement board, as the listing watcher polls it (``api-manager.upbit.com``).

``GET /api/v1/announcements?os=web&page=1&per_page=20&category=trade`` answers the real
shape (``success``, ``data.total_count``, ``total_pages``, ``notices[]`` of ``id``,
``title``, ``category``, ``listed_at``, ``first_listed_at``, ``need_new_badge``,
``need_update_badge``, and ``data.fixed_notices``), newest first, times in KST with second
precision (``2025-11-05T19:55:05+09:00``). ``category=all`` lists every category.

A scripted notice (``publish``) becomes visible at its time, rounded up to a whole second so
that its ``first_listed_at`` is the instant it could first be seen: a watcher's detection
latency is measured from there. ``edit`` re-stamps ``listed_at`` and sets
``need_update_badge``, as Upbit does when a notice is amended; ``repost`` copies one under a
new id.

Each reply carries an ``ETag`` (a digest of the body); a request with a matching
``If-None-Match`` gets ``304 Not Modified`` with no body, so a conditional poll costs nothing.

Faults, each for the next ``times`` requests (``fault``): ``forbidden`` (403 with an HTML
page, as Cloudflare blocks a cloud address), ``limited`` (429 with a plain-text body),
``html`` (200 with a page that is not JSON), ``shape`` (200 JSON of another shape).

The board knows no clock of its own: every call is given the time (ms since the epoch).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone

import orjson

from .httpserver import Request, Response

PATH = "/api/v1/announcements"
KST = timezone(timedelta(hours=9))
TRADE = "거래"
CATEGORIES = {"trade": (TRADE, "Trade"), "all": None}
FAULTS = ("forbidden", "limited", "html", "shape")
MAX_PER_PAGE = 100

# Notices already on the board when the simulator starts: real title formats, listings and
# look-alikes, the newest first once sorted. A watcher must take them all as history.
HISTORY = (
    (5727, "인튜이션(TRUST) 신규 거래지원 안내 (KRW, USDT 마켓)", TRADE),
    (5726, "비트코인(BTC) 원화 마켓 거래 지원 종료 예정", TRADE),
    (5724, "오덜리(ORDER) KRW 마켓 디지털 자산 추가", TRADE),
    (5721, "네트워크 이슈에 따른 밸리디티(VAL) 입출금 일시 중단 안내 (완료)", "안내"),
    (5719, "클러스터프로토콜(CP) 신규 거래지원 안내 (KRW, BTC, USDT 마켓)", TRADE),
    (5716, "유의 종목 지정 안내: 스톰엑스(STMX)", TRADE),
    (5712, "바이프로스트(BFC) KRW, USDT 마켓 디지털 자산 추가", TRADE),
    (5710, "Market Support for Meteora(MET2) (KRW, BTC, USDT Market)", "Trade"),
    (5055, "딥북(DEEP) KRW 마켓 디지털 자산 추가", TRADE),
)


def kst(ms: int) -> str:
    """``ms`` as Upbit writes it: KST, whole seconds (``2025-11-05T19:55:05+09:00``)."""
    return datetime.fromtimestamp(ms // 1000, tz=UTC).astimezone(KST).isoformat()


@dataclass(frozen=True, slots=True)
class Notice:
    """One notice on the board; invisible before ``first_ms``."""

    id: int
    title: str
    category: str
    first_ms: int  # first_listed_at: when it became visible
    listed_ms: int  # listed_at: re-stamped by an edit
    updated: bool = False  # need_update_badge

    def as_json(self, now_ms: int) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "category": self.category,
                "listed_at": kst(self.listed_ms), "first_listed_at": kst(self.first_ms),
                "need_new_badge": now_ms - self.first_ms < 86_400_000,
                "need_update_badge": self.updated}


@dataclass(slots=True)
class _Fault:
    kind: str
    times: int


class NoticeBoard:
    """The board: history, scripted notices, conditional replies and faults."""

    def __init__(self, *, start_ms: int) -> None:
        day = 86_400_000
        self.notices: list[Notice] = [
            Notice(i, title, cat, start_ms - (k + 1) * day, start_ms - (k + 1) * day)
            for k, (i, title, cat) in enumerate(HISTORY)]
        self.next_id = max(n.id for n in self.notices) + 1
        self.faults: list[_Fault] = []
        self.requests = 0
        self.not_modified = 0

    # -- scripting
    def publish(self, title: str, at_ms: int, *, category: str = TRADE,
                notice_id: int | None = None) -> Notice:
        """Put ``title`` on the board, visible from ``at_ms`` rounded up to a whole second."""
        first = math.ceil(at_ms / 1000) * 1000
        nid = self.next_id if notice_id is None else notice_id
        self.next_id = max(self.next_id, nid + 1)
        notice = Notice(nid, title, category, first, first)
        self.notices.append(notice)
        return notice

    def edit(self, notice_id: int, at_ms: int, *, title: str | None = None) -> Notice:
        """Amend a notice: ``listed_at`` re-stamped, ``need_update_badge`` set."""
        i = next(k for k, n in enumerate(self.notices) if n.id == notice_id)
        old = self.notices[i]
        new = replace(old, title=title or old.title, listed_ms=math.ceil(at_ms / 1000) * 1000,
                      updated=True)
        self.notices[i] = new
        return new

    def repost(self, notice_id: int, at_ms: int) -> Notice:
        """The same notice again under a new id (Upbit re-posts some)."""
        old = next(n for n in self.notices if n.id == notice_id)
        return self.publish(old.title, at_ms, category=old.category)

    def fault(self, kind: str, times: int = 1) -> dict[str, object]:
        if kind not in FAULTS:
            raise ValueError(f"notice fault must be one of {FAULTS}, not {kind!r}")
        if times < 1:
            raise ValueError("times must be >= 1")
        self.faults.append(_Fault(kind, times))
        return {"fault": kind, "times": times}

    def clear(self) -> None:
        self.faults.clear()

    # -- serving
    def visible(self, now_ms: int, category: str) -> list[Notice]:
        names = CATEGORIES.get(category, (category,))
        shown = [n for n in self.notices if n.first_ms <= now_ms
                 and (names is None or n.category in names)]
        return sorted(shown, key=lambda n: (n.listed_ms, n.id), reverse=True)

    def page(self, now_ms: int, *, page: int, per_page: int, category: str) -> bytes:
        shown = self.visible(now_ms, category)
        rows = shown[(page - 1) * per_page:page * per_page]
        return orjson.dumps({"success": True, "data": {
            "total_count": len(shown), "total_pages": max(1, math.ceil(len(shown) / per_page)),
            "notices": [n.as_json(now_ms) for n in rows], "fixed_notices": []}})

    def _faulted(self) -> Response | None:
        if not self.faults:
            return None
        f = self.faults[0]
        f.times -= 1
        if f.times <= 0:
            self.faults.pop(0)
        if f.kind == "forbidden":
            return Response(403, b"<!DOCTYPE html><html><head><title>Attention Required! | "
                                 b"Cloudflare</title></head><body>Sorry, you have been blocked"
                                 b"</body></html>", content_type="text/html; charset=UTF-8")
        if f.kind == "limited":
            return Response(429, b"Too Many Requests", [("Retry-After", "1")],
                            content_type="text/plain; charset=utf-8")
        if f.kind == "html":
            return Response(200, b"<html><body>Please wait...</body></html>",
                            content_type="text/html; charset=UTF-8")
        return Response(200, orjson.dumps({"success": True, "data": {"list": [], "count": 0}}))

    async def rest(self, req: Request, now_ms: int) -> Response | None:
        """Answer the board's path; None for any other."""
        if req.path != PATH:
            return None
        self.requests += 1
        faulted = self._faulted()
        if faulted is not None:
            return faulted
        try:
            page = int(req.query.get("page", "1"))
            per_page = int(req.query.get("per_page", "20"))
        except ValueError:
            return Response(400, b'{"success":false,"error":{"message":"invalid parameter"}}')
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            return Response(400, b'{"success":false,"error":{"message":"invalid parameter"}}')
        body = self.page(now_ms, page=page, per_page=per_page,
                         category=req.query.get("category", "all"))
        etag = '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest()[:16] + '"'
        if req.headers.get("if-none-match") == etag:
            self.not_modified += 1
            return Response(304, b"", [("ETag", etag)])
        return Response(200, body, [("ETag", etag), ("Cache-Control", "no-cache")])
