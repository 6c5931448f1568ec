"""Shared pieces of the real-model benchmarks (generation.py, evaluation.py): load, prompts, forward baseline.

Every benchmark measures its own baseline, a plain forward pass of the same model over the same
prompt tokens (``use_cache=False``, last-position logits only, the batches the generator makes),
in the same process, on as many threads as the generator takes (``auto_threads``: the cores other
processes leave free), and alternates baseline and candidate passes, keeping each one's best time:
on a shared machine the load hits both alike and the best pass is the least disturbed one.

Where the time goes (torch profiler, SmolLM2 float32, 16 PubMedQA prompts of 293-588 tokens, batch
16, 2-core AVX2 EPYC, idle): the prefill is the plain forward pass's work (``aten::mm`` 67%, flash
attention 17%, elementwise ops the rest; ``generate`` already kept only the last position's logits).
A decode step cost about 0.33 s at 16 rows with ``generate``: the linear layers 0.21 s, their weights
streamed at 2.5 GB/s (a sum reads 12 GB/s here, the same products as ``(W @ x.T).T`` 4.7-8.5 GB/s),
the output head 58 ms of it, attention over the cache 80 ms, the cache growing by concatenation
about 20 ms; and rows that had finished kept decoding until the batch's longest was done (in the
response benchmark most rows stop by 10 tokens, two run to 48). selfspec's decode loop
(``selfspec/decoding/decode.py``) drops finished rows, keeps the cache in one reserved buffer per
layer, and computes narrow linears as ``(W @ x.T).T`` (``selfspec/decoding/narrow_linear.py``,
1.2-2.8x per layer at 2-64 rows).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

from selfspec.decoding.generator import length_buckets
from selfspec.modeling.adapters import load_base
from selfspec.modeling.loading import load_tokenizer, resolve_model_source
from selfspec.modeling.precision import PRECISIONS, default_device, inference_dtype
from selfspec.modeling.threads import auto_threads, torch_threads

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PUBMEDQA = SHARED / "biomed" / "pubmedqa_pqal_dev.jsonl"
DEFAULT_MODEL = "builtin:smollm2-135m"


def add_model_arguments(parser: Any) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL, help="base_model (builtin:, a directory or a Hub id)")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="dtype (auto: bf16 where native)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating passes of each kind; the best counts")
    parser.add_argument("--threads", type=int, default=None, help="most torch threads (default: torch's)")


def load_model(name: str, precision: str, threads: int | None) -> tuple[Any, Any, torch.dtype]:
    if threads:
        torch.set_num_threads(threads)
    device = default_device()
    dtype = inference_dtype(device, precision)
    model = load_base(name, "none", device, dtype=dtype).eval()
    return model, load_tokenizer(resolve_model_source(name)), dtype


def pubmedqa_rows(n: int) -> list[dict[str, Any]]:
    if not PUBMEDQA.is_file():
        raise SystemExit(f"{PUBMEDQA} is absent (../shared/data sits beside the repository)")
    return [json.loads(line) for line in PUBMEDQA.read_text(encoding="utf-8").splitlines()[:n]]


@torch.inference_mode()
def forward_pass(model: Any, tokenizer: Any, prompts: Sequence[str], batch_size: int) -> int:
    """One plain forward over every prompt in the generator's length buckets; returns the real tokens."""
    encoded = [tokenizer(p)["input_ids"] for p in prompts]
    device = getattr(model, "device", torch.device("cpu"))
    for batch in length_buckets([len(e) for e in encoded], batch_size):
        rows = [encoded[i] for i in batch]
        width = max(len(r) for r in rows)
        ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(r)) + r for r in rows], device=device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
        with torch_threads(auto_threads() if device.type == "cpu" else None):  # per batch, as the generator decides
            model(input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=1)
    return sum(len(e) for e in encoded)


@dataclass
class Best:
    """The best (shortest) time of a kind of pass, and what its last pass returned."""

    seconds: float = float("inf")
    result: Any = None


def alternate(passes: dict[str, Callable[[], Any]], repeats: int) -> dict[str, Best]:
    """Run the passes in turn ``repeats`` times (A B C A B C ...), keeping each one's best time."""
    best = {name: Best() for name in passes}
    for _ in range(repeats):
        for name, run in passes.items():
            started = time.perf_counter()
            result = run()
            seconds = time.perf_counter() - started
            best[name] = Best(min(best[name].seconds, seconds), result)
            print(f"  {name}: {seconds:.2f} s", flush=True)
    return best


def load_text(before: tuple[float, ...]) -> str:
    """The 1-minute load average before and after, and the cores: the context of every figure."""
    return f"{before[0]:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
