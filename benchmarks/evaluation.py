"""P4 evaluation on a real suite: batched vs one prompt at a time vs the model's plain forward pass.

    python benchmarks/evaluation.py                       # builtin:smollm2-135m on PubMedQA (../shared)
    python benchmarks/evaluation.py --items 24 --shots 0 2 --repeats 3 --precision float32
    python benchmarks/evaluation.py --suite data/eval/example/suite.yaml --model DIR

The default suite is PubMedQA (PQA-L dev, ``../shared/data/biomed``, first ``--items`` records).
All passes run selfspec's runner (prompt building, greedy generation through BatchGenerator,
scoring): batched (``--batch-size``) and one at a time (batch 1), and a plain forward pass over the
same prompt tokens in the batched pass's batches (``benchmarks/realmodel.py``). The passes
alternate and each keeps its best of ``--repeats``, so load on a shared machine hits them alike.

Where the chosen dtype is not float32 (bfloat16 on a CPU with native bf16), a float32 copy of the
model runs the same batched evaluation in the same alternation, unless ``--no-float32``.

Prints the figures, then one JSON line: ``ratio`` = batched (prompt + new) tokens/s over the plain
forward tokens/s, ``batched_vs_loop`` = one-at-a-time seconds over batched seconds, model, F1, load;
with a float32 copy also ``float32_speedup`` (its seconds over the chosen dtype's), ``float32_f1``
and ``same_as_float32`` (identical predictions).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from realmodel import PUBMEDQA, add_model_arguments, alternate, forward_pass, load_model, load_text

from selfspec.evaluation.report import summarise
from selfspec.evaluation.runner import EvalSettings, SuiteResult, build_prompts, context_budget, evaluate_suite
from selfspec.evaluation.suite import load_suite
from selfspec.prompts import ALPACA


def pubmedqa_suite(items: int, folder: Path) -> Path:
    if not PUBMEDQA.is_file():
        raise SystemExit(f"{PUBMEDQA} is absent (../shared/data sits beside the repository)")
    suite = folder / "suite.yaml"
    suite.write_text(f"- name: pubmedqa\n  kind: label\n  path: {PUBMEDQA}\n  limit: {items}\n", encoding="utf-8")
    return suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    parser.add_argument("--suite", default=None, help="suite YAML (default: PubMedQA from ../shared/data)")
    parser.add_argument("--items", type=int, default=16, help="records of the default PubMedQA suite")
    parser.add_argument("--shots", type=int, nargs="+", default=[0])
    parser.add_argument("--demo-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--no-float32", action="store_true", help="no float32 copy to compare a bf16 model with")
    args = parser.parse_args()
    load_before = os.getloadavg()
    model, tokenizer, dtype = load_model(args.model, args.precision, args.threads)
    suite = args.suite or str(pubmedqa_suite(args.items, Path(tempfile.mkdtemp(prefix="selfspec-bench-"))))
    tasks = load_suite(suite)
    common = {"shots": tuple(args.shots), "demo_seeds": tuple(args.demo_seeds), "max_length": args.max_length}
    batched = EvalSettings(**common, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)  # type: ignore[arg-type]
    loop = EvalSettings(**common, max_new_tokens=args.max_new_tokens, batch_size=1)  # type: ignore[arg-type]
    prompts = [i.prompt for i in build_prompts(tasks, ALPACA, tokenizer, batched, context_budget(model, batched))]
    evaluate_suite(model, tokenizer, tasks[:1], ALPACA, EvalSettings(max_new_tokens=2, max_length=args.max_length))
    passes = {
        "forward": lambda: forward_pass(model, tokenizer, prompts, args.batch_size),
        f"batched ({args.batch_size})": lambda: evaluate_suite(model, tokenizer, tasks, ALPACA, batched),
        "one at a time": lambda: evaluate_suite(model, tokenizer, tasks, ALPACA, loop),
    }
    if dtype != torch.float32 and not args.no_float32:
        reference, *_ = load_model(args.model, "float32", args.threads)
        passes["batched, float32"] = lambda: evaluate_suite(reference, tokenizer, tasks, ALPACA, batched)
    best = alternate(passes, args.repeats)
    fwd, bat, one = (best[k] for k in ("forward", f"batched ({args.batch_size})", "one at a time"))
    result: SuiteResult = bat.result
    prompt_tokens = fwd.result
    achieved, forward = (prompt_tokens + result.new_tokens) / bat.seconds, prompt_tokens / fwd.seconds
    same = sum(a == b for a, b in zip(result.predictions, one.result.predictions, strict=True))
    f1 = macro_f1(result)
    n = len(prompts)
    print(f"model {args.model} ({dtype}); suite {suite}: {n} prompts, {prompt_tokens} prompt tokens")
    print(f"plain forward: {forward:.0f} tok/s ({fwd.seconds:.2f} s)")
    for name, best_pass in ((f"batched ({args.batch_size})", bat), ("one at a time", one)):
        seconds, tokens = best_pass.seconds, prompt_tokens + best_pass.result.new_tokens
        print(f"{name:>14}: {n / seconds:.2f} prompts/s, {tokens / seconds:.0f} tok/s ({seconds:.2f} s)")
    print(f"identical predictions batched vs one at a time: {same}/{n}; macro F1 {f1:.1f}")
    record = {"benchmark": "evaluation", "model": args.model, "dtype": str(dtype).removeprefix("torch.")}
    record |= {"ratio": round(achieved / forward, 3), "batched_vs_loop": round(one.seconds / bat.seconds, 3)}
    record |= {"tokens_per_s": round(achieved, 1), "forward_tokens_per_s": round(forward, 1), "prompts": n}
    record |= {"prompt_tokens": prompt_tokens, "new_tokens": result.new_tokens, "f1": round(f1, 1)}
    if "batched, float32" in best:
        f32 = best["batched, float32"]
        same32 = sum(a == b for a, b in zip(result.predictions, f32.result.predictions, strict=True))
        f1_32 = macro_f1(f32.result)
        print(
            f"float32 copy, batched: {f32.seconds:.2f} s = {f32.seconds / bat.seconds:.2f}x the {dtype} time; "
            f"macro F1 {f1_32:.1f} (vs {f1:.1f}); identical predictions {same32}/{n}"
        )
        record |= {"float32_speedup": round(f32.seconds / bat.seconds, 3), "float32_f1": round(f1_32, 1)}
        record |= {"same_as_float32": same32}
    record |= {"batch_size": args.batch_size, "threads": torch.get_num_threads(), "load": load_text(load_before)}
    print(f"load average {record['load']}")
    print(json.dumps(record))


def macro_f1(result: SuiteResult) -> float:
    """The suite's macro F1 (the only task's F1 for one task), in points."""
    rows = summarise(result.sets)
    return 100 * next((r for r in rows if r.task == "macro"), rows[0]).mean("f1")


if __name__ == "__main__":
    main()
