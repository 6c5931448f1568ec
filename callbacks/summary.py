"""End-of-run summary: one table on the console and ``summary.json`` beside the run's config."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L

from selfspec.fingerprints import content_hash
from selfspec.io import atomic_write_json

log = logging.getLogger("selfspec")


class RunSummary(L.Callback):
    def __init__(self, filename: str = "summary.json") -> None:
        """Print a summary table when fitting ends and save it in the run's log directory.

        Args:
            filename: Name of the JSON file written beside ``config.yaml``.
        """
        self.filename = filename
        self._started = 0.0

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.monotonic()

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        log_dir = trainer.log_dir  # a collective call under DDP: every rank must make it
        if not trainer.is_global_zero:
            return
        summary = fit_summary(trainer, pl_module, log_dir, time.monotonic() - self._started)
        log.info("run summary\n%s", format_table(summary))
        if log_dir is not None:
            atomic_write_json(Path(log_dir) / self.filename, summary)


def fit_summary(
    trainer: L.Trainer, pl_module: L.LightningModule, log_dir: str | None, seconds: float
) -> dict[str, Any]:
    """The figures a user checks first after a run."""
    trainable = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
    total = sum(p.numel() for p in pl_module.parameters())
    # Scalars only (a label task's [accuracy, macro-F1] pair is in the evaluation report); 6 digits for JSON.
    metrics = {k: round(float(v), 6) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    return {
        "epochs": trainer.current_epoch,
        "optimizer_steps": trainer.global_step,
        "trainable_parameters": trainable,
        "total_parameters": total,
        "seconds": round(seconds, 2),
        "metrics": metrics,
        "log_dir": log_dir,
        "data": data_provenance(getattr(trainer, "datamodule", None)),
    }


def data_provenance(datamodule: Any) -> dict[str, str]:
    """Which data trained the run: the generated dataset's fingerprint, or the seed file's hash."""
    plan = getattr(datamodule, "plan", None)
    if plan is None:
        return {}
    if plan.num_instructions:  # the folder name is the fingerprint: the rounds lineage links rounds by it
        return {"fingerprint": plan.dataset_dir.name, "generated": str(plan.dataset_dir)}
    return {"seeds": str(plan.seeds_path), "seeds_sha256": content_hash(plan.seeds_path)}


def format_table(summary: dict[str, Any]) -> str:
    """Two aligned columns, metrics flattened as ``metrics/<name>``."""
    rows = [(k, v) for k, v in summary.items() if k not in ("metrics", "data")]
    rows += [(f"data/{k}", v) for k, v in summary.get("data", {}).items()]
    rows += [(f"metrics/{k}", v) for k, v in sorted(summary["metrics"].items())]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)
