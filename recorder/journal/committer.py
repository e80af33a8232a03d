"""The committer process: LMDB puts and fsyncs on their own core, off the writer's GIL.

Why a process: py-lmdb releases the GIL around every single put, so a committer
*thread* must win the GIL back once per record. While the receive loop keeps the GIL
busy (a burst), each of those hand-offs waits for the interpreter's switch interval and
the commit thread crawls (measured: 1.8M puts/s alone, 39k/s beside one busy thread).
In a process of its own the puts run at LMDB's speed and the writer's process only
encodes each batch (one C call) and copies it into a shared memory file.

Protocol (the writer's process <-> ``commit_child.main``, run by ``python -c``), over the
child's stdin and stdout:

    request  REQUEST (op, slot, day, first_seq, count, blob length); the blob is at offset 0
             of the slot's memory file (memfd), which both share: up to ``SLOTS``
             requests are in flight, answered in order
             PUT: blob = the batch as ``codec.encode_batch_into`` makes it (its
             elements are the records' fields; the child's store keys and seals
             the whole batch in one call, ``codec.seal_batch``: the CRCs are
             computed on the child's core, not the writer's)
             RELEASE: close ``day``'s segment; CLOSE: sync, close everything, exit
    reply    REPLY (status, committed_seq, seconds, message length) + message
             message on FAIL = error class name, NUL, reason

The child runs in a process group of its own (a terminal's Ctrl-C goes to the writer,
which closes it in order), ignores SIGINT and SIGTERM, and exits at end of input: if
the writer's process dies, every batch it handed over whole is still committed. It
inherits the writer's ``writer.lock`` (the same open file, so the same flock): no new
writer can start until it has finished.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import IO

from . import errors
from .codec import encode_batch_into
from .errors import JournalWriteError
from .record import Record

REQUEST = struct.Struct(">BB10sQQQ")
REPLY = struct.Struct(">BQdI")
PUT, RELEASE, CLOSE = 1, 2, 3
OK, FAIL = 0, 1
SLOTS = 2  # batches in flight: the next is encoded and handed over while one commits
# The child imports this package from where the writer found it, whatever its cwd.
_BOOT = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r}); "
         "from recorder.journal.commit_child import main; sys.exit(main())")


class CommitterProcess:
    """The writer's side: a ``SegmentStore`` whose work happens in a child process.

    Same calls as ``SegmentStore``. ``put_records`` hands a batch over and returns
    while it commits, once a slot is free (at most ``SLOTS`` in flight, committed in
    order); ``drain`` waits until every batch handed over is stored (with ``fsync``:
    fsync'ed), and ``committed_seq`` is the last one the child confirmed. ``release``
    and ``close`` drain first. Raises ``JournalWriteError`` (or the subclass the child
    raised) for a failed batch, after which the child refuses every later one (no gap),
    and when the child is gone.
    """

    def __init__(self, root: Path, *, map_size: int, durability: str, sync_interval_ns: int,
                 committed_seq: int, lock_fd: int) -> None:
        self.committed_seq = committed_seq
        self.last_seconds = 0.0  # the child's time for the last batch confirmed
        # A batch travels through a memory file of its slot (copied in; the child reads it in place), not the pipe.
        self._shm = [os.memfd_create(f"ticktape-journal-batch{i}", os.MFD_CLOEXEC) for i in range(SLOTS)]
        self._buf = bytearray()  # reused: encoding into it costs no allocation
        self._slot = 0
        self._in_flight = 0
        args = [sys.executable, "-c", _BOOT, str(root), durability,
                str(map_size), str(sync_interval_ns), str(committed_seq), *map(str, self._shm)]
        try:
            self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          bufsize=0, close_fds=True, pass_fds=(*self._shm, lock_fd),
                                          process_group=0)  # a terminal's Ctrl-C is the writer's to handle
        except BaseException:
            for fd in self._shm:
                os.close(fd)
            raise
        self._closed = False

    @property
    def pid(self) -> int:
        return self._proc.pid

    def put_records(self, day: str, items: list[Record]) -> None:
        if self._in_flight == SLOTS:
            self._collect()  # the oldest batch used the slot that is next
        buf = self._buf
        encode_batch_into(items, buf)  # each element is a record's fields; the child seals them
        self._send(PUT, day, items[0].seq, len(items), buf)

    def drain(self) -> None:
        while self._in_flight:
            self._collect()

    def release(self, day: str) -> None:
        self.drain()
        self._send(RELEASE, day, 0, 0, b"")
        self._collect()

    def close(self, *, failed: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            while self._in_flight:
                try:
                    self._collect()
                except JournalWriteError:
                    failed = True  # reported already, or will be by the writer's failure
            if self._proc.poll() is None:
                self._send(CLOSE, "", 0, int(failed), b"")
                self._collect()
        except JournalWriteError:
            pass
        finally:
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe is not None:
                    pipe.close()
            for fd in self._shm:
                os.close(fd)
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def _died(self) -> JournalWriteError:
        try:
            code = self._proc.wait(timeout=2)  # its end of the pipe closes just before it is reaped
        except subprocess.TimeoutExpired:
            code = None
        return JournalWriteError(f"the journal committer process died (exit code {code})", self.committed_seq)

    def _send(self, op: int, day: str, first_seq: int, count: int, blob: bytes | bytearray) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        slot = self._slot
        try:
            with memoryview(blob) as view:  # released at once: the buffer is encoded into again
                offset = 0
                while offset < len(view):
                    offset += os.pwrite(self._shm[slot], view[offset:], offset)
            stdin.write(REQUEST.pack(op, slot, day.encode(), first_seq, count, len(blob)))
        except (BrokenPipeError, ConnectionResetError, ValueError):
            raise self._died() from None
        self._slot = (slot + 1) % SLOTS
        self._in_flight += 1

    def _collect(self) -> None:
        """Wait for the oldest reply; raises if that request failed."""
        stdout = self._proc.stdout
        assert stdout is not None
        try:
            head = read_exact(stdout, REPLY.size)
        except (ConnectionResetError, ValueError):
            head = b""
        if len(head) < REPLY.size:
            self._in_flight = 0
            raise self._died()
        self._in_flight -= 1
        status, committed, self.last_seconds, length = REPLY.unpack(head)
        message = read_exact(stdout, length).decode() if length else ""
        self.committed_seq = committed
        if status != OK:
            name, _, reason = message.partition("\0")
            cls = getattr(errors, name, JournalWriteError)
            if not (isinstance(cls, type) and issubclass(cls, JournalWriteError)):
                cls = JournalWriteError
            raise cls(reason, committed)


def read_exact(f: IO[bytes], n: int) -> bytes:
    chunks = []
    while n:
        b = f.read(n)
        if not b:
            break
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)
