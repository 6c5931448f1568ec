"""Content-addressed cache of generated data: fingerprints, shards, manifests (all writes atomic).

A fingerprint is the sha256 of a canonical JSON of every setting that changes the output, with
files entering by the hash of their *content* (seed file, adapter, corpus, evaluation files), so
editing a file regenerates and renaming it does not. Shards are written atomically one by one; the
manifest is written last, so a directory with a manifest is complete and one without is resumable.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from selfspec.io import atomic_write_json, atomic_write_text, is_temporary

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(obj: Any) -> str:
    """16 hex digits of sha256 over the canonical JSON of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:16]


def content_hash(path: str | Path) -> str:
    """sha256 of a file's bytes, or of a directory's (relative path, file hash) list, sorted."""
    path = Path(path)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not is_temporary(p)):
        digest.update(f"{file.relative_to(path).as_posix()}\x00{content_hash(file)}\n".encode())
    return digest.hexdigest()


def item_seed(*parts: object) -> int:
    """A 63-bit sampling seed derived from ``parts`` (independent of Python's hash randomisation)."""
    digest = hashlib.sha256("-".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def read_shard(path: Path) -> dict[str, Any] | None:
    """A finished shard, or None when it is not there (it is then generated)."""
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_shard(path: Path, shard: dict[str, Any]) -> None:
    atomic_write_json(path, shard)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows as JSON Lines, keys sorted, so equal data gives equal bytes."""
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def is_complete(directory: Path) -> bool:
    return (directory / MANIFEST).is_file()


def write_manifest(directory: Path, files: list[str], meta: dict[str, Any]) -> None:
    """The completion mark: hashes of the final files plus ``meta``; written after everything else."""
    hashes = {name: content_hash(directory / name) for name in files}
    atomic_write_json(directory / MANIFEST, {**meta, "files": hashes})
