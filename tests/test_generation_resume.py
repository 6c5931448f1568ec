"""SIGKILL a generating process at several points; the resumed run's files equal an uninterrupted run's."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from generation_kit import hybrid_factory, plan_from_spec

from selfspec.generation.recipe import GenerationRun
from selfspec.io import is_temporary

KIT = Path(__file__).resolve().parent / "generation_kit.py"
REPO = KIT.parents[1]


def _spec(model: Path, cache: Path, spec_dir: Path) -> Path:
    spec = {"seeds": str(REPO / "data" / "seeds" / "example.jsonl"), "model": str(model), "n": 12, "cache": str(cache)}
    spec |= {"prompts_per_round": 1, "chunk": 2, "max_new_tokens": 24}
    path = spec_dir / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def _shards(cache: Path) -> int:
    return sum(1 for _ in cache.rglob("round-*.json")) + sum(1 for _ in cache.rglob("chunk-*.json"))


def _start(spec: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {"PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(KIT), str(spec)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _kill_after(proc: subprocess.Popen[bytes], cache: Path, shards: int, delay: float) -> bool:
    """SIGKILL once ``shards`` shards exist plus ``delay`` seconds; False if the run finished first."""
    while _shards(cache) < shards:
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    time.sleep(delay)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def _files(root: Path) -> dict[str, bytes]:
    """Every file's bytes; a temporary file a kill left mid-write (``.x.tmp``) is not content."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and not is_temporary(p))
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


# 12 instructions = 4 brainstorm rounds (3 items each, none dropped) + 6 response chunks = 10 shards.
@pytest.mark.parametrize("kill_points", [(1, 7), pytest.param((1, 3, 5, 7, 8), marks=pytest.mark.slow)])
def test_killed_and_resumed_equals_uninterrupted(
    tiny_model_dir: Path, tmp_path: Path, kill_points: tuple[int, ...]
) -> None:
    plain_cache, killed_cache = tmp_path / "plain", tmp_path / "killed"
    plain_spec = _spec(tiny_model_dir, plain_cache, tmp_path)
    plan = plan_from_spec(json.loads(plain_spec.read_text()))
    GenerationRun(plan, hybrid_factory(plan)).dataset()

    (tmp_path / "k").mkdir()
    spec = _spec(tiny_model_dir, killed_cache, tmp_path / "k")
    rng = random.Random(0)
    kills = 0
    for shards in kill_points:  # shards finished before the kill (+ a random delay)
        kills += _kill_after(_start(spec), killed_cache, shards, rng.uniform(0.0, 0.2))
    assert kills == len(kill_points), "the run finished before it could be killed; give it more work"
    final = _start(spec)
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()[-2000:]
    ours, expected = _files(killed_cache), _files(plain_cache)
    assert ours.keys() == expected.keys()
    assert ours == expected  # every shard, data.jsonl, funnel.json and manifest, byte for byte
