"""Load a strategy, run it over a source, write the report: what the CLI and tests call."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from recorder.journal import Record
from recorder.journal.source import RecordSource
from state.checkpoint import CheckpointSource
from state.projector import Projector

from .engine import Engine, EngineConfig, RunResult, WarmStart, symbol_names
from .errors import UnknownMarketError
from .live import LiveSource
from .report import summary as make_summary
from .report import write_report
from .source import Bound, Feed, HistoricalSource
from .state_at import checkpoint_store, state_through
from .strategy import load_strategy, parse_params

SHOWN = 30  # known names listed in an error, at most


def listed(items: list[str]) -> str:
    more = len(items) - SHOWN
    return ", ".join(items[:SHOWN]) + (f" and {more} more" if more > 0 else "") if items else "none"


def check_symbols(p: Projector, names: frozenset[str] | None, venues: frozenset[str] | None, *,
                  so_far: bool = False) -> None:
    """``UnknownMarketError`` naming the symbols known when a name of ``names`` matches none
    of the symbols ``p`` has seen (of ``venues``, when given)."""
    if not names:
        return
    known = [(v, k, p.symbol_state(v, k).norm) for v, k in p.symbols() if venues is None or v in venues]
    missing = sorted(names.difference(*(symbol_names(v, k, norm) for v, k, norm in known)))
    if missing:
        where = f" of {', '.join(sorted(venues))}" if venues else ""
        seen = [f"{v}:{k} ({norm})" for v, k, norm in known]
        raise UnknownMarketError(
            f"no symbol {', '.join(missing)} in the records{where} through seq {p.last_seq} "
            f"(symbols{' so far' if so_far else ''}: {listed(seen)})")


def warm_start(feed: HistoricalSource, *, config: EngineConfig,
               checkpoints: bool | CheckpointSource = True,
               on_progress: Callable[[int, int], None] | None = None) -> WarmStart | None:
    """The projection after the record before ``feed``'s start (None when it starts at the
    source's first record): from the newest checkpoint at or before it (``checkpoints``:
    the data directory's own, a store, or False), else from the first record. A live feed
    whose start time is not recorded yet waits for it first. ``feed`` then starts at that
    seq. A live feed checks its ``symbols`` at once against those recorded so far (a run
    from the past checks them at its end)."""
    if isinstance(feed, LiveSource):
        start = feed.wait_for_start()
        if start is None:  # stopped while waiting
            return None
    else:
        start = feed.start_seq()
    src = feed.source
    if not src.first_seq or start <= src.first_seq:
        return None
    through = min(start - 1, src.last_seq)
    at = state_through(src, through, store=checkpoint_store(feed.data_dir, checkpoints),
                       like=Projector(depth_levels=config.depth_levels), on_progress=on_progress)
    feed.start = Bound(seq=through + 1)
    p = at.projector
    books = [(v, k) for v, k in p.books_needing_snapshot()
             if (feed.venues is None or v in feed.venues)
             and (config.symbols is None
                  or not config.symbols.isdisjoint(symbol_names(v, k, p.symbol_state(v, k).norm)))]
    if isinstance(feed, LiveSource) and p.symbols():
        check_symbols(p, config.symbols, feed.venues, so_far=True)
    return WarmStart(p, through, at.from_checkpoint, at.records, at.skipped, invalid_books=books)


def run_strategy(source: Feed | RecordSource | Iterable[Record], strategy_spec: str, *,
                 params: list[str] | None = None, config: EngineConfig | None = None,
                 report_dir: str | os.PathLike[str] | None = None,
                 on_progress: Callable[[Engine], None] | None = None,
                 checkpoints: bool | CheckpointSource = True,
                 on_warm: Callable[[int, int], None] | None = None,
                 warm: WarmStart | bool = True) -> tuple[RunResult, dict[str, Any]]:
    """Run ``path.py[:Class]`` over ``source``; returns the result and its summary.

    ``source``: a feed (``HistoricalSource``, ``LiveSource``), a ``RecordSource`` (the
    journal, the archive, a ``MemorySource``: all it holds), or any iterable of records
    in seq order (whose streams the engine then does not know). A feed that starts after
    its source's first record starts warm (``warm_start``: from a checkpoint of
    ``checkpoints`` or from the first record, ``on_warm(folded, to fold)`` as it goes):
    its strategy sees the state a run from the first record would show it. ``warm``: a
    ``WarmStart`` made already (the CLI's, for a feed it wraps), or False: start from an
    empty projection wherever the feed starts (what runs did before). Writes the
    report files when ``report_dir``. Raises ``StrategyLoadError`` and ``ParamError``
    before reading a record, ``RunError`` when the strategy raised, and
    ``UnknownMarketError`` (before writing a report) when a name of ``config.symbols``
    matches no symbol of the records.
    """
    loaded = load_strategy(strategy_spec)
    cls = loaded.cls
    values = parse_params(params or [], dict(cls.params))
    config = config or EngineConfig()
    if isinstance(source, RecordSource):
        source = HistoricalSource(source)
    venues: frozenset[str] | None = getattr(source, "venues", None)  # a feed's, or the CLI's paced one's
    if warm is True:
        warm = None
        if isinstance(source, HistoricalSource):
            warm = warm_start(source, config=config, checkpoints=checkpoints, on_progress=on_warm)
    elif warm is False:
        warm = None
    streams, stream_of = (source.streams(), source.stream) if isinstance(source, Feed) else ({}, None)
    engine = Engine(cls(), values, config, streams, name=cls.__name__, warm=warm)
    result = engine.run(source, stream_of=stream_of, on_progress=on_progress)
    if engine.projector.last_seq:
        check_symbols(engine.projector, config.symbols, venues)
    name, sha = loaded.path.name, loaded.sha256
    if report_dir is not None:
        summ = write_report(result, report_dir, strategy_file=name, strategy_sha256=sha)
    else:
        summ = make_summary(result, name, sha)
    return result, summ
