"""The steps of a rounds run and the ``selfspec`` config of each: pure functions of the settings.

Every step is one ``selfspec fit`` or ``selfspec validate`` in its own process, with a config derived
from the user's fit config: outputs redirected into the step's folder, fresh adapter, checkpoints
that resume, adapter export, and (for evaluations) the ``DomainEvaluation`` callback.

    <root>/<name>/round_0/eval/      base model, base_shots
    <root>/<name>/base_chat/eval/    base model 0-shot through its own chat template, when enabled
    <root>/<name>/round_k/           fit: config.yaml, checkpoints/, adapter/, summary.json
    <root>/<name>/round_k/eval/      its evaluation (eval.json, eval.md, predictions)
    <root>/<name>/seeds_only/...     the control, when enabled
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from selfspec.evaluation.runner import EvalSettings

StepKind = Literal["fit", "eval"]
CONTROL = "seeds_only"
BASE_CHAT = "base_chat"
_CHECKPOINTS = ("ModelCheckpoint", "ResumableCheckpoint")
_TB = "lightning.pytorch.loggers.TensorBoardLogger"
_CSV = "lightning.pytorch.loggers.CSVLogger"


@dataclass(frozen=True)
class Step:
    """One process of the run: ``run`` names its folder (``round_<k>`` or ``seeds_only``)."""

    run: str
    kind: StepKind

    @property
    def key(self) -> str:
        return f"{self.run}/{self.kind}"

    @property
    def round(self) -> int | None:
        """k for ``round_<k>``, None for the control and the chat-template base evaluation."""
        return int(self.run.removeprefix("round_")) if self.run.startswith("round_") else None

    @property
    def eval_template(self) -> str | None:
        """The prompt template this step evaluates with; None: the fit config's (``data.template``).

        The base columns are the paper's Alpaca prompts (``base_<k>shot``) and the model's own chat
        template (``base_0shot_chat``) whatever the fit trains with: a fit through the chat template
        would otherwise make ``base_0shot`` a second chat column. Rounds and the control are scored
        through the template they were trained with.
        """
        return "chat" if self.run == BASE_CHAT else "alpaca" if self.round == 0 else None


def round_name(k: int) -> str:
    return f"round_{k}"


def plan_steps(rounds: int, seeds_only: bool, base_chat: bool = False) -> list[Step]:
    """Base evaluation(s), then fit + eval per round, then the seeds-only control (needs round 1's steps)."""
    steps = [Step(round_name(0), "eval"), *([Step(BASE_CHAT, "eval")] if base_chat else [])]
    for k in range(1, rounds + 1):
        steps += [Step(round_name(k), "fit"), Step(round_name(k), "eval")]
    if seeds_only:
        steps += [Step(CONTROL, "fit"), Step(CONTROL, "eval")]
    return steps


def fit_step_config(
    fit: dict[str, Any],
    run_dir: Path,
    response_adapter: str | None = None,
    max_steps: int | None = None,
) -> dict[str, Any]:
    """The fit config of one round (or, with ``max_steps``, of the seeds-only control)."""
    config = copy.deepcopy(fit)
    config.pop("ckpt_path", None)
    trainer = _redirect(config.get("trainer") or {}, run_dir)
    trainer["callbacks"] = _fit_callbacks(trainer.get("callbacks") or [], run_dir)
    model = config.setdefault("model", {})
    model.pop("adapter", None)  # every round trains a fresh adapter on the base
    generation = config.setdefault("data", {}).setdefault("generation", {})
    # Set in every round, None in round 1: a fit config that names an adapter must not leak into round 1.
    generation["response_adapter"] = response_adapter
    if max_steps is not None:  # the control: seeds only, as many optimizer steps as round 1
        generation["num_instructions"] = 0
        trainer["max_steps"] = max_steps
        trainer["max_epochs"] = -1
    config["trainer"] = trainer
    return config


def eval_step_config(
    fit: dict[str, Any],
    out_dir: Path,
    adapter: str | None,
    suite: str,
    settings: EvalSettings,
    label: str,
    template: str | None = None,
) -> dict[str, Any]:
    """A ``selfspec validate`` config scoring ``adapter`` (None: the base) on the suite (``template``:
    the evaluation's prompt template, None: the fit config's)."""
    config = copy.deepcopy(fit)
    config.pop("ckpt_path", None)
    trainer = _redirect(config.get("trainer") or {}, out_dir)
    evaluation = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}
    trainer["callbacks"] = [
        {
            "class_path": "selfspec.callbacks.DomainEvaluation",
            "init_args": {"suite": suite, "settings": evaluation, "label": label, "template": template},
        }
    ]
    trainer["limit_val_batches"] = 1  # the held-out seed loss needs one batch; the suite is the point
    config["trainer"] = trainer
    model = config.setdefault("model", {})
    model["adapter"] = adapter
    data = config.setdefault("data", {})
    generation = data.setdefault("generation", {})
    generation["num_instructions"] = 0  # evaluation never generates data
    generation["response_adapter"] = None
    if not data.get("val_fraction"):
        data["val_fraction"] = 0.1  # Lightning runs the validation loop (and the suite) only with held-out data
    return config


def _class_path(entry: Any) -> str:
    return entry if isinstance(entry, str) else str(entry.get("class_path", ""))


def _with_args(entry: Any, **updates: Any) -> dict[str, Any]:
    if isinstance(entry, str):
        return {"class_path": entry, "init_args": updates}
    return {**entry, "init_args": {**(entry.get("init_args") or {}), **updates}}


def _redirect(trainer: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Every output of the step (logs, config.yaml, checkpoints) into ``out_dir`` itself."""
    trainer = copy.deepcopy(trainer)
    trainer["default_root_dir"] = str(out_dir)
    logger = trainer.get("logger", True)
    if logger is False:
        return trainer
    entries = logger if isinstance(logger, list) else [_TB, _CSV] if logger in (True, None) else [logger]
    # name "" and version "" make a logger's log_dir the save_dir: one folder per step, no version_N.
    trainer["logger"] = [_with_args(e, save_dir=str(out_dir), name="", version="") for e in entries]
    return trainer


def _fit_callbacks(callbacks: list[Any], run_dir: Path) -> list[Any]:
    out, names = [], set()
    for entry in callbacks:
        short = _class_path(entry).rsplit(".", 1)[-1]
        if short == "DomainEvaluation":
            continue  # the driver evaluates each round's exported adapter in a step of its own
        if short in _CHECKPOINTS:
            entry = _with_args(entry, dirpath=str(run_dir / "checkpoints"), save_last=True)
        names.add(short)
        out.append(entry)
    if not names & set(_CHECKPOINTS):  # a killed fit resumes from its last checkpoint
        out.append(
            _with_args(
                "selfspec.callbacks.ResumableCheckpoint",
                dirpath=str(run_dir / "checkpoints"),
                save_last=True,
                every_n_train_steps=10,
            )
        )
    for needed in ("AdapterExport", "RunSummary"):
        if needed not in names:
            out.append({"class_path": f"selfspec.callbacks.{needed}"})
    return out
