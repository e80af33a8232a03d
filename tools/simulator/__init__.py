"""A local exchange simulator speaking Binance USD-M and Upbit over WebSocket and REST.

``Simulator`` (see ``server``) serves real captures looped with shifted ids and times, or
a seeded synthetic market, paced in real time, scaled, at a steady rate, or flat out, and
injects faults on request. It logs every frame it sends so tests compare byte for byte.
"""

from .config import SimConfig
from .conn import ConnRecord
from .server import RestCall, Simulator, SimUrls

__all__ = ["ConnRecord", "RestCall", "SimConfig", "SimUrls", "Simulator"]
