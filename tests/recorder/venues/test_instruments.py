"""Instrument-list parsers against bodies of each venue's documented shape."""

from __future__ import annotations

import orjson
import pytest

from recorder.errors import VenueReplyError
from recorder.venues.instruments import INSTRUMENTS, Instrument, instruments_for


def _j(doc) -> bytes:
    return orjson.dumps(doc)


def test_binance_usdm_keeps_trading_symbols_with_assets():
    body = _j({"timezone": "UTC", "symbols": [
        {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
         "contractType": "PERPETUAL"},
        {"symbol": "ETHUSDT_260327", "status": "TRADING", "baseAsset": "ETH", "quoteAsset": "USDT",
         "contractType": "CURRENT_QUARTER"},
        {"symbol": "OLDUSDT", "status": "SETTLING", "baseAsset": "OLD", "quoteAsset": "USDT"}]})
    src = INSTRUMENTS["binance-usdm"]
    got = src.parse(body)
    assert got == (Instrument("BTCUSDT", "BTC", "USDT", "usdm"),
                   Instrument("ETHUSDT_260327", "ETH", "USDT", "usdm"))
    req = src.request("http://127.0.0.1:9002/ignored/path")
    assert req.url == "http://127.0.0.1:9002/fapi/v1/exchangeInfo" and req.weight == 1


def test_binance_spot_weight_20():
    src = INSTRUMENTS["binance-spot"]
    assert src.request("https://api.binance.com").weight == 20
    body = _j({"symbols": [{"symbol": "ETHBTC", "status": "TRADING", "baseAsset": "ETH",
                            "quoteAsset": "BTC"}]})
    assert src.parse(body) == (Instrument("ETHBTC", "ETH", "BTC", "spot"),)


def test_upbit_market_all_quote_first():
    body = _j([{"market": "KRW-BTC", "korean_name": "비트코인", "english_name": "Bitcoin"},
               {"market": "BTC-ETH", "korean_name": "이더리움", "english_name": "Ethereum"},
               {"market": "USDT-XRP", "korean_name": "리플", "english_name": "XRP"}])
    src = INSTRUMENTS["upbit"]
    assert src.parse(body) == (Instrument("BTC-ETH", "ETH", "BTC", "spot"),
                               Instrument("KRW-BTC", "BTC", "KRW", "spot"),
                               Instrument("USDT-XRP", "XRP", "USDT", "spot"))
    req = src.request("https://api.upbit.com")
    assert req.url == "https://api.upbit.com/v1/market/all" and req.group == "market"


def test_bybit_per_category():
    body = _j({"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [
        {"symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading",
         "baseCoin": "BTC", "quoteCoin": "USDT"},
        {"symbol": "NEWUSDT", "status": "PreLaunch", "baseCoin": "NEW", "quoteCoin": "USDT"}],
        "nextPageCursor": ""}})
    src = INSTRUMENTS["bybit"]
    assert src.parse(body, "linear") == (Instrument("BTCUSDT", "BTC", "USDT", "linear"),)
    assert src.request("https://api.bybit.com", "linear").url.endswith(
        "/v5/market/instruments-info?category=linear&limit=1000")
    assert "category=spot" in src.request("https://api.bybit.com").url
    with pytest.raises(VenueReplyError, match="retCode 10001"):
        src.parse(_j({"retCode": 10001, "retMsg": "params error", "result": {}}), "spot")
    with pytest.raises(ValueError, match="not 'inverse'"):
        src.request("https://api.bybit.com", "inverse")


def test_okx_spot_and_swap():
    src = INSTRUMENTS["okx"]
    spot = _j({"code": "0", "msg": "", "data": [
        {"instType": "SPOT", "instId": "BTC-USDT", "baseCcy": "BTC", "quoteCcy": "USDT",
         "uly": "", "state": "live"},
        {"instType": "SPOT", "instId": "OLD-USDT", "baseCcy": "OLD", "quoteCcy": "USDT",
         "state": "suspend"}]})
    assert src.parse(spot, "spot") == (Instrument("BTC-USDT", "BTC", "USDT", "spot"),)
    swap = _j({"code": "0", "msg": "", "data": [
        {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "baseCcy": "", "quoteCcy": "",
         "uly": "BTC-USDT", "settleCcy": "USDT", "state": "live"}]})
    assert src.parse(swap, "swap") == (Instrument("BTC-USDT-SWAP", "BTC", "USDT", "swap"),)
    assert src.request("https://www.okx.com", "swap").url.endswith("instType=SWAP")


def test_gate_spot_and_futures():
    src = INSTRUMENTS["gate"]
    spot = _j([{"id": "ETH_USDT", "base": "ETH", "quote": "USDT", "trade_status": "tradable"},
               {"id": "X_USDT", "base": "X", "quote": "USDT", "trade_status": "untradable"}])
    assert src.parse(spot, "spot") == (Instrument("ETH_USDT", "ETH", "USDT", "spot"),)
    fut = _j([{"name": "BTC_USDT", "type": "direct", "in_delisting": False},
              {"name": "GONE_USDT", "in_delisting": True}])
    assert src.parse(fut, "futures") == (Instrument("BTC_USDT", "BTC", "USDT", "futures"),)
    assert src.request("https://api.gateio.ws", "futures").path == "/api/v4/futures/usdt/contracts"


def test_kucoin_and_phemex():
    ku = _j({"code": "200000", "data": [
        {"symbol": "BTC-USDT", "name": "BTC-USDT", "baseCurrency": "BTC", "quoteCurrency": "USDT",
         "market": "USDS", "enableTrading": True},
        {"symbol": "OFF-USDT", "baseCurrency": "OFF", "quoteCurrency": "USDT", "enableTrading": False}]})
    assert INSTRUMENTS["kucoin"].parse(ku) == (Instrument("BTC-USDT", "BTC", "USDT", "spot"),)
    ph = _j({"code": 0, "msg": "", "data": {
        "products": [{"symbol": "sBTCUSDT", "type": "Spot", "baseCurrency": "BTC",
                      "quoteCurrency": "USDT", "status": "Listed"},
                     {"symbol": "BTCUSD", "type": "Perpetual", "baseCurrency": "BTC",
                      "quoteCurrency": "USD", "status": "Listed"}],
        "perpProductsV2": [{"symbol": "BTCUSDT", "type": "PerpetualV2", "baseCurrency": "BTC",
                            "quoteCurrency": "USDT", "status": "Listed"},
                           {"symbol": "1000SHIBUSDT", "type": "PerpetualV2", "quoteCurrency": "USDT",
                            "contractUnderlyingAssets": "1000 SHIB", "status": "Listed"},
                           {"symbol": "ETHUSDT", "type": "PerpetualV2", "quoteCurrency": "USDT",
                            "status": "Listed"},
                           {"symbol": "GONEUSDT", "type": "PerpetualV2", "quoteCurrency": "USDT",
                            "status": "Delisted"}]}})
    src = INSTRUMENTS["phemex"]
    assert src.parse(ph, "spot") == (Instrument("sBTCUSDT", "BTC", "USDT", "spot"),)
    assert src.parse(ph, "perpetual") == (  # BTCUSD (coin-settled "Perpetual") as well
        Instrument("1000SHIBUSDT", "SHIB", "USDT", "perpetual"),
        Instrument("BTCUSD", "BTC", "USD", "perpetual"),
        Instrument("BTCUSDT", "BTC", "USDT", "perpetual"),
        Instrument("ETHUSDT", "ETH", "USDT", "perpetual"))


@pytest.mark.parametrize("venue", sorted(INSTRUMENTS))
@pytest.mark.parametrize("body", [b"", b"not json", b'{"code": -1121, "msg": "Invalid symbol."}',
                                  b"[1, 2]", b'{"symbols": 3}'])
def test_a_body_of_another_shape_is_a_venue_reply_error(venue, body):
    src = instruments_for(venue)
    assert src is not None
    for market in src.markets:
        try:
            got = src.parse(body, market)
        except VenueReplyError:
            continue
        assert got == ()  # only a list of no instrument objects may parse, to nothing


def test_unknown_venue_has_none():
    assert instruments_for("nowhere") is None
