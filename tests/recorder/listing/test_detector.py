"""recorder.listing.detector: history is not news, each coin and market is found once."""

from __future__ import annotations

import json
import random

import pytest

from recorder.errors import RecorderUsageError
from recorder.listing.detector import Detector, Found, Listing
from recorder.listing.notices import Notice, parse_announcements, time_ns

S = 10**9
T0 = time_ns("2026-09-01T17:00:00+09:00")


def notice(nid: int, title: str, *, first: int | None = None, listed: int | None = None,
           updated: bool = False) -> Notice:
    listed = T0 + nid * S if listed is None else listed
    return Notice(id=nid, title=title, category="거래", listed_at_ns=listed,
                  first_listed_at_ns=first, need_new_badge=True, need_update_badge=updated)


HISTORY = [
    notice(5055, "딥북(DEEP) KRW 마켓 디지털 자산 추가"),
    notice(5060, "비트코인(BTC) 원화 마켓 거래 지원 종료 예정"),
    notice(5070, "플록(FLOCK), 포르타(FORT) 신규 거래지원 안내 (BTC, USDT 마켓)"),
]
MARKETS0 = {"KRW-BTC", "KRW-ETH", "BTC-ETH", "KRW-DEEP", "BTC-FLOCK", "USDT-FLOCK"}
CP = "클러스터프로토콜(CP) 신규 거래지원 안내 (KRW, BTC, USDT 마켓)"


def fresh() -> Detector:
    return Detector.start(notices=HISTORY, markets=MARKETS0)


def test_history_is_never_a_listing():
    det = fresh()
    assert not det.on_notices(HISTORY, recv_ts_ns=T0 + 100 * S)
    assert not det.on_markets(MARKETS0, recv_ts_ns=T0 + 100 * S)
    # FORT's BTC/USDT markets were announced in the seed page, not yet opened
    assert not det.on_markets(MARKETS0 | {"BTC-FORT", "USDT-FORT"}, recv_ts_ns=T0 + 101 * S)


def test_a_new_krw_listing_is_found_once_with_its_times():
    det = fresh()
    first = T0 + 10 * S
    n = notice(6001, CP, first=first, listed=first)
    got = det.on_notices([n, *HISTORY], recv_ts_ns=T0 + 11 * S)
    assert got == Found(krw=(Listing("CP", "클러스터프로토콜", ("KRW", "BTC", "USDT"), 6001, CP,
                                     first, T0 + 11 * S),))
    # seen again, edited in place (re-stamped, badge, a note), re-posted under a new id
    edited = notice(6001, CP + " (수정)", first=first, listed=first + 600 * S, updated=True)
    again = notice(6002, "[거래] " + CP, first=first + 900 * S)
    for step, page in enumerate(([n], [edited, n], [again, edited])):
        assert not det.on_notices(page, recv_ts_ns=T0 + (20 + step) * S)
    # and its markets opening afterwards are not a second listing
    assert not det.on_markets(MARKETS0 | {"KRW-CP", "BTC-CP", "USDT-CP"}, recv_ts_ns=T0 + 30 * S)


def test_announced_at_falls_back_to_listed_at():
    det = fresh()
    got = det.on_notices([notice(6003, "딥북2(DEEP2) KRW 마켓 디지털 자산 추가", listed=T0 + 5 * S)],
                         recv_ts_ns=T0 + 6 * S)
    assert [(x.ticker, x.announced_at_ns, x.detected_at_ns) for x in got.krw] == [
        ("DEEP2", T0 + 5 * S, T0 + 6 * S)]


def test_btc_or_usdt_only_additions_are_reported_apart():
    det = fresh()
    got = det.on_notices([notice(6010, "쑨(SOON) 신규 거래지원 안내 (BTC, USDT 마켓)")], recv_ts_ns=T0)
    assert got.krw == () and [(x.ticker, x.markets, x.krw) for x in got.other] == [
        ("SOON", ("BTC", "USDT"), False)]
    # later the same coin gets a KRW market: that is a KRW listing of that market alone
    got = det.on_notices([notice(6011, "쑨(SOON) KRW 마켓 디지털 자산 추가")], recv_ts_ns=T0 + S)
    assert [(x.ticker, x.markets, x.notice_id) for x in got.krw] == [("SOON", ("KRW",), 6011)]
    assert got.other == ()


def test_an_existing_btc_coin_getting_krw_is_a_krw_listing():
    det = fresh()  # FLOCK trades on BTC and USDT
    got = det.on_notices([notice(6020, "플록(FLOCK) KRW, BTC, USDT 마켓 디지털 자산 추가")],
                         recv_ts_ns=T0)
    assert [(x.ticker, x.markets) for x in got.krw] == [("FLOCK", ("KRW",))]


def test_several_coins_and_per_coin_markets():
    det = fresh()
    title = ("셀레스티아(TIA)(KRW, BTC, USDT 마켓), 아이오넷(IO)(BTC, USDT 마켓) 신규 거래지원 안내")
    got = det.on_notices([notice(6030, title)], recv_ts_ns=T0)
    assert [(x.ticker, x.markets) for x in got.krw] == [("TIA", ("KRW", "BTC", "USDT"))]
    assert [(x.ticker, x.markets) for x in got.other] == [("IO", ("BTC", "USDT"))]


def test_look_alikes_give_nothing():
    det = fresh()
    page = [notice(6040 + i, t) for i, t in enumerate([
        "썬더코어(TT) 거래지원 종료 안내", "레이븐코인(RVN) 거래 유의 종목 지정 안내",
        "레이븐코인(RVN) 거래 유의 종목 지정 해제 안내",
        "네트워크 이슈에 따른 밸리디티(VAL) 입출금 일시 중단 안내 (완료)",
        "클러스터프로토콜(CP) 신규 거래지원 일정 변경 안내", "폴리곤(MATIC) 리브랜딩 및 티커 변경 안내 (POL)",
    ])]
    assert not det.on_notices(page, recv_ts_ns=T0)
    # a look-alike first does not hide the real listing that follows
    assert det.on_notices([notice(6050, CP)], recv_ts_ns=T0 + S).krw[0].ticker == "CP"


def test_a_market_before_any_notice_is_a_listing_then_its_notice_is_not():
    det = fresh()
    recv = T0 + 40 * S
    got = det.on_markets(MARKETS0 | {"KRW-CP", "BTC-ZZZ"}, recv_ts_ns=recv)
    assert got == Found(krw=(Listing("CP", "", ("KRW",), None, "", recv, recv),),
                        other=(Listing("ZZZ", "", ("BTC",), None, "", recv, recv),))
    assert not det.on_markets(MARKETS0 | {"KRW-CP", "BTC-ZZZ"}, recv_ts_ns=recv + S)
    # the notice names KRW (already found) and two markets still to open
    got = det.on_notices([notice(6060, CP)], recv_ts_ns=recv + 2 * S)
    assert got.krw == () and [(x.ticker, x.markets) for x in got.other] == [("CP", ("BTC", "USDT"))]


def test_a_market_that_goes_and_comes_back_is_not_new():
    det = fresh()
    assert not det.on_markets(set(), recv_ts_ns=T0)  # an empty list: nothing listed, nothing lost
    assert not det.on_markets(MARKETS0, recv_ts_ns=T0 + S)


def test_the_journal_s_announced_pairs_are_history():
    det = Detector.start(notices=[], markets=MARKETS0, announced=[("CP", "KRW"), ("CP", "BTC")])
    got = det.on_notices([notice(6070, CP)], recv_ts_ns=T0)
    assert got.krw == () and [(x.ticker, x.markets) for x in got.other] == [("CP", ("USDT",))]


def test_a_listing_title_without_markets_is_reported_once_as_other():
    det = fresh()
    got = det.on_notices([notice(6080, "Market Support for MyShell(SHELL)")], recv_ts_ns=T0)
    assert [(x.ticker, x.markets) for x in got.other] == [("SHELL", ())] and got.krw == ()
    assert not det.on_notices([notice(6081, "Market Support for MyShell(SHELL)")], recv_ts_ns=T0)


def test_a_page_is_read_oldest_first():
    det = fresh()
    a = notice(6091, "에이브(AAVE) KRW 마켓 디지털 자산 추가", first=T0 + 2 * S)
    b = notice(6090, "알고랜드(ALGO) KRW 마켓 디지털 자산 추가", first=T0 + S)
    assert [x.ticker for x in det.on_notices([a, b], recv_ts_ns=T0 + 3 * S).krw] == ["ALGO", "AAVE"]


def test_the_state_round_trips_through_json_and_resumes():
    det = fresh()
    det.on_notices([notice(6100, CP)], recv_ts_ns=T0)
    blob = det.to_json()
    doc = json.loads(blob)
    assert doc["version"] == 1 and ["CP", "KRW"] in doc["announced"]
    back = Detector.from_json(blob)
    assert back == det and back.to_json() == blob
    assert not back.on_notices([notice(6101, CP)], recv_ts_ns=T0 + S)
    assert back.on_markets(MARKETS0 | {"KRW-NEW"}, recv_ts_ns=T0 + 2 * S).krw[0].ticker == "NEW"


@pytest.mark.parametrize("blob", [
    b"", b"<html>", b"{}", b"[" * 100_000 + b"]" * 100_000, b'{"version": 2, "announced": [], "markets_seen": []}',
    b'{"version": 1, "announced": [["CP"]], "markets_seen": []}',
    b'{"version": 1, "announced": [["CP", "EUR"]], "markets_seen": []}',
    b'{"version": 1, "announced": [], "markets_seen": ["KRWBTC"]}',
    b'{"version": 1, "announced": [], "markets_seen": [1]}',
])
def test_a_state_that_is_not_ours_is_refused(blob):
    with pytest.raises(RecorderUsageError):
        Detector.from_json(blob)


def test_bad_seeds_are_our_misuse():
    with pytest.raises(RecorderUsageError):
        Detector.start(markets=["KRWBTC"])
    with pytest.raises(RecorderUsageError):
        Detector.start(announced=[("", "KRW")])


def test_the_result_does_not_depend_on_how_responses_are_split():
    """The same notices fed in one page or in random slices find the same listings."""
    titles = [CP, "쑨(SOON) 신규 거래지원 안내 (BTC, USDT 마켓)", "쑨(SOON) KRW 마켓 디지털 자산 추가",
              "썬더코어(TT) 거래지원 종료 안내", "페이팔유에스디(PYUSD), 제이피와이코인(JPYC) 신규 거래지원 안내 "
              "(KRW, BTC, USDT 마켓)", "[거래] " + CP, "Market Support for Meteora(MET2) (KRW, BTC, USDT Market)"]
    stream = [notice(7000 + i, t) for i, t in enumerate(titles)]

    def found(det: Detector, slices: list[list[Notice]]) -> list[tuple]:
        out = []
        for page in slices:
            got = det.on_notices(page, recv_ts_ns=T0)
            out += [(x.ticker, x.markets, x.notice_id) for x in got.krw + got.other]
        return sorted(out)

    whole = found(fresh(), [stream])
    assert ("CP", ("KRW", "BTC", "USDT"), 7000) in whole and len(whole) == 6
    rng = random.Random(7)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(0, len(stream) - 1)))
        slices = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert found(fresh(), slices) == whole


def test_end_to_end_from_bodies():
    seed = parse_announcements(json.dumps({"success": True, "data": {"notices": [
        {"id": 5055, "title": HISTORY[0].title, "listed_at": "2025-04-22T10:00:00+09:00"}]}}).encode())
    det = Detector.start(notices=seed.notices, markets=MARKETS0)
    page = parse_announcements(json.dumps({"success": True, "data": {"notices": [
        {"id": 5727, "title": "인튜이션(TRUST) 신규 거래지원 안내 (KRW, BTC, USDT 마켓)",
         "category": "거래", "listed_at": "2025-11-05T19:55:05+09:00",
         "first_listed_at": "2025-11-05T17:44:16+09:00", "need_new_badge": True,
         "need_update_badge": False},
        {"id": 5055, "title": HISTORY[0].title, "listed_at": "2025-04-22T10:00:00+09:00"}]}}).encode())
    (got,) = det.on_notices(page.notices, recv_ts_ns=1762332257 * S).krw
    assert (got.ticker, got.notice_id, got.announced_at_ns) == ("TRUST", 5727, 1762332256 * S)
