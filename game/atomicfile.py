"""Writing a file so that a reader (or a crash) never sees half of it: a temporary file beside it, then os.replace.

Why one helper: session.json, the stats, the calibrations and the email outbox are all read while, or after, other
processes write them. The temporary name is unique per writer (mkstemp), so two writers of the same file never
share one; ``fsync`` (the outbox: an email must survive a power cut) flushes it to the disk before the rename.
``mode``: the file's permissions (readable by all, as a plain write makes it; the outbox keeps its mail private).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, fsync: bool = False, mode: int = 0o644) -> Path:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
