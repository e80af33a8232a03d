"""README.md's ``recorder run`` examples, each run for a few seconds against the simulator the
README starts (``python -m tools.simulator ...``): the journal holds, decoded by ``state``,
frames of every (symbol, channel) the example asks for, and nothing undecodable.

The examples are read from README.md's ``sh`` blocks, so an example added there is tested
here. Optional ``[...]`` parts are left out; ``--data``, ``--duration``, ``--ws-url``,
``--rest-url``, ``--metrics-port`` and ``--log-file`` are appended (the last flag wins).
An example whose ``--config`` file is not in the repository (``my.toml``) is a placeholder.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from recorder.cli import build_parser
from recorder.daemon_cli import config_from_args
from recorder.errors import ConfigError
from recorder.journal import FRAME
from recorder.journal.reader import JournalReader
from state.events import (
    Anomaly,
    BookDelta,
    BookSnapshot,
    BookTicker,
    DecodeError,
    Kline,
    Ticker,
    Trade,
)
from state.projector import Projector

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
SECONDS = 5.0


def readme_commands() -> list[str]:
    """Every command line of README.md's ``sh`` blocks: continuations joined, comments and
    optional ``[...]`` parts removed."""
    out = []
    for block in re.findall(r"^```sh\n(.*?)^```", README.read_text(), re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s#.*$", "", line)
            line = re.sub(r"\[[^\]]*\]", "", line)
            if line.strip():
                out.append(" ".join(line.split()))
    return out


RUNS = [c for c in readme_commands() if c.startswith("recorder run ")]
SIMULATOR = [c for c in readme_commands() if c.startswith("python -m tools.simulator ")]


def _runnable(cmd: str) -> bool:
    argv = shlex.split(cmd)
    return "--config" not in argv or (ROOT / argv[argv.index("--config") + 1]).exists()


# channel -> (event type, check of the event and the frame it came from)
CHANNELS = {
    "depth": (BookDelta, lambda e, p: True),
    "depth20": (BookSnapshot, lambda e, p: e.depth == 20),
    "aggTrade": (Trade, lambda e, p: b'"e":"aggTrade"' in p),
    "trade": (Trade, lambda e, p: b'"e":"trade"' in p or b'"ty":"trade"' in p or b'"type":"trade"' in p),
    "kline_1m": (Kline, lambda e, p: e.interval == "1m"),
    "bookTicker": (BookTicker, lambda e, p: True),
    "markPrice": (Ticker, lambda e, p: e.mark is not None),
    "orderbook": (BookSnapshot, lambda e, p: True),
    "ticker": (Ticker, lambda e, p: e.last is not None),
}


# the examples' configuration comes from their flags and files only, not this shell's
ENV = {k: v for k, v in os.environ.items() if not k.startswith("TICKTAPE_")}


@pytest.fixture(scope="module")
def simulator(tmp_path_factory):
    """The README's simulator command, run from the repository; yields (ws URL, REST URL)."""
    assert len(SIMULATOR) == 1, f"README.md should show one simulator command: {SIMULATOR}"
    argv = [sys.executable, *shlex.split(SIMULATOR[0])[1:]]
    err = tmp_path_factory.mktemp("simulator") / "stderr"
    with open(err, "wb") as errf:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=errf, text=True)
    try:
        urls = dict(proc.stdout.readline().split() for _ in range(2))  # type: ignore[union-attr]
        assert set(urls) == {"ws", "rest"}, err.read_text()
        yield urls["ws"], urls["rest"]
    finally:  # stopped by its pid, as it was started
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]


def test_the_readme_examples_are_valid_as_written_and_cover_both_simulated_venues(monkeypatch):
    """Each example's configuration is accepted as it stands in README.md (a copied line must
    not exit 2), and between them they record both venues the simulator serves."""
    monkeypatch.chdir(ROOT)  # the examples' relative paths are the repository's
    venues, refused = set(), []
    for cmd in filter(_runnable, RUNS):
        try:
            config = config_from_args(build_parser().parse_args(shlex.split(cmd)[1:]), environ={})
        except ConfigError as exc:
            refused.append(f"{cmd}: {exc}")
            continue
        venues |= {v.venue for v in config.venues}
    assert refused == []
    assert venues == {"binance-usdm", "upbit"}, RUNS


@pytest.mark.parametrize("cmd", [c for c in RUNS if _runnable(c)])
def test_readme_example_records_every_symbol_and_channel(cmd: str, simulator, tmp_path: Path,
                                                        monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples' relative paths are the repository's
    ws, rest = simulator
    argv = [*shlex.split(cmd)[1:], "--data", str(tmp_path / "data"), "--duration", str(SECONDS),
            "--ws-url", ws, "--rest-url", rest, "--metrics-port", "0",
            "--log-file", str(tmp_path / "recorder.log")]
    config = config_from_args(build_parser().parse_args(argv), environ={})
    asked = {(v.venue, s, ch) for v in config.venues for s in v.symbols for ch in v.channels}
    assert asked and all(ch in CHANNELS for _, _, ch in asked), asked
    got = subprocess.run([str(BIN / "recorder"), *argv], cwd=ROOT, env=ENV, capture_output=True,
                         text=True, timeout=SECONDS + 60)
    log = tmp_path / "recorder.log"
    assert got.returncode == 0, got.stderr + (log.read_text()[-3000:] if log.exists() else "")

    seen: dict[tuple[str, str, str], int] = defaultdict(int)
    bad = []
    with JournalReader(tmp_path / "data") as reader:
        projector = Projector(reader.streams())
        streams = reader.streams()
        for rec in reader.read():
            events = projector.apply(rec)
            bad += [e for e in events if isinstance(e, DecodeError | Anomaly)]
            if rec.kind != FRAME:
                continue
            venue = streams[rec.stream].venue
            for e in events:
                for ch, (kind, check) in CHANNELS.items():
                    if type(e) is kind and check(e, rec.payload):
                        seen[(venue, e.symbol, ch)] += 1
    assert bad == [], bad[:5]
    missing = sorted(k for k in asked if not seen.get(k))
    assert missing == [], f"no frames of {missing}; got {dict(seen)}"
