"""Symbol keys and normalized names per venue."""

from __future__ import annotations

import pytest

from state.symbols import normalize, split_concat, symbol_key


@pytest.mark.parametrize("venue,market,native,key,norm", [
    ("binance-usdm", "usdm", "BTCUSDT", "BTCUSDT", "BTC-USDT-PERP"),
    ("binance-usdm", "usdm", "BTCUSDT_240927", "BTCUSDT_240927", "BTC-USDT-240927"),
    ("binance-usdm", "usdm", "1000PEPEUSDT", "1000PEPEUSDT", "1000PEPE-USDT-PERP"),
    ("binance-spot", "spot", "ETHBTC", "ETHBTC", "ETH-BTC"),
    ("binance-spot", "spot", "BTCFDUSD", "BTCFDUSD", "BTC-FDUSD"),
    ("upbit", "spot", "KRW-BTC", "KRW-BTC", "BTC-KRW"),
    ("upbit", "spot", "USDT-ETH", "USDT-ETH", "ETH-USDT"),
    ("bybit", "spot", "BTCUSDT", "BTCUSDT", "BTC-USDT"),
    ("bybit", "linear", "BTCUSDT", "linear:BTCUSDT", "BTC-USDT-PERP"),
    ("bybit", "linear", "BTCPERP", "linear:BTCPERP", "BTC-USDC-PERP"),
    ("bybit", "inverse", "BTCUSD", "inverse:BTCUSD", "BTC-USD-PERP"),
    ("okx", "", "BTC-USDT", "BTC-USDT", "BTC-USDT"),
    ("okx", "", "BTC-USDT-SWAP", "BTC-USDT-SWAP", "BTC-USDT-PERP"),
    ("okx", "", "BTC-USD-220527", "BTC-USD-220527", "BTC-USD-220527"),
    ("gate", "spot", "BTC_USDT", "BTC_USDT", "BTC-USDT"),
    ("gate", "futures", "BTC_USDT", "futures:BTC_USDT", "BTC-USDT-PERP"),
    ("kucoin", "spot", "BCHSV-USDT", "BCHSV-USDT", "BCHSV-USDT"),
    ("phemex", "", "sBTCUSDT", "sBTCUSDT", "BTC-USDT"),
    ("phemex", "", "BTCUSD", "BTCUSD", "BTC-USD-PERP"),
    ("phemex", "", ".BTC", ".BTC", ".BTC"),  # index series (tick): no pair
    ("phemex", "", ".MBTC", ".MBTC", ".MBTC"),
])
def test_key_and_normalized_name(venue, market, native, key, norm):
    assert symbol_key(venue, market, native) == key
    assert normalize(venue, key) == norm


def test_unknown_quote_keeps_the_native_name():
    assert split_concat("FOOBAR") is None
    assert normalize("binance-spot", "foobar") == "FOOBAR"
