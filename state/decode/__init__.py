"""Decoders, one module per venue: ``record -> list[Event]``, pure.

    from state.decode import decoder_for
    dec = decoder_for(stream_info)      # one per stream (connection)
    events = dec.decode(record)          # acks/pongs -> []; garbage -> [DecodeError]
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
