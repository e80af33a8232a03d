"""Golden outputs of every shared capture, through the public commands only.

For each capture in ``data/captures`` this imports it into a fresh data directory and records:
the sha256 of every stored journal value (read with py-lmdb directly, not through our reader),
the state digest after the last record (``replay state --no-checkpoint``), the sha256 of every
archive Parquet file after ``query compact``, and the sha256 of every file of two backtest
reports (``replay --report``). It uses only the console commands, so the same script measures
the code before and after a refactor: ``tests/test_golden.py`` compares today's outputs with
``tests/fixtures/golden.json``.

    python -m tools.golden --write tests/fixtures/golden.json    # record (before a change)
    python -m tools.golden --check tests/fixtures/golden.json    # compare (after it)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import lmdb

from tools.captures import CRYPTOFEED, HFTBACKTEST_USDM

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("BINANCE", "BINANCE_FUTURES", "BYBIT", "GATEIO", "GATEIO_FUTURES", "KUCOIN", "OKX",
         "PHEMEX", "UPBIT", "hftbacktest")
# Backtests: (name, captures imported together, strategy file, params)
BACKTESTS = (
    ("imbalance_hftbacktest", ("hftbacktest",), "data/strategies/imbalance_momentum.py",
     ["venue=binance-usdm", "symbol=BTCUSDT"]),
    ("kimchi_upbit_binance", ("UPBIT", "BINANCE_FUTURES"), "data/strategies/kimchi_premium.py",
     ["upbit_symbol=KRW-BTC", "twin_venue=binance-usdm", "twin_symbol=BTCUSDT"]),
)


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "COLUMNS": "200"})
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
    return done.stdout


def _path(name: str) -> Path:
    return HFTBACKTEST_USDM if name == "hftbacktest" else CRYPTOFEED / f"{name}.jsonl.zst"


def _import(data: Path, names: tuple[str, ...]) -> None:
    for name in names:
        venue = ["--venue", "binance-usdm"] if name == "hftbacktest" else []
        _run(_bin("recorder"), "import", "--data", str(data), *venue, str(_path(name)))


def journal_digest(data: Path) -> tuple[str, int]:
    """sha256 over (key, value) of every stored record, day segments in order; and the count."""
    h = hashlib.sha256()
    count = 0
    root = data / "journal"
    for seg in sorted(p for p in root.iterdir() if p.is_dir() and p.name[:1].isdigit()):
        env = lmdb.open(str(seg), readonly=True, lock=False, max_dbs=8, subdir=True)
        try:
            with env.begin() as txn:
                db = env.open_db(b"records", txn=txn, create=False)
                for key, value in txn.cursor(db):
                    h.update(key)
                    h.update(len(value).to_bytes(8, "big"))
                    h.update(value)
                    count += 1
        finally:
            env.close()
    return h.hexdigest(), count


def files_digest(root: Path, pattern: str) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob(pattern)) if p.is_file()}


def capture(name: str, work: Path) -> dict:
    data = work / name
    _import(data, (name,))
    journal, count = journal_digest(data)
    state = json.loads(_run(_bin("replay"), "state", "--data", str(data), "--at", str(count),
                            "--json", "--no-checkpoint"))
    _run(_bin("query"), "compact", "--data", str(data), "--through", "2099-12-31")
    return {"records": count, "journal_sha256": journal, "state_digest": state["digest"],
            "archive": files_digest(data / "archive", "*.parquet")}


def backtest(name: str, names: tuple[str, ...], strategy: str, params: list[str],
             work: Path) -> dict:
    data = work / f"bt-{name}"
    _import(data, names)
    report = work / f"report-{name}"
    argv = [_bin("replay"), "--data", str(data), "--from", "1", "--strategy", strategy,
            "--report", str(report), "--no-progress"]
    for p in params:
        argv += ["--param", p]
    _run(*argv)
    return files_digest(report, "*")


def measure() -> dict:
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        work = Path(tmp)
        out = {"captures": {n: capture(n, work) for n in NAMES}}
        out["backtests"] = {n: backtest(n, c, s, p, work) for n, c, s, p in BACKTESTS}
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", type=Path)
    g.add_argument("--check", type=Path)
    args = ap.parse_args(argv)
    now = measure()
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"wrote {args.write}")
        return 0
    want = json.loads(args.check.read_text())
    if now == want:
        print("golden: identical")
        return 0
    print(json.dumps(now, indent=1, sort_keys=True))
    print("golden: DIFFERENT", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
