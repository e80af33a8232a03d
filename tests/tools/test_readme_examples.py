"""README.md's ``recorder run`` examples, each run for a few seconds against the simulator the
README starts for its venue (a ``python -m tools.simulator ...`` line whose ``--venue`` list
holds every venue of the example): the journal holds, decoded by ``state``, frames of every
(symbol, channel) the example asks for, each event decoded from a frame of that channel, and
nothing undecodable.

The examples are read from README.md's ``sh`` blocks, so an example added there is tested
here. Optional ``[...]`` parts are left out; ``--data``, ``--duration``, ``--ws-url``,
``--rest-url``, ``--metrics-port`` and ``--log-file`` are appended (the last flag wins).
An example whose ``--config`` file is not in the repository (``my.toml``) is a placeholder.
Each simulator is started the first time an example needs it and stopped at the end.
"""

from __future__ import annotations

import contextlib
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
from tools.simulator.__main__ import parse_args

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


def _has(*markers: bytes):
    """A check that the frame holds one of ``markers`` (what names the channel in it)."""
    return lambda e, p: any(m in p for m in markers)


# channel -> the (event type, check of the event and the frame it came from) it may yield;
# a name several venues use lists each venue's frame
CHANNELS = {
    # Binance USD-M and spot
    "depth": ((BookDelta, _has(b'"e":"depthUpdate"')),),
    "depth20": ((BookSnapshot, lambda e, p: e.depth == 20 and b'@depth20' in p),),
    "aggTrade": ((Trade, _has(b'"e":"aggTrade"')),),
    "kline_1m": ((Kline, lambda e, p: e.interval == "1m" and b'"e":"kline"' in p),),
    "bookTicker": ((BookTicker, _has(b'@bookTicker"')),),
    "markPrice": ((Ticker, lambda e, p: e.mark is not None and b'"e":"markPriceUpdate"' in p),),
    # Binance, Upbit (SIMPLE or DEFAULT names), Phemex
    "trade": ((Trade, _has(b'"e":"trade"', b'"ty":"trade"', b'"type":"trade"', b'"trades":[')),),
    # Binance's 24 h ticker, Upbit's; KuCoin's is its best bid and ask
    "ticker": ((Ticker, lambda e, p: e.last is not None and any(
                   m in p for m in (b'"e":"24hrTicker"', b'"ty":"ticker"', b'"type":"ticker"'))),
               (BookTicker, _has(b'"topic":"/market/ticker:'))),
    # Upbit's whole book each frame; Phemex's snapshot then increments
    "orderbook": ((BookSnapshot, _has(b'"ty":"orderbook"', b'"type":"orderbook"', b'"book":{')),
                  (BookDelta, _has(b'"book":{'))),
    # Bybit
    "orderbook.50": ((BookSnapshot, _has(b'"topic":"orderbook.50.')),
                     (BookDelta, _has(b'"topic":"orderbook.50.'))),
    "publicTrade": ((Trade, _has(b'"topic":"publicTrade.')),),
    # Bybit's and OKX's
    "tickers": ((Ticker, _has(b'"topic":"tickers.', b'"channel":"tickers"')),),
    # OKX
    "books": ((BookSnapshot, _has(b'"channel":"books"')), (BookDelta, _has(b'"channel":"books"'))),
    "trades": ((Trade, _has(b'"channel":"trades"')),),
    # Gate
    "spot.order_book_update": ((BookDelta, _has(b'"channel":"spot.order_book_update"')),),
    "spot.trades": ((Trade, _has(b'"channel":"spot.trades"')),),
    # KuCoin
    "level2": ((BookDelta, _has(b'"topic":"/market/level2:')),),
    "match": ((Trade, _has(b'"topic":"/market/match:')),),
    # Phemex
    "kline": ((Kline, _has(b'"kline":[')),),
}
VENUES = {"binance-usdm", "binance-spot", "upbit", "bybit", "okx", "gate", "kucoin", "phemex"}


def _served(cmd: str) -> frozenset[str]:
    """The venues a README simulator command serves (as the simulator reads its flags)."""
    config, _ = parse_args(shlex.split(cmd)[3:])
    return frozenset(config.venues)


SERVED = {cmd: _served(cmd) for cmd in SIMULATOR}


def _simulator_for(venues: set[str]) -> str | None:
    """The README simulator command serving every one of ``venues`` (None: no one does)."""
    return next((cmd for cmd, served in SERVED.items() if venues <= served), None)


# the examples' configuration comes from their flags and files only, not this shell's
ENV = {k: v for k, v in os.environ.items() if not k.startswith("TICKTAPE_")}


class _Simulators:
    """The README's simulator commands, each started on first use; ``urls(cmd)`` is
    (ws URL, REST URL)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []
        self.started: dict[str, tuple[str, str]] = {}

    def urls(self, cmd: str) -> tuple[str, str]:
        if cmd not in self.started:
            argv = [sys.executable, *shlex.split(cmd)[1:]]
            err = self.tmp / f"simulator-{len(self.procs)}.stderr"
            with open(err, "wb") as errf:
                proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=errf, text=True)
            self.procs.append(proc)
            urls = dict(proc.stdout.readline().split() for _ in range(2))  # type: ignore[union-attr]
            assert set(urls) == {"ws", "rest"}, err.read_text()
            self.started[cmd] = (urls["ws"], urls["rest"])
        return self.started[cmd]

    def stop(self) -> None:
        """Stop every simulator started, each by its pid, together; killed after 10 s."""
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def simulators(tmp_path_factory):
    sims = _Simulators(tmp_path_factory.mktemp("simulators"))
    try:
        yield sims
    finally:
        sims.stop()


def test_the_readme_examples_are_valid_as_written_and_cover_all_eight_venues(monkeypatch):
    """Each example's configuration is accepted as it stands in README.md (a copied line must
    not exit 2), one README simulator command serves all its venues, and between them the
    examples record all eight venues."""
    monkeypatch.chdir(ROOT)  # the examples' relative paths are the repository's
    venues, refused, unserved = set(), [], []
    for cmd in filter(_runnable, RUNS):
        try:
            config = config_from_args(build_parser().parse_args(shlex.split(cmd)[1:]), environ={})
        except ConfigError as exc:
            refused.append(f"{cmd}: {exc}")
            continue
        asked = {v.venue for v in config.venues}
        if _simulator_for(asked) is None:
            unserved.append(cmd)
        venues |= asked
    assert refused == []
    assert unserved == [], f"no README simulator command serves these: {SIMULATOR}"
    assert venues == VENUES, RUNS


def test_each_readme_simulator_command_starts_its_venues_and_binance_spot_is_not_beside_usdm():
    """USD-M keeps the paths it shares with spot when both run, so a README simulator that
    lists both would leave spot's examples with USD-M's answers."""
    assert len(SIMULATOR) >= 2 and set().union(*SERVED.values()) == VENUES, SIMULATOR
    assert not any({"binance-usdm", "binance-spot"} <= served for served in SERVED.values())


@pytest.mark.parametrize("cmd", [c for c in RUNS if _runnable(c)])
def test_readme_example_records_every_symbol_and_channel(cmd: str, simulators, tmp_path: Path,
                                                        monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples' relative paths are the repository's
    example = config_from_args(build_parser().parse_args(shlex.split(cmd)[1:]), environ={})
    sim = _simulator_for({v.venue for v in example.venues})
    assert sim is not None, f"no README simulator command serves {cmd}"
    ws, rest = simulators.urls(sim)
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
                for ch, kinds in CHANNELS.items():
                    if any(type(e) is kind and check(e, rec.payload) for kind, check in kinds):
                        # upper case, as the configuration names symbols (Phemex spot is sBTCUSDT)
                        seen[(venue, e.symbol.upper(), ch)] += 1
    assert bad == [], bad[:5]
    missing = sorted(k for k in asked if not seen.get(k))
    assert missing == [], f"no frames of {missing}; got {dict(seen)}"
