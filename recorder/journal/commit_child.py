"""The committer process itself: ``main(ROOT DURABILITY MAP_SIZE SYNC_NS COMMITTED SLOT_FD...)``.

Started by ``CommitterProcess`` (``committer.py``, which describes the protocol); it
owns the journal's ``SegmentStore`` and applies the requests it reads on stdin.
"""

from __future__ import annotations

import mmap
import os
import signal
import sys
import time
from pathlib import Path
from typing import IO

from .committer import CLOSE, FAIL, OK, PUT, RELEASE, REPLY, REQUEST, read_exact
from .errors import JournalWriteError
from .store import SegmentStore


class Slot:
    """A slot's memory file, mapped read-only: a batch is read in place, not copied.

    The mapping stays (its pages stay mapped from one batch to the next) and grows
    when a longer batch arrives; the old one is unmapped once nothing refers to it.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.view = memoryview(b"")

    def read(self, length: int) -> memoryview:
        """The first ``length`` bytes the writer put in the file."""
        if length > len(self.view):
            size = os.fstat(self.fd).st_size
            if size < length:
                raise ValueError(f"batch of {length} bytes arrived as {size}")
            self.view = memoryview(mmap.mmap(self.fd, size, prot=mmap.PROT_READ))
        return self.view[:length]


def serve(store: SegmentStore, inp: IO[bytes], out: IO[bytes], slots: list[Slot]) -> int:
    """Apply requests from ``inp`` to ``store`` until CLOSE or end of input; returns the exit code."""
    failure = b""  # once a batch failed, every later one is refused: the journal stays gapless
    while True:
        head = read_exact(inp, REQUEST.size)
        if len(head) < REQUEST.size:
            store.close(failed=bool(failure))  # the writer is gone: keep what it handed over
            return 0
        op, slot, day_b, first_seq, count, length = REQUEST.unpack(head)
        day = day_b.decode()
        start = time.perf_counter()
        status, message = OK, b""
        try:
            if op == PUT:
                if failure:
                    status, message = FAIL, failure
                else:
                    store.put(day, first_seq, slots[slot].read(length), count)
            elif op == RELEASE:
                store.release(day)
            elif op == CLOSE:
                store.close(failed=bool(count or failure))
            else:
                raise JournalWriteError(f"unknown committer request {op}", store.committed_seq)
        except JournalWriteError as exc:
            status, message = FAIL, f"{type(exc).__name__}\0{exc.reason}".encode()
        except Exception as exc:  # noqa: BLE001 (reported to the writer, which stops)
            status, message = FAIL, f"JournalWriteError\0commit failed: {exc!r}".encode()
        if status == FAIL and op == PUT:
            failure = message
        try:
            out.write(REPLY.pack(status, store.committed_seq, time.perf_counter() - start, len(message)) + message)
        except BrokenPipeError:
            store.close(failed=bool(failure))  # the writer is gone after handing this batch over: it is stored
            return 0
        if op == CLOSE:
            return 0


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    root, durability, map_size, sync_interval_ns, committed, *slots = argv or sys.argv[1:]
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # a stray print must not corrupt the replies
    inp = os.fdopen(0, "rb", buffering=0)
    store = SegmentStore(Path(root), map_size=int(map_size), durability=durability,
                         sync_interval_ns=int(sync_interval_ns), committed_seq=int(committed))
    return serve(store, inp, out, [Slot(int(fd)) for fd in slots])


if __name__ == "__main__":
    sys.exit(main())
