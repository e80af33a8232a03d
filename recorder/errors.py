"""What the recorder package raises on purpose, as one tree.

    RecorderError                    base of the recorder's own exceptions
    +-- ConfigError                  the configuration is wrong; the message names the key
    |                                (a ValueError)
    +-- RecorderUsageError           our own misuse of a recorder API: a bad limit, chunk
    |   |                            size, URL or channel handed to a venue module (a ValueError)
    |   +-- UnknownVenueError        a venue name no descriptor has (also a KeyError)
    |   +-- ControlError             a request on the recorder's control socket it refuses
    |                                (answered as an error reply, never raised out of it)
    +-- VenueError                   the venue sent something we cannot use
    |   +-- VenueReplyError          a REST body or control reply that does not parse
    |       |                        (carries the venue and what was being read)
    |       +-- NoticeBodyError      an Upbit announcements or market list body
    |           |                    (``recorder.listing.notices``); carries an ``excerpt``
    |           +-- NoticeNotJsonError    not JSON (a Cloudflare HTML page, a cut body)
    |           +-- NoticeRefusedError    JSON saying no (``success: false``, ``error``)
    |           +-- NoticeShapeError      JSON of another shape (a key gone, a wrong type)
    +-- HookError                    a recorder hook (nightly compaction, InfluxDB feed) is
    |                                not registered, or its factory refused to build it
    +-- CaptureError                 ``recorder import``: a capture file cannot be imported;
                                     says which file and line (a ValueError)

    JournalError                     the journal's own tree (``recorder.journal.errors``,
    +-- ...                          re-exported here): not a journal, locked, corrupt
                                     values, the writer stopped (full map or disk), misuse

What is not here, on purpose: a venue's fault while recording never raises. A refused
connect, a close code, a 429 or an error frame is classified (``recorder.venues.base``
``ErrorClass`` and ``Verdict``), journaled as an ``error`` record and answered by the
supervisor (back off, reconnect, give up on that slot); a malformed frame is journaled
as received and quarantined by the projection. ``VenueError`` is for the few places a
venue's reply must be read to go on (a snapshot's ``lastUpdateId``), and the caller
catches it there. Our own misuse and a wrong configuration stop the call that made them.

``ConfigError`` and the usage errors also subclass ``ValueError``, what the recorder
raised before this tree existed, so an existing ``except ValueError`` keeps working.
"""

from __future__ import annotations

from recorder.journal.errors import JournalError, JournalWriteError


class RecorderError(Exception):
    """Base class of the recorder's own errors (the journal has its own, ``JournalError``)."""


class ConfigError(RecorderError, ValueError):
    """The configuration is wrong; the message names the key and what is expected.

    ``recorder run`` prints it and exits with status 2; nothing was recorded.
    """


class RecorderUsageError(RecorderError, ValueError):
    """A recorder API was called in a way it does not support (a bug of the caller)."""


class UnknownVenueError(RecorderUsageError, KeyError):
    """No venue descriptor has this name (``recorder.venues.VENUES`` lists them)."""

    def __init__(self, venue: str, known: tuple[str, ...] = ()) -> None:
        text = f"unknown venue {venue!r}"
        if known:
            text += f" (known: {', '.join(known)})"
        super().__init__(text)
        self.venue = venue

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ControlError(RecorderUsageError):
    """A request the recorder refuses on its control socket (``recorder.daemon.control``);
    its text is the reply's ``error``. ``code`` (e.g. ``unknown_venue``, ``unknown_symbol``)
    and ``choices`` (the valid names) go into the reply too, so a client can raise its own
    typed error."""

    def __init__(self, message: str, *, code: str = "refused", choices: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.choices = choices


class VenueError(RecorderError):
    """The venue sent something the recorder cannot use."""


class VenueReplyError(VenueError):
    """A venue reply (a REST body, a control answer) does not parse as ``what``.

    The reply itself is journaled before anyone reads it: only its use is lost.
    """

    def __init__(self, venue: str, what: str, reason: str) -> None:
        super().__init__(f"{venue}: not a {what}: {reason}")
        self.venue = venue
        self.what = what
        self.reason = reason


class NoticeBodyError(VenueReplyError):
    """An Upbit announcements or ``/v1/market/all`` body the listing watcher cannot use.

    ``excerpt`` is the body's start (at most 120 characters), for the log line.
    """

    def __init__(self, what: str, reason: str, excerpt: str) -> None:
        super().__init__("upbit", what, f"{reason} (body starts {excerpt!r})")
        self.excerpt = excerpt


class NoticeNotJsonError(NoticeBodyError):
    """The body is not JSON: a Cloudflare challenge page, an HTML error, a cut body."""


class NoticeRefusedError(NoticeBodyError):
    """The body is JSON saying no: ``{"success": false}`` or an ``error`` object."""


class NoticeShapeError(NoticeBodyError):
    """The body is JSON of another shape: a key gone, a wrong type, a bad timestamp."""


class HookError(RecorderError):
    """A recorder hook could not be found or built; the recording goes on without it."""


class CaptureError(RecorderError, ValueError):
    """A capture file cannot be imported; says which file and line. Nothing of it was imported."""


__all__ = [
    "CaptureError", "ConfigError", "HookError", "JournalError", "JournalWriteError",
    "NoticeBodyError", "NoticeNotJsonError", "NoticeRefusedError", "NoticeShapeError",
    "RecorderError", "RecorderUsageError", "UnknownVenueError", "VenueError", "VenueReplyError",
]
