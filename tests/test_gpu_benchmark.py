"""benchmarks/gpu.sh at toy scale on CPU: every stage runs and the JSON line carries its figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_script_runs_tiny_on_cpu(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    command = ["bash", str(REPO / "benchmarks" / "gpu.sh"), "--tiny", "--model-dir", str(tmp_path / "model")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["benchmark"] == "gpu" and summary["model"] == "llama-tiny-random-nf4"
    for key in ("ratio", "memory_ratio", "mfu_selfspec", "mfu_hf", "generation_ratio"):
        assert summary[key] > 0, key
    assert summary["runs"]["generate"]["selfspec_new_tokens_per_s"] > 0
