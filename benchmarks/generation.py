"""Batched generation: selfspec's BatchGenerator vs a one-prompt-at-a-time ``model.generate`` loop.

The loop is how Self-Instruct-style scripts run a local model. Same 64 prompts (real Alpaca
instructions in the Alpaca template, ../shared/data), same tiny random Llama (built offline), same
greedy decoding and ``max_new_tokens``, one process, one after the other (each warmed up first).

    python benchmarks/generation.py [--batch-size 32] [--max-new-tokens 64]

Prints both rates, then (last line) JSON with ``ratio`` = our tokens/s / the loop's tokens/s.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from selfspec.generation.generator import BatchGenerator, SamplingSettings
from selfspec.modeling.builtin import build_tiny_llama
from selfspec.modeling.loading import load_tokenizer, resolve_model_source
from selfspec.prompts import ALPACA

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FALLBACK = ["Give three tips for staying healthy.", "Explain what a gene is.", "Name a common painkiller."]


def prompts(n: int) -> list[str]:
    path = SHARED / "alpaca_1k.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []
    pairs = [(r["instruction"], r["input"]) for r in rows] or [(f, "") for f in FALLBACK]
    return [ALPACA.render(*pairs[i % len(pairs)]) for i in range(n)]


@torch.inference_mode()
def one_by_one(model: torch.nn.Module, tokenizer, texts: list[str], max_new_tokens: int) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """The baseline: ``model.generate`` per prompt; returns (new tokens, seconds)."""
    tokens, started = 0, time.perf_counter()
    for text in texts:
        enc = tokenizer(text, return_tensors="pt")
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        new = out[0, enc["input_ids"].shape[1] :].tolist()
        tokens += new.index(tokenizer.eos_token_id) if tokenizer.eos_token_id in new else len(new)
    return tokens, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()
    from transformers import AutoModelForCausalLM

    with tempfile.TemporaryDirectory() as tmp:
        source = resolve_model_source(str(build_tiny_llama(Path(tmp) / "tiny")))
        model = AutoModelForCausalLM.from_pretrained(source.name_or_path, dtype=torch.float32).eval()
        tokenizer = load_tokenizer(source)
    texts = prompts(args.prompts)
    greedy = SamplingSettings(max_new_tokens=args.max_new_tokens)
    one_by_one(model, tokenizer, texts[:2], 4)  # warm-up
    base_tokens, base_s = one_by_one(model, tokenizer, texts, args.max_new_tokens)
    generator = BatchGenerator(model, tokenizer, batch_size=args.batch_size)
    generator.generate(texts[:2], SamplingSettings(max_new_tokens=4))  # warm-up
    started = time.perf_counter()
    ours = generator.generate(texts, greedy)
    ours_s = time.perf_counter() - started
    ours_tokens = sum(g.new_tokens for g in ours)
    base_rate, ours_rate = base_tokens / base_s, ours_tokens / ours_s
    print(f"one prompt at a time: {base_tokens} tokens in {base_s:.2f} s = {base_rate:.0f} tokens/s")
    print(
        f"BatchGenerator (batch {args.batch_size}): {ours_tokens} tokens in {ours_s:.2f} s = {ours_rate:.0f} tokens/s"
    )
    print(f"speed-up: {ours_rate / base_rate:.1f}x  (torch threads: {torch.get_num_threads()})")
    summary = {"benchmark": "generation", "prompts": len(texts), "max_new_tokens": args.max_new_tokens}
    summary |= {"batch_size": args.batch_size, "loop_tokens_per_s": round(base_rate, 1)}
    summary |= {"ours_tokens_per_s": round(ours_rate, 1), "ratio": round(ours_rate / base_rate, 2)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
