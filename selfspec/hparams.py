"""Hyper-parameters as plain data, so checkpoints load with ``torch.load(weights_only=True)``.

Lightning pickles ``hparams`` into every checkpoint; a dataclass or ``Path`` in there makes the
safe loader refuse the file. ``plain`` turns them into dicts, lists and strings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import MutableMapping
from pathlib import PurePath
from typing import Any


def plain(value: Any) -> Any:
    """``value`` with dataclasses as dicts, paths as strings and tuples as lists, recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def make_plain(hparams: MutableMapping[str, Any]) -> None:
    """Replace every entry of ``hparams`` by its ``plain`` form, in place."""
    for key, value in list(hparams.items()):
        hparams[key] = plain(value)
