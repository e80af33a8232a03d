"""data/recorder.example.toml loads, and documents every option the daemon knows."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from recorder.daemon.config import (
    BrokerConfig,
    CompactionConfig,
    ConfigError,
    InfluxConfig,
    ListingConfig,
    ProjectionConfig,
    PublishConfig,
    RecorderConfig,
    Supervision,
    TierConfig,
    VenueConfig,
    load_config,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "data" / "recorder.example.toml"


def _section_keys(text: str) -> dict[str, set[str]]:
    """Keys per section, counting commented-out ``# key = value`` lines as documented."""
    out: dict[str, set[str]] = {}
    section = ""
    for line in text.splitlines():
        head = re.match(r"^\[\[?([a-z_]+)\]\]?", line)
        if head:
            section = head.group(1)
            continue
        m = re.match(r"^#?\s*([a-z_]+) = ", line)
        if m:
            out.setdefault(section, set()).add(m.group(1))
    return out


def test_example_loads_both_venues():
    cfg = load_config(EXAMPLE, environ={})
    assert [v.venue for v in cfg.venues] == ["binance-usdm", "upbit"]
    assert cfg.compaction.enabled and (cfg.compaction.hour, cfg.compaction.minute) == (0, 10)
    assert not cfg.influx.enabled


def test_example_documents_every_option():
    keys = _section_keys(EXAMPLE.read_text())
    nested = {"venues", "supervision", "projection", "publish", "compaction", "influx",
              "listing", "tier", "shard", "broker"}
    assert {f.name for f in fields(RecorderConfig)} - nested <= keys["recorder"]
    for section, cls in (("supervision", Supervision), ("projection", ProjectionConfig),
                         ("publish", PublishConfig), ("compaction", CompactionConfig),
                         ("influx", InfluxConfig), ("listing", ListingConfig),
                         ("tier", TierConfig), ("broker", BrokerConfig)):
        missing = {f.name for f in fields(cls)} - keys[section]
        assert not missing, f"[{section}] does not document {missing}"
    missing = {f.name for f in fields(VenueConfig)} - keys["venue"]
    assert not missing, f"[[venue]] does not document {missing}"


def test_example_defaults_match_the_code():
    """A value written in the example is the code's default (it claims to be the reference)."""
    doc = tomllib.loads(EXAMPLE.read_text())
    for section, cls in (("supervision", Supervision), ("projection", ProjectionConfig),
                         ("publish", PublishConfig), ("compaction", CompactionConfig),
                         ("listing", ListingConfig), ("tier", TierConfig), ("broker", BrokerConfig)):
        defaults = {f.name: f.default for f in fields(cls)}
        for key, value in doc[section].items():
            assert value == defaults[key], f"[{section}] {key} = {value}, default {defaults[key]}"


def test_env_overrides_and_unknown_sections(tmp_path):
    cfg = load_config(EXAMPLE, environ={"TICKTAPE_INFLUX__TOKEN": "s3cret",
                                        "TICKTAPE_COMPACTION__HOUR": "3"})
    assert cfg.influx.token == "s3cret" and cfg.compaction.hour == 3
    with pytest.raises(ConfigError, match="compaction: hour"):
        load_config(EXAMPLE, environ={"TICKTAPE_COMPACTION__HOUR": "24"})
    with pytest.raises(ConfigError, match="influx.url"):
        load_config(EXAMPLE, environ={"TICKTAPE_INFLUX__ENABLED": "true",
                                      "TICKTAPE_INFLUX__URL": "localhost:8086"})
    with pytest.raises(ConfigError, match="unknown key 'bukket'"):
        load_config(EXAMPLE, environ={"TICKTAPE_INFLUX__BUKKET": "x"})
    # Neither section shapes the recording: the stream's config hash ignores them.
    base = load_config(EXAMPLE, environ={})
    assert cfg.config_hash == base.config_hash
