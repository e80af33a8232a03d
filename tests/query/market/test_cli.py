"""``query market``: answers as tables or one JSON document, bad arguments one line, exit 2.

The simulator runs as its own process (``python -m tools.simulator``), so the command's own
event loop can ask it like a real venue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from query.cli import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def sim_urls():
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.simulator", "--source", "synthetic", "--seed", "4",
         "--codes", "KRW-BTC,KRW-ETH", "--symbols", "BTCUSDT,ETHUSDT", "--duration", "300"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline().split() for _ in range(2)]
        yield dict(lines)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)


@pytest.fixture(scope="module")
def rest_url(sim_urls):
    return sim_urls["rest"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["market", *argv])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ticker_json_has_the_unified_fields_source_and_age(rest_url, capsys):
    code, out, err = run(capsys, "ticker", "--venue", "upbit", "--symbol", "BTC-KRW", "--rest-url", rest_url,
                         "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["symbol"] == "KRW-BTC" and doc["norm"] == "BTC-KRW" and doc["source"] == "rest"
    assert isinstance(doc["last"], str) and isinstance(doc["age_ms"], int)
    assert {"high", "low", "volume", "quote_volume", "prev_close", "change", "change_rate"} <= set(doc)


def test_book_and_trades_as_json_and_as_tables(rest_url, capsys):
    code, out, _ = run(capsys, "book", "--venue", "binance-usdm", "--symbol", "BTC-USDT-PERP", "--depth", "3",
                       "--rest-url", rest_url, "--json")
    doc = json.loads(out)
    assert code == 0 and len(doc["bids"]) == 3 and len(doc["asks"]) == 3
    assert all(isinstance(p, str) and isinstance(s, str) for p, s in doc["bids"])
    code, out, _ = run(capsys, "book", "--venue", "binance-usdm", "--symbol", "BTCUSDT", "--depth", "2",
                       "--rest-url", rest_url)
    assert code == 0 and "spread" in out and "bid size" in out
    code, out, _ = run(capsys, "trades", "--venue", "binance-usdm", "--symbol", "ETHUSDT", "--limit", "4",
                       "--rest-url", rest_url, "--json")
    doc = json.loads(out)
    assert code == 0 and len(doc["trades"]) == 4 and doc["source"] == "rest" and doc["requests"] >= 1


@pytest.mark.parametrize(("argv", "says"), [
    (["ticker", "--venue", "bithumb", "--symbol", "X"], "choose from 'upbit', 'binance-usdm', 'binance-spot'"),
    (["book", "--venue", "upbit", "--symbol", "KRW-BTC", "--depth", "0"], "--depth: must be 1 or more"),
    (["book", "--venue", "upbit", "--symbol", "KRW-BTC", "--depth", "-3"], "--depth: must be 1 or more"),
    (["trades", "--venue", "upbit", "--symbol", "KRW-BTC", "--limit", "x"], "--limit: not an integer"),
    (["candles", "--venue", "upbit", "--symbol", "KRW-BTC", "--from", "yesterday"], "--from: not an ISO time"),
    (["quotes", "--venue", "upbit"], "invalid choice: 'quotes'"),
    ([], "required"),
])
def test_bad_arguments_are_one_line_naming_the_choices_exit_2(capsys, argv, says):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert "Traceback" not in err


def test_unknown_symbol_names_the_listed_ones_and_a_dead_venue_is_a_clear_error(rest_url, capsys):
    code, out, err = run(capsys, "ticker", "--venue", "upbit", "--symbol", "KRW-NOPE", "--rest-url", rest_url)
    assert code == 2 and err.strip() == "error: unknown symbol 'KRW-NOPE' on upbit; valid: KRW-BTC, KRW-ETH"
    code, out, err = run(capsys, "ticker", "--venue", "upbit", "--symbol", "KRW-BTC", "--rest-url",
                         "http://127.0.0.1:9", "--timeout", "1")
    assert code == 1 and err.startswith("error: upbit unavailable:") and len(err.strip().splitlines()) == 1


def test_candles_json_is_ascending_iso_utc_with_prices_as_strings(rest_url, capsys):
    code, out, err = run(capsys, "candles", "--venue", "upbit", "--symbol", "KRW-BTC", "--interval", "1m",
                         "--count", "250", "--rest-url", rest_url, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"candles", "source", "requests"} and doc["source"] == "rest"
    assert doc["requests"] == 2  # 200 a page
    rows = doc["candles"]
    assert len(rows) == 250
    times = [r["open_time"] for r in rows]
    assert times == sorted(set(times)) and all(t.endswith("Z") for t in times)
    assert set(rows[0]) == {"open_time", "open", "high", "low", "close", "volume"}
    assert all(isinstance(r[k], str) for r in rows for k in ("open", "high", "low", "close", "volume"))
    code, out, err = run(capsys, "candles", "--venue", "upbit", "--symbol", "KRW-BTC", "--interval", "7m",
                         "--count", "5", "--rest-url", rest_url)
    assert code == 2 and "unknown interval '7m' on upbit; valid: " in err and "1m" in err
    code, out, err = run(capsys, "candles", "--venue", "upbit", "--symbol", "KRW-BTC", "--rest-url", rest_url)
    assert code == 2 and "either --count N or --from T" in err


def test_the_blocking_wrapper_answers_without_await(rest_url):
    from query.market import BlockingMarketData, UnknownSymbolError

    urls = {v: rest_url for v in ("upbit", "binance-usdm", "binance-spot")}
    with BlockingMarketData(live=False, rest_urls=urls) as md:
        t = md.ticker("upbit", "KRW-BTC")
        assert t.symbol == "KRW-BTC" and t.source == "rest"
        assert [x.symbol for x in md.tickers("upbit", ["KRW-ETH", "KRW-BTC"])] == ["KRW-ETH", "KRW-BTC"]
        assert len(md.orderbook("binance-usdm", "BTCUSDT", depth=4).bids) == 4
        assert len(md.candles("upbit", "KRW-BTC", "1m", count=3)) == 3
        assert md.snapshot() == []  # no memory
        with pytest.raises(UnknownSymbolError):
            md.ticker("upbit", "KRW-NOPE")
        got = []
        for tr in md.subscribe("trades", "upbit", ["KRW-BTC"]):
            got.append(tr)
            if len(got) == 2:
                break
        assert all(x.symbol == "KRW-BTC" for x in got)


def test_with_ws_url_the_command_answers_from_its_own_stream(sim_urls, capsys):
    common = ("--rest-url", sim_urls["rest"], "--ws-url", sim_urls["ws"], "--json")
    code, out, err = run(capsys, "ticker", "--venue", "upbit", "--symbol", "KRW-ETH", *common)
    assert code == 0, err
    assert json.loads(out)["source"] == "memory"
    code, out, err = run(capsys, "book", "--venue", "binance-usdm", "--symbol", "BTCUSDT", "--depth", "3",
                         *common)
    doc = json.loads(out)
    assert code == 0 and doc["source"] == "memory" and len(doc["bids"]) == 3
