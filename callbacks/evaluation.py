"""Domain evaluation during ``fit`` and in ``selfspec validate`` / ``selfspec test``.

At the end of each validation (or test) epoch the callback generates greedily for every prompt of
its suite with the module's model, logs ``val/f1`` (macro over tasks) and ``val/<task>/f1``, EM and
ROUGE-L, prints the per-task table and writes ``eval.md``/``.csv``/``.json``, the predictions and
an ``eval.png`` chart beside the run's config.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L

from selfspec.errors import ConfigError
from selfspec.evaluation.prompting import draw_demonstrations
from selfspec.evaluation.provenance import adapter_template, check_template, checkpoint_template
from selfspec.evaluation.report import (
    Row,
    format_markdown,
    load_report,
    plot_runs,
    report_json,
    summarise,
    write_report,
)
from selfspec.evaluation.runner import EvalSettings, SuiteResult, evaluate_suite
from selfspec.evaluation.suite import load_suite
from selfspec.evaluation.tasks import Task
from selfspec.io import atomic_write_text
from selfspec.modeling.inference import float_view_on_cpu
from selfspec.modeling.loading import load_tokenizer, resolve_model_source
from selfspec.prompts import check_template_name, resolve_template

log = logging.getLogger("selfspec")


class DomainEvaluation(L.Callback):
    def __init__(
        self,
        suite: str,
        settings: EvalSettings = EvalSettings(),
        template: str | None = None,
        template_override: bool = False,
        compare_with: list[str] | None = None,
        label: str | None = None,
        every_n_epochs: int = 1,
    ) -> None:
        """Score the model on a task suite (token-F1, exact match, ROUGE-L) with batched greedy decoding.

        Args:
            suite: YAML suite file: a list of tasks (name, kind, path or dataset, fields).
            settings: Shots, demonstration seeds, answer and context lengths, batch size.
            template: Prompt template to evaluate with; None uses ``--data.template``; ``chat`` is the
                model's own chat template (its tokenizer's), the fair baseline of an instruction-tuned base.
            template_override: Evaluate even when the adapter or checkpoint was trained with
                another template (otherwise that is an error).
            compare_with: ``eval.json`` files of earlier runs (e.g. the base model) drawn beside
                this run in the chart.
            label: This run's name in the report and chart; default: the adapter directory's
                name, the checkpoint's name, ``base``, or ``fit``.
            every_n_epochs: During ``fit``, evaluate every N-th validation epoch.
        """
        try:
            settings.check("settings")
        except ValueError as err:
            raise ConfigError(f"DomainEvaluation {err}") from None
        self.suite = suite
        self.settings = settings
        self.template = template if template is None else check_template_name(template, "DomainEvaluation template")
        self.template_override = template_override
        self.compare_with = list(compare_with or [])
        self.label = label
        self.every_n_epochs = max(1, every_n_epochs)  # 0 would divide by zero in the epoch test; read as "every"
        self.tasks: list[Task] = []
        self._tokenizer: Any = None  # loaded on first use: a constructor does no I/O

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Before any weights load: a bad suite or setting, or an adapter of another template, stops here.
        self.tasks = load_suite(self.suite)
        self._check_inputs(trainer)
        requested = self._template_name(trainer)
        adapter = getattr(pl_module, "adapter", None)
        if stage == "fit":  # the adapter being trained will carry the data's template: evaluate with that one
            check_template(_data_template(trainer), "the adapter being trained (--data.template)", requested, False)
        if adapter is not None:
            check_template(adapter_template(adapter), f"adapter {adapter}", requested, self.template_override)

    def _check_inputs(self, trainer: L.Trainer) -> None:
        if getattr(getattr(trainer, "datamodule", None), "val_fraction", None) == 0:
            # Without held-out examples Lightning skips the validation/test loop, and this callback with it.
            raise ConfigError(
                "DomainEvaluation runs at the end of the validation/test loop: set --data.val_fraction > 0"
            )
        for path in self.compare_with:
            try:
                load_report(path)
            except (OSError, ValueError) as err:
                raise ConfigError(
                    f"DomainEvaluation compare_with: {path} is not a readable eval.json ({err})"
                ) from None
        for task in self.tasks:  # k-shot needs more records than demonstrations
            for shots in (k for k in self.settings.shots if k):
                draw_demonstrations(task, shots, seed=0)  # raises, naming the task, when the pool is too small

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check_checkpoint(trainer)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check_checkpoint(trainer)

    def _check_checkpoint(self, trainer: L.Trainer) -> None:
        # The checkpoint path is known only once Lightning has restored it (after setup).
        if trainer.ckpt_path and not trainer.training and trainer.state.fn != "fit":
            trained = checkpoint_template(trainer.ckpt_path)
            check_template(
                trained, f"checkpoint {trainer.ckpt_path}", self._template_name(trainer), self.template_override
            )

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # The sanity check runs two batches before training: a whole suite there would only cost time.
        if trainer.sanity_checking or (trainer.state.fn == "fit" and trainer.current_epoch % self.every_n_epochs):
            return
        self._evaluate(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._evaluate(trainer, pl_module, "test")

    def _evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule, prefix: str) -> None:
        name = self._template_name(trainer)
        template = resolve_template(name, self._load_tokenizer(pl_module))
        shard = (trainer.global_rank, trainer.world_size)  # each rank decodes its share; the scores are gathered
        model = getattr(pl_module, "model", None)  # SpecialistModule holds the PEFT model here
        model = pl_module if model is None else model
        with float_view_on_cpu(model) as view:  # a 4-bit model on a CPU: dequantized once, 1.5x faster
            result = evaluate_suite(view, self._load_tokenizer(pl_module), self.tasks, template, self.settings, shard)
        rows = summarise(result.sets)
        for key, value in metric_items(rows, prefix, self.settings.shots[0]).items():
            pl_module.log(key, value, batch_size=1)  # every rank logs (Lightning expects it); the values agree
        if trainer.is_global_zero:  # one writer for the report files
            self._write(trainer, pl_module, rows, result, prefix)

    def _write(
        self, trainer: L.Trainer, pl_module: L.LightningModule, rows: list[Row], result: SuiteResult, prefix: str
    ) -> None:
        label = self.label or _default_label(trainer, pl_module)
        meta = {
            "label": label,
            "stage": prefix,
            "epoch": trainer.current_epoch,
            "suite": str(self.suite),
            "template": self._template_name(trainer),
            # Lists, not tuples: the meta is written as JSON and compared with reports read back from it.
            "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self.settings).items()},
            "new_tokens": result.new_tokens,
            "generation_seconds": round(result.seconds, 3),
        }
        out = Path(trainer.log_dir or trainer.default_root_dir)
        stem = "eval" if prefix == "val" else "test_eval"  # a test run must not overwrite the fit's eval.json
        log.info("evaluation (%s)\n%s", label, format_markdown(rows, f"Evaluation: {label}"))
        _announce_truncation(result, self.settings)
        paths = write_report(rows, out, meta, stem)
        lines = "".join(_json_line(p) for p in result.predictions)
        atomic_write_text(out / f"{stem}_predictions.jsonl", lines)
        if trainer.world_size > 1:
            log.info("evaluation: %s_predictions.jsonl holds rank 0's share of the prompts; scores cover all", stem)
        runs = [(label, report_json(rows, meta))] + [(str(p), load_report(p)) for p in self.compare_with]
        chart = plot_runs([(r[1]["meta"].get("label", r[0]), r[1]) for r in runs], out / f"{stem}.png")
        log.info("evaluation report: %s", ", ".join(str(p) for p in [*paths, chart]))

    def _template_name(self, trainer: L.Trainer) -> str:
        # The callback's own choice, else what the data was tokenised with; "alpaca" without a datamodule.
        return self.template or _data_template(trainer) or "alpaca"

    def _load_tokenizer(self, pl_module: L.LightningModule) -> Any:
        if self._tokenizer is None:
            source = resolve_model_source(pl_module.base_model)  # type: ignore[arg-type]
            self._tokenizer = load_tokenizer(source, bool(getattr(pl_module, "trust_remote_code", False)))
        return self._tokenizer


def metric_items(rows: list[Row], prefix: str, main_shots: int) -> dict[str, float]:
    """Logged values: ``val/f1`` (macro) and ``val/<task>/f1`` (also ``em``, ``rouge_l``) for the first
    shots value; ``val/<k>shot/...`` for the others; ``f1_sd`` over demonstration sets for k-shot macros."""
    items: dict[str, float] = {}
    for row in rows:
        scope = "" if row.shots == main_shots else f"{row.shots}shot"  # the headline keys stay short: val/f1
        base = "/".join(p for p in (prefix, scope, "" if row.task == "macro" else row.task) if p)
        items.update({f"{base}/{m}": row.mean(m) for m in ("f1", "em", "rouge_l")})
        if row.task == "macro" and len(row.f1) > 1:  # an SD needs two demonstration sets (0-shot has one)
            items[f"{base}/f1_sd"] = row.sd("f1")
    return items


def _data_template(trainer: L.Trainer) -> str | None:
    return getattr(getattr(trainer, "datamodule", None), "template_name", None)


def _default_label(trainer: L.Trainer, pl_module: L.LightningModule) -> str:
    adapter = getattr(pl_module, "adapter", None)
    if trainer.state.fn == "fit":
        return f"fit epoch {trainer.current_epoch}"
    if trainer.ckpt_path:
        return Path(trainer.ckpt_path).stem
    return Path(adapter).name if adapter else "base"


def _announce_truncation(result: SuiteResult, settings: EvalSettings) -> None:
    truncated = sum(s.truncated for s in result.sets)
    overflowed = sum(s.overflowed for s in result.sets)
    if truncated:
        log.warning("evaluation: %d prompts had their inputs cut to fit max_length=%s", truncated, settings.max_length)
    if overflowed:
        log.warning(
            "evaluation: %d prompts exceed the context even with empty inputs (instruction too long)", overflowed
        )


def _json_line(obj: dict[str, Any]) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False) + "\n"
