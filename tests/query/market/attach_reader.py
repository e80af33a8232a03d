"""A second process for test_attach: reads every row of an attached recorder's live table
in a tight loop and prints what it saw as one JSON line (not a test module).

    python -m tests.query.market.attach_reader DATA SECONDS
"""

from __future__ import annotations

import json
import sys
import time

import ticktape_core

from query.market.attach import Attached
from state.live_row import RowFormatError, decode_row


def main(data: str, seconds: float) -> dict:
    att = Attached(data)
    table = att.table
    last_table_seq: dict[int, int] = {}
    last_row_seq: dict[int, int] = {}
    out = {"reads": 0, "values": 0, "changes": 0, "crc_errors": 0, "torn": 0,
           "backwards": 0, "rows": 0, "alive": att.alive()}
    lat: list[int] = []
    keys: list[tuple[str, int]] = []
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        if n % 64 == 0:
            keys = table.rows()  # rows claimed meanwhile
        n += 1
        for key, row in keys:
            out["reads"] += 1
            try:
                got = table.get_seq(row)
            except ticktape_core.LiveTableError:
                out["crc_errors"] += 1
                continue
            if got is None:
                continue
            seq, payload = got
            try:
                live = decode_row(payload)
            except RowFormatError:
                out["torn"] += 1
                continue
            if f"{live.venue}/{live.symbol}" != key:
                out["torn"] += 1
            out["values"] += 1
            if seq < last_table_seq.get(row, 0) or live.seq < last_row_seq.get(row, 0):
                out["backwards"] += 1
            if seq != last_table_seq.get(row, 0):
                out["changes"] += 1
            last_table_seq[row], last_row_seq[row] = seq, live.seq
        # the public read call, timed: Attached.row (find cached, seqlock read, decode)
        if keys:
            venue, _, symbol = keys[n % len(keys)][0].partition("/")
            t0 = time.perf_counter_ns()
            att.row(venue, symbol)
            lat.append(time.perf_counter_ns() - t0)
    lat.sort()
    out["rows"] = len(keys)
    out["damaged"] = table.damaged
    out["retries"] = table.retries
    out["busy"] = table.busy
    out["row_ns_p50"] = lat[len(lat) // 2] if lat else None
    out["row_ns_p99"] = lat[int(len(lat) * 0.99)] if lat else None
    out["timed"] = len(lat)
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], float(sys.argv[2]))), flush=True)
