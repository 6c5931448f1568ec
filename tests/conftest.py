"""The offline test kit: a tiny Llama and a real fast tokenizer, built in-process, never downloaded.

Every test that needs a model loads ``tiny_model_dir`` through the same ``from_pretrained`` path a
user's Hub model takes. The Hub is switched off for the whole session, so nothing can download.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Before transformers/huggingface_hub are imported anywhere: no network, ever, in the suite.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("SELFSPEC_CACHE", tempfile.mkdtemp(prefix="selfspec-test-cache-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama + byte-level BPE tokenizer saved with ``save_pretrained``."""
    from selfspec.modeling.builtin import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real third-party instruction data); absent in an installed copy."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (it sits beside the repository, not in installs)")
    return SHARED_DATA


@pytest.fixture
def example_seeds() -> Path:
    return REPO / "data" / "seeds" / "example.jsonl"
