"""Jobs beside the recording, registered from outside ``recorder`` (nightly compaction, InfluxDB).

``recorder`` never imports ``query`` or ``replay``. A job that needs them is a hook: a
factory ``factory(context) -> Hook`` (both shapes in ``recorder.daemon.ports``) published
as a Python entry point of the group ``ticktape.recorder_hooks``, named after the config
section that switches it on. ticktape's own, in pyproject.toml:

    [project.entry-points."ticktape.recorder_hooks"]
    compaction = "query.schedule:recorder_hook"
    influx = "query.influx:recorder_hook"

The daemon builds the hook of every section enabled in its configuration
(``config.HOOK_SECTIONS``) when it starts; ``Recorder(config, hooks={name: factory})``
uses the factories given instead (a program embedding the daemon, a test). A section
enabled without a hook to run it is logged (``<name>_unavailable``) and the recording
goes on without it: entry points are package metadata, so a checkout whose metadata
predates a hook needs ``pip install -e .`` once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from recorder.errors import HookError

from .logs import fields
from .ports import Hook, HookContext, HookFactory, Sample

GROUP = "ticktape.recorder_hooks"


def registered() -> dict[str, Any]:
    """The entry points of ``GROUP`` by name (not loaded)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def factory_for(name: str, given: Mapping[str, HookFactory] | None = None) -> HookFactory:
    """The factory of hook ``name``: from ``given`` when not None, else its entry point.

    Loading the entry point imports its module. ``HookError`` when there is none.
    """
    if given is not None:
        if name not in given:
            raise HookError(f"no hook {name!r} among those given ({', '.join(sorted(given))})")
        return given[name]
    ep = registered().get(name)
    if ep is None:
        raise HookError(f"no hook {name!r} registered (entry point group {GROUP}; "
                        "reinstall the package to refresh its metadata)")
    return ep.load()


class HookRunner:
    """Runs the daemon's hooks through their lifecycle (``ports.Hook``); never raises.

    A hook whose build, ``ready``, ``start`` or ``tick`` raises is logged
    (``<name>_unavailable`` before it ran, ``<name>_failed`` after) and dropped.
    """

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.hooks: dict[str, Hook] = {}
        self._started: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def __getitem__(self, name: str) -> Hook:
        return self.hooks[name]

    def __contains__(self, name: object) -> bool:
        return name in self.hooks

    def build(self, name: str, context: HookContext,
              given: Mapping[str, HookFactory] | None = None) -> Hook | None:
        """Build hook ``name`` (event loop, before connections open); None if it cannot be."""
        try:
            hook = factory_for(name, given)(context)
        except Exception as exc:  # noqa: BLE001 (a hook is optional; recording is not)
            self._unavailable(name, exc)
            return None
        self.hooks[name] = hook
        return hook

    def poll(self) -> None:
        """Start the hooks that became ready (in worker threads), tick the started ones."""
        for name, hook in list(self.hooks.items()):
            try:
                if name in self._started:
                    hook.tick()
                elif name not in self._tasks and hook.ready():
                    self._tasks[name] = asyncio.create_task(self._start(name, hook),
                                                            name=f"hook-{name}")
            except Exception as exc:  # noqa: BLE001 (a hook never stops the recording)
                self._drop(name, f"{name}_failed" if name in self._started else f"{name}_unavailable",
                           exc)

    async def _start(self, name: str, hook: Hook) -> None:
        try:
            await asyncio.to_thread(hook.start)  # may import heavy modules: off the loop
        except Exception as exc:  # noqa: BLE001
            self._drop(name, f"{name}_unavailable", exc)
        else:
            self._started.add(name)

    def stop(self) -> None:
        """Before the journal closes (event loop): no new work."""
        for task in self._tasks.values():
            task.cancel()
        for name, hook in list(self.hooks.items()):
            try:
                hook.stop()
            except Exception as exc:  # noqa: BLE001
                self.log.error(f"{name}_failed", extra=fields(error=f"{type(exc).__name__}: {exc}"))

    async def close(self) -> None:
        """After the journal closed: each hook flushes in a worker thread."""
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for name, hook in list(self.hooks.items()):
            try:
                await asyncio.to_thread(hook.close)
            except Exception as exc:  # noqa: BLE001
                self.log.error(f"{name}_failed", extra=fields(error=f"{type(exc).__name__}: {exc}"))

    def samples(self) -> list[Sample]:
        """Every hook's metric samples (any thread); a hook that fails to say is skipped."""
        out: list[Sample] = []
        for hook in list(self.hooks.values()):
            try:
                out.extend(Sample(*s) for s in hook.samples())
            except Exception:  # noqa: BLE001, S112 (a scrape never fails over a hook)
                continue
        return out

    def _unavailable(self, name: str, exc: BaseException) -> None:
        self.log.error(f"{name}_unavailable", extra=fields(error=f"{type(exc).__name__}: {exc}"))

    def _drop(self, name: str, event: str, exc: BaseException) -> None:
        self.log.error(event, extra=fields(error=f"{type(exc).__name__}: {exc}"))
        self.hooks.pop(name, None)
        self._started.discard(name)
