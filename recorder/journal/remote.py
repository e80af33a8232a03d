"""A journal followed from another host: the records a recorder published to NATS JetStream.

    src = RemoteSource("nats://10.0.0.2:4222", shard="eu1")   # BrokerUnreachableError, RemoteStreamMissingError
    for rec in src.read(1, src.last_seq): ...                 # a RecordSource: what is published now
    for rec in src.follow(src.last_seq + 1, stop=stop): ...   # and the tail, as it is published
    src.close()

The recorder's publisher (``recorder.daemon.broker``) sends every committed record, in seq
order and without a hole, to the JetStream stream ``TICKTAPE_<SHARD>`` (``MAIN`` for the
unnamed shard) on the subject ``ticktape.<shard>.records``. The wire format is defined here,
once, for both sides:

- a records message holds consecutive stored values (``codec``: each one's checksum is
  checked here, as a reader checks the journal's) as a msgpack array of bins; its headers
  ``Ticktape-First``/``Ticktape-Last`` are the first and last seq and ``Ticktape-Shard``
  the shard; ``Nats-Msg-Id`` is ``<shard>:<first>-<last>`` (the server drops a repeat).
  A stored value larger than a message may be goes as parts (``Ticktape-Part: i/n``, each
  the next bytes of the value; first = last = its seq; ``Nats-Msg-Id`` ends ``.i``);
- a streams message (subject ``ticktape.<shard>.streams``, header ``Ticktape-Stream``) holds
  one ``StreamInfo`` (the journal's stream-table row, msgpack) and comes before the first
  record of that stream in the same JetStream stream, which keeps the order.

Reading keeps a cursor (``RecordCursor``, no I/O): the next seq it needs. A message whose
records were all handed out already is skipped (a repeat after a reconnect), one that starts
after the next seq is a hole nobody can fill: ``RemoteGapError``. So a reader sees each record
exactly once, in seq order. ``follow`` resubscribes from the last JetStream message it took
after any reconnect (the client reconnects forever, every ``reconnect_wait_s``) and after a
stall, so a cut link or a restarted broker costs time, never a record.

Errors (all ``JournalError``s, so a CLI that says journal errors says these):

    RemoteError                   base of the follower's errors
    +-- BrokerUnreachableError    no NATS server answers at the URL (at open)
    +-- RemoteStreamMissingError  the server has no stream of that shard (nothing published yet)
    +-- RemoteGapError            the stream lacks records the reader needs (expected, got)

A damaged value is a ``CorruptValueError`` naming its seq. ``RemoteSource`` runs its NATS
client on a thread of its own: every method may be called from any one thread, and
``afollow`` from an asyncio loop (it hands each record batch over without blocking it).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from typing import Any

import msgspec

from .codec import decode_value, decode_values, encode_msgpack
from .errors import CorruptValueError, JournalError
from .record import Record, StreamInfo
from .segments import decode_stream, encode_stream

HDR_FIRST = "Ticktape-First"
HDR_LAST = "Ticktape-Last"
HDR_SHARD = "Ticktape-Shard"
HDR_PART = "Ticktape-Part"
HDR_STREAM = "Ticktape-Stream"
MSG_ID = "Nats-Msg-Id"
PREFIX = "ticktape"  # of stream names (upper case) and subjects
_SHARD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_VALUES = msgspec.msgpack.Decoder(list[bytes])


def said_url(url: str) -> str:
    """``url`` as logs and errors may show it: a user, password or token before ``@`` (NATS
    takes credentials there) becomes ``***``."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1***@", url, flags=re.IGNORECASE)


class RemoteError(JournalError):
    """Base of the follower's errors."""


class BrokerUnreachableError(RemoteError):
    """No NATS server answered at ``url`` when the source opened."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"no NATS server answers at {said_url(url)}: {reason}")
        self.url = said_url(url)


class RemoteStreamMissingError(RemoteError):
    """The server at ``url`` holds no stream ``stream`` (no recorder published that shard)."""

    def __init__(self, url: str, stream: str) -> None:
        super().__init__(f"{said_url(url)} has no JetStream stream {stream}: is a recorder publishing that "
                         f"shard ([broker] url in its config)?")
        self.url = said_url(url)
        self.stream = stream


class RemoteGapError(RemoteError):
    """The stream skips records: seq ``expected`` was needed, the next message starts at ``got``."""

    def __init__(self, stream: str, expected: int, got: int) -> None:
        super().__init__(f"{stream} lacks seq {expected}..{got - 1}: the next message it holds "
                         f"starts at seq {got} (the stream was purged or trimmed by its limits)")
        self.stream = stream
        self.expected = expected
        self.got = got


# -- the wire format ---------------------------------------------------------------------


def shard_token(shard: str) -> str:
    """The shard's name in subjects: itself, or ``main`` for the unnamed shard.

    Raises ``ValueError`` for a name NATS cannot carry in a subject (letters, digits,
    ``_`` and ``-`` only, at most 64).
    """
    if not shard:
        return "main"
    if not _SHARD.match(shard):
        raise ValueError(f"shard name {shard!r}: letters, digits, '_' and '-' only (1..64)")
    return shard


def _prefix(prefix: str) -> str:
    if not _SHARD.match(prefix):
        raise ValueError(f"stream prefix {prefix!r}: letters, digits, '_' and '-' only (1..64)")
    return prefix


def stream_name(shard: str, prefix: str = PREFIX) -> str:
    """The JetStream stream of a shard: ``TICKTAPE_MAIN``, ``TICKTAPE_EU1`` (``<PREFIX>_<SHARD>``)."""
    return f"{_prefix(prefix).upper()}_{shard_token(shard).upper()}"


def subjects(shard: str, prefix: str = PREFIX) -> tuple[str, str, str]:
    """(records subject, streams subject, the wildcard of both) of a shard:
    ``ticktape.<shard>.records``, ``ticktape.<shard>.streams``, ``ticktape.<shard>.>``."""
    p = _prefix(prefix).lower()
    tok = shard_token(shard)
    return f"{p}.{tok}.records", f"{p}.{tok}.streams", f"{p}.{tok}.>"


def encode_values(values: list[bytes]) -> bytes:
    """A records message's body: stored values (``codec.encode_record``) as a msgpack array."""
    return encode_msgpack(values)


def batch_overhead(count: int) -> int:
    """Bytes ``encode_values`` adds to ``count`` values of at most 4 GiB (array and bin heads)."""
    return 5 + 5 * count


def records_headers(shard: str, first: int, last: int, part: tuple[int, int] | None = None) -> dict[str, str]:
    """The headers of a records message (its ``Nats-Msg-Id`` included)."""
    h = {HDR_FIRST: str(first), HDR_LAST: str(last), HDR_SHARD: shard_token(shard),
         MSG_ID: f"{shard_token(shard)}:{first}-{last}"}
    if part is not None:
        h[HDR_PART] = f"{part[0]}/{part[1]}"
        h[MSG_ID] += f".{part[0]}"
    return h


# A streams message's body is the journal's stream-table row: its codec, once.
encode_stream_info = encode_stream
decode_stream_info = decode_stream


def stream_headers(shard: str, info: StreamInfo) -> dict[str, str]:
    return {HDR_STREAM: str(info.id), HDR_SHARD: shard_token(shard),
            MSG_ID: f"{shard_token(shard)}:stream:{info.id}:{info.opened_ns}"}


def span_of(headers: dict[str, str] | None) -> tuple[int, int, tuple[int, int] | None]:
    """(first, last, part or None) of a records message; ``ValueError`` when it has none."""
    h = headers or {}
    try:
        first, last = int(h[HDR_FIRST]), int(h[HDR_LAST])
        part = None
        if HDR_PART in h:
            i, _, n = h[HDR_PART].partition("/")
            part = (int(i), int(n))
    except (KeyError, ValueError):
        raise ValueError(f"not a ticktape records message (headers {sorted(h)})") from None
    if not 1 <= first <= last or (part is not None and (first != last or not 1 <= part[0] <= part[1])):
        raise ValueError(f"records message with bad span {first}..{last} part {part}")
    return first, last, part


def complete_last(headers: dict[str, str] | None) -> int:
    """The last seq a records message completes: its last, or the one before for a part
    that is not the value's last (the value is whole only with its last part)."""
    first, last, part = span_of(headers)
    return first - 1 if part is not None and part[0] < part[1] else last


def whole_first(headers: dict[str, str] | None) -> int:
    """The first seq a records message begins whole: its first, or the one after for a part
    that is not the value's first (at a stream's head: the parts before it were trimmed)."""
    first, _, part = span_of(headers)
    return first + 1 if part is not None and part[0] > 1 else first


class RecordCursor:
    """Turns messages into records exactly once, in order (no I/O; ``RemoteSource`` feeds it).

    ``next_seq`` is the seq it needs next; ``streams`` what the streams messages said.
    ``feed`` returns the new records of a message (none for a repeat or a streams message)
    and raises ``RemoteGapError`` when a message starts after ``next_seq`` and
    ``CorruptValueError`` for a damaged value or a message whose values are not its span.
    """

    def __init__(self, stream: str, next_seq: int, streams: dict[int, StreamInfo] | None = None) -> None:
        self.stream = stream
        self.next_seq = next_seq
        self.streams: dict[int, StreamInfo] = streams if streams is not None else {}
        self._parts: list[bytes] = []
        self._part_seq = 0

    def feed(self, subject: str, headers: dict[str, str] | None, data: bytes) -> list[Record]:
        if subject.endswith(".streams"):
            info = decode_stream_info(data)
            self.streams[info.id] = info
            return []
        try:
            first, last, part = span_of(headers)
        except ValueError as exc:
            raise CorruptValueError(self.next_seq, str(exc)) from None
        if last < self.next_seq:
            return []  # handed out already: a repeat
        if first > self.next_seq:
            raise RemoteGapError(self.stream, self.next_seq, first)
        if part is not None:
            return self._part(first, part, data)
        try:
            values = _VALUES.decode(data)
        except msgspec.DecodeError as exc:
            raise CorruptValueError(first, f"records message {first}..{last} does not decode: {exc}") from None
        if len(values) != last - first + 1:
            raise CorruptValueError(first, f"records message {first}..{last} holds {len(values)} values")
        skip = self.next_seq - first
        return self._decode(first + skip, values[skip:])

    def _part(self, seq: int, part: tuple[int, int], data: bytes) -> list[Record]:
        i, n = part
        if i == 1:
            self._parts, self._part_seq = [data], seq
        elif self._part_seq == seq and i == len(self._parts) + 1:
            self._parts.append(data)
        elif self._part_seq == seq and i <= len(self._parts):
            return []  # a repeat of a part taken
        else:
            raise CorruptValueError(seq, f"part {i}/{n} of seq {seq} without the parts before it")
        if i < n:
            return []
        value = b"".join(self._parts)
        self._parts, self._part_seq = [], 0
        return self._decode(seq, [value])

    def _decode(self, first: int, values: list[bytes]) -> list[Record]:
        if not values:
            return []
        records = decode_values(values, require=True)
        if records is None:  # say which, and why
            for i, v in enumerate(values):
                decode_value(first + i, v, require=True)
            raise CorruptValueError(first, "a value does not check")
        for i, rec in enumerate(records):
            if rec.seq != first + i:
                raise CorruptValueError(first + i, f"value holds seq {rec.seq} at seq {first + i}")
        self.next_seq = first + len(records)
        return records


# -- the follower ------------------------------------------------------------------------


class RemoteSource:
    """The records of one shard published to JetStream at ``url``; a ``RecordSource``.

    Opening connects (``BrokerUnreachableError`` after ``connect_timeout_s``) and finds the
    stream (``RemoteStreamMissingError``; ``wait_for_stream=True`` waits for it instead, the
    follower started before the recorder). ``first_seq``/``last_seq`` are what the stream
    holds, looked up on each call. ``applied_seq`` is the last seq ``read``/``follow`` handed
    out; ``lag_ns`` the receive-to-hand-out delay of each record ``follow`` handed out
    (``record_lag=True``), for a benchmark. After use: ``close()``.
    """

    def __init__(self, url: str, shard: str = "", *, prefix: str = PREFIX, connect_timeout_s: float = 5.0,
                 reconnect_wait_s: float = 0.5, stall_s: float = 2.0, wait_for_stream: bool = False,
                 record_lag: bool = False) -> None:
        self.url = url
        self.shard = shard
        self.name = stream_name(shard, prefix)
        self.records_subject, self.streams_subject, self.subject = subjects(shard, prefix)
        self.reconnect_wait_s = reconnect_wait_s
        self.stall_s = stall_s
        self.applied_seq = 0
        self.reconnects = 0
        self.record_lag = record_lag
        self.lag_ns: list[int] = []
        self._streams: dict[int, StreamInfo] = {}
        self._streams_pos = 0  # next JetStream seq to look at for streams messages
        self._generation = 0  # +1 on each reconnect: subscriptions older than it are redone
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats-follow", daemon=True)
        self._thread.start()
        self._nc: Any = None
        self._js: Any = None
        try:
            self._call(self._connect(connect_timeout_s), connect_timeout_s + 5)
            self._call(self._find_stream(wait_for_stream), None if wait_for_stream else 30.0)
            self._call(self._load_streams())
        except BaseException:
            self.close()
            raise

    # -- the loop thread ---------------------------------------------------------------

    def _call(self, coro: Any, timeout: float | None = 30.0) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise RemoteError(f"{said_url(self.url)}: no answer in {timeout} s") from None

    async def _connect(self, timeout: float) -> None:
        import nats
        from nats.errors import NoServersError

        async def reconnected() -> None:
            self.reconnects += 1
            self._generation += 1

        async def quiet(exc: Exception) -> None:
            pass  # a refused reconnect attempt: the client tries again on its own

        try:
            self._nc = await asyncio.wait_for(nats.connect(
                self.url, connect_timeout=max(1, int(timeout)), allow_reconnect=True,
                max_reconnect_attempts=-1, reconnect_time_wait=self.reconnect_wait_s,
                ping_interval=1, max_outstanding_pings=3, reconnected_cb=reconnected,
                error_cb=quiet, name="ticktape-follower"), timeout)
        except (OSError, TimeoutError, NoServersError) as exc:
            raise BrokerUnreachableError(self.url, f"{type(exc).__name__}: {exc}" if str(exc)
                                         else type(exc).__name__) from None
        self._js = self._nc.jetstream()

    async def _find_stream(self, wait: bool) -> None:
        from nats.js.errors import NotFoundError

        while True:
            try:
                await self._js.stream_info(self.name)
                return
            except NotFoundError:
                if not wait:
                    raise RemoteStreamMissingError(self.url, self.name) from None
            await asyncio.sleep(0.2)

    async def _get(self, seq: int, subject: str) -> Any:
        """The first message of ``subject`` at or after JetStream seq ``seq``; None if none."""
        from nats.js.errors import NotFoundError

        try:
            return await self._js.get_msg(self.name, seq=seq, subject=subject, next=True)
        except NotFoundError:
            return None

    async def _load_streams(self) -> None:
        """The streams messages not seen yet (a few: one per connection the recorder opened)."""
        while (m := await self._get(max(self._streams_pos, 1), self.streams_subject)) is not None:
            info = decode_stream_info(m.data)
            self._streams[info.id] = info
            self._streams_pos = m.seq + 1

    async def _state(self) -> tuple[int, int]:
        info = await self._js.stream_info(self.name)
        return info.state.first_seq, info.state.last_seq

    async def _bounds(self) -> tuple[int, int]:
        from nats.js.errors import NotFoundError

        first_ss, last_ss = await self._state()
        if not last_ss:
            return 0, 0
        m = await self._get(first_ss, self.records_subject)
        if m is None:
            return 0, 0
        first = whole_first(m.headers)
        try:
            last_m = await self._js.get_last_msg(self.name, self.records_subject)
        except NotFoundError:
            return 0, 0
        last = complete_last(last_m.headers)
        return (first, last) if last >= first else (0, 0)

    async def _locate(self, seq: int) -> Any:
        """The first records message holding ``seq`` or later (its first part); None when
        there is none. A binary search: records messages are in seq order."""
        lo, hi = await self._state()
        hi += 1
        found = None
        while lo < hi:
            mid = (lo + hi) // 2
            m = await self._get(mid, self.records_subject)
            if m is None:
                hi = mid
                continue
            if span_of(m.headers)[1] >= seq:
                hi, found = mid, m
            else:
                lo = m.seq + 1
        return found

    async def _messages(self, start: int, idle_s: float) -> AsyncIterator[Any]:
        """Messages of both subjects from JetStream seq ``start`` on, forever: None after
        each ``idle_s`` without one. Resubscribes after a reconnect, an error or a stall,
        from the message after the last one handed out."""
        from nats.js import api

        pos = start
        backoff = self.reconnect_wait_s
        while True:
            gen = self._generation
            try:
                sub = await self._js.subscribe(
                    self.subject, stream=self.name, ordered_consumer=True, idle_heartbeat=1.0,
                    deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                    config=api.ConsumerConfig(opt_start_seq=pos))
            except Exception:  # noqa: BLE001 (disconnected, or the server is restarting: retry)
                yield None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = self.reconnect_wait_s
            quiet_since = time.monotonic()
            try:
                while gen == self._generation:
                    try:
                        msg = await sub.next_msg(timeout=idle_s)
                    except TimeoutError:
                        yield None
                        if time.monotonic() - quiet_since >= self.stall_s:
                            quiet_since = time.monotonic()
                            with contextlib.suppress(Exception):
                                if (await self._state())[1] >= pos:
                                    break  # the stream has more than we get: resubscribe
                        continue
                    quiet_since = time.monotonic()
                    ss = msg.metadata.sequence.stream
                    if ss < pos:
                        continue
                    pos = ss + 1
                    yield msg
            except Exception:  # noqa: BLE001 (the subscription broke: take it again from pos)
                yield None
            finally:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def _records(self, from_seq: int, to_seq: int | None, idle_s: float) -> AsyncIterator[list[Record]]:
        """Lists of records from ``from_seq`` (up to ``to_seq``, forever without), [] when idle."""
        cursor = RecordCursor(self.name, max(from_seq, 1), self._streams)
        first = await self._locate(from_seq)
        while first is None:  # nothing there yet: wait for it
            yield []
            await asyncio.sleep(idle_s)
            first = await self._locate(from_seq)
        await self._load_streams()  # those before it; the consumer brings the later ones
        if from_seq <= 1:  # from the start: the stream's first record (it may have been trimmed);
            # a follower resuming after seq N needs N + 1, and a stream without it is a gap
            cursor.next_seq = whole_first(first.headers)
        msgs = self._messages(first.seq, idle_s)
        try:
            async for msg in msgs:
                if msg is None:
                    yield []
                    continue
                got = cursor.feed(msg.subject, msg.headers, msg.data)
                if not got:
                    continue
                if to_seq is not None and got[-1].seq >= to_seq:
                    yield [r for r in got if r.seq <= to_seq]
                    return
                yield got
        finally:
            await msgs.aclose()

    # -- the RecordSource interface ----------------------------------------------------

    @property
    def first_seq(self) -> int:
        return self._call(self._bounds())[0]

    @property
    def last_seq(self) -> int:
        return self._call(self._bounds())[1]

    def streams(self) -> dict[int, StreamInfo]:
        return dict(self._streams)

    def stream(self, stream_id: int) -> StreamInfo | None:
        info = self._streams.get(stream_id)
        if info is None:
            self._call(self._load_streams())
            info = self._streams.get(stream_id)
        return info

    def read(self, from_seq: int = 1, to_seq: int | None = None, *, from_ts_ns: int | None = None,
             to_ts_ns: int | None = None) -> Iterator[Record]:
        """Records with ``from_seq <= seq <= to_seq`` (and ``from_ts_ns <= ts < to_ts_ns``)
        held when it is called, in seq order, lazily."""
        first, last = self._call(self._bounds())
        if to_seq is not None:
            last = min(last, to_seq)
        if from_ts_ns is not None:
            at = self.seq_at_time(from_ts_ns)
            from_seq = max(from_seq, at if at is not None else last + 1)
        from_seq = max(from_seq, first, 1)
        if not last or from_seq > last or (to_ts_ns is not None and from_ts_ns is not None
                                           and to_ts_ns <= from_ts_ns):
            return iter(())
        return self._read(from_seq, last, to_ts_ns)

    def _read(self, from_seq: int, to_seq: int, to_ts_ns: int | None) -> Iterator[Record]:
        for batch in self._iterate(self._records(from_seq, to_seq, 0.5), None):
            for rec in batch:
                if to_ts_ns is not None and rec.ts_ns >= to_ts_ns:
                    return
                self.applied_seq = rec.seq
                yield rec

    def _iterate(self, agen: AsyncIterator[list[Record]], stop: threading.Event | None,
                 idle_timeout: float | None = None) -> Iterator[list[Record]]:
        """The batches of an async generator of the loop thread, here; [] are idle turns."""
        idle_since = time.monotonic()
        try:
            while stop is None or not stop.is_set():
                try:
                    batch = self._call(agen.__anext__(), None)
                except StopAsyncIteration:
                    return
                if batch:
                    idle_since = time.monotonic()
                    yield batch
                elif idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                    return
        finally:
            if self._loop.is_running():
                with contextlib.suppress(Exception):
                    self._call(agen.aclose(), 5)

    def follow(self, from_seq: int = 1, *, poll_interval: float = 0.2,
               stop: threading.Event | None = None, idle_timeout: float | None = None) -> Iterator[Record]:
        """Records from ``from_seq`` on, waiting for new ones, like ``JournalReader.follow``.

        Ends when ``stop`` is set (looked at every ``poll_interval`` s while idle) or after
        ``idle_timeout`` s without a record. Survives reconnects (module docstring); raises
        ``RemoteGapError`` when the stream no longer holds what it needs.
        """
        lag = self.lag_ns if self.record_lag else None
        idle_s = max(poll_interval, 0.05)  # a journal reader's 5 ms poll would spin here
        for batch in self._iterate(self._records(from_seq, None, idle_s), stop, idle_timeout):
            if lag is not None:
                now = time.time_ns()
                lag.extend(now - r.ts_ns for r in batch)
            for rec in batch:
                self.applied_seq = rec.seq
                yield rec

    async def afollow(self, from_seq: int = 1, *, poll_interval: float = 0.2) -> AsyncIterator[list[Record]]:
        """``follow`` for an asyncio loop (another than the source's): record batches as they come."""
        agen = self._records(from_seq, None, poll_interval)
        try:
            while True:
                fut = asyncio.run_coroutine_threadsafe(agen.__anext__(), self._loop)
                try:
                    batch = await asyncio.wrap_future(fut)
                except StopAsyncIteration:
                    return
                if batch:
                    self.applied_seq = batch[-1].seq
                    yield batch
        finally:
            if self._loop.is_running():
                with contextlib.suppress(Exception):
                    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(agen.aclose(), self._loop))

    def seq_at_time(self, ts_ns: int) -> int | None:
        """Seq of the first record with ``ts_ns >= ts_ns``; a binary search over the messages."""
        return self._call(self._seq_at_time(ts_ns))

    async def _records_at(self, ss: int, first_ss: int) -> tuple[int, list[Record]] | None:
        """(the JetStream seq of its last message, the records) of the first records message at
        or after ``ss``, a value in parts joined from its first part to its last. ``first_ss``:
        the stream's first JetStream seq (no earlier part is looked for before it)."""
        m = await self._get(ss, self.records_subject)
        if m is None:
            return None
        first, _, part = span_of(m.headers)
        back = m.seq
        while part is not None and part[0] > 1 and back > max(first_ss, 1):  # back to its first part
            back -= 1
            p = await self._get(back, self.records_subject)
            if p is None or p.seq != back:
                continue  # not a records message (a streams message between parts, after a resync)
            p_first, _, p_part = span_of(p.headers)
            if p_first != first:
                break  # the value's earlier parts are not in the stream (trimmed)
            m, part = p, p_part
        cursor = RecordCursor(self.name, whole_first(m.headers), {})  # past a value trimmed to its later parts
        got = cursor.feed(m.subject, m.headers, m.data)
        nxt = m.seq + 1
        while part is not None and not got:
            p = await self._get(nxt, self.records_subject)
            if p is None:
                return None
            got = cursor.feed(p.subject, p.headers, p.data)
            nxt = p.seq + 1
        return nxt - 1, got  # at or after ``ss`` even when it began before (a later part's)

    async def _seq_at_time(self, ts_ns: int) -> int | None:
        lo, hi = await self._state()
        first_ss = lo
        hi += 1
        found: list[Record] | None = None
        while lo < hi:
            mid = (lo + hi) // 2
            got = await self._records_at(mid, first_ss)
            if got is None or not got[1]:
                hi = mid
                continue
            ss, recs = got
            if recs[-1].ts_ns >= ts_ns:
                hi, found = mid, recs
            else:
                lo = ss + 1
        if found is None:
            return None
        return next(r.seq for r in found if r.ts_ns >= ts_ns)

    def close(self) -> None:
        if not self._loop.is_running():
            return
        if self._nc is not None:
            with contextlib.suppress(Exception):
                self._call(self._nc.close(), 5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        with contextlib.suppress(Exception):
            self._loop.close()

    def __enter__(self) -> RemoteSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
