"""The README's worked examples of the market-data API (bot, screener, chart, backtest), read
from README.md and run against the simulator with connections of their own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from query.market import MarketData
from tools.simulator import Simulator

README = Path(__file__).resolve().parents[3] / "README.md"
pytestmark = pytest.mark.timeout(180)


def examples() -> dict[str, object]:
    """The functions the README's API section defines, by name."""
    text = README.read_text()
    section = text[text.index("## The market-data API"):]
    section = section[:section.index("\n## ", 10)]
    ns: dict[str, object] = {}
    for block in re.findall(r"^```python\n(.*?)^```", section, re.S | re.M):
        if "async def" in block and "asyncio.run" not in block:
            exec(compile(block, str(README), "exec"), ns)  # noqa: S102 (our own README)
    return {k: v for k, v in ns.items() if k in ("bot", "screener", "chart", "backtest")}


def test_the_readme_shows_one_example_per_kind_of_client():
    assert set(examples()) == {"bot", "screener", "chart", "backtest"}


@pytest.mark.parametrize("name", ["bot", "screener", "chart", "backtest"])
async def test_readme_example_runs(name, tmp_path, capsys):
    fn = examples()[name]
    async with Simulator(source="synthetic", seed=33, speed=1.0, history_minutes=2000,
                         upbit_codes=("KRW-BTC", "KRW-USDT", "KRW-ETH", "KRW-XRP"),
                         binance_symbols=("BTCUSDT",)) as sim:
        urls = {v: sim.urls.rest for v in ("upbit", "binance-usdm", "binance-spot")}
        ws = {v: sim.urls.ws for v in ("upbit", "binance-usdm")}
        async with MarketData(data_dir=str(tmp_path / "md"), cache_dir=str(tmp_path), rest_urls=urls,
                              ws_urls=ws) as md:
            await fn(md)
    out = capsys.readouterr().out
    assert out.strip(), "the example printed nothing"
    if name == "bot":
        assert out.count("premium") >= 5 and "upbit memory" in out
    elif name == "screener":
        assert "KRW" in out and "(rest)" in out
    elif name == "chart":
        assert "400 bars" in out
        assert "then 1 (cache+rest)" in out or "then 0 (cache+memory)" in out  # the forming minute
        assert out.count("-> bar") == 3
    else:
        assert "1440 bars" in out and "trades" in out
