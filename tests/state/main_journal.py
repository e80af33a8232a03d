"""A journal and checkpoints written by the code before the compiled core, kept as a fixture.

``python -m tests.state.main_journal`` (run once, with the code of commit 5018c49, the last
before the Rust core) imported two shared captures, Binance USD-M and OKX (a venue synced by
REST snapshots and one checked by a checksum of its levels), into a fresh data directory,
saved three projection checkpoints into ``DATA/state`` and packed the directory as
``fixtures/main-journal.tar.zst``; it wrote what that code computed to ``fixtures/main-journal.json``:
the journal's hash (``tools.golden.journal_digest``), each checkpoint's seq and the digest of
the state it holds, and the digest after the last record. ``test_main_journal.py`` reads the
fixture with today's code and compares.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import zstandard

from tools.captures import CRYPTOFEED

HERE = Path(__file__).resolve().parent / "fixtures"
TAR = HERE / "main-journal.tar.zst"
EXPECTED = HERE / "main-journal.json"
CAPTURES = ("BINANCE_FUTURES", "OKX")
CHECKPOINTS = 3  # at 1/4, 2/4 and 3/4 of the records


def unpack(data: Path) -> Path:
    """The fixture's data directory, unpacked at ``data``."""
    blob = zstandard.ZstdDecompressor().decompress(TAR.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(data, filter="data")
    return data


def build() -> dict:
    from recorder.journal.checkpoints import LmdbCheckpointStore
    from recorder.journal.reader import JournalReader
    from state.projector import Projector
    from tools.golden import journal_digest

    with tempfile.TemporaryDirectory(prefix="main-journal-") as tmp:
        data = Path(tmp) / "data"
        for name in CAPTURES:
            subprocess.run([str(Path(sys.executable).parent / "recorder"), "import", "--data", str(data),
                            str(CRYPTOFEED / f"{name}.jsonl.zst")], check=True, capture_output=True)
        journal, count = journal_digest(data)
        at = {count * i // (CHECKPOINTS + 1) for i in range(1, CHECKPOINTS + 1)}
        store = LmdbCheckpointStore.of_data_dir(data, keep=CHECKPOINTS)
        checkpoints = []
        with JournalReader(data) as reader:
            p = Projector(reader.streams())
            for rec in reader.read():
                p.apply(rec)
                if rec.seq in at:
                    store.save(rec.seq, p.snapshot())
                    checkpoints.append({"seq": rec.seq, "digest": p.digest()})
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for path in sorted(data.rglob("*")):
                if path.is_file() and not path.name.endswith("lock.mdb"):
                    tar.add(path, arcname=str(path.relative_to(data)))
        TAR.write_bytes(zstandard.ZstdCompressor(level=19).compress(buf.getvalue()))
        expected = {"captures": list(CAPTURES), "records": count, "journal_sha256": journal,
                    "checkpoints": checkpoints, "final_digest": p.digest()}
        EXPECTED.write_text(json.dumps(expected, indent=1) + "\n")
        return expected


if __name__ == "__main__":
    print(json.dumps(build(), indent=1))
