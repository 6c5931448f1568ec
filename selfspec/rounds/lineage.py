"""``lineage.json``: which steps of a rounds run are finished, and what links rounds to data and adapters.

The file is the driver's only state. It is rewritten atomically after every finished step, so a
driver killed at any moment finds every step it completed and redoes at most the one in flight.
It also records the fingerprint of the settings that made it: continuing a run with other
settings (another fit config, suite, evaluation) is refused instead of mixing results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfspec.errors import ConfigError
from selfspec.io import atomic_write_json

FILENAME = "lineage.json"


@dataclass  # not frozen: the driver's one piece of mutable state, saved after each change
class Lineage:
    """Finished steps (``round_1/fit`` -> its record) of one run, keyed by the settings fingerprint."""

    path: Path
    fingerprint: str
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    stopped_after: int | None = None

    def done(self, key: str) -> bool:
        return key in self.steps

    def record(self, key: str, record: dict[str, Any]) -> None:
        self.steps[key] = record
        self.save()  # at once: a kill after this line must not run the step again

    def stop_after(self, k: int) -> None:
        self.stopped_after = k
        self.save()

    def save(self) -> None:
        atomic_write_json(self.path, self.as_json())

    def as_json(self) -> dict[str, Any]:
        return {
            "settings_fingerprint": self.fingerprint,
            "stopped_after_round": self.stopped_after,
            "steps": self.steps,
            "rounds": rounds_view(self.steps),  # derived, for readers; open_lineage never reads it back
        }


def open_lineage(run_root: Path, fingerprint: str) -> Lineage:
    """The run's lineage, or a fresh one; a lineage of other settings is an error."""
    path = run_root / FILENAME
    if not path.is_file():
        return Lineage(path, fingerprint)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: unreadable lineage ({err}); move the run folder away to start over") from None
    if data.get("settings_fingerprint") != fingerprint:
        raise ConfigError(
            f"{run_root} was made with other settings (fit config, suite or evaluation changed); "
            "use another --name, or move that folder away to start over"
        )
    return Lineage(path, fingerprint, dict(data.get("steps", {})), data.get("stopped_after_round"))


def rounds_view(steps: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per trained run: its data, the adapter that answered its data, its adapter, and its F1."""
    runs = []
    for key, fit in steps.items():
        if not key.endswith("/fit"):
            continue
        run = key.removesuffix("/fit")
        evaluation = steps.get(f"{run}/eval", {})
        runs.append(
            {
                "run": run,
                "data": fit.get("data"),
                "response_adapter": fit.get("response_adapter"),
                "adapter": fit.get("adapter"),
                "adapter_sha256": fit.get("adapter_sha256"),
                "optimizer_steps": fit.get("optimizer_steps"),
                "f1": evaluation.get("f1"),
            }
        )
    return runs
