"""Where one training step's time and memory go: selfspec's loss on SmolLM2, forward and backward apart.

    python benchmarks/training_step.py                          # 8 x 768, LoRA dropout 0.05, checkpointing
    python benchmarks/training_step.py --dropout 0              # without LoRA dropout's masks
    python benchmarks/training_step.py --no-checkpointing
    python benchmarks/training_step.py --batch-size 2 --no-checkpointing   # one micro-batch as benchmarks/training.py
    python benchmarks/training_step.py --peft-dropout            # PEFT's nn.Dropout instead of MaskDropout
    python benchmarks/training_step.py --trim                    # malloc_trim(0) after every step
    MALLOC_MMAP_THRESHOLD_=4194304 python benchmarks/training_step.py   # freed activations go back to the OS

The same packed real text as ``benchmarks/training.py``, the model loaded as ``selfspec fit`` loads
it (``quantization: none``, float32 on a CPU without native bfloat16), LoRA on every linear layer,
``selfspec.training.loss.response_loss``, selfspec's ``MaskDropout`` and AdamW. Prints, per step,
the forward and backward seconds, the resident memory after the forward pass and the process's peak (max RSS). Resident
memory is what the OS sees: glibc keeps freed heap memory, so the peak can be far above the live
tensors; the mmap threshold above makes every allocation of 4 MB or more its own mapping,
returned when freed (the peak then tracks the live tensors; the page faults cost time). ``--trim``
returns free heap pages after each step instead: at 2 x 768 the peak stayed at 5.5 GB instead of
climbing to 6.9-7.5 GB, but the next step faults the pages back in (about 2 s, 11%, per step), so
selfspec does not do it.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from training import ALPACA, EXAMPLE_SEEDS, batch_tensors, packed_rows

from selfspec.modeling.adapters import LoraSettings, add_lora, load_base
from selfspec.modeling.dropout import use_mask_dropout
from selfspec.training.loss import response_loss


def resident_gb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="builtin:smollm2-135m")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--length", type=int, default=768)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.05, help="LoRA dropout (selfspec's default 0.05)")
    parser.add_argument("--trim", action="store_true", help="malloc_trim(0) after every step")
    parser.add_argument("--peft-dropout", action="store_true", help="PEFT's nn.Dropout, not selfspec's MaskDropout")
    parser.add_argument("--no-checkpointing", action="store_true", help="keep every layer's activations")
    args = parser.parse_args()
    seeds = ALPACA if ALPACA.is_file() else EXAMPLE_SEEDS
    batch = batch_tensors(packed_rows(args.model, seeds, args.batch_size, args.length))
    base = load_base(args.model, "none", torch.device("cpu"), dtype=torch.float32)
    model = add_lora(base, LoraSettings(dropout=args.dropout), not args.no_checkpointing).train()
    if not args.peft_dropout:
        use_mask_dropout(model)  # as selfspec fit does
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    tokens = batch["input_ids"].numel()
    print(f"{args.model}: {args.batch_size} x {args.length} tokens, {int((batch['labels'] != -100).sum())} labelled; "
          f"dropout {args.dropout}, checkpointing {not args.no_checkpointing}; load {os.getloadavg()[0]:.1f}; "
          f"MALLOC_MMAP_THRESHOLD_={os.environ.get('MALLOC_MMAP_THRESHOLD_', 'unset')}")  # fmt: skip
    for step in range(args.steps):
        started = time.perf_counter()
        loss = response_loss(model, batch)
        forward, resident = time.perf_counter() - started, resident_gb()
        loss.backward()
        backward = time.perf_counter() - started - forward
        optimizer.step()
        optimizer.zero_grad()
        if args.trim:
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        print(f"step {step}: forward {forward:.1f} s (resident after it {resident:.2f} GB), backward {backward:.1f} s, "
              f"{tokens / (forward + backward):.0f} tok/s, peak {peak_gb():.2f} GB", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
