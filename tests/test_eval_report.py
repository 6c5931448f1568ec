"""Runner and report: set scoring, mean +- SD rows with a macro row, the files and the chart."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from selfspec.evaluation.metrics import Scores
from selfspec.evaluation.report import format_markdown, load_report, plot_runs, summarise, write_report
from selfspec.evaluation.runner import EvalSettings, SetResult, build_prompts, evaluate_suite, score_sets
from selfspec.evaluation.suite import load_suite
from selfspec.prompts import ALPACA

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "data" / "eval" / "example" / "suite.yaml"


def _set(task: str, shots: int, seed: int | None, f1: float, truncated: int = 0) -> SetResult:
    return SetResult(task, "label", shots, seed, 10, truncated, 0, Scores(f1, f1 / 2, f1))


SETS = [
    _set("a", 0, None, 0.5, truncated=1),
    _set("a", 2, 0, 0.4),
    _set("a", 2, 1, 0.6, truncated=2),
    _set("b", 0, None, 1.0),
    _set("b", 2, 0, 0.2),
    _set("b", 2, 1, 0.4),
]


def test_summarise_gives_mean_sd_per_task_and_a_macro_row_per_shots() -> None:
    rows = summarise(SETS)
    assert [(r.task, r.shots) for r in rows] == [("a", 0), ("a", 2), ("b", 0), ("b", 2), ("macro", 0), ("macro", 2)]
    a2, macro0, macro2 = rows[1], rows[4], rows[5]
    assert a2.mean("f1") == pytest.approx(0.5) and a2.sd("f1") == pytest.approx(0.1414214, abs=1e-6)
    assert a2.truncated == 2 and a2.n == 10
    assert macro0.mean("f1") == pytest.approx(0.75) and macro0.sd("f1") == 0.0 and macro0.truncated == 1
    # macro per set: (0.4 + 0.2) / 2 = 0.3 and (0.6 + 0.4) / 2 = 0.5 -> 0.4 +- 0.1414
    assert macro2.f1 == pytest.approx((0.3, 0.5)) and macro2.em == pytest.approx((0.15, 0.25))
    table = format_markdown(rows, "t")
    assert "| a | label | 2 | 2 | 10 | 50.0 ± 14.1 | 25.0 ± 7.1 | 50.0 ± 14.1 | 2 |" in table
    assert "| macro | - | 0 | 1 | 20 | 75.0 | 37.5 | 75.0 | 1 |" in table


def test_report_files_and_chart(tmp_path: Path) -> None:
    rows = summarise(SETS)
    paths = write_report(rows, tmp_path, {"label": "base"})
    assert [p.name for p in paths] == ["eval.md", "eval.csv", "eval.json"]
    table = list(csv.DictReader((tmp_path / "eval.csv").open()))
    assert table[1]["task"] == "a" and float(table[1]["f1_mean"]) == pytest.approx(0.5)
    assert float(table[1]["f1_sd"]) == pytest.approx(0.141421, abs=1e-6)
    report = load_report(tmp_path / "eval.json")
    assert report["meta"] == {"label": "base"} and report["rows"][5]["f1"] == pytest.approx([0.3, 0.5])
    other = json.loads(json.dumps(report).replace('"base"', '"round1"'))
    chart = plot_runs([("base", report), ("round1", other)], tmp_path / "chart.png")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 5000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.png", "eval.csv", "eval.json", "eval.md"]


def test_score_sets_counts_every_set_and_scores_against_gold(tiny_model_dir: Path) -> None:
    from selfspec.modeling.loading import load_tokenizer, resolve_model_source

    tokenizer = load_tokenizer(resolve_model_source(str(tiny_model_dir)))
    settings = EvalSettings(shots=(0, 2), demo_seeds=(0, 1))
    items = build_prompts(load_suite(SUITE), ALPACA, tokenizer, settings, budget=400)
    perfect = score_sets(items, items, [i.record.answers[0] for i in items], torch.device("cpu"))
    # demonstrations come from each task's held-apart pool: every set scores the same records
    assert [(s.task, s.shots, s.seed, s.n) for s in perfect] == [
        ("yesno", 0, None, 9),
        ("yesno", 2, 0, 9),
        ("yesno", 2, 1, 9),
        ("ner", 0, None, 7),
        ("ner", 2, 0, 7),
        ("ner", 2, 1, 7),
        ("summary", 0, None, 5),
        ("summary", 2, 0, 5),
        ("summary", 2, 1, 5),
    ]
    assert all(s.scores == Scores(1.0, 1.0, pytest.approx(1.0)) for s in perfect)  # type: ignore[arg-type]
    wrong = score_sets(items, items, ["zebra"] * len(items), torch.device("cpu"))
    assert all(s.scores == Scores(0.0, 0.0, 0.0) for s in wrong)
    # A process that scored only half the prompts still reports every set, with its share scored.
    half = score_sets(items, items[::2], [i.record.answers[0] for i in items[::2]], torch.device("cpu"))
    assert len(half) == 9 and all(s.scores.f1 == 1.0 for s in half)


def test_evaluate_suite_with_the_tiny_model(tiny_model_dir: Path) -> None:
    from selfspec.modeling.adapters import load_base
    from selfspec.modeling.loading import load_tokenizer, resolve_model_source

    model = load_base(str(tiny_model_dir), "none").eval()
    tokenizer = load_tokenizer(resolve_model_source(str(tiny_model_dir)))
    settings = EvalSettings(shots=(0, 2), demo_seeds=(0, 1), max_new_tokens=4, max_length=404, batch_size=8)
    result = evaluate_suite(model, tokenizer, load_suite(SUITE), ALPACA, settings)
    assert len(result.sets) == 9 and len(result.predictions) == 3 * 21
    assert 0 < result.new_tokens <= 4 * len(result.predictions) and result.seconds > 0
    summary = {(s.task, s.shots, s.seed): s.truncated for s in result.sets}
    assert summary[("summary", 0, None)] == 1  # the one long passage is cut, not dropped
    assert all(0.0 <= s.scores.f1 <= 1.0 for s in result.sets)
    assert {p["task"] for p in result.predictions} == {"yesno", "ner", "summary"}


def test_eval_chart_command_compares_saved_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from selfspec.eval_chart_cli import main

    rows = summarise(SETS)
    write_report(rows, tmp_path / "base", {"label": "base"})
    write_report(rows, tmp_path / "round1", {"label": "round 1"})
    reports = [str(tmp_path / run / "eval.json") for run in ("base", "round1")]
    assert main([*reports, "--out", str(tmp_path / "cmp.png"), "--metric", "rouge_l"]) == 0
    assert (tmp_path / "cmp.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "broken.json").write_text("{")
    assert main([str(tmp_path / "broken.json")]) == 2
    assert capsys.readouterr().err.startswith(f"{tmp_path / 'broken.json'}: not an evaluation report")


def test_context_budget_names_the_setting_to_change() -> None:
    from selfspec.errors import ConfigError
    from selfspec.evaluation.runner import context_budget

    class Model:
        class config:  # mimics a transformers config attribute
            max_position_embeddings = 2048

    assert context_budget(Model(), EvalSettings(max_new_tokens=48)) == 2000
    assert context_budget(Model(), EvalSettings(max_new_tokens=48, max_length=512)) == 464
    with pytest.raises(ConfigError, match="max_length 60 leaves 12 prompt tokens"):
        context_budget(Model(), EvalSettings(max_new_tokens=48, max_length=60))
