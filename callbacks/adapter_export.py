"""Export the trained adapter in the PEFT format at the end of ``fit``: final and best.

``<run>/adapter/``: the weights at the end of training; ``<run>/adapter_best/``: those of the
best checkpoint when a ``ModelCheckpoint`` monitors a metric. Each holds
``adapter_model.safetensors`` + ``adapter_config.json`` (loadable with plain
``PeftModel.from_pretrained``), ``selfspec_adapter.json`` (template, base model, LoRA shape) and
``selfspec_config.yaml``, the run's resolved configuration.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import lightning as L
import torch

from selfspec.specialist import SpecialistModule

log = logging.getLogger("selfspec")


class AdapterExport(L.Callback):
    def __init__(self, dirname: str = "adapter", export_best: bool = True) -> None:
        """Write the adapter beside the run's config when fitting ends.

        Args:
            dirname: Folder name inside the run directory (``<dirname>_best`` for the best one).
            export_best: Also export the best checkpoint's adapter when a checkpoint callback
                monitors a metric.
        """
        self.dirname = dirname
        self.export_best = export_best

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        log_dir = trainer.log_dir  # a collective call under DDP: every rank must make it
        if not isinstance(pl_module, SpecialistModule) or log_dir is None or not trainer.is_global_zero:
            return
        run_dir = Path(log_dir)
        template = getattr(getattr(trainer, "datamodule", None), "template_name", "alpaca")
        final = _export(pl_module, run_dir, self.dirname, template)
        log.info("adapter exported to %s", final)
        best = getattr(trainer.checkpoint_callback, "best_model_path", "")
        if self.export_best and best and getattr(trainer.checkpoint_callback, "monitor", None):
            # The final weights are kept aside and restored: later callbacks and the caller see the end of training.
            current = {
                k: v.detach().clone() for k, v in pl_module.state_dict().items() if k in pl_module.trainable_names()
            }
            saved = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
            pl_module.load_state_dict(saved, strict=False)  # the checkpoint holds only the adapter's weights
            log.info(
                "best adapter (%s) exported to %s",
                Path(best).name,
                _export(pl_module, run_dir, f"{self.dirname}_best", template),
            )
            pl_module.load_state_dict(current, strict=False)


def _export(module: SpecialistModule, run_dir: Path, name: str, template: str) -> Path:
    """Export into a temporary sibling folder, then swap it in: a reader never sees half an adapter."""
    target = run_dir / name
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=run_dir))
    module.export_adapter(staging, template)
    config = run_dir / "config.yaml"
    if config.is_file():
        shutil.copyfile(config, staging / "selfspec_config.yaml")
    if target.exists():  # a resumed run exports again; rename cannot replace a non-empty folder
        shutil.rmtree(target)
    staging.replace(target)
    return target
