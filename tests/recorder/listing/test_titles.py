"""recorder.listing.titles: real-format Upbit titles, listings and their look-alikes.

Where the titles come from (real Upbit notices as quoted by public sources, or built on
their exact pattern where marked "pattern"):

- Upbit's announcements endpoint rows quoted by third-party listing watchers' READMEs
  and fixtures: 딥북(DEEP) (id 5055), 오덜리(ORDER) (id 5681), 바이프로스트(BFC),
  클러스터프로토콜(CP), 페이팔유에스디(PYUSD)/제이피와이코인(JPYC), 인튜이션(TRUST)
  (id 5727), 메타다오(META2) (id 6420), 넥소(NEXO), 바빌론(BABY) (Telegram channel).
- Test tables of public listing bots on GitHub (found with code search): a Go ticker
  extractor (소폰(SOPH), 플록(FLOCK)/포르타(FORT), 하이퍼레인(HYPER)/레드스톤(RED), 쑨(SOON),
  커널다오(KERNEL), 펏지펭귄(PENGU), 셀레스티아(TIA)/아이오넷(IO), 라이브피어(LPT)/
  포켓네트워크(POKT), the English "Market Support for ..." forms); a Python signals
  project's titles measured 2026-08-13 (프롬(PROM), 이더리움클래식(ETC/KRW) 상장,
  비트토렌트(BTT) 거래지원 종료, 레이븐코인(RVN) 거래 유의 종목 지정, "BTC, USDT 마켓 신규
  거래지원 안내 (CYS, ...)"); a scanner's asserts (뉴메레르(NMR), 돌핀(POD), BICO/BMT/NIL/
  GWEI with its follow-up note); Telegram-fed bots ("거래 KRW, BTC 마켓 디지털 자산 추가
  (NEAR, YGG)", "[거래] KRW 마켓 디지털 자산 추가 (MSK)"); a delisting parser's tests
  (아이콘(ICX) 거래지원 종료 결정 철회); Upbit wallet notices quoted in fixtures
  (코스모스(ATOM) 네트워크 업그레이드 입출금 일시 중단, Polygon 네트워크 입출금 일시 중단).
- An event study's fixture of 80 real Upbit notices and a listing tracker's tests
  (폴리스웜(NCT), 렌조(REZ), 헤미(HEMI)/유즈리스(USELESS) with its cancellation note,
  소폰(SOPH)/베이직(BASIC)/만트라(MANTRA)/인젝티브(INJ) caution notices, 샌드박스(SAND) 유의
  촉구, 유에스디코인(USDC) 네트워크 추가, 코인빌리기, "KRW, BTC 마켓 디지털 자산 추가 (MASK,
  ACS)"); Python crawler tests ("[거래] BTC 마켓 디지털 자산 추가 (BLUR)", "(ASTR) (거래지원
  개시 시점 연기 안내)"); a probe script's 스카이프로토콜(SKY)/유에스디에스(USDS) title; a web
  page listing 너보스(CKB) and the 2017 "이더리움클래식 원화 마켓(ETC/KRW) 오픈 안내".
- Upbit's own notices quoted in this project's venue notes: 비트코인(BTC) 원화 마켓 거래 지원
  종료 예정, 밸리디티(VAL) 입출금 일시 중단 안내 (완료).
"""

from __future__ import annotations

import random

import pytest

from recorder.listing.titles import MARKETS, Coin, TitleInfo, parse_title

K, B, U = "KRW", "BTC", "USDT"
KBU = (K, B, U)

# title -> [(ticker, markets)] of a listing
LISTINGS: list[tuple[str, list[tuple[str, tuple[str, ...]]]]] = [
    ("딥북(DEEP) KRW 마켓 디지털 자산 추가", [("DEEP", (K,))]),
    ("오덜리(ORDER) KRW 마켓 디지털 자산 추가", [("ORDER", (K,))]),
    ("바이프로스트(BFC) KRW, USDT 마켓 디지털 자산 추가", [("BFC", (K, U))]),
    ("프롬(PROM) KRW, USDT 마켓 디지털 자산 추가", [("PROM", (K, U))]),
    ("뉴메레르(NMR) KRW, USDT 마켓 디지털 자산 추가", [("NMR", (K, U))]),
    ("클러스터프로토콜(CP) 신규 거래지원 안내 (KRW, BTC, USDT 마켓)", [("CP", KBU)]),
    ("돌핀(POD) 신규 거래지원 안내 (KRW, BTC, USDT 마켓)", [("POD", KBU)]),
    ("메타다오(META2) 신규 거래지원 안내 (KRW, BTC, USDT 마켓)", [("META2", KBU)]),
    ("펏지펭귄(PENGU) 신규 거래지원 안내 (KRW, BTC, USDT 마켓)", [("PENGU", KBU)]),
    ("인튜이션(TRUST) 신규 거래지원 안내 (KRW, BTC, USDT 마켓)", [("TRUST", KBU)]),
    ("페이팔유에스디(PYUSD), 제이피와이코인(JPYC) 신규 거래지원 안내 (KRW, BTC, USDT 마켓)",
     [("PYUSD", KBU), ("JPYC", KBU)]),
    ("페이팔유에스디(PYUSD), 제이피와이코인(JPYC) 신규 거래지원 안내 (KRW, BTC, USDT 마켓) "
     "(JPYC 거래지원 개시 시점 추가 변경 안내)", [("PYUSD", KBU), ("JPYC", KBU)]),
    ("소폰(SOPH) 신규 거래지원 안내 (KRW, BTC, USDT 마켓) (거래지원 개시 시점 및 매도 최저가 "
     "기준 가격 안내)", [("SOPH", KBU)]),
    ("넥소(NEXO) 신규 거래지원 안내 (USDT 마켓) (거래지원 개시 시점 변경 안내)", [("NEXO", (U,))]),
    ("커널다오(KERNEL) 신규 거래지원 안내 (BTC, USDT 마켓) (업비트 ATH 이벤트 안내)",
     [("KERNEL", (B, U))]),
    ("플록(FLOCK), 포르타(FORT) 신규 거래지원 안내 (BTC, USDT 마켓)", [("FLOCK", (B, U)), ("FORT", (B, U))]),
    ("쑨(SOON) 신규 거래지원 안내 (BTC, USDT 마켓)", [("SOON", (B, U))]),
    ("셀레스티아(TIA)(KRW, BTC, USDT 마켓), 아이오넷(IO)(BTC, USDT 마켓) 신규 거래지원 안내 "
     "(주문 타입 제한 관련 안내)", [("TIA", KBU), ("IO", (B, U))]),
    ("셀레스티아(TIA)(KRW, BTC, USDT), 아이오넷(IO)(BTC, USDT) 신규 거래지원 안내",
     [("TIA", KBU), ("IO", (B, U))]),
    ("라이브피어(LPT)(KRW, USDT 마켓), 포켓네트워크(POKT)(KRW 마켓) 디지털 자산 추가",
     [("LPT", (K, U)), ("POKT", (K,))]),
    ("[거래] 바빌론(BABY) KRW 마켓 디지털 자산 추가", [("BABY", (K,))]),
    ("[거래] 클러스터프로토콜(CP) 신규 거래지원 안내 (KRW, BTC, USDT 마켓)", [("CP", KBU)]),
    ("[거래] KRW 마켓 디지털 자산 추가 (MSK)", [("MSK", (K,))]),
    ("거래 KRW, BTC 마켓 디지털 자산 추가 (NEAR, YGG)", [("NEAR", (K, B)), ("YGG", (K, B))]),
    ("BTC, USDT 마켓 신규 거래지원 안내 (CYS, ICNT, XAN, EDEN, AIOZ, ALLO)",
     [(t, (B, U)) for t in ("CYS", "ICNT", "XAN", "EDEN", "AIOZ", "ALLO")]),
    ("BTC, USDT 마켓 신규 거래지원 안내 (BICO, BMT, NIL, GWEI) (BICO, BMT, NIL, GWEI 거래지원 "
     "개시 시점 추가 변경 안내)", [(t, (B, U)) for t in ("BICO", "BMT", "NIL", "GWEI")]),
    ("신규 거래지원 안내 (SOPH, KRW 마켓)", [("SOPH", (K,))]),
    ("Market Support for Meteora(MET2) (KRW, BTC, USDT Market)", [("MET2", KBU)]),
    ("Market Support for Sign(SIGN) (KRW, BTC, USDT Market)", [("SIGN", KBU)]),
    ("Market Support for Hyperlane(HYPER), RedStone(RED) (BTC, USDT Market)",
     [("HYPER", (B, U)), ("RED", (B, U))]),
    ("Market Support for Celestia(TIA)(KRW, BTC, USDT market), io.net(IO)(BTC, USDT market)",
     [("TIA", KBU), ("IO", (B, U))]),
    ("이더리움클래식(ETC/KRW) 상장", [("ETC", (K,))]),
    ("이더리움클래식 원화 마켓(ETC/KRW) 오픈 안내", [("ETC", (K,))]),
    ("폴리스웜(NCT) KRW 마켓 디지털 자산 추가", [("NCT", (K,))]),
    ("렌조(REZ) 신규 거래지원 안내 (USDT 마켓) (거래지원 개시 시점 추가 변경 안내)", [("REZ", (U,))]),
    ("너보스(CKB) 신규 거래지원 안내 (KRW, BTC, USDT 마켓) (거래지원 개시 시점 연기 안내)",
     [("CKB", KBU)]),
    ("스카이프로토콜(SKY), 유에스디에스(USDS) KRW, USDT 마켓 디지털 자산 추가 (USDS 거래지원 개시 "
     "시점 변경 안내)", [("SKY", (K, U)), ("USDS", (K, U))]),
    ("KRW, BTC 마켓 디지털 자산 추가 (MASK, ACS)", [("MASK", (K, B)), ("ACS", (K, B))]),
    ("[거래] BTC 마켓 디지털 자산 추가 (BLUR)", [("BLUR", (B,))]),
    ("[거래] BTC 마켓 디지털 자산 추가 (ASTR) (거래지원 개시 시점 연기 안내)", [("ASTR", (B,))]),
    ("Market Support for ACS, GO, OBSR, QTCON, RLY (USDT Market)",
     [(t, (U,)) for t in ("ACS", "GO", "OBSR", "QTCON", "RLY")]),
    ("[거래] 비트코인(BTC) 신규 거래지원 안내 (KRW)", [("BTC", (K,))]),
    # a note calling off one coin leaves the others listed
    ("헤미(HEMI), 유즈리스(USELESS) 신규 거래지원 안내 (KRW, BTC 마켓) (헤미(HEMI) 거래지원 취소 안내)",
     [("USELESS", (K, B))]),
    # tickers of one letter or with digits (pattern)
    ("트러스트(T) 신규 거래지원 안내 (KRW 마켓)", [("T", (K,))]),
    ("1인치네트워크(1INCH) KRW, BTC 마켓 디지털 자산 추가", [("1INCH", (K, B))]),
    # a coin whose own name holds a look-alike word is still listed (pattern)
    ("이벤트체인(EVC) 신규 거래지원 안내 (KRW 마켓)", [("EVC", (K,))]),
    ("종료코인(END) KRW 마켓 디지털 자산 추가", [("END", (K,))]),
    ("Market Support for Event Horizon(EVH) (KRW Market)", [("EVH", (K,))]),
    # "유의사항" (points to heed) is not a caution designation (pattern)
    ("오덜리(ORDER) 신규 거래지원 안내 및 거래 유의사항 (KRW 마켓)", [("ORDER", (K,))]),
    # Upbit's edit marks on a listing notice (pattern)
    ("클러스터프로토콜(CP) 신규 거래지원 안내 (KRW, BTC, USDT 마켓) (수정)", [("CP", KBU)]),
    ("딥북(DEEP) KRW 마켓 디지털 자산 추가 (거래지원 개시 시점 연기 안내)", [("DEEP", (K,))]),
    # full-width parentheses and stray spaces (pattern)
    ("  딥북（DEEP） KRW  마켓 디지털 자산 추가 ", [("DEEP", (K,))]),
]

# title -> why it is not a listing
NOT_LISTINGS: list[tuple[str, str]] = [
    ("비트코인(BTC) 원화 마켓 거래 지원 종료 예정", "end of support"),
    ("비트토렌트(BTT) 거래지원 종료 안내", "end of support"),
    ("썬더코어(TT) 거래지원 종료 안내", "end of support"),
    ("아이콘(ICX) 거래지원 종료 결정 철회 안내", "end of support"),
    ("레이븐코인(RVN) 거래 유의 종목 지정 안내", "caution"),
    ("레이븐코인(RVN) 거래 유의 종목 지정 해제 안내", "caution"),
    ("알렉스(ALEX) 투자유의 종목 지정 안내", "caution"),
    ("네트워크 이슈에 따른 밸리디티(VAL) 입출금 일시 중단 안내 (완료)", "suspension"),
    ("[입출금] 코스모스(ATOM) 네트워크 업그레이드에 따른 입출금 일시 중단 안내 (12/13 18:00 ~)",
     "suspension"),
    ("[입출금] Polygon 네트워크 관련 디지털 자산 입출금 일시 중단 안내 (08/13 20:00 ~)", "suspension"),
    ("NEO N3 네트워크 디지털 자산 입출금 일시 중단 안내", "suspension"),
    ("클러스터프로토콜(CP) 신규 거래지원 일정 변경 안내", "update"),
    ("제이피와이코인(JPYC) 거래지원 개시 시점 변경 안내", "update"),
    ("페이팔유에스디(PYUSD) 신규 거래지원 개시 연기 안내", "update"),
    ("딥북(DEEP) 입금 재개 안내", "update"),
    ("오덜리(ORDER) 신규 거래지원 추가 안내", "update"),
    ("클러스터프로토콜(CP) 신규 거래지원 안내 (KRW, BTC, USDT 마켓) (거래지원 개시 취소)", "cancelled"),
    ("헤미(HEMI) 신규 거래지원 안내 (KRW, BTC 마켓) (헤미(HEMI) 거래지원 취소 안내)", "cancelled"),
    ("아이콘(ICX) 거래지원 종료 안내 (10/19 15:00)", "end of support"),
    ("소폰(SOPH) 거래 유의 종목 지정 안내", "caution"),
    ("베이직(BASIC) 유의 종목 지정 안내", "caution"),
    ("만트라(MANTRA) 거래 유의 종목 지정 기간 연장", "caution"),
    ("인젝티브(INJ) 거래 유의 종목 지정 해제 안내", "caution"),
    ("샌드박스(SAND) 유의 촉구 안내", "caution"),
    ("ETH 및 ERC 계열 디지털 자산 투자 유의 촉구 안내", "caution"),
    ("유에스디코인(USDC) 입출금 가능 네트워크 추가 안내 (Arc 네트워크)", "suspension"),
    ("업비트 코인빌리기 신규 대여 자산 추가 안내 (ENA 외 5종)", "update"),
    ("바빌론(BABY) 에어드랍 이벤트 안내", "event"),
    ("업비트 ATH 이벤트 안내", "event"),
    ("폴리곤(MATIC) 리브랜딩 및 티커 변경 안내 (POL)", "rebrand"),
    ("이오스(EOS) 명칭 및 티커 변경 안내", "rebrand"),
    ("볼타(A) 명칙 변경 안내", "rebrand"),
    ("Delisting of Thundercore(TT) (KRW Market)", "end of support"),
    ("Designation of Caution for Ravencoin(RVN)", "caution"),
    ("Suspension of Deposits and Withdrawals for Validity(VAL)", "suspension"),
    ("Market Support for Meteora(MET2) Schedule Change", "update"),
    ("서버 점검 안내", "suspension"),
    ("업비트 개인정보 처리방침 개정 안내", "no listing phrase"),
    ("신규 거래지원 안내", "no coin"),
    ("", "no listing phrase"),
]


@pytest.mark.parametrize(("title", "want"), LISTINGS, ids=[t for t, _ in LISTINGS])
def test_a_listing_names_its_coins_and_markets(title, want):
    info = parse_title(title)
    assert info.is_listing and info.reason == "", info
    assert [(c.ticker, c.markets) for c in info.coins] == want
    assert info.krw == any(K in m for _, m in want)
    assert info.title == title


@pytest.mark.parametrize(("title", "reason"), NOT_LISTINGS, ids=[t or "empty" for t, _ in NOT_LISTINGS])
def test_a_look_alike_is_not_a_listing(title, reason):
    info = parse_title(title)
    assert not info.is_listing and not info.krw
    assert info.reason == reason


def test_there_are_many_real_format_titles():
    assert len(LISTINGS) + len(NOT_LISTINGS) >= 40
    assert len({t for t, _ in LISTINGS + NOT_LISTINGS}) == len(LISTINGS) + len(NOT_LISTINGS)


def test_names_notes_and_the_union_of_markets():
    info = parse_title("셀레스티아(TIA)(KRW, BTC, USDT 마켓), 아이오넷(IO)(BTC, USDT 마켓) 신규 "
                       "거래지원 안내 (주문 타입 제한 관련 안내)")
    assert info.coins == (Coin("셀레스티아", "TIA", KBU), Coin("아이오넷", "IO", (B, U)))
    assert info.markets == KBU and info.tickers == ("TIA", "IO")
    assert info.notes == ("주문 타입 제한 관련 안내",)
    english = parse_title("Market Support for Hyperlane(HYPER), RedStone(RED) (BTC, USDT Market)")
    assert [c.name for c in english.coins] == ["Hyperlane", "RedStone"]
    assert parse_title("[거래] 바빌론(BABY) KRW 마켓 디지털 자산 추가").coins == (Coin("바빌론", "BABY", (K,)),)


def test_a_btc_or_usdt_only_addition_is_a_listing_but_not_a_krw_one():
    info = parse_title("플록(FLOCK), 포르타(FORT) 신규 거래지원 안내 (BTC, USDT 마켓)")
    assert info.is_listing and not info.krw and info.markets == (B, U)


def test_a_look_alike_still_names_its_coin():
    info = parse_title("비트코인(BTC) 원화 마켓 거래 지원 종료 예정")
    assert info.coins == (Coin("비트코인", "BTC", (K,)),)
    info = parse_title("네트워크 이슈에 따른 밸리디티(VAL) 입출금 일시 중단 안내 (완료)")
    assert info.coins == (Coin("밸리디티", "VAL", ()),) and info.notes == ("완료",)


def test_a_cancelled_coin_is_named_apart():
    info = parse_title("헤미(HEMI), 유즈리스(USELESS) 신규 거래지원 안내 (KRW, BTC 마켓) "
                       "(헤미(HEMI) 거래지원 취소 안내)")
    assert info.cancelled == ("HEMI",) and info.tickers == ("USELESS",) and info.krw
    info = parse_title("클러스터프로토콜(CP) 신규 거래지원 안내 (KRW, BTC, USDT 마켓) (거래지원 개시 취소)")
    assert info.cancelled == ("CP",) and info.coins == () and not info.is_listing


def test_a_number_or_a_date_in_parentheses_is_no_ticker():
    info = parse_title("딥북(DEEP) 신규 거래지원 안내 (KRW 마켓) (2)")
    assert info.tickers == ("DEEP",) and info.notes == ("2",)
    assert parse_title("아이콘(ICX) 거래지원 종료 안내 (10/19 15:00)").tickers == ("ICX",)


def test_a_long_title_parses():
    title = "딥북(DEEP), " * 2000 + "신규 거래지원 안내 (KRW 마켓)" + " (수정)" * 500
    info = parse_title(title)
    assert info.tickers == ("DEEP",) and info.krw and len(info.notes) == 500


def test_a_listing_without_markets_has_none():
    info = parse_title("Market Support for MyShell(SHELL)")
    assert info.is_listing and info.coins == (Coin("MyShell", "SHELL", ()),) and not info.krw


def test_a_title_that_is_not_a_str_is_our_misuse():
    with pytest.raises(TypeError):
        parse_title(b"\xeb\x94\xa5\xeb\xb6\x81(DEEP)")  # type: ignore[arg-type]


_PIECES = ["(", ")", "（", "）", "[", "]", ",", " ", "·", "/", "KRW", "BTC", "USDT", "마켓", "Market",
           "신규 거래지원 안내", "디지털 자산 추가", "종료", "유의", "(DEEP)", "딥북", "1INCH", "T",
           "\u200b", "\x00", "\ud7a3", "ẞ", "ﬀ", "\U0001f680", "상장", "Market Support for", "\n"]


def test_any_title_parses_without_an_exception():
    """Fuzz (hypothesis is not a dependency of the project): seeded random titles from
    the grammar's own pieces and random code points; each gives a consistent TitleInfo."""
    rng = random.Random(19)
    for _ in range(4000):
        if rng.random() < 0.7:
            title = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 14)))
        else:
            title = "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(0, 30)))
            title = title.encode("utf-8", "replace").decode("utf-8", "replace")
        info = parse_title(title)
        assert isinstance(info, TitleInfo) and info.title == title
        assert info.is_listing == (info.reason == "")
        assert not info.is_listing or info.coins
        assert all(set(c.markets) <= set(MARKETS) and c.ticker for c in info.coins)
        assert set(info.markets) <= set(MARKETS)
