"""The simulator's Upbit notice board: the real shape, scripted notices visible from their
second, edits and re-posts, conditional replies and faults."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from tools.simulator.httpserver import Request
from tools.simulator.notices import HISTORY, PATH, NoticeBoard, kst

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def get(board: NoticeBoard, now_ms: int, *, etag: str | None = None, **query: str):
    q = {"os": "web", "page": "1", "per_page": "20", "category": "trade", **query}
    headers = {"if-none-match": etag} if etag else {}
    req = Request("GET", PATH, PATH, q, headers)
    return asyncio.run(board.rest(req, now_ms))


def notices(resp) -> list[dict]:
    doc = orjson.loads(resp.body)
    assert doc["success"] is True and doc["data"]["fixed_notices"] == []
    return doc["data"]["notices"]


def test_the_board_answers_the_real_shape_newest_first_in_kst():
    resp = get(NoticeBoard(start_ms=T0), T0)
    assert resp.status == 200
    rows = notices(resp)
    trade = [h for h in HISTORY if h[2] in ("거래", "Trade")]
    assert [r["id"] for r in rows] == [h[0] for h in trade]
    assert set(rows[0]) == {"id", "title", "category", "listed_at", "first_listed_at",
                            "need_new_badge", "need_update_badge"}
    assert rows[0]["listed_at"] == "2025-12-31T09:00:00+09:00"  # T0 - 1 day, in KST


def test_a_scripted_notice_is_visible_from_its_whole_second_and_not_before():
    board = NoticeBoard(start_ms=T0)
    n = board.publish("테스트코인(TST) 신규 거래지원 안내 (KRW, USDT 마켓)", T0 + 30_400)
    assert n.first_ms == T0 + 31_000
    assert all(r["id"] != n.id for r in notices(get(board, T0 + 30_999)))
    first = notices(get(board, T0 + 31_000))[0]
    assert first["id"] == n.id and first["first_listed_at"] == kst(T0 + 31_000)
    assert first["need_new_badge"] is True and first["need_update_badge"] is False


def test_an_edit_restamps_listed_at_and_sets_the_update_badge_a_repost_gets_a_new_id():
    board = NoticeBoard(start_ms=T0)
    n = board.publish("테스트코인(TST) 신규 거래지원 안내 (KRW 마켓)", T0)
    board.edit(n.id, T0 + 60_000, title=n.title + " (수정)")
    row = next(r for r in notices(get(board, T0 + 60_000)) if r["id"] == n.id)
    assert row["need_update_badge"] is True
    assert row["listed_at"] == kst(T0 + 60_000) and row["first_listed_at"] == kst(T0)
    again = board.repost(n.id, T0 + 120_000)
    assert again.id != n.id and again.title == n.title + " (수정)"


def test_a_matching_etag_gets_304_until_the_board_changes():
    board = NoticeBoard(start_ms=T0)
    first = get(board, T0)
    etag = dict(first.headers)["ETag"]
    assert get(board, T0 + 1000, etag=etag).status == 304
    board.publish("테스트코인(TST) 신규 거래지원 안내 (KRW 마켓)", T0 + 2000)
    assert get(board, T0 + 2000, etag=etag).status == 200
    assert board.not_modified == 1


@pytest.mark.parametrize(("kind", "status", "json_body"), [
    ("forbidden", 403, False), ("limited", 429, False), ("html", 200, False), ("shape", 200, True)])
def test_faults_answer_as_the_real_board_fails_then_it_recovers(kind, status, json_body):
    board = NoticeBoard(start_ms=T0)
    board.fault(kind, times=2)
    for _ in range(2):
        resp = get(board, T0)
        assert resp.status == status
        if json_body:
            assert "notices" not in orjson.loads(resp.body)["data"]
        else:
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(resp.body)
    assert notices(get(board, T0))


def test_bad_parameters_and_other_paths():
    board = NoticeBoard(start_ms=T0)
    assert get(board, T0, per_page="0").status == 400
    assert get(board, T0, page="x").status == 400
    assert asyncio.run(board.rest(Request("GET", "/v1/market/all", "/v1/market/all", {}, {}), T0)) is None
    with pytest.raises(ValueError):
        board.fault("nonsense")
