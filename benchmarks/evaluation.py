"""Batched suite evaluation vs a one-example-at-a-time loop, on the same suite and model.

    python benchmarks/evaluation.py                     # tiny random Llama, example suite
    python benchmarks/evaluation.py --model DIR_OR_HUB_ID --suite my_suite.yaml --shots 0 5

Both passes run the same runner (prompt building, greedy generation through BatchGenerator,
scoring); the loop pass uses batch_size 1. Prints both rates, then one JSON line with ``ratio``
(batched prompts/s over loop prompts/s), the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

from selfspec.evaluation.runner import EvalSettings, evaluate_suite
from selfspec.evaluation.suite import load_suite
from selfspec.modeling.adapters import load_base
from selfspec.modeling.loading import load_tokenizer, resolve_model_source
from selfspec.prompts import ALPACA


def _timed(model, tokenizer, tasks, settings: EvalSettings) -> tuple[float, int, list[str]]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = evaluate_suite(model, tokenizer, tasks, ALPACA, settings)
    return time.perf_counter() - started, result.new_tokens, [p["prediction"] for p in result.predictions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model directory or Hub id (default: a fresh tiny Llama)")
    parser.add_argument("--suite", default="data/eval/example/suite.yaml")
    parser.add_argument("--shots", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--demo-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=512)
    args = parser.parse_args()
    torch.manual_seed(0)
    model_dir = args.model
    if model_dir is None:
        from selfspec.modeling.builtin import build_tiny_llama

        model_dir = str(build_tiny_llama(tempfile.mkdtemp(prefix="selfspec-bench-")))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = load_base(model_dir, "none", device).eval()
    tokenizer = load_tokenizer(resolve_model_source(model_dir))
    tasks = load_suite(args.suite)
    common = dict(shots=tuple(args.shots), demo_seeds=tuple(args.demo_seeds), max_new_tokens=args.max_new_tokens)
    batched = EvalSettings(**common, max_length=args.max_length, batch_size=args.batch_size)  # type: ignore[arg-type]
    loop = EvalSettings(**common, max_length=args.max_length, batch_size=1)  # type: ignore[arg-type]
    _timed(model, tokenizer, tasks[:1], EvalSettings(max_new_tokens=2, max_length=args.max_length))  # warm-up
    loop_s, loop_tokens, loop_preds = _timed(model, tokenizer, tasks, loop)
    batch_s, batch_tokens, batch_preds = _timed(model, tokenizer, tasks, batched)
    n = len(batch_preds)
    same = sum(a == b for a, b in zip(batch_preds, loop_preds, strict=True))
    print(f"model {model_dir} on {device}; suite {args.suite}: {n} prompts, shots {args.shots}")
    for name, seconds, tokens in (
        ("one at a time", loop_s, loop_tokens),
        (f"batched ({args.batch_size})", batch_s, batch_tokens),
    ):
        print(f"{name:>14}: {n / seconds:8.2f} prompts/s  {tokens / seconds:9.1f} new tokens/s  ({seconds:.1f} s)")
    print(f"identical predictions: {same}/{n} (padding can change greedy ties in low precision)")
    record = {
        "benchmark": "evaluation",
        "prompts": n,
        "loop_prompts_per_s": round(n / loop_s, 3),
        "batched_prompts_per_s": round(n / batch_s, 3),
        "batch_size": args.batch_size,
        "device": str(device),
        "ratio": round(loop_s / batch_s, 3),
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
