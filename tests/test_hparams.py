"""Hyper-parameters become plain data (checkpoints must load with weights_only=True)."""

from __future__ import annotations

from pathlib import Path

from selfspec.hparams import make_plain, plain
from selfspec.modeling.adapters import LoraSettings


def test_plain_turns_dataclasses_paths_and_tuples_into_plain_data() -> None:
    value = {"lora": LoraSettings(r=4, target_modules=["q_proj"]), "path": Path("a/b"), "files": (Path("x"), 1)}
    assert plain(value) == {
        "lora": {"r": 4, "alpha": 16, "dropout": 0.05, "target_modules": ["q_proj"]},
        "path": "a/b",
        "files": ["x", 1],
    }
    assert plain(LoraSettings) is LoraSettings  # a class is left alone


def test_make_plain_replaces_in_place() -> None:
    hparams = {"seeds": Path("s.jsonl"), "n": 3}
    make_plain(hparams)
    assert hparams == {"seeds": "s.jsonl", "n": 3}
