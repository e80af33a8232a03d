"""The shipped alert rules: valid (``promtool check rules``), firing as specified on
synthetic series (``promtool test rules``), and naming only metrics the daemon exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from recorder.daemon import Recorder

from .helpers import config

RULES_DIR = Path(__file__).resolve().parents[3] / "data" / "prometheus"
RULES = RULES_DIR / "ticktape-recorder.rules.yml"
UNIT = RULES_DIR / "ticktape-recorder.test.yml"
PROMTOOL = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
ALERTS = {"TicktapeConnectionDown", "TicktapeValidationErrorsHigh", "TicktapeJournalLatencyHigh",
          "TicktapeWriterQueueFull"}

needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (make test installs it)")


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@needs_promtool
def test_promtool_check_rules():
    res = promtool("check", "rules", RULES.name, cwd=RULES_DIR)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS: 4 rules found" in res.stdout


@needs_promtool
def test_promtool_unit_tests_fire_each_alert():
    text = UNIT.read_text()
    assert ALERTS <= set(re.findall(r"alertname: (\w+)", text))
    res = promtool("test", "rules", UNIT.name, cwd=RULES_DIR)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


@needs_promtool
@pytest.mark.parametrize("old,new", [
    ("ticktape_connection_down_seconds > 30", "ticktape_connection_down_seconds > 60"),
    ("> 0.01", "> 0.05"),
    ("> 0.2", "> 0.6"),
    (">= 0.9", ">= 0.99"),
])
def test_unit_tests_catch_a_wrong_threshold(tmp_path, old, new):
    """The unit tests pin each threshold: loosening one makes them fail."""
    rules = RULES.read_text()
    assert rules.count(old) == 1
    (tmp_path / RULES.name).write_text(rules.replace(old, new))
    shutil.copy(UNIT, tmp_path / UNIT.name)
    res = promtool("test", "rules", UNIT.name, cwd=tmp_path)
    assert res.returncode != 0 and "FAILED" in res.stdout + res.stderr


def exported_names(tmp_path) -> set[str]:
    """Sample names the daemon's registry exposes (each family with every suffix it gets)."""
    rec = Recorder(config(tmp_path, SimpleNamespace(ws="ws://127.0.0.1:9", rest="http://127.0.0.1:9"),
                          binance=["BTCUSDT"], upbit=["KRW-BTC"]))
    rec._open_writer()
    try:
        text = generate_latest(rec.metrics.registry).decode()
    finally:
        rec.writer.close()
    names: set[str] = set()
    for fam in text_string_to_metric_families(text):
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
                    "gauge": ("",)}.get(fam.type, ("",))
        names.update(fam.name + s for s in suffixes)
    return names


def exprs(text: str) -> list[str]:
    """The ``expr:`` values of a rules file (inline or ``|`` blocks; no YAML library here)."""
    out: list[str] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if not m:
            continue
        if m.group(2) not in ("|", ">", "|-", ">-"):
            out.append(m.group(2))
            continue
        indent, block = len(m.group(1)), []
        for nxt in lines[i + 1:]:
            if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                break
            block.append(nxt.strip())
        out.append(" ".join(block))
    return out


def test_rules_use_only_exported_metrics(tmp_path):
    assert set(re.findall(r"- alert: (\w+)", RULES.read_text())) == ALERTS
    used = {n for e in exprs(RULES.read_text()) for n in re.findall(r"\b(ticktape_[a-z_]+)\b", e)}
    assert len(used) == 6, used
    missing = used - exported_names(tmp_path)
    assert not missing, f"rules reference metrics the daemon does not export: {missing}"
