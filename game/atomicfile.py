"""Writing a file so that a reader (or a crash) never sees half of it: a temporary file beside it, then os.replace.

Why one helper: session.json, the stats, the calibrations and the email outbox are all read while, or after, other
processes write them. The temporary name is unique per writer (mkstemp), so two writers of the same file never
share one; ``fsync`` (the outbox: an email must survive a power cut) flushes it to the disk before the rename.
``mode``: the file's permissions (readable by all, as a plain write makes it; the outbox keeps its mail private).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

#: Windows: an antivirus or the search indexer may hold a file just written for a moment, and os.replace onto or
#: from it fails with PermissionError; a few tries over ~0.3 s ride that out (the recorder's stats loop writes every
#: 2 s, and a failure there would end the session)
RETRY_LOCKED = os.name == "nt"
REPLACE_TRIES = 6
REPLACE_WAIT_S = 0.05


def write_atomic(path: Path, data: bytes, fsync: bool = False, mode: int = 0o644) -> Path:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):     # Windows has none before Python 3.13 (and no such permissions)
                os.fchmod(f.fileno(), mode)
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def replace(tmp, path) -> None:
    """os.replace, retried on Windows while another program briefly holds the file (see RETRY_LOCKED)."""
    for attempt in range(REPLACE_TRIES):
        try:
            os.replace(tmp, path)
            return
        except PermissionError:
            if not RETRY_LOCKED or attempt == REPLACE_TRIES - 1:
                raise
            time.sleep(REPLACE_WAIT_S)
