"""``selfspec validate`` / ``test`` with DomainEvaluation: base model, adapter, checkpoint, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from selfspec.cli import run as run_cli

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "data" / "eval" / "example" / "suite.yaml"
EVAL_CONFIG = REPO / "configs" / "eval" / "example.yaml"


def _config(tmp_path: Path, suite: Path = SUITE, **callback: object) -> Path:
    """The shipped eval config, made quick: 4 answer tokens, 2 demonstration sets, a 300-token context."""
    config = yaml.safe_load(EVAL_CONFIG.read_text())
    init = config["trainer"]["callbacks"][0]["init_args"]
    init.update(suite=str(suite), **callback)
    init["settings"].update(max_new_tokens=4, demo_seeds=[0, 1], max_length=300)
    config["data"]["seeds_path"] = str(REPO / "data" / "seeds" / "example.jsonl")
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _adapter(tmp_path: Path, tiny_model_dir: Path, template: str) -> Path:
    from selfspec.modeling.adapters import LoraSettings, add_lora, load_base, write_adapter_meta

    out = tmp_path / f"adapter-{template}"
    add_lora(load_base(str(tiny_model_dir), "none"), LoraSettings()).save_pretrained(out)
    write_adapter_meta(out, {"template": template, "base_model": str(tiny_model_dir)})
    return out


def test_validate_scores_the_base_model_and_writes_the_report(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(["validate", "--config", str(_config(tmp_path)), "--model.base_model", str(tiny_model_dir)]) == 0
    run = tmp_path / "lightning_logs" / "eval" / "base" / "version_0"  # named after what was evaluated
    names = {p.name for p in run.iterdir()}
    assert {"config.yaml", "eval.md", "eval.csv", "eval.json", "eval.png", "eval_predictions.jsonl"} <= names
    report = json.loads((run / "eval.json").read_text())
    assert report["meta"]["label"] == "base" and report["meta"]["template"] == "alpaca"
    rows = {(r["task"], r["shots"]): r for r in report["rows"]}
    # 0-shot and 2-shot score the same records (demonstrations come from the held-apart pool)
    assert rows[("yesno", 0)]["n"] == 9 and rows[("yesno", 2)]["n"] == 9 and len(rows[("yesno", 2)]["f1"]) == 2
    assert rows[("summary", 0)]["truncated"] == 1 and rows[("macro", 0)]["n"] == 21
    predictions = (run / "eval_predictions.jsonl").read_text().splitlines()
    assert len(predictions) == 3 * 21
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"val/f1", "val/yesno/f1", "val/2shot/f1", "val/2shot/f1_sd", "val/summary/rouge_l", "val/loss"} <= set(
        header
    )


def test_validate_an_adapter_and_refuse_one_of_another_template(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    config = str(_config(tmp_path, settings={"shots": [0], "batch_size": 16}))
    good, other = _adapter(tmp_path, tiny_model_dir, "alpaca"), _adapter(tmp_path, tiny_model_dir, "vicuna")
    base = ["validate", "--config", config, "--model.base_model", str(tiny_model_dir)]
    assert run_cli([*base, "--model.adapter", str(good)]) == 0
    report = json.loads(next((tmp_path / "lightning_logs").rglob("eval.json")).read_text())
    assert report["meta"]["label"] == "adapter-alpaca"
    assert run_cli([*base, "--model.adapter", str(other)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: adapter {other} was trained with prompt template 'vicuna' but would be evaluated with 'alpaca'; "
        "evaluate with --data.template vicuna, or set template_override: true on "
        "selfspec.callbacks.DomainEvaluation to compare across templates on purpose"
    )


def test_fit_logs_val_f1_then_test_evaluates_its_checkpoint(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = str(_config(tmp_path, settings={"shots": [0], "batch_size": 16}, label=None))
    model = ["--model.base_model", str(tiny_model_dir)]
    assert run_cli(["fit", "--config", config, *model, "--trainer.max_epochs", "1"]) == 0
    fit_run = tmp_path / "lightning_logs" / "eval" / "version_0"
    metrics = (fit_run / "metrics.csv").read_text().splitlines()
    assert (
        "val/f1" in metrics[0].split(",") and json.loads((fit_run / "eval.json").read_text())["meta"]["stage"] == "val"
    )
    (ckpt,) = (fit_run / "checkpoints").glob("*.ckpt")
    assert run_cli(["test", "--config", config, *model, "--ckpt_path", str(ckpt)]) == 0
    test_run = tmp_path / "lightning_logs" / "eval" / ckpt.stem / "version_0"  # named after what was evaluated
    report = json.loads((test_run / "test_eval.json").read_text())
    assert report["meta"]["label"] == ckpt.stem and report["meta"]["stage"] == "test"
    assert {p.name for p in test_run.iterdir()} >= {"test_eval.md", "test_eval.csv", "test_eval.png"}


def test_malformed_suite_exits_2_with_path_line_errors(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.jsonl").write_text('{"instruction": "q", "answers": ["a"]}\n{"instruction": "q", "answer": "a"}\n')
    suite = tmp_path / "suite.yaml"
    suite.write_text("- name: t\n  kind: label\n  path: t.jsonl\n- name: u\n  kind: labels\n  path: t.jsonl\n")
    code = run_cli(
        ["validate", "--config", str(_config(tmp_path, suite=suite)), "--model.base_model", str(tiny_model_dir)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert f"{suite}:5: kind: expected one of label, extraction, free_text, got 'labels'" in err
    assert f"{tmp_path / 't.jsonl'}:2: answers: missing required field; did you mean 'answer'?" in err


def test_no_held_out_examples_is_an_error_not_a_silent_skip(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["--config", str(_config(tmp_path)), "--model.base_model", str(tiny_model_dir), "--data.val_fraction", "0"]
    assert run_cli(["validate", *args]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: DomainEvaluation runs at the end of the validation/test loop: set --data.val_fraction > 0"
    )


def test_k_shot_on_a_task_without_enough_demonstrations_is_refused_up_front(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.jsonl").write_text('{"instruction": "q", "answers": "a"}\n{"instruction": "r", "answers": "b"}\n')
    suite = tmp_path / "suite.yaml"
    suite.write_text("- {name: small, kind: label, path: t.jsonl, demos: 1}\n")
    args = ["validate", "--config", str(_config(tmp_path, suite=suite)), "--model.base_model", str(tiny_model_dir)]
    assert run_cli(args) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: task 'small': 2-shot evaluation needs 2 demonstrations but its pool "
        f"(first 1 of {tmp_path / 't.jsonl'}) holds 1; give the task `demos: <file>` or "
        "`demos: <N records to hold apart>` in the suite, or lower shots"
    )


CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _chat_model(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """The tiny model with a ChatML chat template in its tokenizer (as an instruction-tuned base has)."""
    import shutil

    model = tmp_path / "tiny-chat"
    shutil.copytree(tiny_model_dir, model)
    config = json.loads((model / "tokenizer_config.json").read_text())
    (model / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": CHATML}))
    return model


def test_fit_with_the_chat_template_trains_and_evaluates_through_it(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selfspec.data.module import SelfSpecDataModule

    model = _chat_model(tiny_model_dir, tmp_path)
    seeds = REPO / "data" / "seeds" / "example.jsonl"
    dm = SelfSpecDataModule(seeds, str(model), template="chat", val_fraction=0.0)
    dm.setup("fit")
    from selfspec.modeling.loading import load_tokenizer, resolve_model_source

    tokenizer = load_tokenizer(resolve_model_source(str(model)))
    text = tokenizer.decode(dm.train_examples[0].input_ids)
    assert text.count("<|im_start|>user\n") == 1 and "<|im_start|>assistant\n" in text and "### Instruction" not in text
    monkeypatch.chdir(tmp_path)
    config = str(_config(tmp_path, settings={"shots": [0], "batch_size": 16}, label=None))
    args = ["--model.base_model", str(model), "--data.template", "chat", "--trainer.max_epochs", "1"]
    assert run_cli(["fit", "--config", config, *args]) == 0
    run = tmp_path / "lightning_logs" / "eval" / "version_0"
    assert json.loads((run / "eval.json").read_text())["meta"]["template"] == "chat"  # evaluated as it trains
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["template"] == "chat"


def test_an_unknown_template_or_chat_without_one_is_a_clear_error(tmp_path: Path, tiny_model_dir: Path) -> None:
    from selfspec.data.module import SelfSpecDataModule
    from selfspec.errors import ConfigError

    seeds = REPO / "data" / "seeds" / "example.jsonl"
    with pytest.raises(ConfigError, match=r"--data.template: prompt template 'vicuna' is unknown; .*'chat'"):
        SelfSpecDataModule(seeds, str(tiny_model_dir), template="vicuna")
    with pytest.raises(ConfigError, match="no chat template; use 'alpaca'"):
        SelfSpecDataModule(seeds, str(tiny_model_dir), template="chat").setup("fit")


def test_a_second_run_into_the_same_log_folder_is_one_line_and_keeps_the_first(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    config = yaml.safe_load(_config(tmp_path).read_text())
    for logger in config["trainer"]["logger"]:
        logger["init_args"]["version"] = "fixed"  # as the rounds driver's step configs name theirs
    path = tmp_path / "fixed.yaml"
    path.write_text(yaml.safe_dump(config))
    command = ["validate", "--config", str(path), "--model.base_model", str(tiny_model_dir)]
    assert run_cli(command) == 0
    first = tmp_path / "lightning_logs" / "eval" / "base" / "fixed" / "config.yaml"
    written = first.read_text()
    capsys.readouterr()
    assert run_cli(command) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "config.yaml already exists" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert first.read_text() == written
