"""A real S3-compatible server (s3s-fs) on 127.0.0.1 for the archive tests and `tools/bench/remote.py`.

The binary is built once by ``tools/ci/s3-server.sh`` (``make test`` runs it) into
``.tools/s3s/bin/s3s-fs``. Without it the tests fail and say the command that builds it.
A bucket is a directory under the server's root (path-style addressing).
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BINARY = REPO / ".tools" / "s3s" / "bin" / "s3s-fs"
BUILD = "tools/ci/s3-server.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """One s3s-fs process: ``start()``, ``stop()`` (by pid), ``start()`` again on the same port."""

    def __init__(self, root: Path) -> None:
        if not BINARY.exists():
            raise RuntimeError(f"no S3 server binary at {BINARY}: build it with `{BUILD}` "
                               "(cargo install s3s-fs@0.14.1 into .tools/s3s, once)")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.access_key = "AK" + secrets.token_hex(8)
        self.secret_key = secrets.token_hex(20)
        self.proc: subprocess.Popen | None = None
        self.log = root.parent / f"s3s-{self.port}.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, *, secret: str | None = None) -> dict[str, str]:
        """The AWS_* variables that point at this server (``secret``: another, wrong one)."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": secret or self.secret_key, "AWS_REGION": "us-east-1"}

    def bucket(self, name: str) -> str:
        (self.root / name).mkdir(exist_ok=True)
        return name

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(BINARY), "--host", "127.0.0.1", "--port", str(self.port),
                 "--access-key", self.access_key, "--secret-key", self.secret_key, str(self.root)],
                stdout=log, stderr=subprocess.STDOUT)
        for _ in range(400):  # readiness, not a timing assertion: up to ~20 s on a loaded box
            if self.proc.poll() is not None:
                raise RuntimeError(f"s3s-fs exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"s3s-fs did not listen on {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
