"""A pure parser of Upbit notice titles: which coins, which markets, and is it a listing.

    info = parse_title("딥북(DEEP) KRW 마켓 디지털 자산 추가")
    info.is_listing      # True
    info.coins           # (Coin(name="딥북", ticker="DEEP", markets=("KRW",)),)
    info.krw             # True: some coin gets a KRW market

A title is read in three kinds of pieces: plain text, ``name(TICKER)`` coin marks (a
market list may follow one directly: ``셀레스티아(TIA)(KRW, BTC 마켓)``), and other
parentheses: a market list ``(KRW, BTC, USDT 마켓)``, a list of tickers ``(NEAR, YGG)``
(the older Telegram style names no coin), or a follow-up note that Upbit appends when
it edits a notice (``(수정)``, ``(JPYC 거래지원 개시 시점 추가 변경 안내)``).

It is a listing when the text outside the coin names and the parentheses says so
(``신규 거래지원``, ``디지털 자산 추가``, ``마켓 추가``, ``Market Support for``, the
2017 ``상장``) and says nothing of the look-alikes: an end of support, a caution, a
deposit/withdrawal suspension, a schedule change, an event, a rebranding. The coins'
own names are taken out before that check, so ``이벤트코인(EVT) 신규 거래지원 안내`` is
still a listing; a follow-up note only undoes it when it cancels the listing, for the
coins it names (``cancelled``), or all when it names none.

Never raises: any string gives a ``TitleInfo`` (``is_listing`` False when unsure).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MARKETS = ("KRW", "BTC", "USDT")  # Upbit's quote markets, in the order Upbit names them

_MARKET = r"(?:KRW|BTC|USDT)"
_TICKER = re.compile(r"(?=[A-Z0-9]*[A-Z])[A-Z0-9]{1,15}")  # 1INCH, T, MET2; never "2"
_TICKER_MARKET = re.compile(rf"({_TICKER.pattern})/({_MARKET})")  # 2017: "(ETC/KRW)"
_MARKET_SUFFIX = re.compile(r"\s*(?:마켓|markets?)\s*$", re.IGNORECASE)
_MARKET_LIST = re.compile(rf"{_MARKET}(?:\s*[,·/&]\s*{_MARKET})*")
# a run of markets in the text, "KRW, USDT 마켓" or "(KRW, BTC, USDT Market)" read inline
_INLINE_MARKETS = re.compile(
    rf"(?<![A-Za-z0-9])({_MARKET_LIST.pattern})\s*(?:마켓|markets?)(?![A-Za-z])", re.IGNORECASE)
_WON_MARKET = re.compile(r"원화\s*마켓")
_TAG = re.compile(r"^\s*\[[^\]]{0,20}\]\s*")  # "[거래] ", "[입출금] " (Telegram channels)
_TRADE_WORD = re.compile(rf"^거래\s+(?={_MARKET})")  # "거래 KRW, BTC 마켓 ..." (older Telegram)
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_ENGLISH_LEAD = re.compile(r"^.*?\bmarket\s+support\s+for\b\s*", re.IGNORECASE)

# What makes the body a listing (spaces removed, case folded).
_LISTING_PHRASES = ("신규거래지원", "디지털자산추가", "마켓추가", "marketsupportfor")
# 2017: "이더리움클래식(ETC/KRW) 상장", "이더리움클래식 원화 마켓(ETC/KRW) 오픈 안내"
_OLD_LISTING = re.compile(r"(?:상장|오픈\s*안내)$")
_ENGLISH_TICKERS = re.compile(  # tickers upper case, the lead in any case
    r"(?i:\bmarket\s+support\s+for)\s+([A-Z0-9]{1,15}(?:\s*,\s*[A-Z0-9]{1,15})*)\s*(?:$|\()")
# What makes it something else (checked once the listing phrases are taken out, so
# "디지털 자산 추가 안내" is not read as the follow-up "추가 안내"). Spaces removed.
_NOT_LISTING = (
    ("종료", "end of support"), ("폐지", "end of support"), ("delist", "end of support"),
    ("terminat", "end of support"), ("endof", "end of support"),
    ("유의", "caution"), ("주의", "caution"), ("경고", "caution"), ("caution", "caution"),
    ("warning", "caution"), ("지정", "caution"), ("해제", "caution"), ("designat", "caution"),
    ("입출금", "suspension"), ("중단", "suspension"), ("suspen", "suspension"),
    ("deposit", "suspension"), ("withdraw", "suspension"), ("점검", "suspension"),
    ("maintenance", "suspension"), ("네트워크", "suspension"), ("network", "suspension"),
    ("업그레이드", "suspension"), ("upgrade", "suspension"), ("하드포크", "suspension"),
    ("이벤트", "event"), ("에어드랍", "event"), ("에어드롭", "event"), ("스테이킹", "event"),
    ("유통량", "event"), ("event", "event"), ("airdrop", "event"), ("staking", "event"),
    ("리브랜딩", "rebrand"), ("티커", "rebrand"), ("명칭", "rebrand"), ("명칙", "rebrand"),
    ("스왑", "rebrand"), ("마이그레이션", "rebrand"), ("rebrand", "rebrand"),
    ("ticker", "rebrand"), ("swap", "rebrand"), ("migrat", "rebrand"), ("rename", "rebrand"),
    ("변경", "update"), ("연기", "update"), ("재개", "update"), ("추가안내", "update"),
    ("철회", "update"), ("취소", "update"), ("정정", "update"), ("일정", "update"),
    ("change", "update"), ("postpone", "update"), ("resum", "update"), ("update", "update"),
    ("cancel", "update"), ("reschedul", "update"),
)
# A follow-up note on a listing notice keeps it a listing, unless it calls it off.
_CALLED_OFF = ("취소", "철회", "종료", "cancel", "delist", "terminat")


@dataclass(frozen=True, slots=True)
class Coin:
    """One coin a title names: its name as written ("" when only the ticker is given),
    its ticker (upper case) and the markets the title gives it (a subset of ``MARKETS``,
    in that order; empty when the title names none)."""

    name: str
    ticker: str
    markets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TitleInfo:
    """What one notice title says.

    ``is_listing``: a new trading support notice (a new coin, or new markets for one).
    ``reason``: why not, when not ("end of support", "caution", "suspension", "rebrand",
    "event", "update", "cancelled", "no listing phrase", "no coin"); "" for a listing.
    ``markets``: every market the title names, in ``MARKETS`` order.
    ``notes``: the follow-up parentheses, as written (``수정``, ``완료``, ...).
    ``cancelled``: tickers a follow-up note calls off (``(헤미(HEMI) 거래지원 취소 안내)``);
    they are not in ``coins``.
    """

    title: str
    is_listing: bool
    coins: tuple[Coin, ...]
    markets: tuple[str, ...]
    reason: str = ""
    notes: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()

    @property
    def tickers(self) -> tuple[str, ...]:
        return tuple(c.ticker for c in self.coins)

    @property
    def krw(self) -> bool:
        """A listing that opens a KRW market for at least one coin."""
        return self.is_listing and any("KRW" in c.markets for c in self.coins)


def _markets_in(text: str) -> set[str]:
    return {m.upper() for m in re.findall(_MARKET, text, re.IGNORECASE)}


def _ordered(markets: set[str]) -> tuple[str, ...]:
    return tuple(m for m in MARKETS if m in markets)


def _pieces(text: str) -> list[tuple[str, str]]:
    """``text`` as ("text", s) and ("paren", s) pieces, top-level parentheses only (an
    unclosed one is text)."""
    out: list[tuple[str, str]] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            if depth == 0:
                if i > start:
                    out.append(("text", text[start:i]))
                start = i + 1
            depth += 1
        elif ch == ")" and depth > 0:
            depth -= 1
            if depth == 0:
                out.append(("paren", text[start:i]))
                start = i + 1
    if depth > 0:
        start -= 1  # keep the unclosed "(" as text
    if start < len(text):
        out.append(("text", text[start:]))
    return out


def _split_list(inner: str) -> list[str]:
    return [p.strip() for p in re.split(r"\s*[,·/&]\s*", inner.strip())]


def _market_paren(inner: str) -> set[str] | None:
    """The markets of a parenthesis that is only a market list ("KRW, BTC 마켓",
    "BTC, USDT Market", "KRW, BTC"), else None (a lone "BTC" may be a ticker: the
    caller decides)."""
    stripped = inner.strip()
    bare = _MARKET_SUFFIX.sub("", stripped).strip()
    if not _MARKET_LIST.fullmatch(bare):
        return None
    if bare != stripped or len(_split_list(bare)) > 1:
        return _markets_in(bare)
    return None


def _ticker_list(inner: str) -> tuple[list[str], set[str]] | None:
    """A parenthesis of tickers, perhaps ending with their markets ("CYS, ICNT, XAN",
    "SOPH, KRW 마켓"): (tickers, markets), else None."""
    items = [p.strip() for p in inner.split(",")]
    markets: set[str] = set()
    if items and _MARKET_SUFFIX.search(items[-1]):
        items[-1] = _MARKET_SUFFIX.sub("", items[-1]).strip()
        while items and items[-1] in MARKETS:  # the run of markets before "마켓"
            markets.add(items.pop())
    if not items or not all(_TICKER.fullmatch(i) for i in items):
        return None
    return items, markets


_MARKET_WORDS = re.compile(rf"\s*(?:원화|{_MARKET})\s*마켓\s*$")  # "이더리움클래식 원화 마켓(ETC/KRW)"


def _name_of(text: str) -> tuple[str, str]:
    """Split the text before a ``(TICKER)`` into (the text without the name, the name)."""
    head, sep, tail = text.rpartition(",")
    if _HANGUL.search(tail):  # Korean names hold no space: the last word
        market = _MARKET_WORDS.search(tail)  # 2017: the market between name and ticker
        words = tail[: market.start() if market else len(tail)].rstrip().rsplit(None, 1)
        name = words[-1] if words else ""
        before = tail.rstrip()[: len(tail.rstrip()) - len(name) - (len(market.group()) if market else 0)]
        return head + sep + before + (market.group() if market else ""), name
    lead = _ENGLISH_LEAD.match(tail)
    before = tail[: lead.end()] if lead else ""
    name = tail[len(before):].strip()
    if not lead and " " in name:  # English without the lead: the last word only
        before_word, _, name = name.rpartition(" ")
        before = before + before_word + " "
    return head + sep + before, name


def _normalize(title: str) -> str:
    text = unicodedata.normalize("NFKC", title)
    text = " ".join(text.split())
    while True:
        stripped = _TRADE_WORD.sub("", _TAG.sub("", text, count=1), count=1)
        if stripped == text:
            return text
        text = stripped


def parse_title(title: str) -> TitleInfo:
    """Parse one notice title (Korean or English); never raises for any ``str``."""
    if not isinstance(title, str):
        raise TypeError(f"a title is a str, not {type(title).__name__}")
    text = _normalize(title)
    pieces = _pieces(text)

    coins: list[list] = []  # [name, ticker, own markets]
    body: list[str] = []  # the text the listing / look-alike checks read
    notes: list[str] = []
    shared: set[str] = set()  # markets given to every coin without its own
    loose: list[str] = []  # tickers named without a coin name
    last = ""  # kind of the previous piece: "text", "coin", "other"
    for i, (kind, s) in enumerate(pieces):
        if kind == "text":
            body.append(s)
            last = "text"
            continue
        inner = s.strip()
        markets = _market_paren(inner)
        single = _TICKER.fullmatch(inner) or _TICKER_MARKET.fullmatch(inner)
        prev_text = pieces[i - 1][1] if i and pieces[i - 1][0] == "text" else ""
        glued = last == "text" and prev_text and not prev_text[-1].isspace()
        if single and glued and prev_text.strip() and not prev_text.rstrip().endswith(","):
            before, name = _name_of(body.pop())
            body.append(before)
            ticker = single.group(1) if single.lastindex else inner
            own = {single.group(2)} if single.lastindex else set()
            coins.append([name, ticker, own])
            last = "coin"
        elif markets is not None or (single and inner in MARKETS):
            got = markets if markets is not None else {inner}
            if last == "coin" and pieces[i - 1][0] == "paren":  # "(TIA)(KRW, BTC 마켓)"
                coins[-1][2] |= got
            else:
                shared |= got
            last = "other"
        elif (listed := _ticker_list(inner)) is not None:
            loose.extend(listed[0])
            shared |= listed[1]
            last = "other"
        else:
            notes.append(inner)
            last = "other"

    flat = " ".join(body)
    if not coins and not loose and (bare := _ENGLISH_TICKERS.search(flat)):
        loose = _split_list(bare.group(1))  # "Market Support for ACS, GO, RLY (USDT Market)"
        flat = flat[: bare.start(1)] + flat[bare.end(1):]
    for m in _INLINE_MARKETS.finditer(flat):
        shared |= _markets_in(m.group(1))
    if _WON_MARKET.search(flat):
        shared.add("KRW")

    seen: set[str] = set()
    out: list[Coin] = []
    for name, ticker, own in coins + [["", t, set()] for t in loose]:
        if ticker in seen:
            continue
        seen.add(ticker)
        out.append(Coin(name.strip(), ticker, _ordered(own or shared)))
    all_markets = _ordered(shared.union(*(c.markets for c in out)) if out else shared)

    reason = _verdict(flat, bool(out))
    cancelled = _cancelled(notes, [c.ticker for c in out]) if not reason else ()
    if cancelled:
        out = [c for c in out if c.ticker not in cancelled]
        reason = "" if out else "cancelled"
    return TitleInfo(title, not reason, tuple(out), all_markets, reason, tuple(notes), cancelled)


def _verdict(body: str, has_coin: bool) -> str:
    """"" for a listing, else why not."""
    squashed = "".join(body.split()).casefold()
    rest = squashed
    for phrase in _LISTING_PHRASES:
        rest = rest.replace(phrase, "|")
    rest = rest.replace("유의사항", "|")  # "points to heed", not a caution designation
    for word, reason in _NOT_LISTING:
        if word in rest:
            return reason
    if rest == squashed and not _OLD_LISTING.search(body.strip()):
        return "no listing phrase"
    return "" if has_coin else "no coin"


def _cancelled(notes: list[str], tickers: list[str]) -> tuple[str, ...]:
    """The tickers a follow-up note calls off (``(헤미(HEMI) 거래지원 취소 안내)``): those it
    names, or all of them when it names none."""
    out: list[str] = []
    for note in notes:
        flat = "".join(note.split()).casefold()
        if not any(w in flat for w in _CALLED_OFF):
            continue
        named = set(re.findall(r"(?<![A-Z0-9])[A-Z0-9]{1,15}(?![A-Z0-9])", note)) & set(tickers)
        out += [t for t in tickers if (t in named or not named) and t not in out]
    return tuple(out)
