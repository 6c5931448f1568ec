"""Training throughput and peak memory: selfspec (Lightning + SpecialistModule) vs HF Trainer + PEFT.

Same model, same real text (Alpaca seeds rendered with selfspec's template, prompt tokens
labelled -100, packed into rows of exactly ``--length`` tokens so no position is padding), same
optimizer batch (default 8 x 768), same LoRA shape, optimizer and learning rate. selfspec runs as
``selfspec fit`` does with its defaults (response-only chunked loss, precision auto, no gradient
checkpointing, LoRA dropout with a cheap mask) and
the batch fed as micro-batches of ``--micro-batch`` rows with gradient accumulation (``--data.batch_size
2 --model.effective_batch_size 8``); HF Trainer runs with its defaults (one pass over the whole batch,
full-logits loss, no gradient checkpointing, float32 on CPU). ``--hf-micro-batch 2`` gives HF the same
accumulation, to see what micro-batching alone buys it; ``--hf-bf16`` gives it ``bf16=True`` (autocast),
the fair match where selfspec computes in bfloat16 (a CPU with native bf16: ``selfspec_dtype``).

Each run is its own fresh process, so its peak memory (max RSS on CPU, ``max_memory_allocated``
on CUDA) is its own. The machine may be shared: the variants alternate, the first step of each
run is a warm-up, and the best timed step of each variant counts; the load is printed.

    python benchmarks/training.py --model builtin:smollm2-135m    # figures, then one JSON line
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ALPACA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca_1k.jsonl"
EXAMPLE_SEEDS = Path(__file__).resolve().parents[1] / "data" / "seeds" / "example.jsonl"
LR = 3e-4


def packed_rows(model: str, seeds: Path, rows: int, length: int) -> dict[str, list[list[int]]]:
    """``rows`` x ``length`` token ids and labels: seeds rendered and tokenised as selfspec does, concatenated."""
    from selfspec.data.tokenize import build_example
    from selfspec.modeling.loading import load_tokenizer, resolve_model_source
    from selfspec.prompts import get_template
    from selfspec.seeds import load_seeds

    tokenizer, template = load_tokenizer(resolve_model_source(model)), get_template("alpaca")
    ids: list[int] = []
    labels: list[int] = []
    for seed in load_seeds(seeds):
        if len(ids) >= rows * length:
            break
        prompt = tokenizer(template.render(seed.instruction, seed.input))["input_ids"]
        response = tokenizer(seed.output.strip(), add_special_tokens=False)["input_ids"]
        example = build_example(prompt, response, tokenizer.eos_token_id, 10**6, seed.id)
        ids, labels = ids + example.input_ids, labels + example.labels
    if len(ids) < rows * length:
        raise SystemExit(f"{seeds}: {len(ids)} tokens, fewer than {rows} x {length}; use more seeds or --length")
    cut = [(i * length, (i + 1) * length) for i in range(rows)]
    return {"input_ids": [ids[a:b] for a, b in cut], "labels": [labels[a:b] for a, b in cut]}


def batch_tensors(rows: dict[str, list[list[int]]]) -> dict[str, Any]:
    import torch

    ids = torch.tensor(rows["input_ids"])
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor(rows["labels"])}


def peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class StepClock:
    """Wall time of every optimizer step (synchronised on CUDA)."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.seconds: list[float] = []

    def start(self) -> None:
        self._sync()
        self.starts.append(time.perf_counter())

    def stop(self) -> None:
        self._sync()
        self.seconds.append(time.perf_counter() - self.starts[-1])

    @staticmethod
    def _sync() -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()


def micro_batches(batch: dict[str, Any], micro: int) -> list[dict[str, Any]]:
    """``batch`` cut into consecutive pieces of ``micro`` rows (the last may be shorter)."""
    rows = batch["input_ids"].shape[0]
    return [{k: v[i : i + micro] for k, v in batch.items()} for i in range(0, rows, micro)]


def run_selfspec(
    model: str, batch: dict[str, Any], steps: int, quantization: str, checkpointing: str, micro: int
) -> StepClock:
    import lightning as L
    from torch.utils.data import DataLoader

    from selfspec.modeling.quantization import Quantization
    from selfspec.specialist import SpecialistModule

    clock = StepClock()
    pieces = micro_batches(batch, micro)
    accumulation = len(pieces)

    class Tick(L.Callback):  # one optimizer step = `accumulation` micro-batches
        def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> None:
            if batch_idx % accumulation == 0:
                clock.start()

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            if (batch_idx + 1) % accumulation == 0:
                clock.stop()

    module = SpecialistModule(
        base_model=model, quantization=cast(Quantization, quantization), learning_rate=LR,
        effective_batch_size=None, warmup_ratio=0.0, gradient_checkpointing=checkpointing == "true",
    )  # fmt: skip
    trainer = L.Trainer(accelerator="auto", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[Tick()],
                        accumulate_grad_batches=accumulation)  # fmt: skip
    trainer.fit(module, train_dataloaders=DataLoader(pieces * steps, batch_size=None))  # type: ignore[arg-type]
    return clock


def run_hf(model: str, batch: dict[str, Any], steps: int, quantization: str, micro: int, bf16: bool) -> StepClock:
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from selfspec.modeling.adapters import LoraSettings, add_lora, load_base

    clock = StepClock()

    class Tick(TrainerCallback):
        def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
            clock.start()

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            clock.stop()

    cuda = torch.cuda.is_available()
    peft_model = add_lora(load_base(model, quantization), LoraSettings())  # type: ignore[arg-type]
    size = batch["input_ids"].shape[0]
    rows = [{k: v[i] for k, v in batch.items()} for i in range(size)] * steps
    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(), per_device_train_batch_size=micro, max_steps=steps, learning_rate=LR,
        gradient_accumulation_steps=len(range(0, size, micro)),
        lr_scheduler_type="constant", optim="adamw_torch", save_strategy="no", report_to=[], logging_steps=10_000,
        use_cpu=not cuda, seed=0, remove_unused_columns=False, disable_tqdm=True, dataloader_drop_last=True,
        bf16=bf16,
    )  # fmt: skip
    trainer = Trainer(model=peft_model, args=args, train_dataset=rows, callbacks=[Tick()])  # type: ignore[arg-type]
    trainer.train()
    return clock


def worker(args: argparse.Namespace) -> None:
    batch = batch_tensors(json.loads(Path(args.batch).read_text(encoding="utf-8")))
    if args.worker == "selfspec":
        clock = run_selfspec(args.model, batch, args.steps, args.quantization, args.checkpointing, args.micro_batch)
    else:
        micro = args.hf_micro_batch or len(batch["input_ids"])
        clock = run_hf(args.model, batch, args.steps, args.quantization, micro, args.hf_bf16)
    tokens = int(batch["input_ids"].numel())
    result = {"step_seconds": clock.seconds, "tokens_per_step": tokens, "peak_memory_mb": peak_memory_mb()}
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")


def measure(kind: str, args: argparse.Namespace, batch_file: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", kind, "--model", args.model, "--batch", str(batch_file)]
    command += ["--steps", str(args.steps), "--quantization", args.quantization, "--checkpointing", args.checkpointing]
    command += ["--micro-batch", str(args.micro_batch), "--hf-micro-batch", str(args.hf_micro_batch or args.batch_size)]
    command += ["--hf-bf16"] if args.hf_bf16 else []
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmarks/training.py: the {kind} run failed:\n{done.stderr[-3000:]}")
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    timed = result["step_seconds"][1:] or result["step_seconds"]  # the first step warms up
    result["tokens_per_s"] = result["tokens_per_step"] / min(timed)
    result["load"] = os.getloadavg()[0]
    return result


def report(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="selfspec-train-bench-"))
    batch_file = workdir / "batch.json"
    batch_file.write_text(json.dumps(packed_rows(args.model, args.seeds, args.batch_size, args.length)), "utf-8")
    load = os.getloadavg()
    print(f"model {args.model} | data {args.seeds} packed to {args.batch_size} x {args.length} tokens | micro-batches "
          f"selfspec {args.micro_batch}, HF {args.hf_micro_batch or args.batch_size} rows | "
          f"quantization {args.quantization} | {args.steps} steps per run (first is warm-up) | load {load[0]:.1f}",
          flush=True)  # fmt: skip
    runs: dict[str, list[dict[str, Any]]] = {"selfspec": [], "hf": []}
    for _ in range(args.repeats):  # alternate, so load swings hit both variants
        for kind in runs:
            runs[kind].append(measure(kind, args, batch_file))
            r = runs[kind][-1]
            print(f"  {kind:8s} {r['tokens_per_s']:7.1f} tok/s  peak {r['peak_memory_mb']:7.0f} MB  "
                  f"steps {[round(s, 1) for s in r['step_seconds']]} s  load {r['load']:.1f}", flush=True)  # fmt: skip
    best = {kind: max(rs, key=lambda r: r["tokens_per_s"]) for kind, rs in runs.items()}
    peak = {kind: min(r["peak_memory_mb"] for r in rs) for kind, rs in runs.items()}
    ratio, memory_ratio = best["selfspec"]["tokens_per_s"] / best["hf"]["tokens_per_s"], peak["selfspec"] / peak["hf"]
    print(f"selfspec {best['selfspec']['tokens_per_s']:.1f} tok/s, peak {peak['selfspec']:.0f} MB | "
          f"HF Trainer + PEFT {best['hf']['tokens_per_s']:.1f} tok/s, peak {peak['hf']:.0f} MB")  # fmt: skip
    print(f"selfspec / HF: {ratio:.2f}x tokens/s, {memory_ratio:.2f}x peak memory | load now {os.getloadavg()[0]:.1f}")
    summary = {
        "benchmark": "training", "model": args.model, "ratio": round(ratio, 3), "memory_ratio": round(memory_ratio, 3),
        "batch": [args.batch_size, args.length], "quantization": args.quantization,
        "checkpointing": args.checkpointing, "micro_batch": args.micro_batch,
        "hf_micro_batch": args.hf_micro_batch or args.batch_size, "hf_bf16": args.hf_bf16,
        "selfspec_dtype": selfspec_dtype(),
        "selfspec_tokens_per_s": round(best["selfspec"]["tokens_per_s"], 1),
        "hf_tokens_per_s": round(best["hf"]["tokens_per_s"], 1), "selfspec_peak_mb": round(peak["selfspec"]),
        "hf_peak_mb": round(peak["hf"]), "load": [round(x, 1) for x in load],
    }  # fmt: skip
    print(json.dumps(summary))


def selfspec_dtype() -> str:
    """The compute dtype ``--model.precision auto`` picks on this machine (bfloat16 where native)."""
    from selfspec.modeling.precision import default_device, training_dtype

    return str(training_dtype("auto", default_device())).removeprefix("torch.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="builtin:smollm2-135m", help="hub id, local directory or builtin:")
    parser.add_argument("--seeds", type=Path, default=ALPACA if ALPACA.is_file() else EXAMPLE_SEEDS)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--length", type=int, default=768)
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per run; the first is a warm-up")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each variant; the best counts")
    parser.add_argument("--quantization", default="none", choices=["none", "nf4", "int8"])
    parser.add_argument("--checkpointing", default="false", choices=["true", "false"],
                        help="selfspec's --model.gradient_checkpointing (its default: false)")  # fmt: skip
    parser.add_argument("--micro-batch", type=int, default=2, help="selfspec's rows per forward/backward pass")
    parser.add_argument("--hf-micro-batch", type=int, default=0,
                        help="HF's per-device batch, accumulated to --batch-size; 0: the whole batch")  # fmt: skip
    parser.add_argument("--hf-bf16", action="store_true", help="HF TrainingArguments(bf16=True): autocast")
    parser.add_argument("--worker", choices=["selfspec", "hf"], help=argparse.SUPPRESS)
    parser.add_argument("--batch", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
    else:
        report(args)


if __name__ == "__main__":
    main()
