"""Fingerprints: names for "everything that decides this output", used by every cache in selfspec.

A fingerprint is the sha256 of a canonical JSON of every setting that changes an output, with files
entering by the hash of their *content* (seed file, adapter, corpus, evaluation files, a rounds fit
config), so editing a file makes a new fingerprint and renaming or moving it does not. Generated
data (``selfspec.generation.plan``) and ``selfspec-rounds`` runs (``selfspec.rounds.driver``) are
keyed this way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from selfspec.io import is_temporary


def canonical_json(obj: Any) -> str:
    # Sorted keys and no spaces: equal settings give equal text whatever order they were built in.
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(obj: Any) -> str:
    """16 hex digits of sha256 over the canonical JSON of ``obj``."""
    # 64 bits: a folder name a person can read, with no collision in any realistic cache.
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:16]


def content_hash(path: str | Path) -> str:
    """sha256 of a file's bytes, or of a directory's (relative path, file hash) list, sorted."""
    path = Path(path)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    # A temporary file of an interrupted atomic write is not content; the relative path is (a file
    # moved inside the folder changes what a loader reads).
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not is_temporary(p)):
        digest.update(f"{file.relative_to(path).as_posix()}\x00{content_hash(file)}\n".encode())
    return digest.hexdigest()
