"""The strategy API's loading side: typed parameters, strategy files, the timer call."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from replay.errors import ParamError, StrategyCallError
from replay.strategy import Context, load_strategy, parse_params


def test_params_are_typed_from_the_defaults():
    defaults = {"qty": D("0.01"), "n": 3, "x": 0.5, "on": False, "name": "a"}
    got = parse_params(["qty=0.5", "n=7", "x=1e-3", "on=yes", "name=KRW-BTC"], defaults)
    assert got == {"qty": D("0.5"), "n": 7, "x": 0.001, "on": True, "name": "KRW-BTC"}
    with pytest.raises(ParamError, match="unknown"):
        parse_params(["nope=1"], defaults)
    with pytest.raises(ParamError, match="int"):
        parse_params(["n=1.5"], defaults)


def test_a_strategy_file_is_loaded_once_per_content_with_its_hash(tmp_path):
    f = tmp_path / "s.py"
    f.write_text("from replay.strategy import Strategy\nclass S(Strategy):\n    params = {'k': 1}\n")
    a, b = load_strategy(str(f)), load_strategy(f"{f}:S")
    assert a.cls is b.cls and a.cls.params == {"k": 1} and a.path == f
    assert len(a.sha256) == 64 and a.sha256 == b.sha256
    f.write_text("from replay.strategy import Strategy\nclass S(Strategy):\n    params = {'k': 2}\n")
    c = load_strategy(str(f))
    assert c.cls is not a.cls and c.cls.params == {"k": 2} and c.sha256 != a.sha256


def test_a_timer_takes_a_delay_or_a_time_not_both():
    class Eng:
        now_ns = 100
        added: list = []

        def add_timer(self, due, cb):
            self.added.append(due)
            return len(self.added)

    ctx = Context(Eng(), {})
    assert ctx.schedule(5, print) == 1 and ctx.schedule(None, print, at_ns=7) == 2
    assert Eng.added == [105, 7]
    for args, kw in (((5, print), {"at_ns": 7}), ((None, print), {})):
        with pytest.raises(StrategyCallError, match="exactly one"):
            ctx.schedule(*args, **kw)
