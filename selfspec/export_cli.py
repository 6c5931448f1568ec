"""``selfspec-export``: merge an adapter into its base and save a standard Hugging Face model, verified.

    selfspec-export --adapter runs/bio/adapter --output models/bio-merged --dtype bfloat16

Exit status 0: written (with ``export_report.json``); 1: the merged model drifted further than
``--tolerance`` from base + adapter (nothing written); 2: bad input (one line on stderr).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from selfspec.errors import SelfSpecError, configure_model_script, exit_with
from selfspec.export import DriftError, ExportDtype, export_merged

DRIFT_EXIT = 1  # apart from bad input (2): a script can tell "try bfloat16 -> float32" from "fix the command"


def export(
    adapter: Path,
    output: Path,
    dtype: ExportDtype = "float32",
    tolerance: float | None = None,
    probes: str = "builtin",
    max_probes: int = 8,
    base_model: str | None = None,
    trust_remote_code: bool = False,
) -> None:
    """Merge a LoRA adapter into a full-precision copy of its base; save it loadable without peft.

    Args:
        adapter: The PEFT adapter directory (``<run>/adapter``).
        output: New directory for the merged model (must not exist, or be empty).
        dtype: Weight dtype of the merged model.
        tolerance: Largest accepted absolute logit drift between the merged model and base +
            adapter in float32; default 1e-3 for float32, 0.5 for bfloat16.
        probes: Prompts the logits are compared on: ``builtin``, ``seeds`` (the adapter's
            training seeds) or a seed file (JSON Lines with ``instruction`` and ``input``).
        max_probes: Use at most this many probe prompts.
        base_model: The base to merge into; default: the one the adapter records.
        trust_remote_code: Allow custom model code from the base's repository.
    """
    report = export_merged(adapter, output, dtype, tolerance, probes, base_model, max_probes, trust_remote_code)
    sys.stdout.write(json.dumps(asdict(report), indent=2) + "\n")


def main(args: list[str] | None = None) -> None:
    """``selfspec-export``; ``args`` replaces ``sys.argv[1:]`` (tests call it in-process)."""
    from jsonargparse import auto_cli

    configure_model_script()
    try:
        auto_cli(export, args=args, as_positional=False)
    except DriftError as err:
        exit_with(err, DRIFT_EXIT)
    except SelfSpecError as err:
        exit_with(err)
