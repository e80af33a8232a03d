"""The shipped Grafana dashboard: every panel's query names metrics and labels a running
recorder really exposes (one scrape of its endpoint, against the simulator), parses
(``promtool check rules``) and, where Debian's ``prometheus`` is installed, evaluates to
data once Prometheus has scraped that recorder."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.vm import free_port
from tools.simulator import Simulator

from .helpers import Running, config, until

GRAFANA = Path(__file__).resolve().parents[3] / "data" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "ticktape.json"
DATASOURCE = GRAFANA / "provisioning" / "datasources" / "prometheus.yaml"
PROVIDER = GRAFANA / "provisioning" / "dashboards" / "ticktape.yaml"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
# Grafana's variables, as a query run outside Grafana needs them
VARIABLES = {"$__rate_interval": "1m", "$venue": ".*"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}

pytestmark = pytest.mark.timeout(120)


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def queries() -> list[tuple[str, str, str]]:
    """``(panel title, expr, legendFormat)`` of every panel target."""
    return [(p["title"], t["expr"], t.get("legendFormat", ""))
            for p in dashboard()["panels"] for t in p["targets"]]


def concrete(expr: str) -> str:
    for var, value in VARIABLES.items():
        expr = expr.replace(var, value)
    return expr


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(ticktape_[a-z_]+)\b", expr))


def label_names(expr: str, legend: str) -> set[str]:
    """Labels a query relies on: in selectors, ``by``/``without`` lists and its legend."""
    used: set[str] = set()
    for sel in re.findall(r"\{([^}]*)\}", expr):
        used.update(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", sel))
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        used.update(x.strip() for x in group.split(",") if x.strip())
    used.update(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))
    return used - PROMQL_WORDS


def test_dashboard_and_provisioning_agree():
    d = dashboard()
    assert d["uid"] == "ticktape-recorder"
    uid = re.search(r"^\s*uid:\s*(\S+)", DATASOURCE.read_text(), re.M).group(1)
    assert "type: prometheus" in DATASOURCE.read_text()
    assert "type: file" in PROVIDER.read_text() and "path:" in PROVIDER.read_text()
    for p in d["panels"]:
        assert p["datasource"]["uid"] == uid, p["title"]
        assert p["targets"] and all(t["datasource"]["uid"] == uid for t in p["targets"])
    titles = " ".join(p["title"].lower() for p in d["panels"])
    for topic in ("frames", "gaps", "reconnects", "snapshots", "latency", "writer queue",
                  "newest record age"):
        assert topic in titles, topic
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    var = d["templating"]["list"][0]
    assert var["name"] == "venue" and metric_names(var["definition"]) == {"ticktape_connection_up"}


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (make test installs it)")
def test_every_query_parses(tmp_path):
    """``promtool check rules`` parses each query as a recording rule's expression."""
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, (_, expr, _) in enumerate(queries()):
        lines += [f"      - record: ticktape:dashboard_{i}", f"        expr: {json.dumps(concrete(expr))}"]
    (tmp_path / "q.yml").write_text("\n".join(lines) + "\n")
    res = subprocess.run([PROMTOOL, "check", "rules", "q.yml"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(queries())} rules found" in res.stdout


def scrape(port: int) -> dict[str, set[str]]:
    """Sample name -> the label names its samples carry, from one scrape."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, set[str]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, set()).update(s.labels)
    return out


async def recording(tmp_path: Path, s: Simulator):
    """A recorder with a metrics endpoint, past a gap and a malformed frame (so the gap and
    validation families have samples)."""
    cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["depth", "aggTrade"],
                 upbit=["KRW-BTC"], upbit_channels=["trade", "orderbook"],
                 recorder={"metrics_port": 0})
    return Running(cfg)


async def wait_families(s: Simulator, port: int) -> dict[str, set[str]]:
    """Scrapes until the gap and validation families have samples (faults injected until
    they do: one sent before a connection delivers may be lost)."""
    got: dict[str, set[str]] = {}
    last_fault = 0.0

    def ready() -> bool:
        nonlocal got, last_fault
        got = scrape(port)
        if time.monotonic() - last_fault > 1.0:
            last_fault = time.monotonic()
            if "ticktape_gaps_total" not in got:
                s.fault("gap", symbol="BTCUSDT")
            if "ticktape_validation_errors_total" not in got:
                s.fault("malformed", venue="upbit", mode="invalid_json")
        return all(n in got for n in ("ticktape_gaps_total", "ticktape_snapshots_total",
                                      "ticktape_validation_errors_total",
                                      "ticktape_rest_requests_total"))
    await until(ready, 30, "gaps, snapshots, validation errors and REST calls in the scrape")
    return got


async def test_every_query_names_exposed_metrics_and_labels(tmp_path):
    async with Simulator(source="synthetic", speed=20, seed=5) as s:
        async with await recording(tmp_path, s) as rec:
            await until(lambda: rec.metrics.port is not None and all(x.up for x in rec.supervisors),
                        10, "up")
            exposed = await wait_families(s, rec.metrics.port)
    problems = []
    for title, expr, legend in queries():
        names = metric_names(expr)
        missing = names - set(exposed)
        if missing:
            problems.append(f"{title}: {expr}: no such metric {sorted(missing)}")
            continue
        labels = set().union(*(exposed[n] for n in names))
        if any(n.endswith("_bucket") for n in names):
            labels.add("le")
        if unknown := label_names(expr, legend) - labels:
            problems.append(f"{title}: {expr}: labels {sorted(unknown)} not on {sorted(names)}")
    assert not problems, "\n".join(problems)
    var = dashboard()["templating"]["list"][0]["definition"]
    assert "venue" in exposed["ticktape_connection_up"], var


def prom_query(port: int, expr: str) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (make test installs it)")
async def test_every_query_evaluates_in_prometheus_scraping_a_recorder(tmp_path):
    """Prometheus scrapes a recording daemon; every panel's query returns data (a panel
    that shows only what is wrong, a connection down, may be empty while all is well)."""
    async with Simulator(source="synthetic", speed=20, seed=5) as s:
        async with await recording(tmp_path / "data", s) as rec:
            await until(lambda: rec.metrics.port is not None and all(x.up for x in rec.supervisors),
                        10, "up")
            await wait_families(s, rec.metrics.port)
            web = free_port()
            (tmp_path / "prometheus.yml").write_text(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: ticktape\n"
                f"    static_configs:\n      - targets: ['127.0.0.1:{rec.metrics.port}']\n")
            proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                 f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{web}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                def scraped() -> bool:
                    try:
                        r = prom_query(web, "count_over_time(up{job=\"ticktape\"}[1m])")
                    except OSError:
                        return False
                    res = r["data"]["result"]
                    return bool(res) and float(res[0]["value"][1]) >= 4
                deadline = time.monotonic() + 40
                while not await asyncio.to_thread(scraped):
                    assert time.monotonic() < deadline, "prometheus never scraped the recorder"
                    assert proc.poll() is None, "prometheus exited"
                    await asyncio.sleep(0.5)
                empty = []
                for title, expr, _ in queries():
                    r = await asyncio.to_thread(prom_query, web, concrete(expr))
                    assert r["status"] == "success", (title, expr, r)
                    if not r["data"]["result"] and not re.search(r"\)\s*>\s*0$", expr):
                        empty.append(f"{title}: {expr}")
                assert not empty, "queries with no data:\n" + "\n".join(empty)
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
