"""From the configuration to a venue's ``Adapter``: the one place the two meet.

The adapter class and every venue fact come from the venue's descriptor
(``recorder.venues``); this module only turns ``[supervision]`` into the venue-neutral
backoff and a venue module's refusal of a value into a ``ConfigError``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from recorder.errors import ConfigError, RecorderUsageError
from recorder.venues import descriptor_for
from recorder.venues.base import Backoff
from recorder.venues.descriptor import Adapter

from .config import Supervision, VenueConfig


def backoff_of(sup: Supervision) -> Backoff:
    """The venue-neutral reconnect policy from ``[supervision]``."""
    return Backoff(initial_s=sup.backoff_initial_s, factor=sup.backoff_factor,
                   max_s=sup.backoff_max_s, jitter=sup.jitter,
                   rate_limit_s=sup.rate_limit_cooldown_s, ip_ban_s=sup.ip_ban_cooldown_s)


def new_request_id() -> str:
    """A fresh id for a venue request that must be unique (Upbit's ticket)."""
    return uuid.uuid4().hex[:12]


def adapter_for(cfg: VenueConfig, sup: Supervision, *,
                new_id: Callable[[], str] = new_request_id) -> Adapter:
    """The venue's adapter for one ``[[venue]]`` table; ``ConfigError`` if the venue refuses it."""
    desc = descriptor_for(cfg.venue)
    try:
        return desc.adapter(cfg, backoff=backoff_of(sup), stale_after_s=sup.stale_after_s,
                            new_id=new_id)
    except RecorderUsageError as exc:
        raise ConfigError(f"venue {cfg.venue}: {exc}") from None
