"""What ``base_model`` is, for fingerprints: a local directory by its content, a Hub id by its name.

Fingerprinting a local directory by its path would silently reuse stale data after its weights are
overwritten in place (a fine-tuned model of the same shape). Hashing multi-GB weights on every run
would cost minutes, so each file's sha256 is remembered in ``<cache_root>/file-hashes.json``, keyed
by (absolute path, size, mtime_ns); a file whose size or mtime changed is hashed again. A file
modified less than ``RACY_SECONDS`` before it was hashed is not remembered: a same-size rewrite
within the file system's timestamp granularity could keep its mtime (git's "racy clean" problem).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from selfspec.io import atomic_write_json
from selfspec.modeling.builtin import cache_root
from selfspec.modeling.loading import BUILTIN_PREFIX, resolve_model_source

log = logging.getLogger(__name__)

HASHES_FILE = "file-hashes.json"
RACY_SECONDS = 2.0  # coarser than any common file system's mtime granularity (FAT: 2 s)
_CHUNK = 1 << 24  # 16 MiB reads: weights are never held in memory whole


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


class FileHashes:
    """sha256 of files, remembered across runs by (absolute path, size, mtime_ns).

    Args:
        store: The JSON file holding the remembered hashes (written atomically; unreadable = empty).
    """

    def __init__(self, store: Path) -> None:
        self.store = store
        self.entries = _load(store)
        self.new: dict[str, dict[str, Any]] = {}

    def hash(self, file: Path) -> str:
        key, stat = str(file.resolve()), file.stat()  # resolved: a symlinked HF snapshot shares its blob's entry
        entry = self.new.get(key) or self.entries.get(key)
        if entry and (entry["size"], entry["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns):
            return str(entry["sha256"])
        digest = sha256_file(file)
        if time.time_ns() - stat.st_mtime_ns > RACY_SECONDS * 1e9:
            self.new[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
        return digest

    def save(self) -> None:
        """Merge the new hashes into the store (re-read first: other processes may have written it)."""
        if not self.new:
            return
        # Entries of deleted files are pruned, or the store would grow with every model ever hashed.
        merged = {k: v for k, v in _load(self.store).items() if Path(k).exists()} | self.new
        atomic_write_json(self.store, merged)
        self.entries, self.new = merged, {}


def _load(store: Path) -> dict[str, dict[str, Any]]:
    try:
        entries = json.loads(store.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        log.warning("ignoring unreadable hash cache %s (%s); files are hashed again", store, err)
        return {}
    return entries if isinstance(entries, dict) else {}  # valid JSON of another shape: start afresh


def directory_hash(directory: Path, hashes: FileHashes) -> str:
    """sha256 over the sorted (relative path, file hash) list; hidden files and folders are skipped
    (``hf download --local-dir`` keeps download metadata in ``.cache/``; no loader reads it)."""
    digest = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    for file in files:
        relative = file.relative_to(directory)
        if any(part.startswith(".") for part in relative.parts):
            continue
        # NUL can be in no file name: "a" + "bc" and "ab" + "c" cannot give the same bytes.
        digest.update(f"{relative.as_posix()}\x00{hashes.hash(file)}\n".encode())
    return digest.hexdigest()


def model_identity(base_model: str) -> str:
    """``sha256:<content>`` for a local model directory or a ``builtin:`` model (its built directory);
    a Hub id is returned as it is, so a new revision pushed under the same id is not noticed: pin
    a downloaded directory as ``base_model`` to have the weights themselves fingerprinted."""
    if base_model.startswith(BUILTIN_PREFIX):
        directory = Path(resolve_model_source(base_model).name_or_path)
    else:
        directory = Path(base_model).expanduser()
        if not directory.is_dir():
            return base_model
    hashes = FileHashes(cache_root() / HASHES_FILE)
    identity = "sha256:" + directory_hash(directory, hashes)
    hashes.save()
    return identity
