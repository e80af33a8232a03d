"""A follower process for the kill test: ``python -m tests.recorder.broker.follow_child URL FROM OUT``
appends each seq it is handed to OUT, one line each, flushed per record."""

from __future__ import annotations

import signal
import sys
import threading

from recorder.journal.remote import RemoteSource


def main() -> None:
    url, from_seq, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with RemoteSource(url, wait_for_stream=True) as src, open(out, "a") as f:
        for rec in src.follow(from_seq, stop=stop, poll_interval=0.05):
            f.write(f"{rec.seq}\n")
            f.flush()


if __name__ == "__main__":
    main()
