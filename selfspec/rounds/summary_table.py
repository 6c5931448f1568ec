"""The rounds table: F1 per task (and overall) per column, as Markdown, ``summary.json`` and a PNG.

Columns are ``base_<k>shot`` for each base shots setting, ``base_0shot_chat`` (the base through its
own chat template), ``round_<k>`` and ``seeds_only``; values are each task's headline score in points
(0-100: macro-F1 over the labels for a label task, token-F1 otherwise), the mean over demonstration
sets. ``overall`` is the macro mean over tasks, exactly as the evaluation report computes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selfspec.evaluation.chart import Series, grouped_bars
from selfspec.evaluation.report import MACRO, OVERALL

CHAT_COLUMN = "base_0shot_chat"
BASE_ZERO = ("base_0shot", CHAT_COLUMN)
Column = tuple[str, dict[str, float]]  # (name, task -> F1 points)


def column_from_report(name: str, report: dict[str, Any], shots: int) -> Column:
    """One column from an ``eval.json``: F1 per task at ``shots`` (macro -> ``overall``)."""
    values = {
        # Unrounded: rounding to 2 decimals here and to 1 in the table printed 25.7479 as 25.8 beside
        # the evaluation report's 25.7. Only what is written (summary.json, the table) is rounded.
        (OVERALL if row["task"] == MACRO else row["task"]): 100 * row["f1_mean"]
        for row in report["rows"]
        if row["shots"] == shots
    }
    if not values:
        raise ValueError(f"the report of {name} has no {shots}-shot rows")
    return name, values


def gains(columns: Sequence[Column]) -> dict[str, Any]:
    """``best_base_0shot`` (the better 0-shot baseline, Alpaca or chat template) and each specialised
    column's overall gain over it in points (``gain_round_1``, ...)."""
    overall = {name: values[OVERALL] for name, values in columns if OVERALL in values}
    bases = [overall[name] for name in BASE_ZERO if name in overall]
    if not bases:
        return {}
    best = max(bases)
    specialised = [n for n in overall if not n.startswith("base_")]  # rounds and the seeds-only control
    return {"best_base_0shot": best, **{f"gain_{n}": overall[n] - best for n in specialised}}


def task_names(columns: Sequence[Column]) -> list[str]:
    """Tasks in first-seen order, ``overall`` last."""
    tasks = dict.fromkeys(t for _, values in columns for t in values if t != OVERALL)
    return [*tasks, OVERALL]


def format_table(columns: Sequence[Column], title: str) -> str:
    """Markdown: a row per task, a column per evaluated model."""
    tasks = task_names(columns)
    head = ["task", *(name for name, _ in columns)]
    lines = [f"# {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task in tasks:
        # "-": a column that did not score this task (a round stopped early, a task added later).
        cells = [f"{values[task]:.1f}" if task in values else "-" for _, values in columns]
        lines.append("| " + " | ".join([task, *cells]) + " |")
    note = (
        "Points: label tasks macro-F1 over their labels, other tasks token-F1; mean over demonstration sets;"
        " overall = macro over tasks."
    )
    found = gains(columns)
    if found:
        best = f"Best base 0-shot (Alpaca or chat template): {found.pop('best_base_0shot'):.1f}; gains over it: "
        note += "\n\n" + best + ", ".join(f"{k.removeprefix('gain_')} {v:+.1f}" for k, v in found.items())
    return "\n".join([*lines, "", note, ""])


def summary_json(columns: Sequence[Column], meta: dict[str, Any]) -> dict[str, Any]:
    """Overall F1 per column at the top level (``base_0shot``, ``round_1``, ...), per task below."""
    per_task = {task: {name: _points(values.get(task)) for name, values in columns} for task in task_names(columns)}
    return {
        **{name: _points(values.get(OVERALL)) for name, values in columns},
        "columns": [name for name, _ in columns],
        "per_task": per_task,
        "meta": {key: _points(value) if isinstance(value, float) else value for key, value in meta.items()},
    }


def _points(value: float | None) -> float | None:
    """Points as written to summary.json: 2 decimals (the table shows 1, from the unrounded value)."""
    return None if value is None else round(value, 2)


def plot_columns(columns: Sequence[Column], path: Path, title: str) -> Path:
    """Grouped bars: a group per task (overall last), a bar per column, values in points."""
    tasks = task_names(columns)
    series = [Series(name, [values.get(t) for t in tasks]) for name, values in columns]
    return grouped_bars(tasks, series, path, title, "F1")
