"""Probe prompts: the texts on which an exported model is compared with the adapter it came from.

``builtin`` is a handful of short, mixed-domain instructions; ``seeds`` is the adapter's own
training seeds (``data.seeds_path`` in the ``selfspec_config.yaml`` saved beside it); anything else
is a seed file (JSON Lines of ``{"instruction", "input"?, "output"}``). Every probe is rendered with
the adapter's prompt template, so the comparison runs on the kind of text the model will see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from selfspec.errors import ConfigError
from selfspec.modeling.compat import AdapterInfo
from selfspec.prompts import resolve_template
from selfspec.seeds import load_seeds

BUILTIN_PROBES: tuple[tuple[str, str], ...] = (
    ("Explain what an enzyme does in one sentence.", ""),
    ("Classify the sentiment of the sentence as positive or negative.", "The quarterly results beat expectations."),
    ("List two symptoms of influenza.", ""),
    ("What is the difference between a stock and a bond?", ""),
    ("Extract the drug names from the text.", "The patient was given aspirin and later metformin."),
    ("Summarise the passage.", "Interest rates rose for the third time this year, and mortgage demand fell."),
)


def probe_prompts(probes: str, info: AdapterInfo, tokenizer: Any, limit: int = 8) -> tuple[list[str], str]:
    """Up to ``limit`` probe prompts in the adapter's template (``chat``: ``tokenizer``'s) and their source."""
    if limit < 1:
        raise ConfigError(f"--max_probes must be at least 1, got {limit}")
    template = resolve_template(info.template or "alpaca", tokenizer)
    if probes == "builtin":
        pairs = list(BUILTIN_PROBES)
        source = "builtin"
    else:
        path = training_seeds(info) if probes == "seeds" else Path(probes)
        if probes != "seeds" and not path.is_file():
            raise ConfigError(f"--probes {probes}: no such file (use builtin, seeds, or a seed file)")
        pairs = [(seed.instruction, seed.input) for seed in load_seeds(path)]
        source = str(path)
    # The first `limit`, not a sample: the same probes on every export of the same adapter.
    return [template.render(instruction, input) for instruction, input in pairs[:limit]], source


def training_seeds(info: AdapterInfo) -> Path:
    """The seed file the adapter was trained on, from the run configuration saved beside it."""
    config_file = info.path / "selfspec_config.yaml"
    config = yaml.safe_load(config_file.read_text(encoding="utf-8")) if config_file.is_file() else None
    seeds = ((config or {}).get("data") or {}).get("seeds_path") if isinstance(config, dict) else None
    if not seeds:
        raise ConfigError(f"--probes seeds: {info.label} has no selfspec_config.yaml naming data.seeds_path")
    path = Path(seeds)
    if not path.is_file():
        raise ConfigError(
            f"--probes seeds: {info.label} was trained on {seeds}, which is not here (relative to {Path.cwd()}); "
            "pass the seed file itself as --probes"
        )
    return path
