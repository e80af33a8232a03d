"""The strategy API: subclass ``Strategy``, trade through the ``Context`` it is given.

The same class runs in a backtest and in paper trading; nothing here says which.
The guide with a worked example is the README's "Strategy API" section.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import ParamError, StrategyCallError, StrategyLoadError
from .orders import BUY, SELL, Fill, Order

if TYPE_CHECKING:
    from .engine import Engine


class Strategy:
    """Base class: override the callbacks you need; each gets the ``Context`` first.

    ``params`` (class attribute): defaults of the parameters, overridable with
    ``--param name=value`` (a value is converted to the type of its default).
    """

    params: dict[str, Any] = {}

    def on_start(self, ctx: Context) -> None:
        """Before the first record: schedule timers, read ``ctx.params``."""

    def on_event(self, ctx: Context, event: Any, market: Any) -> None:
        """Every event of every record, after the projection applied the record.

        ``event`` is a ``state.events`` struct (Trade, BookSnapshot, BookDelta,
        BookTicker, Ticker, Kline, Gap, Anomaly, DecodeError, and ``Listing``: a new
        Upbit KRW listing the recorder detected, always delivered, whatever the symbol
        filter); ``market`` a view of the ``state.market.MarketState`` of its symbol after
        the record, or None for an event without a symbol (and for a ``Listing``). The view reads the state as of now
        (computed on first attribute access, cached until the next record): to
        keep a picture for later, store ``market.frozen()``.
        """

    def on_fill(self, ctx: Context, fill: Fill) -> None:
        """One execution of one of your orders (a market order may fill in several)."""

    def on_reject(self, ctx: Context, order: Order) -> None:
        """An order the venue refused (``order.reason``: book_invalid, no_liquidity, ...)."""

    def on_stop(self, ctx: Context) -> None:
        """After the last record (or on SIGINT/SIGTERM in paper mode)."""


class Context:
    """What a strategy sees and does; one per run. Times are record times (ns)."""

    def __init__(self, engine: Engine, params: dict[str, Any]) -> None:
        self._engine = engine
        self.params = params

    # -- time --------------------------------------------------------------------------

    @property
    def now_ns(self) -> int:
        """Record time: the current record's ``ts_ns``, or a timer's due time in its callback."""
        return self._engine.now_ns

    @property
    def seq(self) -> int:
        """Seq of the last record applied."""
        return self._engine.seq

    def schedule(self, delay_ns: int | None, callback: Callable[[Context], None], *,
                 at_ns: int | None = None) -> int:
        """Call ``callback(ctx)`` ``delay_ns`` after now (or at ``at_ns``), in record time.

        A timer fires before the first record with ``ts_ns >= due`` is applied, so it
        sees the state as of its due time; ``ctx.now_ns`` is the due time. Returns
        an id for ``cancel_timer``. Raises ``StrategyCallError`` unless exactly one of
        ``delay_ns`` and ``at_ns`` is given.
        """
        if (delay_ns is None) == (at_ns is None):
            raise StrategyCallError("give exactly one of delay_ns and at_ns")
        due = at_ns if at_ns is not None else self.now_ns + int(delay_ns)  # type: ignore[operator]
        return self._engine.add_timer(due, callback)

    def cancel_timer(self, timer_id: int) -> bool:
        return self._engine.cancel_timer(timer_id)

    # -- orders ------------------------------------------------------------------------

    def buy(self, venue: str, symbol: str, qty: Decimal | int | str, price: Decimal | int | str | None = None,
            *, tag: str = "") -> int:
        """Buy ``qty`` (base units): a market order, or a limit at ``price``. Returns the order id.

        The order reaches the venue after the configured latency; a rejection is
        reported through ``on_reject``, executions through ``on_fill``.
        """
        return self._engine.submit(venue, symbol, BUY, qty, price, tag)

    def sell(self, venue: str, symbol: str, qty: Decimal | int | str, price: Decimal | int | str | None = None,
             *, tag: str = "") -> int:
        return self._engine.submit(venue, symbol, SELL, qty, price, tag)

    def cancel(self, order_id: int) -> bool:
        """Cancel a pending or resting order; False when it is already done."""
        return self._engine.cancel(order_id)

    def order(self, order_id: int) -> Order:
        return self._engine.orders[order_id]

    @property
    def open_orders(self) -> list[Order]:
        """Orders in flight or resting, in submit order."""
        return self._engine.live_orders()

    # -- portfolio ---------------------------------------------------------------------

    def position(self, venue: str, symbol: str) -> Decimal:
        """Base quantity held (negative when short); ``symbol`` native or normalized."""
        key = self._engine.resolve(venue, symbol)
        return self._engine.portfolio.position(venue, key) if key else Decimal(0)

    @property
    def balances(self) -> dict[tuple[str, str], Decimal]:
        """(venue, quote currency) -> cash: what fills paid and received, fees included."""
        return dict(self._engine.portfolio.cash)

    @property
    def fills(self) -> list[Fill]:
        return list(self._engine.fills)

    def equity(self) -> Decimal:
        """Capital + PnL of every venue, in USDT, at the current marks and FX rates."""
        return self._engine.equity()

    # -- market ------------------------------------------------------------------------

    def market(self, venue: str, symbol: str) -> Any | None:
        """The ``MarketState`` of a symbol now, or None if the projection has not seen it."""
        return self._engine.market(venue, symbol)

    def book(self, venue: str, symbol: str) -> Any | None:
        """The projected ``state.book.Book`` (``.valid``, ``.top_bids(n)``, ``.top_asks(n)``)."""
        return self._engine.book(venue, symbol)

    def fx(self, currency: str) -> Decimal | None:
        """USDT per unit of ``currency`` (KRW at Upbit's KRW-USDT), or None if unknown."""
        return self._engine.fx(currency)

    @property
    def projector(self) -> Any:
        """The ``state.projector.Projector`` itself (premiums, symbols, counters)."""
        return self._engine.projector


# -- loading ----------------------------------------------------------------------------


def _coerce(name: str, text: str, default: Any) -> Any:
    """``--param`` text -> the type of the default (or a guess when there is none)."""
    try:
        if isinstance(default, bool):
            if text.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(text)
            return text.lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, Decimal):
            return Decimal(text)
        if isinstance(default, str):
            return text
        if default is None:
            if text.lstrip("-").isdigit():
                return int(text)
            try:
                return Decimal(text)
            except InvalidOperation:
                return text
    except (ValueError, InvalidOperation):
        raise ParamError(f"--param {name}={text!r}: expected a {type(default).__name__}") from None
    raise ParamError(f"--param {name}: cannot set a {type(default).__name__} from the command line")


def parse_params(pairs: list[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """``["k=v", ...]`` over ``defaults``; raises ``ParamError`` for a malformed pair, a value
    not of its default's type, or (when there are defaults) an unknown name."""
    out = dict(defaults)
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParamError(f"--param {pair!r}: expected name=value")
        if defaults and name not in defaults:
            raise ParamError(f"--param {name}: unknown; the strategy takes {', '.join(sorted(defaults))}")
        out[name] = _coerce(name, text.strip(), defaults.get(name))
    return out


class LoadedStrategy(NamedTuple):
    cls: type[Strategy]
    path: Path
    sha256: str  # of the file: the report names the code that ran


def load_strategy(spec: str) -> LoadedStrategy:
    """``path.py`` or ``path.py:Class`` -> the class, its file and the file's sha256.

    Without ``:Class`` the module must define exactly one ``Strategy`` subclass. Raises
    ``StrategyLoadError`` (its ``__cause__`` is the import's error, when there was one).
    """
    path_text, cls_name = spec, ""
    head, sep, tail = spec.rpartition(":")
    if sep and tail.isidentifier():
        path_text, cls_name = head, tail
    path = Path(path_text)
    if not path.is_file():
        raise StrategyLoadError(f"strategy file {path} not found")
    source = path.read_bytes()
    name = f"ticktape_strategy_{path.stem}_{hashlib.sha256(source).hexdigest()[:12]}"
    module = sys.modules.get(name)
    if module is None:
        spec_obj = importlib.util.spec_from_file_location(name, path)
        if spec_obj is None or spec_obj.loader is None:
            raise StrategyLoadError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec_obj)
        sys.modules[name] = module
        try:
            spec_obj.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise StrategyLoadError(f"cannot load strategy {path}: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            del sys.modules[name]
            raise
    if cls_name:
        cls = getattr(module, cls_name, None)
        if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
            raise StrategyLoadError(f"{path} has no Strategy subclass {cls_name!r}")
        return LoadedStrategy(cls, path, hashlib.sha256(source).hexdigest())
    found = [c for c in vars(module).values() if inspect.isclass(c) and issubclass(c, Strategy)
             and c is not Strategy and c.__module__ == module.__name__]
    if len(found) != 1:
        names = ", ".join(sorted(c.__name__ for c in found)) or "none"
        raise StrategyLoadError(f"{path}: expected one Strategy subclass, found {names}: use {path}:Class")
    return LoadedStrategy(found[0], path, hashlib.sha256(source).hexdigest())
