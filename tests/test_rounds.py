"""The rounds driver's pure parts: step plan, derived step configs, table, lineage, settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfspec.errors import ConfigError
from selfspec.evaluation.runner import EvalSettings
from selfspec.rounds.lineage import open_lineage
from selfspec.rounds.rounds_settings import RoundsSettings
from selfspec.rounds.steps import eval_step_config, fit_step_config, plan_steps
from selfspec.rounds.summary_table import column_from_report, format_table, gains, summary_json
from selfspec.rounds_cli import parse

FIT = {
    "seed_everything": 0,
    "ckpt_path": "last",
    "trainer": {
        "max_epochs": 3,
        "logger": [{"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "x", "name": "q"}}],
        "callbacks": [
            {"class_path": "selfspec.callbacks.ResumableCheckpoint", "init_args": {"dirpath": "elsewhere"}},
            {"class_path": "selfspec.callbacks.DomainEvaluation", "init_args": {"suite": "s.yaml"}},
        ],
    },
    "model": {"base_model": "m", "adapter": "old"},
    "data": {"generation": {"num_instructions": 100, "response_adapter": "stale"}, "val_fraction": 0.0},
}


def test_plan_is_base_then_fit_and_eval_per_round_then_the_control() -> None:
    keys = [s.key for s in plan_steps(2, seeds_only=True)]
    assert keys == [
        "round_0/eval",
        "round_1/fit",
        "round_1/eval",
        "round_2/fit",
        "round_2/eval",
        "seeds_only/fit",
        "seeds_only/eval",
    ]
    assert [s.key for s in plan_steps(1, seeds_only=False)] == ["round_0/eval", "round_1/fit", "round_1/eval"]


def test_fit_step_writes_everything_into_its_round_and_trains_a_fresh_adapter(tmp_path: Path) -> None:
    config = fit_step_config(FIT, tmp_path / "round_2", response_adapter="r1/adapter")
    trainer = config["trainer"]
    assert "ckpt_path" not in config and "adapter" not in config["model"]
    assert config["data"]["generation"]["response_adapter"] == "r1/adapter"
    assert config["data"]["generation"]["num_instructions"] == 100
    assert trainer["default_root_dir"] == str(tmp_path / "round_2")
    assert trainer["logger"][0]["init_args"] == {"save_dir": str(tmp_path / "round_2"), "name": "", "version": ""}
    names = [c["class_path"].rsplit(".", 1)[-1] for c in trainer["callbacks"]]
    assert names == ["ResumableCheckpoint", "AdapterExport", "RunSummary"]  # evaluation is its own step
    assert trainer["callbacks"][0]["init_args"] == {
        "dirpath": str(tmp_path / "round_2" / "checkpoints"),
        "save_last": True,
    }
    assert FIT["model"]["adapter"] == "old"  # the user's config is not modified


def test_control_trains_on_the_seeds_for_a_given_number_of_steps(tmp_path: Path) -> None:
    config = fit_step_config(FIT, tmp_path, max_steps=7)
    assert config["data"]["generation"]["num_instructions"] == 0
    assert (config["trainer"]["max_steps"], config["trainer"]["max_epochs"]) == (7, -1)


def test_fit_step_adds_a_resumable_checkpoint_when_the_config_has_none(tmp_path: Path) -> None:
    config = fit_step_config({"trainer": {"logger": False}}, tmp_path)
    assert config["trainer"]["logger"] is False
    first = config["trainer"]["callbacks"][0]
    assert first["class_path"] == "selfspec.callbacks.ResumableCheckpoint"
    assert first["init_args"]["save_last"] is True


def test_eval_step_scores_the_adapter_without_generating(tmp_path: Path) -> None:
    settings = EvalSettings(shots=(0, 5), max_new_tokens=8)
    config = eval_step_config(FIT, tmp_path / "eval", "r1/adapter", "suite.yaml", settings, "round_1")
    (callback,) = config["trainer"]["callbacks"]
    assert callback["init_args"]["suite"] == "suite.yaml"
    assert callback["init_args"]["settings"]["shots"] == [0, 5]
    assert callback["init_args"]["label"] == "round_1"
    assert config["model"]["adapter"] == "r1/adapter"
    assert (
        config["data"]["generation"]["num_instructions"] == 0
        and config["data"]["generation"]["response_adapter"] is None
    )
    assert config["data"]["val_fraction"] > 0  # Lightning skips validation (and the suite) without held-out data


def test_base_chat_adds_one_base_evaluation_through_the_chat_template(tmp_path: Path) -> None:
    keys = [s.key for s in plan_steps(1, seeds_only=False, base_chat=True)]
    assert keys == ["round_0/eval", "base_chat/eval", "round_1/fit", "round_1/eval"]
    config = eval_step_config(FIT, tmp_path, None, "suite.yaml", EvalSettings(), "base (chat template)", "chat")
    assert config["trainer"]["callbacks"][0]["init_args"]["template"] == "chat"


def test_base_columns_keep_their_templates_and_rounds_use_the_fits() -> None:
    templates = {s.key: s.eval_template for s in plan_steps(1, seeds_only=True, base_chat=True) if s.kind == "eval"}
    assert templates == {
        "round_0/eval": "alpaca",
        "base_chat/eval": "chat",
        "round_1/eval": None,
        "seeds_only/eval": None,
    }


def test_gains_are_measured_against_the_better_zero_shot_base() -> None:
    def column(name: str, overall: float) -> tuple[str, dict[str, float]]:
        return name, {"overall": overall}

    columns = [column("base_0shot", 10.0), column("base_5shot", 40.0), column("base_0shot_chat", 25.0)]
    columns += [column("round_1", 36.0), column("seeds_only", 20.0)]
    assert gains(columns) == {"best_base_0shot": 25.0, "gain_round_1": 11.0, "gain_seeds_only": -5.0}
    table = format_table(columns, "t")
    assert "Best base 0-shot (Alpaca or chat template): 25.0; gains over it: round_1 +11.0" in table


def _report(rows: list[tuple[str, int, float]]) -> dict:
    return {"rows": [{"task": t, "shots": s, "f1_mean": f} for t, s, f in rows]}


def test_table_has_a_row_per_task_and_overall_last() -> None:
    base = _report([("qa", 0, 0.1), ("ner", 0, 0.2), ("macro", 0, 0.15), ("qa", 5, 0.3), ("macro", 5, 0.3)])
    columns = [column_from_report("base_0shot", base, 0), column_from_report("base_5shot", base, 5)]
    columns.append(column_from_report("round_1", _report([("qa", 0, 0.5), ("ner", 0, 0.7), ("macro", 0, 0.6)]), 0))
    table = format_table(columns, "t")
    assert "| qa | 10.0 | 30.0 | 50.0 |" in table
    assert "| ner | 20.0 | - | 70.0 |" in table
    assert table.index("| overall |") > table.index("| ner |")
    summary = summary_json(columns, {})
    assert (summary["base_0shot"], summary["base_5shot"], summary["round_1"]) == (15.0, 30.0, 60.0)
    assert summary["per_task"]["ner"]["base_5shot"] is None
    with pytest.raises(ValueError, match="no 2-shot rows"):
        column_from_report("x", base, 2)
    # rounded once: 25.7479 is 25.7 in the table (as in the evaluation report) and 25.75 in the JSON
    near = [column_from_report("round_1", _report([("qa", 0, 0.257479), ("macro", 0, 0.257479)]), 0)]
    assert "| qa | 25.7 |" in format_table(near, "t") and summary_json(near, {})["round_1"] == 25.75


def test_lineage_of_other_settings_is_refused(tmp_path: Path) -> None:
    lineage = open_lineage(tmp_path, "aaaa")
    lineage.record("round_0/eval", {"f1": 1.0})
    assert open_lineage(tmp_path, "aaaa").done("round_0/eval")
    with pytest.raises(ConfigError, match="other settings"):
        open_lineage(tmp_path, "bbbb")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rounds", "0"], "--rounds must be at least 1"),
        (["--name", "a/b"], "--name must be a plain folder name"),
        (["--min_delta", "-1"], "--min_delta"),
        (["--base_shots", "[]"], "--base_shots"),
    ],
)
def test_impossible_settings_name_their_option(args: list[str], message: str) -> None:
    settings, _, _ = parse(["--fit_config", "f.yaml", "--suite", "s.yaml", *args])
    with pytest.raises(ConfigError, match=message):
        settings.check()


def test_settings_are_typed_and_documented() -> None:
    settings, parser, _ = parse(["--fit_config", "f.yaml", "--suite", "s.yaml", "--evaluation.shots", "[0, 3]"])
    assert isinstance(settings, RoundsSettings) and settings.evaluation.shots == (0, 3)
    assert "previous round" in parser.format_help()


def _driver(tmp_path: Path, **changes: object):  # type: ignore[no-untyped-def]
    from selfspec.rounds.driver import RoundsDriver

    (tmp_path / "fit.yaml").write_text("model: {base_model: builtin:tiny-llama}\n")
    (tmp_path / "suite.yaml").write_text("- {name: a, kind: label, path: a.jsonl}\n")
    values = {"fit_config": str(tmp_path / "fit.yaml"), "suite": str(tmp_path / "suite.yaml")}
    return RoundsDriver(RoundsSettings(**{**values, "root": str(tmp_path), "rounds": 3, **changes}))


@pytest.mark.parametrize(("f1", "stops"), [([10.0, 20.0, 20.5], 2), ([10.0, 20.0, 30.0], None), ([10.0, 9.0], 1)])
def test_min_delta_stops_after_the_first_round_that_gains_too_little(
    tmp_path: Path, f1: list[float], stops: int | None
) -> None:
    from selfspec.rounds.steps import Step

    driver = _driver(tmp_path, min_delta=1.0)
    lineage = open_lineage(tmp_path, "x")
    for k, value in enumerate(f1):
        lineage.record(f"round_{k}/eval", {"f1": value})
        if k:
            driver._maybe_stop(Step(f"round_{k}", "eval"), lineage)
        if lineage.stopped_after is not None:
            break
    assert lineage.stopped_after == stops
    if stops is not None:  # later rounds are skipped; the control still runs
        assert driver._skipped(Step(f"round_{stops + 1}", "fit"), lineage)
        assert not driver._skipped(Step("seeds_only", "fit"), lineage)


def test_settings_fingerprint_ignores_the_number_of_rounds(tmp_path: Path) -> None:
    assert _driver(tmp_path).settings_fingerprint() == _driver(tmp_path, rounds=5).settings_fingerprint()
    assert _driver(tmp_path).settings_fingerprint() != _driver(tmp_path, base_shots=(0,)).settings_fingerprint()


def test_an_adapter_is_identified_by_its_weights_not_by_the_provenance_beside_them(tmp_path: Path) -> None:
    from selfspec.generation.plan import adapter_identity

    one, two = tmp_path / "one", tmp_path / "two"
    for folder, note, modules in ((one, "run A", '["q", "v"]'), (two, "run B", '["v", "q"]')):
        folder.mkdir()
        (folder / "adapter_config.json").write_text(f'{{"r": 8, "target_modules": {modules}}}')
        (folder / "adapter_model.safetensors").write_bytes(b"weights")
        (folder / "selfspec_config.yaml").write_text(note)
    assert adapter_identity(one) == adapter_identity(two)
    (two / "adapter_model.safetensors").write_bytes(b"other weights")
    assert adapter_identity(one) != adapter_identity(two)
