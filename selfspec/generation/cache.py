"""The generation cache's folders: per-item sampling seeds, and the manifest that marks a folder done.

Every shard is written atomically on its own (``records``); the manifest is written last, so a
folder with a manifest is complete and one without is resumable. Folder names are fingerprints
(``selfspec.fingerprints``) of what decides their content (``GenerationPlan``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from selfspec.fingerprints import content_hash
from selfspec.io import atomic_write_json

MANIFEST = "manifest.json"


def item_seed(*parts: object) -> int:
    """A 63-bit sampling seed derived from ``parts`` (independent of Python's hash randomisation)."""
    digest = hashlib.sha256("-".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)  # 63 bits: a non-negative int64 for torch


def is_complete(directory: Path) -> bool:
    return (directory / MANIFEST).is_file()


def write_manifest(directory: Path, files: list[str], meta: dict[str, Any]) -> None:
    """The completion mark: hashes of the final files plus ``meta``; written after everything else."""
    hashes = {name: content_hash(directory / name) for name in files}  # lets a reader check a copied cache
    atomic_write_json(directory / MANIFEST, {**meta, "files": hashes})
