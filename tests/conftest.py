"""The offline test kit: a tiny Llama and a real fast tokenizer, built in-process, never downloaded.

Every test that needs a model loads ``tiny_model_dir`` through the same ``from_pretrained`` path a
user's Hub model takes. The Hub is switched off for the whole session, so nothing can download.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Before transformers/huggingface_hub are imported anywhere: no network, ever, in the suite.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("SELFSPEC_CACHE", tempfile.mkdtemp(prefix="selfspec-test-cache-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# float32 compute on every CPU (auto would pick bfloat16 on AVX512-BF16 machines): the suite's numbers
# must not depend on the CPU CI lands on; the choice itself is tested as a pure function.
os.environ["SELFSPEC_IGNORE_NATIVE_BF16"] = "1"

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama + byte-level BPE tokenizer saved with ``save_pretrained``."""
    from selfspec.modeling.builtin import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def tiny_lm(tiny_model_dir: Path) -> tuple[Any, Any]:
    """The tiny Llama (float32, eval mode) and its tokenizer, loaded as any user's local model is."""
    import torch
    from transformers import AutoModelForCausalLM

    from selfspec.modeling.loading import load_tokenizer, resolve_model_source

    source = resolve_model_source(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(source.name_or_path, dtype=torch.float32).eval()
    return model, load_tokenizer(source)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real third-party instruction data); absent in an installed copy."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (it sits beside the repository, not in installs)")
    return SHARED_DATA


@pytest.fixture
def example_seeds() -> Path:
    return REPO / "data" / "seeds" / "example.jsonl"


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads. A tiny model gains nothing from more, and on a busy
    machine extra threads fight other processes for cores: a 64-wide linear layer took 24 ms with 2
    threads under load, 0.2 ms with one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """``torch_threads(1)`` for a whole test module (``pytestmark = pytest.mark.usefixtures(...)``)."""
    with torch_threads(1):
        yield


def train_adapter(out_dir: Path, model_dir: Path, seeds: Path, steps: int = 8) -> Path:
    """A real QLoRA adapter (nf4 base) trained for a few steps on ``seeds``, exported by selfspec."""
    import lightning as L

    from selfspec.data.module import SelfSpecDataModule
    from selfspec.specialist import SpecialistModule

    L.seed_everything(0, verbose=False)
    data = SelfSpecDataModule(seeds_path=seeds, base_model=str(model_dir), batch_size=4, val_fraction=0.0)
    module = SpecialistModule(
        base_model=str(model_dir), learning_rate=3e-2, warmup_ratio=0.0, effective_batch_size=None
    )
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=out_dir.parent,
    )  # fmt: skip
    trainer.fit(module, datamodule=data)
    return module.export_adapter(out_dir, template="alpaca")


@pytest.fixture(scope="session")
def two_adapters(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two real adapters of the tiny model, trained on different halves of the example seeds."""
    root = tmp_path_factory.mktemp("adapters")
    lines = (REPO / "data" / "seeds" / "example.jsonl").read_text().splitlines()
    adapters = {}
    with torch_threads(1):
        for name, part in (("bio", lines[:8]), ("fin", lines[8:])):
            seeds = root / f"{name}.jsonl"
            seeds.write_text("\n".join(part) + "\n")
            adapters[name] = train_adapter(root / name, tiny_model_dir, seeds)
    return adapters
