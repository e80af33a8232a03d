"""The venues' connection slots and the symbols they serve, changed while recording.

    subs = Subscriptions(adapters, supervisors=sups, universe=universe,
                         new_slot=make_supervisor, life=life, log=log)
    tasks = subs.start()                                # one supervisor per planned connection
    added, already = subs.subscribe("upbit", ["KRW-XRP"])  # ControlError when it cannot
    subs.last_change                                    # {"live": [...], "new": [...], "closed": [...]}

``subscribe`` puts new symbols on an open connection with room when the venue can change
one live (``Adapter.subscribe_messages``), else on a new connection; ``unsubscribe`` drops
them in place where the venue allows it (``Adapter.unsubscribe_messages``), else closes or
reconnects only the connections concerned. A change the venue refuses later comes back
through ``change_refused`` (each supervisor's ``on_refused``).

How a slot is wired (its journal, resync, metrics) is the ``Recorder``'s: ``new_slot(adapter,
plan, n)`` builds slot ``n`` of the adapter's venue. ``supervisors`` is the daemon's list,
shared: the slots started here are appended to it, and ``tasks`` grows with their tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from recorder.venues import descriptor_for
from recorder.venues.base import ConnectionPlan
from recorder.venues.descriptor import Adapter, LiveChange

from .control import ControlError
from .logs import fields
from .ports import Lifecycle
from .supervisor import Supervisor
from .universe import Universe


class Subscriptions:
    """What each venue serves and which slots carry it; see the module docstring."""

    def __init__(self, adapters: list[Adapter], *, supervisors: list[Supervisor],
                 universe: Universe,
                 new_slot: Callable[[Adapter, ConnectionPlan, int], Supervisor],
                 life: Lifecycle, log: logging.Logger) -> None:
        self.adapters = adapters
        self.supervisors = supervisors
        self.universe = universe
        self.new_slot = new_slot
        self.life = life
        self.log = log
        self.served: dict[str, list[str]] = {a.venue: list(a.options.symbols) for a in adapters}
        self.tasks: list[asyncio.Task[None]] = []  # every slot's, those ``subscribe`` adds too
        # what the last subscribe/unsubscribe did: connection names changed live, opened, closed
        self.last_change: dict[str, list[str]] = {"live": [], "new": [], "closed": []}
        self.plan_changes = 0  # +1 each subscribe/unsubscribe that changed a slot's plan

    def start(self) -> list[asyncio.Task[None]]:
        """A supervisor per connection the adapters plan, each run as a task; ``tasks``.

        The list returned keeps growing as ``subscribe`` opens connections."""
        for adapter in self.adapters:
            for i, plan in enumerate(adapter.plans()):
                self.supervisors.append(self.new_slot(adapter, plan, i))
        self.tasks.extend(asyncio.create_task(s.run(), name=s.name) for s in self.supervisors)
        return self.tasks

    def venues(self) -> dict[str, list[str]]:
        return {v: list(syms) for v, syms in self.served.items()}

    def subscribe(self, venue: str, symbols: list[str]) -> tuple[list[str], list[str]]:
        """Record ``symbols`` too; ``(added, already)``.

        Each connection the venue's plan rules give the added symbols goes onto an open
        connection with room when the venue can change one live
        (``Adapter.subscribe_messages``: messages sent, journaled, the slot's plan
        updated), else onto a new connection of its own. No open connection reconnects.
        ``last_change`` says which connections changed (``live``) and which were opened
        (``new``).
        """
        adapter = self.adapter(venue)
        if self.life.stopping:
            raise ControlError("the recorder is stopping", code="stopping")
        wanted = self._symbols_of(venue, symbols)
        have = set(self.served[venue])
        added = [s for s in wanted if s not in have]
        already = [s for s in wanted if s in have]
        live: list[str] = []
        new: list[str] = []
        if added:
            slots = self.slots(venue)
            for plan in adapter.plans_for(added):
                for sup in slots:
                    change = adapter.subscribe_messages(sup.plan, plan.streams)
                    if change is not None:
                        sup.change(change)
                        live.append(sup.name)
                        break
                else:
                    new.append(self._start_slot(adapter, plan).name)
            self.served[venue].extend(added)
            self.plan_changes += 1
            self.log.info("subscribed", extra=fields(venue=venue, added=added, live=live, new=new))
        self.last_change = {"live": list(dict.fromkeys(live)), "new": new, "closed": []}
        return added, already

    def unsubscribe(self, venue: str, symbols: list[str]) -> tuple[list[str], list[str]]:
        """Stop recording ``symbols``; ``(removed, absent)``.

        Each connection carrying them drops their streams in place when the venue can
        (``Adapter.unsubscribe_messages``), is closed when nothing would be left on it,
        else reconnects on what remains. The others are left as they are.
        """
        adapter = self.adapter(venue)
        if self.life.stopping:
            raise ControlError("the recorder is stopping", code="stopping")
        wanted = self._symbols_of(venue, symbols)
        have = set(self.served[venue])
        removed = [s for s in wanted if s in have]
        absent = [s for s in wanted if s not in have]
        live: list[str] = []
        closed: list[str] = []
        if removed:
            gone = {st for plan in adapter.plans_for(removed) for st in plan.streams}
            for sup in self.slots(venue):
                mine = [st for st in sup.plan.streams if st in gone]
                if not mine:
                    continue
                if len(mine) == len(sup.plan.streams):
                    sup.retire()
                    closed.append(sup.name)
                    continue
                change = adapter.unsubscribe_messages(sup.plan, mine)
                if change is not None:
                    sup.change(change)
                else:  # the venue cannot: reconnect that one on what remains
                    left = set(sup.plan.streams) - gone
                    keep = [sym for sym in self.served[venue] if sym not in removed
                            and any(st in left for p in adapter.plans_for([sym]) for st in p.streams)]
                    rest = [p for p in adapter.plans_for(keep) if p.route == sup.plan.route
                            and set(p.streams) <= left]
                    if rest:
                        sup.resubscribe(rest[0])
                    else:
                        sup.retire()
                        closed.append(sup.name)
                        continue
                live.append(sup.name)
            self.served[venue] = [s for s in self.served[venue] if s not in removed]
            self.plan_changes += 1
            self.log.info("unsubscribed", extra=fields(venue=venue, removed=removed, live=live,
                                                       closed=closed))
        self.last_change = {"live": live, "new": [], "closed": closed}
        return removed, absent

    def change_refused(self, sup: Supervisor, change: LiveChange) -> None:
        """A venue refused a live change (the slot's plan is reverted): symbols it added
        that no slot carries now are no longer served (the caller may ask again)."""
        if not change.added:
            return
        carried = {st for s in self.slots(sup.venue) for st in s.plan.streams}
        adapter = sup.adapter
        lost = [sym for sym in self.served[sup.venue]
                if not any(st in carried for p in adapter.plans_for([sym]) for st in p.streams)]
        if lost:
            self.served[sup.venue] = [s for s in self.served[sup.venue] if s not in lost]
            self.plan_changes += 1
            self.log.warning("subscribe_refused", extra=fields(venue=sup.venue, symbols=lost))

    def slots(self, venue: str) -> list[Supervisor]:
        """The venue's connection slots still recording (not retired, not failed for good)."""
        return [s for s in self.supervisors
                if s.venue == venue and not s.retiring and s.failed is None]

    def adapter(self, venue: str) -> Adapter:
        """The adapter recording ``venue``; ``ControlError`` when none does."""
        for a in self.adapters:
            if a.venue == venue:
                return a
        raise ControlError(f"venue {venue!r} is not recorded here "
                           f"(this recorder serves: {', '.join(self.served) or 'none'})",
                           code="unknown_venue", choices=tuple(self.served))

    def _symbols_of(self, venue: str, symbols: list[str]) -> list[str]:
        """``symbols`` upper-cased, once each; ``ControlError`` unless each is spelled as
        ``venue`` spells its symbols."""
        desc = descriptor_for(venue)
        wanted = list(dict.fromkeys(s.upper() for s in symbols))
        bad = [s for s in wanted if not desc.is_symbol(s)]
        if bad:
            raise ControlError(f"not {venue} symbols: {', '.join(bad)} (e.g. {desc.symbol_example})",
                               code="unknown_symbol", choices=tuple(self.served[venue]))
        unlisted = self.universe.unlisted(venue, wanted)
        if unlisted:
            raise ControlError("; ".join(unlisted), code="unknown_symbol",
                               choices=tuple(self.served[venue]))
        return wanted

    def _start_slot(self, adapter: Adapter, plan: ConnectionPlan) -> Supervisor:
        n = sum(1 for s in self.supervisors if s.venue == adapter.venue)
        sup = self.new_slot(adapter, plan, n)
        self.supervisors.append(sup)
        self.tasks.append(asyncio.create_task(sup.run(), name=sup.name))
        return sup
