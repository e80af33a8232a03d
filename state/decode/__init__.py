"""Decoders, one module per venue: ``record -> list[Event]``, pure.

    from state.decode import decoder_for
    dec = decoder_for(stream_info)      # one per stream (connection)
    events = dec.decode(record)          # acks/pongs -> []; garbage -> [DecodeError]

``decoder_for(info, ids_only=True)``, a sync-only projection's decoder (``state.projector``):
book deltas and snapshots carry their ids and no levels (``bids``/``asks`` empty), read
through a schema of their ids in which the field holding the levels must be there and be
JSON but is not read, which saves most of a depth frame's decode. So a frame whose levels
alone are malformed (a wrong type or shape, a side missing inside that field), a
``DecodeError`` to the full decoder, is a book event to this one, and the two projections'
Gaps can differ after it (never on the real captures; on the fuzz tests' damaged KuCoin and
Phemex frames they do). Binance, Bybit, Gate, KuCoin and Phemex have such schemas; OKX (its
rule checks the levels) and Upbit (whole books, no ids) decode their levels anyway.

Events on a decoder's frame path are built from positional arguments, in the field order
of ``state.events``: a keyword call costs ~14 ns more per event (msgspec, measured), about
1% of a Binance book ticker's whole projection. Cold paths (REST bodies, errors) and the
rest of state/ name their fields.
"""

from __future__ import annotations

from recorder.journal.record import StreamInfo

from . import binance, bybit, gate, kucoin, okx, phemex, upbit
from .common import Decoder, NullDecoder

DECODERS: dict[str, type[Decoder]] = {
    "binance-usdm": binance.BinanceDecoder,
    "binance-spot": binance.BinanceDecoder,
    "upbit": upbit.UpbitDecoder,
    "bybit": bybit.BybitDecoder,
    "okx": okx.OkxDecoder,
    "gate": gate.GateDecoder,
    "kucoin": kucoin.KucoinDecoder,
    "phemex": phemex.PhemexDecoder,
}


def decoder_for(info: StreamInfo, *, ids_only: bool = False) -> Decoder:
    """The decoder for one stream; an unknown venue gets one that reports every frame.
    ``ids_only``: book events without their levels (see the module docstring)."""
    cls = DECODERS.get(info.venue, NullDecoder)
    return cls(info, ids_only=ids_only)


__all__ = ["DECODERS", "Decoder", "decoder_for"]
