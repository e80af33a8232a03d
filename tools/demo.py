"""``make demo``: the whole product on the embedded captures, offline, in about a minute.

1. start the built-in exchange simulator (Binance USD-M + Upbit) replaying the real captures;
2. ``recorder run`` records both venues from it into ``data/demo/live``;
   while it runs, ``query market`` answers a ticker from its memory (attached) and from
   REST, each with its age, an order book from memory, and 1000 candles in pages;
3. ``recorder status`` and ``recorder verify`` show what was recorded;
4. ``replay state`` shows the projected book, features and digest at the last record;
5. ``query sql`` reads the live journal (hot, not yet compacted) with DuckDB;
6. the real captures (finished days, 2021-2026) are imported into ``data/demo/history``,
   ``query compact`` turns them into Parquet and ``query sql`` queries the archive;
7. a short backtest of the order-book imbalance strategy over the live recording
   prints its summary and the path of its chart;
8. the Upbit listing watcher: a second simulator serves Upbit's notice board and six overseas
   venues listing a synthetic long-tail universe; ``recorder run`` records that universe
   (every coin Upbit has no KRW market for) into the short tier and polls the board; a notice
   is published, detected, its coin's window cut out of the tier on all six venues, listed by
   ``query listings`` (with its chart) and traded by the example listing strategy.

Everything runs through the console scripts a user would type; each command is echoed.
``--seconds N`` sets the recording time (default 20).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from tools.captures import CRYPTOFEED, HFTBACKTEST_USDM

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEMO = ROOT / "data" / "demo"
console = Console(soft_wrap=True)

# The captures in the order they were recorded, so the history journal's time only goes forward.
HISTORY = [
    (CRYPTOFEED / "UPBIT.jsonl.zst", None),  # 2021-04-17
    (CRYPTOFEED / "GATEIO.jsonl.zst", None),  # 2021-04-22
    (CRYPTOFEED / "KUCOIN.jsonl.zst", None),  # 2021-04-25
    (CRYPTOFEED / "PHEMEX.jsonl.zst", None),  # 2021-07-03
    (CRYPTOFEED / "BINANCE_FUTURES.jsonl.zst", None),  # 2021-07-22
    (CRYPTOFEED / "BINANCE.jsonl.zst", None),  # 2021-10-12
    (CRYPTOFEED / "OKX.jsonl.zst", None),  # 2022-05-13
    (CRYPTOFEED / "GATEIO_FUTURES.jsonl.zst", None),  # 2023-05-24
    (HFTBACKTEST_USDM, "binance-usdm"),  # 2024-08-08
    (CRYPTOFEED / "BYBIT.jsonl.zst", None),  # 2026-08-09
]

RECORDER_TOML = """\
# Written by the demo: both venues from the local simulator (URLs come from --ws-url/--rest-url).
[recorder]
data = "{data}"
log_file = "{log}"

[[venue]]
venue = "binance-usdm"
symbols = ["BTCUSDT", "SUSHIUSDT", "CTKUSDT"]
channels = ["depth", "aggTrade", "bookTicker", "markPrice", "ticker"]  # one trade stream per symbol: trade and aggTrade would count each trade twice

[[venue]]
venue = "upbit"
symbols = ["KRW-BTC", "KRW-USDT", "KRW-LAMB", "KRW-WAVES"]
channels = ["orderbook", "trade", "ticker"]
"""

VWAP_SQL = """\
SELECT venue, symbol, time_bucket(INTERVAL 1 minute, ts) AS minute,
       count(*) AS trades, round(sum(price * size) / sum(size), 4) AS vwap
FROM trades GROUP BY ALL ORDER BY venue, symbol, minute"""

ARCHIVE_SQL = """\
WITH per_symbol AS (
  SELECT date, venue, symbol, count(*) AS n, sum(price * size) / sum(size) AS vwap
  FROM trades GROUP BY ALL)
SELECT date, venue, sum(n) AS trades, count(*) AS symbols,
       arg_max(symbol, n) AS busiest, round(arg_max(vwap, n), 8) AS busiest_vwap
FROM per_symbol GROUP BY ALL ORDER BY date, venue"""


def step(title: str) -> None:
    console.print(Rule(f"[bold]{title}"))


def run(*argv: str, capture: bool = False, check: bool = True) -> subprocess.CompletedProcess:
    """Run a console script from this environment, echoing the command line."""
    # Shell quoting with newlines kept: the SQL reads as written and the line can be pasted.
    console.print(f"$ {shlex.join(argv)}", style="dim", markup=False, highlight=False)
    cmd = [str(BIN / argv[0]), *argv[1:]]
    got = subprocess.run(cmd, cwd=ROOT, text=True, capture_output=capture)
    if check and got.returncode != 0:
        if capture:
            sys.stderr.write(got.stdout + got.stderr)
        raise SystemExit(f"demo: {argv[0]} {argv[1]} failed with exit status {got.returncode}")
    return got


def start(*argv: str) -> subprocess.Popen:
    """Start a console script in the background, echoing the command line."""
    console.print(f"$ {shlex.join(argv)} &", style="dim", markup=False, highlight=False)
    return subprocess.Popen([str(BIN / argv[0]), *argv[1:]], cwd=ROOT)


def market_api(live: Path, rest: str, rec: subprocess.Popen) -> None:
    """The market-data API while the recorder runs: from its memory (attached) and from REST,
    each answer with its source and age, and candles fetched in pages."""
    deadline = time.monotonic() + 30
    while not (live / "live" / "attach.json").exists():  # the recorder publishes its table
        if rec.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("demo: the recorder did not publish its live table")
        time.sleep(0.2)
    time.sleep(3)  # books synced, tickers in
    step("2b. the market-data API: memory of the running recorder, REST, candles in pages")
    for source in (("--attach", str(live)), ()):
        got = run("query", "market", "ticker", "--venue", "upbit", "--symbol", "BTC-KRW", "--rest-url", rest,
                  *source, "--json", capture=True)
        t = json.loads(got.stdout)
        console.print(f"  KRW-BTC last {t['last']}  source {t['source']}  age {t['age_ms']} ms")
    run("query", "market", "book", "--venue", "binance-usdm", "--symbol", "BTC-USDT-PERP", "--depth", "5",
        "--attach", str(live), "--rest-url", rest)
    got = run("query", "market", "candles", "--venue", "upbit", "--symbol", "KRW-BTC", "--interval", "1m",
              "--count", "1000", "--rest-url", rest, "--json", capture=True)
    c = json.loads(got.stdout)
    rows = c["candles"]
    console.print(f"  {len(rows)} one-minute candles in {c['requests']} pages from {c['source']}: "
                  f"{rows[0]['open_time']} .. {rows[-1]['open_time']}")


def start_simulator() -> tuple[subprocess.Popen, str, str]:
    cmd = [sys.executable, "-m", "tools.simulator", "--venue", "binance-usdm,upbit",
           "--port", "0", "--speed", "4", "--no-record"]
    console.print("[dim]$ python -m tools.simulator --venue binance-usdm,upbit --port 0 "
                  "--speed 4 --no-record[/dim]")
    sim = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    urls = {}
    assert sim.stdout is not None
    while len(urls) < 2:
        line = sim.stdout.readline()
        if not line:
            raise SystemExit("demo: the simulator did not start")
        key, _, value = line.strip().partition(" ")
        urls[key] = value
    console.print(f"simulator: WebSocket {urls['ws']}, REST {urls['rest']}")
    return sim, urls["ws"], urls["rest"]


LISTING_COIN = "SYN3"
LISTING_TITLE = f"신규코인({LISTING_COIN}) 신규 거래지원 안내 (KRW, USDT 마켓)"
LISTING_SQL = """\
SELECT venue, norm, count(*) FILTER (kind = 'trade') AS trades,
       count(*) FILTER (kind = 'quote') AS quotes,
       round(min(rel_ms) / 1000, 1) AS from_s, round(max(rel_ms) / 1000, 1) AS to_s
FROM listing_windows GROUP BY ALL ORDER BY venue"""


def listing_toml(data: Path, log: Path) -> str:
    """The watcher and the six overseas venues' universe in the tier (URLs from the flags)."""
    from tools.bench.venues import CHANNELS, VENUES

    lines = ["# Written by the demo: the listing watcher and the overseas universe in the tier.",
             "[recorder]", f'data = "{data}"', f'log_file = "{log}"', "",
             "[listing]", "enabled = true", "interval_ms = 500", "market_interval_ms = 2000",
             "before_s = 10.0", "after_s = 10.0", ""]
    for v in VENUES:
        lines += ["[[venue]]", f'venue = "{v}"', 'symbols = "all"', "not_on_upbit_krw = true",
                  f"channels = {json.dumps(CHANNELS[v])}", 'tier = "short"', ""]
    return "\n".join(lines)


def listing_demo(root: Path) -> None:
    """Step 8: a notice on the simulated board, detected, its window cut, queried, traded."""
    import urllib.request

    step("8. the Upbit listing watcher: a notice, its detection, the coin's window on six venues")
    venues = "upbit,binance-spot,bybit,okx,gate,kucoin,phemex"
    cmd = [sys.executable, "-m", "tools.simulator", "--venue", venues, "--universe", "8",
           "--port", "0", "--no-record"]
    console.print(f"[dim]$ python -m tools.simulator --venue {venues} --universe 8 --port 0 "
                  "--no-record[/dim]")
    sim = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert sim.stdout is not None
    urls = dict(sim.stdout.readline().strip().split(" ", 1) for _ in range(2))
    data = root / "listing"
    try:
        toml = root / "listing.toml"
        toml.write_text(listing_toml(data, root / "listing.log"))
        console.print(textwrap.indent(toml.read_text(), "    "), markup=False, highlight=False)
        rec = start("recorder", "run", "--config", str(toml), "--ws-url", urls["ws"],
                    "--rest-url", urls["rest"], "--notice-url", urls["rest"],
                    "--market-url", urls["rest"], "--duration", "40")
        time.sleep(8)  # the universe subscribed, the board's history taken
        body = json.dumps({"title": LISTING_TITLE, "in_s": 12, "market": f"KRW-{LISTING_COIN}",
                           "market_after_s": 5}).encode()
        console.print(f"$ curl -XPOST {urls['rest']}/_sim/notice -d '{body.decode()}'",
                      style="dim", markup=False, highlight=False)
        req = urllib.request.Request(f"{urls['rest']}/_sim/notice", data=body, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (loopback)
            console.print(f"  published notice {json.loads(resp.read())['id']} in 12 s")
        if rec.wait(timeout=120) != 0:
            raise SystemExit(f"demo: recorder run failed with exit status {rec.returncode}")
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    run("query", "listings", "--data", str(data), "--html")
    run("query", "sql", "--data", str(data), LISTING_SQL)
    window = next(p for p in sorted((data / "listings").iterdir()) if p.is_dir())
    run("replay", "--data", str(window), "--strategy",
        str(ROOT / "data" / "strategies" / "listing_momentum.py"), "--param", "hold_s=5",
        "--report", str(root / "listing-report"))
    console.print(f"[bold]listing chart: {window / 'report.html'}[/bold]")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=20, help="how long to record (default 20)")
    args = p.parse_args(argv)
    shutil.rmtree(DEMO, ignore_errors=True)
    live, history, report = DEMO / "live", DEMO / "history", DEMO / "report"
    DEMO.mkdir(parents=True)

    step("1. the exchange simulator replays the real captures on 127.0.0.1")
    sim, ws, rest = start_simulator()
    try:
        step(f"2. recorder run: both venues for {args.seconds} s")
        toml = DEMO / "recorder.toml"
        toml.write_text(RECORDER_TOML.format(data=live, log=DEMO / "recorder.log"))
        console.print(textwrap.indent(toml.read_text(), "    "), markup=False, highlight=False)
        rec = start("recorder", "run", "--config", str(toml), "--ws-url", ws, "--rest-url", rest,
                    "--duration", str(args.seconds))
        market_api(live, rest, rec)
        if rec.wait(timeout=args.seconds + 60) != 0:
            raise SystemExit(f"demo: recorder run failed with exit status {rec.returncode}")
    finally:
        sim.terminate()
        sim.wait(timeout=10)

    step("3. what was recorded")
    run("recorder", "status", "--data", str(live))
    run("recorder", "verify", "--data", str(live))

    step("4. projected state at the last record")
    status = json.loads(run("recorder", "status", "--data", str(live), "--json",
                            capture=True).stdout)
    run("replay", "state", "--data", str(live), "--at", str(status["last_seq"]),
        "--venue", "binance-usdm", "--symbol", "BTCUSDT", "--depth", "5")

    step("5. SQL over the live journal (hot, not compacted yet)")
    run("query", "sql", "--data", str(live), VWAP_SQL)

    step("6. the archive: captures from 2021-2026 imported, compacted to Parquet, queried")
    for path, venue in HISTORY:
        run("recorder", "import", "--data", str(history), str(path),
            *(["--venue", venue] if venue else []), capture=True)
    console.print(f"imported {len(HISTORY)} captures into {history}")
    run("query", "compact", "--data", str(history))
    run("query", "sql", "--data", str(history), "--no-hot", ARCHIVE_SQL)
    parquet = sorted((history / "archive").rglob("*.parquet"))
    console.print(f"{len(parquet)} Parquet files under {history / 'archive'}")

    step("7. a short backtest over the live recording")
    run("replay", "--data", str(live), "--from", str(status["first_seq"]),
        "--strategy", str(ROOT / "data" / "strategies" / "imbalance_momentum.py"),
        "--param", "entry=0.3", "--param", "hold_s=5", "--param", "cooldown_s=2",
        "--latency-ms", "5", "--report", str(report))
    chart = next((c for c in sorted(report.glob("*")) if c.suffix in (".html", ".png")), None)
    listing_demo(DEMO)
    console.print(Rule())
    console.print(f"journal:  {live}\narchive:  {history / 'archive'}\nreport:   {report}")
    console.print(f"[bold]chart:    {chart}[/bold]" if chart else "[red]no chart written[/red]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
