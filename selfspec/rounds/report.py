"""The rounds table: F1 per task (and overall) per column, as Markdown, ``summary.json`` and a PNG.

Columns are ``base_<k>shot`` for each base shots setting, ``round_<k>`` and ``seeds_only``; values
are token-F1 in points (0-100), the mean over demonstration sets. ``overall`` is the macro mean
over tasks, exactly as the evaluation report computes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selfspec.evaluation.chart import Series, grouped_bars
from selfspec.evaluation.report import MACRO, OVERALL

Column = tuple[str, dict[str, float]]  # (name, task -> F1 points)


def column_from_report(name: str, report: dict[str, Any], shots: int) -> Column:
    """One column from an ``eval.json``: F1 per task at ``shots`` (macro -> ``overall``)."""
    values = {
        (OVERALL if row["task"] == MACRO else row["task"]): round(100 * row["f1_mean"], 2)
        for row in report["rows"]
        if row["shots"] == shots
    }
    if not values:
        raise ValueError(f"the report of {name} has no {shots}-shot rows")
    return name, values


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
        cells = [f"{values[task]:.1f}" if task in values else "-" for _, values in columns]
        lines.append("| " + " | ".join([task, *cells]) + " |")
    return "\n".join([*lines, "", "Token-F1 (points), mean over demonstration sets; overall = macro over tasks.", ""])


def summary_json(columns: Sequence[Column], meta: dict[str, Any]) -> dict[str, Any]:
    """Overall F1 per column at the top level (``base_0shot``, ``round_1``, ...), per task below."""
    per_task = {task: {name: values.get(task) for name, values in columns} for task in task_names(columns)}
    return {
        **{name: values.get(OVERALL) for name, values in columns},
        "columns": [name for name, _ in columns],
        "per_task": per_task,
        "meta": meta,
    }


def plot_columns(columns: Sequence[Column], path: Path, title: str) -> Path:
    """Grouped bars: a group per task (overall last), a bar per column, values in points."""
    tasks = task_names(columns)
    series = [Series(name, [values.get(t) for t in tasks]) for name, values in columns]
    return grouped_bars(tasks, series, path, title, "token-F1")
