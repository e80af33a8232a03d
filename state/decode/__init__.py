"""Decoders, one module per venue: ``record -> list[Event]``, pure.

    from state.decode import decoder_for
    dec = decoder_for(stream_info)      # one per stream (connection)
    events = dec.decode(record)          # acks/pongs -> []; garbage -> [DecodeError]

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


def decoder_for(info: StreamInfo) -> Decoder:
    """The decoder for one stream; an unknown venue gets one that reports every frame."""
    cls = DECODERS.get(info.venue, NullDecoder)
    return cls(info)


__all__ = ["DECODERS", "Decoder", "decoder_for"]
