"""recorder.listing.notices: announcements and market list bodies, good and bad.

The good body follows the shape third-party listing watchers quote from Upbit's web
endpoint (``success``, ``data.total_count``/``total_pages``/``notices[]``,
``fixed_notices``); the HTML body is the shape of a Cloudflare block page.
"""

from __future__ import annotations

import json
import random

import pytest

from recorder.errors import (
    NoticeBodyError,
    NoticeNotJsonError,
    NoticeRefusedError,
    NoticeShapeError,
    VenueReplyError,
)
from recorder.listing.notices import (
    Notice,
    excerpt,
    parse_announcements,
    parse_krw_markets,
    parse_markets,
    time_ns,
)

ROW = {"id": 5727, "title": "인튜이션(TRUST) 신규 거래지원 안내 (KRW, BTC, USDT 마켓)",
       "category": "거래", "listed_at": "2025-11-05T19:55:05+09:00",
       "first_listed_at": "2025-11-05T17:44:16+09:00", "need_new_badge": True,
       "need_update_badge": False}
# 2025-11-05T08:44:16Z and 10:55:05Z
FIRST_NS = 1762332256 * 10**9
LISTED_NS = 1762340105 * 10**9


def body(notices=(ROW,), **top) -> bytes:
    doc = {"success": True, "data": {"total_count": 5069, "total_pages": 254,
                                     "notices": list(notices), "fixed_notices": []}}
    doc.update(top)
    return json.dumps(doc, ensure_ascii=False).encode()


def test_a_page_parses_into_notices_with_ns_times():
    page = parse_announcements(body())
    assert page.total_count == 5069 and page.fixed == ()
    assert page.notices == (Notice(id=5727, title=ROW["title"], category="거래",
                                   listed_at_ns=LISTED_NS, first_listed_at_ns=FIRST_NS,
                                   need_new_badge=True, need_update_badge=False),)
    assert page.notices[0].announced_at_ns == FIRST_NS


def test_optional_fields_and_fixed_notices():
    old = {"id": 3910, "title": "[입출금] 코스모스(ATOM) 입출금 일시 중단 안내",
           "listed_at": "2023-12-06T14:13:27+09:00"}
    pinned = dict(ROW, id=1, title="업비트 거래 이용 안내")
    page = parse_announcements(body([old], fixed_notices=[pinned]))
    (n,) = page.notices
    assert (n.first_listed_at_ns, n.category, n.need_new_badge) == (None, "", False)
    assert n.announced_at_ns == n.listed_at_ns == time_ns("2023-12-06T05:13:27Z")
    assert [(f.id, f.fixed) for f in page.fixed] == [(1, True)]
    inside = json.loads(body())
    inside["data"]["fixed_notices"] = [pinned]
    assert parse_announcements(json.dumps(inside).encode()).fixed[0].id == 1


def test_time_ns_is_utc_and_exact():
    assert time_ns("1970-01-01T09:00:00+09:00") == 0
    assert time_ns("2025-11-05T19:55:05.123456+09:00") == LISTED_NS + 123_456_000
    with pytest.raises(ValueError, match="offset"):
        time_ns("2025-11-05T19:55:05")


CLOUDFLARE = (b"<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title>"
              b"<meta http-equiv=\"refresh\" content=\"390\"></head><body>cf-browser-verification"
              b"</body></html>")


@pytest.mark.parametrize(("raw", "error", "match"), [
    (CLOUDFLARE, NoticeNotJsonError, "Just a moment"),
    (b"", NoticeNotJsonError, "not JSON"),
    (b'{"success": true, "data": {"notic', NoticeNotJsonError, "not JSON"),
    (b'{"success": false}', NoticeRefusedError, "success is false"),
    (b'{"success": false, "message": "too many requests"}', NoticeRefusedError, "too many"),
    (b'{"error": {"name": 429, "message": "Too many API requests."}}', NoticeRefusedError, "Too many"),
    (b"[" * 100_000 + b"]" * 100_000, NoticeNotJsonError, "nested too deep"),
    (b'{"success": true}', NoticeShapeError, "no data"),
    (b'{"success": true, "data": {}}', NoticeShapeError, "notices"),
    (b'{"success": true, "data": {"notices": {}}}', NoticeShapeError, "notices"),
    (b'[]', NoticeShapeError, "Expected `object`"),
    (b'"ok"', NoticeShapeError, "Expected `object`"),
    (b'{"data": {"notices": []}}', NoticeShapeError, "success"),
    (body([dict(ROW, id="5727")]), NoticeShapeError, "id"),
    (body([{k: v for k, v in ROW.items() if k != "title"}]), NoticeShapeError, "title"),
    (body([dict(ROW, listed_at=None)]), NoticeShapeError, "listed_at"),
    (body([dict(ROW, listed_at="yesterday")]), NoticeShapeError, "notice 5727"),
    (body([dict(ROW, first_listed_at="2025-11-05T17:44:16")]), NoticeShapeError, "offset"),
    (body([dict(ROW, need_new_badge="yes")]), NoticeShapeError, "need_new_badge"),
])
def test_a_bad_body_is_a_typed_error_with_an_excerpt(raw, error, match):
    with pytest.raises(error, match=match) as got:
        parse_announcements(raw)
    assert isinstance(got.value, NoticeBodyError) and isinstance(got.value, VenueReplyError)
    assert got.value.venue == "upbit" and got.value.what == "page of announcements"
    assert got.value.excerpt == excerpt(raw) and len(got.value.excerpt) <= 120


def test_an_excerpt_is_short_and_one_line():
    assert excerpt(b"<html>\n  <body>" + "가".encode() * 500) == "<html> <body>" + "가" * 107
    assert excerpt(b"\xff\xfe{") == "\ufffd\ufffd{"


MARKETS = [{"market": "KRW-BTC", "korean_name": "비트코인", "english_name": "Bitcoin"},
           {"market": "BTC-ETH", "korean_name": "이더리움", "english_name": "Ethereum"},
           {"market": "USDT-DEEP", "korean_name": "딥북", "english_name": "DeepBook"},
           {"market": "KRW-DEEP", "korean_name": "딥북", "english_name": "DeepBook"}]


def test_the_market_list_gives_codes_and_the_krw_ones():
    raw = json.dumps(MARKETS).encode()
    assert parse_markets(raw) == {"KRW-BTC", "BTC-ETH", "USDT-DEEP", "KRW-DEEP"}
    assert parse_krw_markets(raw) == {"KRW-BTC", "KRW-DEEP"}
    assert parse_krw_markets(b"[]") == frozenset()


@pytest.mark.parametrize(("raw", "error"), [
    (CLOUDFLARE, NoticeNotJsonError),
    (b'{"error": {"name": 429, "message": "Too many API requests."}}', NoticeRefusedError),
    (b'{"markets": []}', NoticeShapeError),
    (b'[{"korean_name": "x"}]', NoticeShapeError),
    (b'[{"market": 5}]', NoticeShapeError),
    (b'[{"market": "KRWBTC"}]', NoticeShapeError),
    (b'[5]', NoticeShapeError),
    (b'{"success": true, "data": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", NoticeNotJsonError),
])
def test_a_bad_market_list_is_a_typed_error(raw, error):
    with pytest.raises(error) as got:
        parse_markets(raw)
    assert got.value.what == "market list" and got.value.excerpt == excerpt(raw)


def test_a_body_that_is_not_bytes_is_our_misuse():
    with pytest.raises(TypeError):
        parse_announcements(json.loads(body()))  # type: ignore[arg-type]


def _mutations(rng: random.Random, good: bytes) -> bytes:
    pick = rng.random()
    if pick < 0.3:  # cut
        return good[: rng.randint(0, len(good))]
    if pick < 0.6:  # flip bytes
        raw = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw)
    if pick < 0.85:  # a JSON value of another shape in place of one field
        doc = json.loads(good)
        row = doc["data"]["notices"][0]
        key = rng.choice([*row, "notices", "data", "success"])
        value = rng.choice([None, 0, -1, 2**70, 1.5, "", "x", [], {}, True, "2025-13-45T00:00:00+09:00",
                            "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00"])
        if key in row:
            row[key] = value
        elif key in ("notices",):
            doc["data"][key] = value
        else:
            doc[key] = value
        return json.dumps(doc).encode()
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))


def test_any_bytes_give_a_page_or_a_typed_error():
    """Fuzz (hypothesis is not a project dependency): seeded mutations of a good body."""
    rng = random.Random(1919)
    good = body([ROW, dict(ROW, id=5728, first_listed_at=None)])
    outcomes = set()
    for _ in range(3000):
        raw = _mutations(rng, good)
        try:
            page = parse_announcements(raw)
            outcomes.add("page")
            assert all(isinstance(n.listed_at_ns, int) for n in page.notices)
        except NoticeBodyError as exc:
            outcomes.add(type(exc).__name__)
        try:
            parse_markets(raw)
        except NoticeBodyError:
            pass
    assert outcomes >= {"page", "NoticeNotJsonError", "NoticeShapeError"}
