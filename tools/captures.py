"""Where the real exchange recordings live: ``data/captures`` in this repository.

They are embedded (a few MB, licenses beside them) so that ``make demo`` and ``make test``
run offline from a clean checkout. ``TICKTAPE_CAPTURES`` points elsewhere when set.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = Path(os.environ.get("TICKTAPE_CAPTURES") or ROOT / "data" / "captures")
HFTBACKTEST_USDM = CAPTURES / "hftbacktest" / "usdm" / "btcusdt_20240808.gz"
CRYPTOFEED = CAPTURES / "cryptofeed"


def cryptofeed(name: str) -> Path:
    """``cryptofeed/NAME.jsonl.zst``, e.g. ``cryptofeed("UPBIT")``."""
    return CRYPTOFEED / f"{name}.jsonl.zst"
