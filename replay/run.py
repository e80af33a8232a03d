"""Load a strategy, run it over a source, write the report: what the CLI and tests call."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from recorder.journal import Record

from .engine import Engine, EngineConfig, RunResult
from .report import summary as make_summary
from .report import write_report
from .strategy import load_strategy, parse_params


def run_strategy(source: Iterable[Record], strategy_spec: str, *, params: list[str] | None = None,
                 config: EngineConfig | None = None, report_dir: str | os.PathLike[str] | None = None,
                 on_progress: Callable[[Engine], None] | None = None) -> tuple[RunResult, dict[str, Any]]:
    """Run ``path.py[:Class]`` over ``source`` (a ``HistoricalSource`` or ``LiveSource``).

    Returns the result and its summary; writes the report files when ``report_dir``.
    """
    loaded = load_strategy(strategy_spec)
    cls = loaded.cls
    values = parse_params(params or [], dict(cls.params))
    streams = source.streams() if hasattr(source, "streams") else {}
    engine = Engine(cls(), values, config, streams, name=cls.__name__)
    stream_of = getattr(source, "stream", None)
    result = engine.run(source, stream_of=stream_of, on_progress=on_progress)
    name, sha = loaded.path.name, loaded.sha256
    if report_dir is not None:
        summ = write_report(result, report_dir, strategy_file=name, strategy_sha256=sha)
    else:
        summ = make_summary(result, name, sha)
    return result, summ
