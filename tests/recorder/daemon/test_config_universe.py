"""The universe keys of a venue table and the run command's per-venue flags."""

from __future__ import annotations

import pytest

from recorder.cli import build_parser
from recorder.daemon.config import ConfigError, build_config
from recorder.daemon_cli import config_from_args
from recorder.venues import VENUES


def doc(**venue) -> dict:
    v = {"venue": "binance-usdm", "symbols": ["btcusdt"], "channels": ["depth"], **venue}
    return {"recorder": {"data": "d"}, "venue": [v]}


def test_all_include_exclude_and_the_upbit_filter_are_taken():
    (v,) = build_config(doc(symbols="all", include=["*USDT"], exclude="*DOWN*, 1000*",
                            not_on_upbit_krw=True)).venues
    assert v.symbols == ("ALL",) and v.include == ("*USDT",) and v.exclude == ("*DOWN*", "1000*")
    assert v.not_on_upbit_krw and v.listing and v.market == ""
    (v,) = build_config(doc(symbols=[], include=["BTC*"])).venues  # include alone is enough
    assert v.symbols == () and v.include == ("BTC*",)
    (v,) = build_config(doc(market="usdm")).venues
    assert v.market == "usdm"


def test_every_universe_problem_is_named_at_once():
    with pytest.raises(ConfigError) as err:
        build_config({"recorder": {"data": "d"}, "supervision": {"universe_refresh_s": -1},
                      "venue": [
                          {"venue": "binance-usdm", "symbols": "all", "channels": ["depth"],
                           "listing": False, "market": "spot", "exclude": [" "]},
                          {"venue": "upbit", "symbols": ["KRW-BTC"], "channels": ["trade"],
                           "not_on_upbit_krw": True}]})
    assert err.value.problems == [  # type: ignore[attr-defined]
        "venue[0].market: binance-usdm has market usdm, not 'spot'",
        "venue[0].exclude: an empty pattern",
        'venue[0]: symbols = "all", include, exclude and not_on_upbit_krw need listing = true '
        "(they select from the venue's list)",
        "venue[1].not_on_upbit_krw: a filter for the other venues, not Upbit",
        "supervision.universe_refresh_s: must be >= 0 (0 = never)"]


def args(*argv: str):
    return build_parser().parse_args(["run", "--data", "d", *argv])


def test_venue_takes_a_comma_list_with_per_venue_items():
    cfg = config_from_args(args("--venue", "binance-usdm,upbit",
                                "--symbols", "binance-usdm:all,upbit:KRW-BTC,upbit:krw-eth",
                                "--channels", "binance-usdm:aggTrade,upbit:trade,upbit:ticker",
                                "--ws-url", "ws://127.0.0.1:9001/ignored",
                                "--rest-url", "upbit:http://127.0.0.1:9002"), environ={})
    b, u = cfg.venues
    assert (b.venue, b.symbols, b.channels) == ("binance-usdm", ("ALL",), ("aggTrade",))
    assert (u.venue, u.symbols, u.channels) == ("upbit", ("KRW-BTC", "KRW-ETH"), ("trade", "ticker"))
    assert b.ws_base == u.ws_base == "ws://127.0.0.1:9001/ignored"  # the path is never used
    assert b.rest_base == "https://fapi.binance.com" and u.rest_base == "http://127.0.0.1:9002"
    # a plain item goes to every venue given
    cfg = config_from_args(args("--venue", "binance-usdm", "--symbols", "BTCUSDT",
                                "--channels", "depth", "--market", "usdm"), environ={})
    assert cfg.venues[0].market == "usdm"


def test_per_venue_flag_problems_are_named_as_typed():
    with pytest.raises(ConfigError) as err:
        config_from_args(args("--venue", "binance-usdm,nowhere", "--symbols",
                              "upbit:KRW-BTC,BTCUSDT", "--channels", "depth",
                              "--market", "spot"), environ={})
    assert err.value.problems == [  # type: ignore[attr-defined]
        f"--venue: 'nowhere' is not a venue (one of {', '.join(VENUES)})",
        "--symbols: 'upbit:KRW-BTC' names upbit, which --venue does not give "
        "(binance-usdm, nowhere)",
        "--market (venue[0].market): binance-usdm has market usdm, not 'spot'"]
    with pytest.raises(ConfigError, match="--market needs --venue"):
        config_from_args(args("--market", "linear"), environ={})
