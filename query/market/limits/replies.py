"""What a venue's reply says about its limits: headers and 429/418 bodies, parsed, no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RemainingReq:
    """Upbit's ``Remaining-Req: group=candle; min=...; sec=7``: requests left this second
    (``min`` is deprecated and ignored)."""

    group: str
    sec: int


def parse_remaining_req(value: str) -> RemainingReq | None:
    """The header parsed; None when it is malformed (then nothing is learned from it)."""
    fields = {}
    for part in value.split(";"):
        key, sep, val = part.strip().partition("=")
        if sep:
            fields[key.strip().lower()] = val.strip()
    try:
        return RemainingReq(fields["group"], int(fields["sec"]))
    except (KeyError, ValueError):
        return None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value whatever the case of its name."""
    name = name.lower()
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds (Binance sends it with 429 and 418); None if absent or an
    HTTP date (no venue here sends one)."""
    value = header(headers, "Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


# Binance's 418 says "IP banned until 1659146010286" (epoch ms).
_UNTIL_MS = re.compile(r"until\s+(\d{12,14})")
# A duration in prose, for Upbit's undocumented block text: "60 seconds", "60초", "60 sec".
_SECONDS = re.compile(r"(\d+(?:\.\d+)?)\s*(?:seconds?|secs?|s\b|초)", re.IGNORECASE)


def block_from_body(body: bytes | str, wall_now: float) -> float | None:
    """Seconds a 418 body says the block lasts from ``wall_now``; None if it names none."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    m = _UNTIL_MS.search(text)
    if m:
        return max(0.0, int(m.group(1)) / 1000.0 - wall_now)
    m = _SECONDS.search(text)
    return float(m.group(1)) if m else None
