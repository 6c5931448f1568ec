"""Scores computed by two processes, each on its shard of the prompts, equal one process's scores."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch

from selfspec.evaluation.prompting import PromptItem
from selfspec.evaluation.runner import score_sets
from selfspec.evaluation.tasks import EvalRecord

GOLDS = [("yes",), ("no",), ("aspirin, ibuprofen",), ("the cat sat",), ("Paris",), ("x y z",), ("maybe",)]
PREDICTIONS = ["yes", "yes", "ibuprofen", "a cat sat down", "paris.", "x z", "no"]


def _items() -> list[PromptItem]:
    return [
        PromptItem("a" if k < 4 else "b", "label", 0, None, EvalRecord("q", "", gold, f"r{k}"), "p", k == 5, True)
        for k, gold in enumerate(GOLDS)
    ]


def _worker(rank: int, port: int, out: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        items = _items()
        sets = score_sets(items, items[rank::2], PREDICTIONS[rank::2], torch.device("cpu"))
        Path(out, f"{rank}.json").write_text(json.dumps([[s.task, s.n, s.truncated, vars(s.scores)] for s in sets]))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_processes_score_like_one(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    torch.multiprocessing.spawn(_worker, args=(port, str(tmp_path)), nprocs=2, join=True)
    single = score_sets(_items(), _items(), PREDICTIONS, torch.device("cpu"))
    expected = [[s.task, s.n, s.truncated, vars(s.scores)] for s in single]
    ranks = [json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2)]
    for got in ranks:
        assert [row[:3] for row in got] == [row[:3] for row in expected]
        for row, want in zip(got, expected, strict=True):
            assert row[3] == pytest.approx(want[3])
    # Hand-computed, rows 0-3 of task a (a label task: its labels are the four golds): the predictions map
    # to yes, yes, none ("ibuprofen" is not the label "aspirin, ibuprofen"), "the cat sat"; per-label F1
    # yes 2/3 (precision 1/2, recall 1), no 0, "aspirin, ibuprofen" 0, "the cat sat" 1; macro-F1 over 4.
    assert expected[0][3]["f1"] == pytest.approx((2 / 3 + 0 + 0 + 1) / 4)
