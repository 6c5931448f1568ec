"""k-shot evaluation on the real model: the float view + shared-prefix generation vs what ran before.

    python benchmarks/kshot.py                    # SmolLM2, 5-shot PubMedQA of data/eval/biomed/suite.yaml
    python benchmarks/kshot.py --items 16 --repeats 1

Three passes over the same prompts (the suite's 5-shot PubMedQA items, demonstrations cut per
group so a group shares its prefix), greedy, the evaluation's settings (24 new tokens, batch 16):

* ``nf4``: the 4-bit QLoRA model (fresh adapter) as evaluation ran it before, every prompt whole;
* ``float``: its float view (``selfspec.modeling.inference``), every prompt whole;
* ``float+prefix``: the float view, each group's shared demonstrations computed once.

Prints seconds and prompt tokens/s per pass, the ratios against ``nf4`` and how many answers agree,
then one JSON line. The passes alternate (best of ``--repeats``) so load hits them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from selfspec.decoding import generator
from selfspec.decoding.generator import BatchGenerator, SamplingSettings
from selfspec.evaluation.runner import EvalSettings, build_prompts, prompt_groups
from selfspec.evaluation.suite import load_suite
from selfspec.modeling.adapters import LoraSettings, add_lora, load_base
from selfspec.modeling.inference import float_view_on_cpu
from selfspec.modeling.loading import load_tokenizer, resolve_model_source
from selfspec.noise import silence_known_noise
from selfspec.prompts import ALPACA

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="builtin:smollm2-135m")
    parser.add_argument("--suite", default=str(REPO / "data/eval/biomed/suite.yaml"))
    parser.add_argument("--task", default="pubmedqa")
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--items", type=int, default=40, help="first N prompts of the task")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    silence_known_noise()
    tokenizer = load_tokenizer(resolve_model_source(args.model))
    model = add_lora(load_base(args.model, "nf4"), LoraSettings(r=8, alpha=16, dropout=0.05)).eval()
    settings = EvalSettings(shots=[args.shots], demo_seeds=[0], max_new_tokens=24, max_length=1024, batch_size=16)
    tasks = [t for t in load_suite(args.suite) if t.name == args.task]
    items = build_prompts(tasks, ALPACA, tokenizer, settings, 1024 - 24)[: args.items]
    groups = prompt_groups(items)
    tokens = sum(len(tokenizer(i.prompt)["input_ids"]) for i in items)
    sampling = SamplingSettings(max_new_tokens=24)

    def run(shared_prefix: bool) -> tuple[float, list[str]]:
        generator.MIN_SHARED_PREFIX = 32 if shared_prefix else 10**9
        gen = BatchGenerator(model, tokenizer, 16)
        started = time.perf_counter()
        texts = [g.text for group in groups for g in gen.generate([items[i].prompt for i in group], sampling)]
        return time.perf_counter() - started, texts

    best: dict[str, float] = {}
    answers: dict[str, list[str]] = {}
    for _ in range(args.repeats):
        for name in ("nf4", "float", "float+prefix"):
            with torch.no_grad():
                if name == "nf4":
                    seconds, answers[name] = run(False)
                else:
                    with float_view_on_cpu(model):
                        seconds, answers[name] = run(name == "float+prefix")
            best[name] = min(best.get(name, seconds), seconds)
            print(f"{name:>13}: {seconds:6.1f} s, {tokens / seconds:5.0f} prompt tokens/s", flush=True)
    same = {k: sum(a == b for a, b in zip(answers["nf4"], v, strict=True)) for k, v in answers.items()}
    ratio = {k: best["nf4"] / v for k, v in best.items()}
    print(
        f"{len(items)} prompts, {tokens} prompt tokens; speed vs nf4: "
        + ", ".join(f"{k} {v:.2f}x" for k, v in ratio.items())
    )
    print("answers equal to nf4's: " + ", ".join(f"{k} {v}/{len(items)}" for k, v in same.items()))
    load = os.getloadavg()[0]
    print(
        json.dumps(
            {"prompts": len(items), "tokens": tokens, "seconds": best, "ratio": ratio, "same": same, "load": load}
        )
    )


if __name__ == "__main__":
    main()
