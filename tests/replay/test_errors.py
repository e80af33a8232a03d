"""replay/'s errors: one tree, drawn in the docstring of replay/errors.py; each misuse raises its type."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

import replay
from recorder.journal import FRAME, Record, StreamInfo
from recorder.journal.memory import MemorySource
from replay import errors
from replay.cli import _select
from replay.engine import Engine, EngineConfig
from replay.errors import (
    BoundError,
    EngineConfigError,
    FeeFileError,
    ParamError,
    ReplayError,
    ReplayUsageError,
    RunError,
    StrategyCallError,
    StrategyLoadError,
    UnknownMarketError,
)
from replay.fills import load_fees
from replay.source import Bound, check_range, parse_bound
from replay.strategy import Strategy, load_strategy, parse_params
from state.projector import Projector
from tests.errtree import assert_drawn_is_defined, defined_errors, outside_root


def test_the_docstring_draws_every_class_with_its_parent():
    tree = assert_drawn_is_defined(errors)
    defined = defined_errors(errors)
    assert tree["ReplayError"] is None and tree["BoundError"] == "ReplayUsageError"
    for name, cls in defined.items():  # the usage errors stay what replay raised before
        assert issubclass(cls, ValueError) == (name not in ("ReplayError", "RunError")), name


def test_every_exception_replay_defines_is_in_the_tree():
    assert outside_root(replay, ReplayError) == []


def test_bad_bounds(tmp_path):
    with pytest.raises(BoundError, match="'tomorrow'"):
        parse_bound("tomorrow")
    with pytest.raises(BoundError, match="--from seq 9 is after --to seq 3"):
        check_range(Bound(seq=9), Bound(seq=3))


def test_bad_strategy_specs(tmp_path):
    with pytest.raises(StrategyLoadError, match="not found"):
        load_strategy(str(tmp_path / "none.py"))
    (tmp_path / "broken.py").write_text("import nonexistent_module_xyz\n")
    with pytest.raises(StrategyLoadError, match="ModuleNotFoundError") as err:
        load_strategy(str(tmp_path / "broken.py"))
    assert isinstance(err.value.__cause__, ModuleNotFoundError)
    (tmp_path / "two.py").write_text("from replay.strategy import Strategy\nclass A(Strategy): pass\n"
                                     "class B(Strategy): pass\n")
    with pytest.raises(StrategyLoadError, match="found A, B"):
        load_strategy(str(tmp_path / "two.py"))
    with pytest.raises(StrategyLoadError, match="no Strategy subclass 'C'"):
        load_strategy(f"{tmp_path / 'two.py'}:C")
    assert load_strategy(f"{tmp_path / 'two.py'}:B").cls.__name__ == "B"


def test_bad_params():
    defaults = {"n": 3, "on": False, "obj": [1]}
    for pairs, msg in ((["n"], "expected name=value"), (["x=1"], "unknown; the strategy takes n, obj, on"),
                       (["n=1.5"], "expected a int"), (["on=maybe"], "expected a bool"),
                       (["obj=1"], "cannot set a list")):
        with pytest.raises(ParamError, match=re.escape(msg)):
            parse_params(pairs, defaults)
    assert parse_params(["n=4", "on=yes"], defaults) == {"n": 4, "on": True, "obj": [1]}


def test_bad_fee_files(tmp_path):
    for name, text, msg in (("a.toml", "[okx]\nmaker = -1\n", "expected a rate >= 0"),
                            ("b.json", "[1, 2]", "expected a table of venues"),
                            ("c.toml", "[okx]\nrebate = 1\n", "must hold only maker and taker"),
                            ("d.json", "{nope", "d.json"),
                            ("e.json", '{"okx": {"maker": "x"}}', "expected a number, got 'x'")):
        (tmp_path / name).write_text(text)
        with pytest.raises(FeeFileError, match=re.escape(msg)):
            load_fees(tmp_path / name)


def test_bad_engine_config():
    for kw, msg in (({"latency_ns": -1}, "latency must be >= 0"), ({"sample_ns": 0}, "sample period"),
                    ({"capital": Decimal(0)}, "capital must be > 0"), ({"depth_levels": 0}, "depth_levels")):
        with pytest.raises(EngineConfigError, match=msg):
            EngineConfig(**kw)


class Misuse(Strategy):
    """Calls its context wrongly on the first event, as ``how`` says."""

    params = {"how": "float"}

    def on_event(self, ctx, event, market):
        how = ctx.params["how"]
        if how == "float":
            ctx.buy("upbit", "KRW-BTC", 0.5)
        elif how == "nan":
            ctx.buy("upbit", "KRW-BTC", "lots")
        else:
            ctx.schedule(1, lambda c: None, at_ns=5)


def test_a_strategy_calling_its_context_wrongly_stops_the_run_with_the_misuse_as_cause():
    ticker = (b'{"type":"ticker","code":"KRW-BTC","trade_price":1,"timestamp":1,"trade_timestamp":1,'
              b'"stream_type":"REALTIME"}')
    src = MemorySource([Record(1, 10, 1, FRAME, ticker), Record(2, 20, 1, FRAME, ticker)],
                       {1: StreamInfo(1, "upbit", "spot")})
    for how, msg in (("float", "not float"), ("nan", "not a number: 'lots'"), ("timer", "exactly one")):
        with pytest.raises(RunError) as err:
            Engine(Misuse(), {"how": how}).run(src)
        assert isinstance(err.value.__cause__, StrategyCallError) and msg in str(err.value.__cause__)
        assert isinstance(err.value.__cause__, TypeError) and err.value.seq == 1


def test_an_unknown_venue_or_symbol_in_the_state():
    p = Projector({})
    with pytest.raises(UnknownMarketError) as err:
        _select(p, "okx", None)
    assert str(err.value) == "no venue 'okx' at seq 0 (venues: none)"
    assert isinstance(err.value, KeyError) and isinstance(err.value, ReplayUsageError)
