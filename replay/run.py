"""Load a strategy, run it over a source, write the report: what the CLI and tests call."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from recorder.journal import Record
from recorder.journal.source import RecordSource

from .engine import Engine, EngineConfig, RunResult
from .report import summary as make_summary
from .report import write_report
from .source import Feed, HistoricalSource
from .strategy import load_strategy, parse_params


def run_strategy(source: Feed | RecordSource | Iterable[Record], strategy_spec: str, *,
                 params: list[str] | None = None, config: EngineConfig | None = None,
                 report_dir: str | os.PathLike[str] | None = None,
                 on_progress: Callable[[Engine], None] | None = None) -> tuple[RunResult, dict[str, Any]]:
    """Run ``path.py[:Class]`` over ``source``; returns the result and its summary.

    ``source``: a feed (``HistoricalSource``, ``LiveSource``), a ``RecordSource`` (the
    journal, the archive, a ``MemorySource``: all it holds), or any iterable of records
    in seq order (whose streams the engine then does not know). Writes the report files
    when ``report_dir``. Raises ``StrategyLoadError`` and ``ParamError`` before
    reading a record, ``RunError`` when the strategy raised.
    """
    loaded = load_strategy(strategy_spec)
    cls = loaded.cls
    values = parse_params(params or [], dict(cls.params))
    if isinstance(source, RecordSource):
        source = HistoricalSource(source)
    streams, stream_of = (source.streams(), source.stream) if isinstance(source, Feed) else ({}, None)
    engine = Engine(cls(), values, config, streams, name=cls.__name__)
    result = engine.run(source, stream_of=stream_of, on_progress=on_progress)
    name, sha = loaded.path.name, loaded.sha256
    if report_dir is not None:
        summ = write_report(result, report_dir, strategy_file=name, strategy_sha256=sha)
    else:
        summ = make_summary(result, name, sha)
    return result, summ
