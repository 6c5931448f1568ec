"""GPU check, one command: QLoRA training throughput + MFU and batch-64 generation, selfspec vs HF.

A 7B-shaped Llama (hidden 4096, 32 layers, 11008 MLP, 32 heads, vocab 32000) with random
weights is saved once in bfloat16, then each measurement runs in its own process so its peak
memory is its own:

* ``selfspec``: SpecialistModule (NF4 base through bitsandbytes, LoRA r=8 on all linear layers,
  chunked response-only loss) under Lightning, micro-batch x sequence tokens per step;
* ``hf``: the same base + the same LoRA under ``transformers.Trainer`` (its default loss);
* ``generate``: selfspec's BatchGenerator, batch 64, greedy, vs plain ``model.generate``.

Training MFU counts the model FLOPs of LoRA on a frozen base: forward (2 N per token) plus the
input-gradient backward (2 N), plus attention (forward 4 L T d per token with causal masking
halving it, backward twice that); recomputation is not counted. Peak is 989 TFLOP/s bf16 dense
(H100/H200 SXM); change it with ``--peak-tflops``.

    bash benchmarks/gpu.sh            # 7B shape on one GPU, at most ~8 minutes on an H200
    bash benchmarks/gpu.sh --tiny     # the same pipeline at toy scale on CPU (the test runs this)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    mlp: int
    heads: int
    vocab: int
    seq: int
    micro: int
    steps: int
    gen_batch: int
    prompt: int
    new_tokens: int


SEVEN_B = Shape(4096, 32, 11008, 32, 32000, seq=1024, micro=8, steps=6, gen_batch=64, prompt=128, new_tokens=64)
TINY = Shape(64, 2, 128, 4, 512, seq=32, micro=2, steps=3, gen_batch=4, prompt=8, new_tokens=4)


def build_model(out: Path, shape: Shape) -> Path:
    """Random-init Llama of ``shape`` saved in bfloat16 with selfspec's offline BPE tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from selfspec.modeling.builtin import build_bpe_tokenizer

    if (out / "config.json").is_file():
        return out
    tokenizer = build_bpe_tokenizer(min(shape.vocab, 512))
    config = LlamaConfig(
        vocab_size=shape.vocab, hidden_size=shape.hidden, intermediate_size=shape.mlp,
        num_hidden_layers=shape.layers, num_attention_heads=shape.heads, max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, dtype="bfloat16",
    )  # fmt: skip
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".build-"))
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    tmp.rename(out)
    return out


def batches(shape: Shape, count: int) -> list[dict[str, Any]]:
    """Random token rows; the first quarter of each row is prompt (label -100), as in instruction data."""
    import torch

    gen = torch.Generator().manual_seed(0)
    rows = []
    for _ in range(count):
        ids = torch.randint(3, min(shape.vocab, 512), (shape.micro, shape.seq), generator=gen)
        labels = ids.clone()
        labels[:, : shape.seq // 4] = -100
        rows.append({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels})
    return rows


def flops_per_token(shape: Shape) -> float:
    """Model FLOPs per trained token for LoRA on a frozen base (see the module docstring)."""
    d, layer_params = shape.hidden, 4 * shape.hidden**2 + 3 * shape.hidden * shape.mlp
    n = shape.layers * layer_params + shape.vocab * d  # decoder + output head
    attention_fwd = 4 * shape.layers * shape.seq * d / 2  # causal: half of QK^T and AV
    return 4 * n + 3 * attention_fwd


class _Clock:
    def __init__(self) -> None:
        self.marks: list[float] = []

    def mark(self) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.marks.append(time.perf_counter())

    def tokens_per_s(self, shape: Shape) -> float:
        # The first step warms kernels and allocators up; later steps count.
        timed = self.marks[1:]
        return shape.micro * shape.seq * (len(timed) - 1) / (timed[-1] - timed[0])


def train_selfspec(model_dir: Path, shape: Shape, quantization: str) -> dict[str, Any]:
    import lightning as L

    from selfspec.modeling.quantization import Quantization
    from selfspec.specialist import SpecialistModule

    clock = _Clock()

    class Tick(L.Callback):
        def on_train_batch_start(self, *args: Any) -> None:
            clock.mark()

        def on_train_end(self, *args: Any) -> None:
            clock.mark()

    quant = cast(Quantization, quantization)
    module = SpecialistModule(str(model_dir), quant, effective_batch_size=None, warmup_ratio=0.0)
    trainer = L.Trainer(
        accelerator="auto", devices=1, max_steps=shape.steps, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[Tick()],
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=_loader(batches(shape, shape.steps)))
    return {"tokens_per_s": clock.tokens_per_s(shape)}


def _loader(rows: list[dict[str, Any]]) -> Any:
    from torch.utils.data import DataLoader

    return DataLoader(rows, batch_size=None)  # type: ignore[arg-type]


def train_hf(model_dir: Path, shape: Shape, quantization: str) -> dict[str, Any]:
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from selfspec.modeling.adapters import LoraSettings, add_lora, load_base

    clock = _Clock()

    class Tick(TrainerCallback):
        def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
            clock.mark()

        def on_train_end(self, *args: Any, **kwargs: Any) -> None:
            clock.mark()

    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda else torch.float32
    model = add_lora(load_base(str(model_dir), quantization, dtype=dtype), LoraSettings())  # type: ignore[arg-type]
    rows = [{k: v[i] for k, v in b.items()} for b in batches(shape, shape.steps) for i in range(shape.micro)]
    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(), per_device_train_batch_size=shape.micro, max_steps=shape.steps,
        learning_rate=3e-4, optim="adamw_torch", save_strategy="no", report_to=[], logging_steps=10_000,
        use_cpu=not cuda, bf16=cuda, seed=0, remove_unused_columns=False, disable_tqdm=True,
    )  # fmt: skip
    Trainer(model=model, args=args, train_dataset=rows, callbacks=[Tick()]).train()  # type: ignore[arg-type]
    return {"tokens_per_s": clock.tokens_per_s(shape)}


def generate(model_dir: Path, shape: Shape, quantization: str) -> dict[str, Any]:
    """Greedy new tokens/s at batch ``gen_batch``: selfspec's BatchGenerator, then plain generate."""
    import torch
    from transformers import AutoTokenizer

    from selfspec.decoding.generator import BatchGenerator, SamplingSettings
    from selfspec.modeling.adapters import load_base

    model = load_base(str(model_dir), "none", dtype=torch.bfloat16 if torch.cuda.is_available() else None).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    words = ["the", "cell", "protein", "binds", "a", "receptor", "in", "tissue", "of", "patients", "with"]
    prompts = [" ".join(words[(i + k) % len(words)] for k in range(shape.prompt)) for i in range(shape.gen_batch)]
    settings = SamplingSettings(max_new_tokens=shape.new_tokens)
    generator = BatchGenerator(model, tokenizer, batch_size=shape.gen_batch)
    generator.generate(prompts[:2], SamplingSettings(max_new_tokens=2))  # warm-up
    clock = _Clock()
    clock.mark()
    made = generator.generate(prompts, settings)
    clock.mark()
    selfspec_rate = sum(g.new_tokens for g in made) / (clock.marks[-1] - clock.marks[-2])
    tokenizer.padding_side = "left"
    enc = tokenizer(prompts, return_tensors="pt", padding=True).to(model.device)
    clock.mark()
    out = model.generate(**enc, max_new_tokens=shape.new_tokens, min_new_tokens=shape.new_tokens, do_sample=False)
    clock.mark()
    hf_rate = (out.shape[1] - enc["input_ids"].shape[1]) * len(prompts) / (clock.marks[-1] - clock.marks[-2])
    return {"selfspec_new_tokens_per_s": selfspec_rate, "hf_generate_new_tokens_per_s": hf_rate}


def peak_memory_mb() -> float:
    import resource

    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


WORKERS = {"selfspec": train_selfspec, "hf": train_hf, "generate": generate}


def run_worker(kind: str, model_dir: Path, shape: Shape, quantization: str, timeout: float) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", kind, "--model", str(model_dir), "--quantization", quantization]
    command += ["--shape", json.dumps(asdict(shape))]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"benchmarks/gpu.py: the {kind} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", default=os.environ.get("SELFSPEC_GPU_TINY") == "1")
    parser.add_argument("--quantization", default="nf4", choices=["nf4", "none"])
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--model-dir", type=Path, help="where the random model is saved (reused when present)")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = WORKERS[args.worker](args.model, Shape(**json.loads(args.shape)), args.quantization)
        sys.stdout.write("RESULT " + json.dumps({**result, "peak_memory_mb": peak_memory_mb()}) + "\n")
        return
    report(args)


def report(args: argparse.Namespace) -> None:
    import torch

    shape = TINY if args.tiny else SEVEN_B
    if not args.tiny and not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py: no CUDA device; run with --tiny for the CPU check")
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    workdir = args.model_dir or Path(tempfile.mkdtemp(prefix="selfspec-gpu-")) / "model"
    workdir.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model_dir = build_model(workdir, shape)
    print(f"device {device} | shape {asdict(shape)} | model built in {time.perf_counter() - start:.0f} s", flush=True)
    runs = {kind: run_worker(kind, model_dir, shape, args.quantization, 400) for kind in ("selfspec", "hf", "generate")}
    mfu = {k: runs[k]["tokens_per_s"] * flops_per_token(shape) / (args.peak_tflops * 1e12) for k in ("selfspec", "hf")}
    for kind in ("selfspec", "hf"):
        run = runs[kind]
        rate, peak = run["tokens_per_s"], run["peak_memory_mb"]
        print(f"train {kind:8s} {rate:10.0f} tok/s  MFU {mfu[kind]:6.1%}  peak {peak:.0f} MB")
    gen = runs["generate"]
    print(f"generate batch {shape.gen_batch}: selfspec {gen['selfspec_new_tokens_per_s']:.0f} new tok/s, "
          f"HF generate {gen['hf_generate_new_tokens_per_s']:.0f}")  # fmt: skip
    summary = {
        "benchmark": "gpu", "model": f"llama-{'tiny' if args.tiny else '7b'}-random-{args.quantization}",
        "device": device, "ratio": runs["selfspec"]["tokens_per_s"] / runs["hf"]["tokens_per_s"],
        "memory_ratio": runs["selfspec"]["peak_memory_mb"] / runs["hf"]["peak_memory_mb"],
        "mfu_selfspec": mfu["selfspec"], "mfu_hf": mfu["hf"],
        "generation_ratio": gen["selfspec_new_tokens_per_s"] / gen["hf_generate_new_tokens_per_s"],
        "runs": runs, "seconds": time.perf_counter() - start,
    }  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
