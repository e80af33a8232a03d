"""A blocking client of the running recorder's control socket, for the command line.

    reply = ask_recorder(data_dir, {"op": "subscribe", "venue": "upbit", "symbols": ["KRW-XRP"]})

The daemon names its socket in ``DATA/live/attach.json`` (``recorder.daemon.publish``);
``NoRecorderError`` when there is none, it names a dead process, or the socket does not
answer; ``RecorderRefusedError`` when the daemon answered ``ok: false`` (its ``code``
says which refusal). Standard library only.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

ATTACH = Path("live") / "attach.json"  # under the data dir (recorder.daemon.publish)
TIMEOUT_S = 10.0


class NoRecorderError(Exception):
    """No recorder is running on the data directory (or its socket is gone)."""


class RecorderRefusedError(Exception):
    """The recorder answered the request with ``ok: false``."""

    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(str(reply.get("error", "refused")))
        self.code = str(reply.get("code", ""))
        self.choices = [str(c) for c in reply.get("choices") or ()]


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ask_recorder(data_dir: str | os.PathLike[str], request: dict[str, Any], *,
                 timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """Send one request line to the recorder on ``data_dir``; its ``ok`` reply."""
    path = Path(data_dir) / ATTACH
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NoRecorderError(f"no recorder running on {data_dir} (no {path})") from None
    except (OSError, ValueError) as exc:
        raise NoRecorderError(f"no recorder running on {data_dir} ({path}: {exc})") from None
    if not isinstance(info, dict) or not isinstance(info.get("control"), str):
        raise NoRecorderError(f"no recorder running on {data_dir} ({path} names no control socket)")
    if not _alive(info.get("pid")):
        raise NoRecorderError(f"no recorder running on {data_dir} (pid {info.get('pid')} is gone)")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(info["control"])
            sock.sendall(json.dumps(request).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                buf += chunk
    except OSError as exc:
        raise NoRecorderError(f"no recorder answering on {info['control']}: {exc}") from None
    try:
        reply = json.loads(buf)
    except ValueError:
        raise NoRecorderError(f"the recorder's answer is no JSON line: {buf[:200]!r}") from None
    if not isinstance(reply, dict) or not reply.get("ok"):
        raise RecorderRefusedError(reply if isinstance(reply, dict) else {})
    return reply
