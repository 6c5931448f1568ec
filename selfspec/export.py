"""Merge an adapter into a full-precision copy of its base and save a standard Hugging Face model.

The merged model loads with plain ``AutoModelForCausalLM.from_pretrained`` (no peft, no
bitsandbytes). It is verified before it is published: the saved copy is reloaded and its logits on
probe prompts are compared with the reference, the unmerged base + adapter in float32 on the same
full-precision base weights. The largest absolute logit difference is the *drift*; above the
tolerance the export fails and the output directory is never created (everything is written to a
temporary sibling and renamed into place at the end). For an adapter trained on a 4-bit (or 8-bit)
base, the drift against that quantised model, the one the adapter was trained with, is reported too,
for information: it is the quantisation error the merged model no longer has.
"""

from __future__ import annotations

import gc
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from selfspec.errors import ConfigError, SelfSpecError
from selfspec.io import atomic_write_json
from selfspec.modeling.adapters import attach_adapter, load_base
from selfspec.modeling.compat import AdapterInfo, common_base, describe_adapter
from selfspec.modeling.loading import load_tokenizer, resolve_model_source
from selfspec.modeling.quantization import bitsandbytes_problem
from selfspec.probes import probe_prompts

log = logging.getLogger(__name__)

ExportDtype = Literal["float32", "bfloat16"]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
# Float32 merging only reorders sums (W x + B A x vs (W + B A) x): drift ~1e-6 relative. bf16 keeps
# 8 significant bits per weight, so logits move by ~1% of their scale, more through deep stacks.
DEFAULT_TOLERANCE = {"float32": 1e-3, "bfloat16": 0.5}
REPORT = "export_report.json"


class DriftError(SelfSpecError):
    """The merged model's logits are further from the adapter's than the tolerance allows."""


@dataclass(frozen=True)
class ExportReport:
    """What ``export_report.json`` records.

    Args:
        adapter: The merged adapter's directory.
        base_model: The base it was merged into.
        dtype: The merged model's weight dtype.
        template: The prompt template to use with the merged model.
        probes: Where the probe prompts came from, and how many there were.
        tolerance: The largest drift accepted.
        max_abs_logit_drift: Largest |logit(merged) - logit(base + adapter, float32)| over every
            probe position and vocabulary entry.
        max_abs_logit: Largest |logit| of the reference: the scale the drift compares to.
        trained_quantization: The base's quantisation when the adapter was trained.
        max_abs_logit_drift_vs_quantized: The same drift against base + adapter with the base in
            ``trained_quantization`` (informational; None when the adapter was trained unquantised
            or bitsandbytes is unavailable).
    """

    adapter: str
    base_model: str
    dtype: str
    template: str
    probes: str
    tolerance: float
    max_abs_logit_drift: float
    max_abs_logit: float
    trained_quantization: str | None
    max_abs_logit_drift_vs_quantized: float | None


def export_merged(
    adapter: str | Path,
    output: str | Path,
    dtype: ExportDtype = "float32",
    tolerance: float | None = None,
    probes: str = "builtin",
    base_model: str | None = None,
    max_probes: int = 8,
    trust_remote_code: bool = False,
) -> ExportReport:
    """Merge ``adapter`` into its base in ``dtype``, verify it, and publish it at ``output``.

    Raises ``DriftError`` (nothing written) when the drift exceeds ``tolerance`` (default per dtype:
    ``DEFAULT_TOLERANCE``), and ``SelfSpecError`` for unusable input.
    """
    info = describe_adapter(adapter)
    base = common_base([info], base_model)
    output = _check_output(Path(output))
    tol = DEFAULT_TOLERANCE[dtype] if tolerance is None else tolerance
    if tol < 0:
        raise ConfigError(f"--tolerance must be >= 0, got {tol}")
    tokenizer = load_tokenizer(resolve_model_source(base), trust_remote_code)
    texts, source = probe_prompts(probes, info, tokenizer, max_probes)
    ids = [tokenizer(t, return_tensors="pt")["input_ids"] for t in texts]  # one [1, seq] per probe: no padding

    def load(quantization: Any, weights: torch.dtype) -> Any:
        model = load_base(base, quantization, None, trust_remote_code, weights)
        return attach_adapter(model, info.path, base_name=base).eval()

    # The reference first, and freed before the merge loads: two full models never share memory.
    reference = _logits(lambda: load("none", torch.float32), ids)
    created = _make_parents(output)
    # Staged beside the output: the final rename stays on one file system, hence atomic.
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    published = False
    try:
        _save_merged(load("none", DTYPES[dtype]), tokenizer, staging)
        merged = _logits(lambda: _reload(staging, trust_remote_code), ids)
        report = ExportReport(
            adapter=str(info.path),
            base_model=base,
            dtype=dtype,
            template=info.template or "alpaca",
            probes=f"{source} ({len(texts)} prompts)",
            tolerance=tol,
            max_abs_logit_drift=_drift(merged, reference),
            max_abs_logit=max(float(r.abs().max()) for r in reference),
            trained_quantization=info.quantization,
            max_abs_logit_drift_vs_quantized=_quantized_drift(info, merged, ids, load),
        )
        _check_drift(report)
        atomic_write_json(staging / REPORT, asdict(report))
        staging.chmod(0o755)  # mkdtemp makes it private; a model directory is not a secret
        staging.replace(output)
        published = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in [] if published else reversed(created):  # a failed export leaves nothing behind
            folder.rmdir()
    log.info("merged model written to %s (drift %.3g <= %.3g)", output, report.max_abs_logit_drift, tol)
    return report


def _check_output(output: Path) -> Path:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ConfigError(f"--output {output}: already exists and is not an empty directory; choose another")
    existing = next((p for p in output.parents if p.exists()), None)  # the nearest ancestor that exists
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"--output {output}: {existing} is a file, not a directory; choose another output")
    return output


def _make_parents(output: Path) -> list[Path]:
    """Create ``output``'s missing parent folders (outermost first); returns the ones created."""
    missing = [p for p in reversed(output.parents) if not p.exists()]
    for folder in missing:
        folder.mkdir()
    return missing


def _save_merged(model: Any, tokenizer: Any, directory: Path) -> None:
    merged = merge(model)
    merged.save_pretrained(str(directory), safe_serialization=True)
    tokenizer.save_pretrained(str(directory))
    del merged, model
    gc.collect()  # the merged copy is as large as the base: free it before the reload for verification


def merge(model: Any) -> Any:
    """The plain transformers model with the adapter folded into its weights (peft ``merge_and_unload``)."""
    return model.merge_and_unload()


def _reload(directory: Path, trust_remote_code: bool) -> Any:
    from transformers import AutoModelForCausalLM

    # What a user of the export does: transformers alone, the saved dtype.
    return AutoModelForCausalLM.from_pretrained(
        str(directory), dtype="auto", local_files_only=True, trust_remote_code=trust_remote_code
    ).eval()


def _logits(make_model: Callable[[], Any], ids: list[torch.Tensor]) -> list[torch.Tensor]:
    """float32 logits ``[seq, vocab]`` per probe from a freshly loaded model, freed afterwards."""
    model = make_model()
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = [model(input_ids=x.to(device)).logits[0].float().cpu() for x in ids]
    del model
    gc.collect()
    return out


def _drift(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))


def _quantized_drift(
    info: AdapterInfo, merged: list[torch.Tensor], ids: list[torch.Tensor], load: Callable[[Any, torch.dtype], Any]
) -> float | None:
    # Informational only: without bitsandbytes (e.g. on a Mac) the export itself still goes ahead.
    if info.quantization not in ("nf4", "int8") or bitsandbytes_problem() is not None:
        return None
    return _drift(merged, _logits(lambda: load(info.quantization, torch.float32), ids))


def _check_drift(report: ExportReport) -> None:
    if report.max_abs_logit_drift > report.tolerance:
        raise DriftError(
            f"merged model drifts from base + adapter by {report.max_abs_logit_drift:.3g} in the logits "
            f"(tolerance {report.tolerance:.3g}, {report.dtype}, logits up to {report.max_abs_logit:.3g}); "
            "nothing written. Export in float32, or raise --tolerance if this drift is acceptable"
        )
