"""One training epoch: selfspec (Lightning + SpecialistModule) vs a plain HF Trainer with PEFT.

Same tiny Llama, same tokenised examples (real Alpaca data from ../shared/data when present),
same max length, micro-batch, effective batch (gradient accumulation), optimizer, learning-rate
schedule and LoRA shape. Each variant runs in its own process so its peak memory (max RSS on CPU,
``max_memory_allocated`` on CUDA) is its own. Throughput counts real (non-padding) tokens per
second of the training loop. Also compares QLoRA (NF4 base) with LoRA peak memory.

    python benchmarks/training.py            # figures, then one JSON line with a "ratio" key
"""

from __future__ import annotations

import argparse
import json
import math
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
MICRO, EFFECTIVE, MAX_LENGTH, LR = 8, 32, 512, 3e-4


def build_model(out: Path, hidden: int, layers: int) -> Path:
    from selfspec.modeling.builtin import TinyLlamaSpec, build_tiny_llama

    spec = TinyLlamaSpec(
        hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers, num_attention_heads=4
    )
    return build_tiny_llama(out, spec)


def data_module(model: Path, seeds: Path) -> Any:
    from selfspec.data.module import SelfSpecDataModule

    return SelfSpecDataModule(
        seeds_path=seeds,
        base_model=str(model),
        max_length=MAX_LENGTH,
        batch_size=MICRO,
        val_fraction=0.0,
        overflow="drop",
    )


def peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_selfspec(model: Path, seeds: Path, quantization: str, max_steps: int = -1) -> dict[str, Any]:
    import lightning as L

    from selfspec.modeling.quantization import Quantization
    from selfspec.specialist import SpecialistModule

    class Clock(L.Callback):
        def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            self.start = time.perf_counter()

        def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            self.seconds = time.perf_counter() - self.start

    data, clock = data_module(model, seeds), Clock()
    module = SpecialistModule(
        base_model=str(model),
        quantization=cast(Quantization, quantization),
        learning_rate=LR,
        effective_batch_size=EFFECTIVE,
    )
    accelerator = "gpu" if _cuda() else "cpu"
    trainer = L.Trainer(accelerator=accelerator, devices=1, max_epochs=1, max_steps=max_steps, logger=False,
                        enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[clock])  # fmt: skip
    trainer.fit(module, datamodule=data)
    tokens = sum(len(e.input_ids) for e in data.train_examples)
    return {"tokens": tokens, "seconds": clock.seconds, "steps": trainer.global_step}


def run_hf(model: Path, seeds: Path, quantization: str) -> dict[str, Any]:
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments

    from selfspec.modeling.adapters import LoraSettings, add_lora, load_base
    from selfspec.modeling.loading import load_tokenizer, resolve_model_source

    class Clock(TrainerCallback):
        def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
            self.start = time.perf_counter()

        def on_train_end(self, *args: Any, **kwargs: Any) -> None:
            self.seconds = time.perf_counter() - self.start

    data = data_module(model, seeds)
    data.setup("fit")
    rows = [{"input_ids": e.input_ids, "labels": e.labels} for e in data.train_examples]
    steps = math.ceil(math.ceil(len(rows) / MICRO) / (EFFECTIVE // MICRO))
    peft_model = add_lora(load_base(str(model), quantization), LoraSettings())  # type: ignore[arg-type]
    tokenizer = load_tokenizer(resolve_model_source(str(model)))
    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(), per_device_train_batch_size=MICRO,
        gradient_accumulation_steps=EFFECTIVE // MICRO, num_train_epochs=1, learning_rate=LR,
        lr_scheduler_type="cosine", warmup_steps=math.ceil(0.03 * steps), optim="adamw_torch",
        save_strategy="no", report_to=[], logging_steps=10_000, use_cpu=not _cuda(), seed=0,
        remove_unused_columns=False, disable_tqdm=True,
    )  # fmt: skip
    clock = Clock()
    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    trainer = Trainer(model=peft_model, args=args, train_dataset=rows, data_collator=collator, callbacks=[clock])
    trainer.train()
    return {
        "tokens": sum(len(r["input_ids"]) for r in rows),
        "seconds": clock.seconds,
        "steps": trainer.state.global_step,
    }


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def worker(kind: str, model: Path, seeds: Path, quantization: str, max_steps: int) -> None:
    if kind == "selfspec":
        result = run_selfspec(model, seeds, quantization, max_steps)
    else:
        result = run_hf(model, seeds, quantization)
    result["peak_memory_mb"] = peak_memory_mb()
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")


def measure(kind: str, model: Path, seeds: Path, quantization: str, max_steps: int = -1) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", kind, "--model", str(model), "--seeds", str(seeds)]
    command += ["--quantization", quantization, "--max-steps", str(max_steps)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    result["tokens_per_s"] = result["tokens"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=["selfspec", "hf"])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--seeds", type=Path, default=ALPACA if ALPACA.is_file() else EXAMPLE_SEEDS)
    parser.add_argument("--quantization", default="none")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--limit", type=int, default=240, help="use the first N examples (0: all)")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each variant; the best counts")
    parser.add_argument("--memory-hidden", type=int, default=1024)
    parser.add_argument("--memory-layers", type=int, default=8)
    parser.add_argument("--max-steps", type=int, default=-1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.model, args.seeds, args.quantization, args.max_steps)
    workdir = Path(tempfile.mkdtemp())
    model = build_model(workdir / "model", args.hidden, args.layers)
    if args.limit:
        lines = args.seeds.read_text(encoding="utf-8").splitlines()[: args.limit]
        args.seeds = workdir / "examples.jsonl"
        args.seeds.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(
        f"data: {args.seeds} | Llama hidden {args.hidden}, {args.layers} layers | micro {MICRO}, effective {EFFECTIVE}"
    )
    # The machine may be shared: alternate the two variants and keep each one's best epoch.
    runs: dict[str, list[dict[str, Any]]] = {"selfspec_lora": [], "hf_trainer_lora": []}
    for _ in range(args.repeats):
        runs["selfspec_lora"].append(measure("selfspec", model, args.seeds, "none"))
        runs["hf_trainer_lora"].append(measure("hf", model, args.seeds, "none"))
    best = {name: max(rs, key=lambda r: r["tokens_per_s"]) for name, rs in runs.items()}
    for name, rs in runs.items():
        rates = ", ".join(f"{r['tokens_per_s']:.0f}" for r in rs)
        print(
            f"{name:16s} best {best[name]['tokens_per_s']:7.0f} tokens/s (runs: {rates})  {best[name]['steps']} steps"
        )
    ratio = best["selfspec_lora"]["tokens_per_s"] / best["hf_trainer_lora"]["tokens_per_s"]
    # Memory: a bigger model, where the base weights dominate, two optimizer steps each.
    big = build_model(workdir / "big", args.memory_hidden, args.memory_layers)
    memory = {q: measure("selfspec", big, args.seeds, q, max_steps=2)["peak_memory_mb"] for q in ("none", "nf4")}
    shape = f"Llama hidden {args.memory_hidden} x {args.memory_layers} layers"
    print(f"peak memory, {shape}: LoRA {memory['none']:.0f} MB, QLoRA {memory['nf4']:.0f} MB")
    print(
        f"selfspec / HF Trainer tokens/s: {ratio:.2f}x | QLoRA / LoRA peak memory: {memory['nf4'] / memory['none']:.2f}"
    )
    summary = {name: {k: round(v, 2) for k, v in r.items()} for name, r in best.items()}
    print(json.dumps({"ratio": round(ratio, 3), "qlora_over_lora_peak_memory": round(memory["nf4"] / memory["none"], 3),
                      "peak_memory_mb": memory, **summary}))  # fmt: skip


if __name__ == "__main__":
    main()
