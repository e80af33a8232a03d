"""The daemon's configuration: validated against the venue descriptors, errors name the key."""

from __future__ import annotations

import pytest

from recorder.daemon.adapters import adapter_for
from recorder.daemon.config import (
    HOOK_SECTIONS,
    ConfigError,
    Supervision,
    VenueConfig,
    build_config,
    load_config,
)
from recorder.errors import RecorderError


def doc(**venue) -> dict:
    v = {"venue": "binance-usdm", "symbols": ["btcusdt"], "channels": ["depth"], **venue}
    return {"recorder": {"data": "d"}, "venue": [v]}


def test_a_venue_table_is_normalized_and_gets_the_descriptors_defaults():
    cfg = build_config(doc(symbols=["btcusdt", "BTCUSDT", "ethusdt"], channels=["depth", "depth"]))
    (v,) = cfg.venues
    assert (v.symbols, v.channels) == (("BTCUSDT", "ETHUSDT"), ("depth",))
    assert (v.ws_base, v.rest_base) == ("wss://fstream.binance.com", "https://fapi.binance.com")
    assert (v.snapshot_limit, v.weight_limit_per_min, v.format, v.ping_interval_s) == (1000, 2400, "SIMPLE", 60.0)
    v = build_config(doc(ws_url="ws://127.0.0.1:9001")).venues[0]
    assert v.ws_base == "ws://127.0.0.1:9001" and v.rest_base == "https://fapi.binance.com"


@pytest.mark.parametrize(("venue", "message"), [
    ({"venue": "nope"}, r"venue\[0\].venue: expected one of binance-spot, binance-usdm, bybit, gate, kucoin, okx, phemex, upbit, got 'nope'"),
    ({"symbols": ["KRW-BTC"]}, r"venue\[0\].symbols: 'KRW-BTC' is not a binance-usdm symbol \(e.g. BTCUSDT\)"),
    ({"venue": "upbit", "symbols": ["BTCUSDT"]}, r"'BTCUSDT' is not a upbit symbol \(e.g. KRW-BTC\)"),
    ({"channels": ["orderbook"]}, r"'orderbook' is not a binance-usdm channel \(one of depth, depth20,"),
    ({"venue": "upbit", "symbols": ["KRW-BTC"], "channels": ["depth"]},
     r"'depth' is not a upbit channel \(one of orderbook, trade, ticker\)"),
    ({"ws_url": "fstream.binance.com"}, r"venue\[0\].ws_url: not an absolute URL"),
    ({"snapshot_limit": 7}, r"venue\[0\].snapshot_limit: one of \[5, 10, 20, 50, 100, 500, 1000\]"),
    # a venue-owned key is checked wherever it is given, as it always was
    ({"venue": "upbit", "symbols": ["KRW-BTC"], "channels": ["trade"], "snapshot_limit": 7},
     r"venue\[0\].snapshot_limit: one of"),
    ({"format": "JSON_LIST"}, r"venue\[0\].format: one of DEFAULT, SIMPLE"),
    ({"ping_interval_s": 120}, r"venue\[0\].ping_interval_s: must be under Upbit's 120 s idle cut"),
    ({"rotate_after_s": 0}, r"venue\[0\].rotate_after_s: must be > 0"),
    ({"rotate_after_s": 25 * 3600}, r"venue\[0\].rotate_after_s: must be > 0 and within the venue's 24 h"),
    ({"ping_interval_s": 0}, r"venue\[0\].ping_interval_s: must be > 0"),
    ({"max_streams_per_connection": 0}, r"max_streams_per_connection and weight_limit_per_min must be >= 1"),
    ({"snapshots": "maybe"}, r"venue\[0\].snapshots: expected true or false"),
])
def test_wrong_venue_tables_name_the_key(venue, message):
    with pytest.raises(ConfigError, match=message):
        build_config(doc(**venue))


def test_config_errors_are_recorder_errors_and_value_errors():
    with pytest.raises(RecorderError) as err:
        build_config({"recorder": {"data": "d"}})
    assert isinstance(err.value, ValueError) and "no venue to record" in str(err.value)


def test_a_value_the_venue_module_refuses_is_a_config_error():
    v = VenueConfig("binance-usdm", ("BTCUSDT",), ("depth",), rotate_after_s=25 * 3600.0)
    with pytest.raises(ConfigError, match="venue binance-usdm: rotate_after_s must be within the venue's 24 h"):
        adapter_for(v, Supervision())


def test_hook_sections_are_sections_outside_the_hash(tmp_path):
    assert HOOK_SECTIONS == ("compaction", "influx")
    base = build_config(doc())
    other = build_config({**doc(), "compaction": {"enabled": False, "hour": 5},
                          "influx": {"enabled": True, "url": "http://127.0.0.1:8086", "org": "o"}})
    assert other.config_hash == base.config_hash
    assert build_config(doc(symbols=["ETHUSDT"])).config_hash != base.config_hash
    with pytest.raises(ConfigError, match="influx.enabled needs projection.enabled"):
        build_config({**doc(), "projection": {"enabled": False},
                      "influx": {"enabled": True, "url": "http://x", "org": "o"}})


def test_cli_venue_override_replaces_or_patches(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[recorder]\ndata = "d"\n[[venue]]\nvenue = "upbit"\nsymbols = ["KRW-BTC"]\n'
                    'channels = ["trade"]\n')
    patched = load_config(path, environ={}, venue_override={"ws_url": "ws://127.0.0.1:1"})
    assert [(v.venue, v.ws_base) for v in patched.venues] == [("upbit", "ws://127.0.0.1:1")]
    replaced = load_config(path, environ={"TICKTAPE_RECORDER__DURABILITY": "os"},
                           venue_override={"venue": "binance-usdm", "symbols": ["BTCUSDT"],
                                           "channels": ["aggTrade"]})
    assert [v.venue for v in replaced.venues] == ["binance-usdm"] and replaced.durability == "os"


def test_every_problem_is_named_at_once():
    """An unknown key and a missing venue: both in one error (was: only the venue)."""
    with pytest.raises(ConfigError) as err:
        build_config({"recorder": {"data": "d", "bogus": 1}})
    text = str(err.value)
    assert "recorder: unknown key 'bogus'" in text and "no venue to record" in text
    assert len(err.value.problems) == 2
    # ... across sections, venues and the environment alike
    with pytest.raises(ConfigError) as err:
        load_config(None, environ={"TICKTAPE_NOPE__X": "1", "TICKTAPE_SUPERVISION__JITTER": "2"},
                    overrides={"data": "d", "log_level": "loud"},
                    venue_override={"venue": "upbit", "symbols": ["BTCUSDT"], "channels": ["depth"]})
    assert err.value.problems == [
        "TICKTAPE_NOPE__X: unknown section 'nope' (recorder, supervision, projection, publish, listing, tier, shard, broker, compaction, influx)",
        "venue[0].symbols: 'BTCUSDT' is not a upbit symbol (e.g. KRW-BTC)",
        "venue[0].channels: 'depth' is not a upbit channel (one of orderbook, trade, ticker)",
        "recorder.log_level: debug, info, warning or error",
        "supervision.jitter: a fraction in [0, 1]",
    ]
    assert str(err.value).startswith("5 problems:\n  TICKTAPE_NOPE__X")


def test_a_wrong_type_is_named_once():
    with pytest.raises(ConfigError) as err:
        build_config(doc(symbols="", channels=7))
    assert err.value.problems == ["venue[0].channels: expected a list of strings, got 7",
                                  "venue[0].symbols: at least one symbol is required"]


def test_the_dashboard_sends_log_lines_to_a_file(tmp_path):
    """The live view owns the terminal: without log_file, logs go to DATA/logs/recorder.jsonl."""
    cfg = build_config({"recorder": {"data": str(tmp_path), "dashboard": True}, "venue": doc()["venue"]})
    assert cfg.log_file == str(tmp_path / "logs" / "recorder.jsonl")
    cfg = build_config({"recorder": {"data": str(tmp_path), "dashboard": True, "log_file": "x.log"},
                        "venue": doc()["venue"]})
    assert cfg.log_file == "x.log"
    assert build_config(doc()).log_file == ""  # no dashboard: stderr, as before


def test_listing_and_tier_sections_are_checked_and_a_watcher_alone_needs_no_venue():
    with pytest.raises(ConfigError) as err:
        build_config({"recorder": {"data": "d"},
                      "listing": {"enabled": True, "interval_ms": 5, "notice_url": "ftp://x",
                                  "before_s": -1},
                      "tier": {"retention_hours": 0},
                      "venue": [{"venue": "binance-spot", "symbols": ["BTCUSDT"],
                                 "channels": ["trade"], "tier": "long"}]})
    assert sorted(err.value.problems) == sorted([
        "listing.notice_url: an http(s) URL, got 'ftp://x'",
        "listing: interval_ms and market_interval_ms >= 100 (the venues' limits)",
        "listing: before_s >= 0 and after_s > 0",
        "tier: retention_hours and check_every_s must be > 0",
        'venue[0].tier: "" (the journal) or "short" (the tier), got \'long\'',
    ])
    alone = build_config({"recorder": {"data": "d"}, "listing": {"enabled": True}})
    assert alone.venues == () and alone.listing.enabled
    with pytest.raises(ConfigError, match="no venue to record"):
        build_config({"recorder": {"data": "d"}, "listing": {"enabled": False}})


def test_listing_and_tier_change_the_hash_only_when_used():
    venue = {"venue": "upbit", "symbols": ["KRW-BTC"], "channels": ["trade"]}
    plain = build_config({"recorder": {"data": "d"}, "venue": [venue]})
    off = build_config({"recorder": {"data": "d"}, "venue": [venue], "listing": {"interval_ms": 500},
                        "tier": {"retention_hours": 2}})
    on = build_config({"recorder": {"data": "d"}, "venue": [venue], "listing": {"enabled": True}})
    tiered = build_config({"recorder": {"data": "d"}, "venue": [{**venue, "tier": "short"}]})
    assert plain.config_hash == off.config_hash
    assert len({plain.config_hash, on.config_hash, tiered.config_hash}) == 3
