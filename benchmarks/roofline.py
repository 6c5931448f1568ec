"""How close the prefill comes to this machine's matrix products, on a real model (issue 13).

A plain forward pass over long prompts (the prefill) is most of evaluation's time and much of
generation's on a CPU. This benchmark asks what is left to gain there: it times the pass over
PubMedQA abstracts in the generator's batches, counts the floating-point work the pass must do
(every decoder linear layer: 2 x in x out per padded token; causal attention: 2 x L^2 x head_dim
per head for scores and values, half the square), and times ``torch.nn.functional.linear`` at the
very same shapes with random weights: the rate the machine's matrix products reach here.

    python benchmarks/roofline.py [--model builtin:smollm2-135m] [--prompts 16] [--repeats 3]

Prints the figures, then one JSON line: ``ratio`` = the forward pass's FLOP/s over the bare products'
FLOP/s (1.0 = the pass runs as fast as its matrix products alone could), the model, precision and
load. Passes alternate and each keeps its best time (``realmodel.alternate``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from realmodel import DEFAULT_MODEL, alternate, forward_pass, load_model, load_text, pubmedqa_rows

from selfspec.decoding.generator import length_buckets
from selfspec.modeling.threads import auto_threads, torch_threads


def batch_widths(tokenizer: Any, prompts: list[str], batch_size: int) -> list[tuple[int, int]]:
    """(rows, padded width) of each batch the generator would make."""
    lengths = [len(tokenizer(p)["input_ids"]) for p in prompts]
    return [(len(b), max(lengths[i] for i in b)) for b in length_buckets(lengths, batch_size)]


def linear_shapes(model: Any) -> Counter[tuple[int, int]]:
    """(in, out) of every decoder linear layer, counted; the output head runs for one position only."""
    layers = model.model.layers
    return Counter((m.in_features, m.out_features) for m in layers.modules() if isinstance(m, torch.nn.Linear))


def work(model: Any, batches: list[tuple[int, int]]) -> tuple[float, float]:
    """FLOPs of the pass: decoder linears, causal attention."""
    config = model.config
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    per_token = sum(2 * i * o * n for (i, o), n in linear_shapes(model).items())
    tokens = sum(rows * width for rows, width in batches)
    attention = sum(
        rows * config.num_hidden_layers * config.num_attention_heads * 2 * width * width * head_dim
        for rows, width in batches
    )  # QK^T and AV, 2 FLOPs per multiply-add each, over the causal half of the L x L square
    return float(per_token * tokens), float(attention)


def bare_products(model: Any, batches: list[tuple[int, int]], dtype: torch.dtype) -> Any:
    """A pass of the decoder's linear products alone, at the forward pass's shapes (random data)."""
    shapes = linear_shapes(model)
    weights = {(i, o): torch.randn(o, i, dtype=dtype) for i, o in shapes}
    inputs = [{i: torch.randn(rows * width, i, dtype=dtype) for i, _ in shapes} for rows, width in batches]

    @torch.inference_mode()
    def run() -> None:
        for x in inputs:
            with torch_threads(auto_threads()):  # per batch, as the generator and forward_pass decide
                for (i, o), n in shapes.items():
                    for _ in range(n):
                        torch.nn.functional.linear(x[i], weights[(i, o)])

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bf16"])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    before = os.getloadavg()
    model, tokenizer, dtype = load_model(args.model, args.precision, None)
    prompts = [f"{r['instruction']}\n\n{r['input']}" for r in pubmedqa_rows(args.prompts)]
    batches = batch_widths(tokenizer, prompts, args.batch_size)
    linear_flops, attention_flops = work(model, batches)
    best = alternate(
        {
            "forward": lambda: forward_pass(model, tokenizer, prompts, args.batch_size),
            "products": bare_products(model, batches, dtype),
        },
        args.repeats,
    )
    forward, products = best["forward"].seconds, best["products"].seconds
    padded = sum(rows * width for rows, width in batches)
    real = best["forward"].result
    matmul_rate = linear_flops / products
    achieved = (linear_flops + attention_flops) / forward
    ratio = achieved / matmul_rate
    print(f"model {args.model} ({dtype}), {args.prompts} PubMedQA prompts in {len(batches)} batches")
    print(f"tokens: {real} real, {padded} padded; work: linears {linear_flops / 1e12:.2f} TFLOP, ", end="")
    print(f"attention {attention_flops / 1e12:.2f} TFLOP")
    print(f"forward pass: {forward:.1f} s, {real / forward:.0f} real tokens/s, {achieved / 1e9:.0f} GFLOP/s")
    print(f"bare linear products at the same shapes: {products:.1f} s, {matmul_rate / 1e9:.0f} GFLOP/s")
    print(f"forward / products: {ratio:.2f} | load {load_text(before)}")
    record = {
        "benchmark": "roofline",
        "model": args.model,
        "dtype": str(dtype).removeprefix("torch."),
        "ratio": round(ratio, 3),
        "forward_tokens_per_s": round(real / forward, 1),
        "forward_gflops": round(achieved / 1e9, 1),
        "products_gflops": round(matmul_rate / 1e9, 1),
        "load": load_text(before),
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
