"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_text(path: str | Path, text: str) -> None:
    """``atomic_write_bytes`` of ``text`` encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """``atomic_write_text`` of pretty, key-sorted JSON with a final newline."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def is_temporary(path: Path) -> bool:
    """A temporary file of ``atomic_write_bytes`` (``.<name>.<random>.tmp``): never content. A process
    killed (SIGKILL, power cut) between creating and renaming it leaves one behind; it is ignored."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder, hence same file system: os.replace is then an atomic rename.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # data on disk before the rename: a power cut cannot leave an empty file
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C too: no temporary file left behind
        Path(tmp).unlink(missing_ok=True)
        raise
