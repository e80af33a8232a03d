"""Venue protocol rules without I/O: URLs, plans, subscribe messages, limits, errors.

``base`` holds the shared types, ``descriptor`` what a venue declares; one module per
venue (``binance_usdm``, ``upbit``), each with its ``Adapter`` and ``DESCRIPTOR``.
``VENUES`` is every venue the recorder can record, by name:

    from recorder.venues import VENUES, descriptor_for
    d = descriptor_for("upbit")        # UnknownVenueError for a name not in VENUES

Adding a venue: a protocol module here with its ``DESCRIPTOR`` (listed below), a decoder
in ``state/decode`` and its sync rule in ``state.sync.RULES``; nothing else changes.
"""

from __future__ import annotations

from recorder.errors import UnknownVenueError

from . import binance_spot, binance_usdm, bybit, gate, kucoin, okx, phemex, upbit
from .descriptor import (
    Adapter,
    SnapshotSource,
    VenueDescriptor,
    VenueLimits,
    VenueOption,
    VenueRules,
)

VENUES: dict[str, VenueDescriptor] = {d.name: d for d in (
    binance_spot.DESCRIPTOR,
    binance_usdm.DESCRIPTOR,
    bybit.DESCRIPTOR,
    gate.DESCRIPTOR,
    kucoin.DESCRIPTOR,
    okx.DESCRIPTOR,
    phemex.DESCRIPTOR,
    upbit.DESCRIPTOR,
)}


def descriptor_for(venue: str) -> VenueDescriptor:
    """The descriptor of ``venue``; ``UnknownVenueError`` (a ``KeyError``) when there is none."""
    try:
        return VENUES[venue]
    except KeyError:
        raise UnknownVenueError(venue, tuple(VENUES)) from None


__all__ = ["VENUES", "Adapter", "SnapshotSource", "VenueDescriptor", "VenueLimits", "VenueOption",
           "VenueRules", "descriptor_for"]
