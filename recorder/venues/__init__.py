"""Venue protocol rules without I/O: URLs, plans, subscribe messages, limits, errors, resync.

``base`` holds the shared types; one module per venue (``binance_usdm``, ``upbit``).
"""
