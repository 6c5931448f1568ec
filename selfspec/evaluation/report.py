"""The evaluation report: a per-task table (mean +- SD over demonstration sets) and a chart.

``summarise`` is pure: set results in, table rows out, with one ``macro`` row per shots value
(the mean over tasks, computed per demonstration set, then mean +- SD over sets). The table is
written as Markdown, CSV and JSON, atomically; ``plot_runs`` compares any number of saved runs.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from selfspec.evaluation.chart import Series, grouped_bars
from selfspec.evaluation.runner import SetResult
from selfspec.io import atomic_write_json, atomic_write_text

MACRO = "macro"
OVERALL = "overall"  # how tables of several runs and every chart name the macro row
# Label tasks score F1 as macro-F1 over their labels and EM as accuracy; other tasks token-F1 and EM.
METRIC_NAMES = {"f1": "F1", "em": "EM (accuracy)", "rouge_l": "ROUGE-L"}
METRICS = ("f1", "em", "rouge_l")
HEADERS = ("task", "kind", "shots", "sets", "n", "F1", "EM", "ROUGE-L", "truncated", "demos cut")


@dataclass(frozen=True)
class Row:
    """One table row; each metric holds one value per demonstration set, in [0, 1]."""

    task: str
    kind: str
    shots: int
    n: int
    truncated: int
    f1: tuple[float, ...]
    em: tuple[float, ...]
    rouge_l: tuple[float, ...]
    demos_cut: int = 0

    def mean(self, metric: str) -> float:
        return statistics.fmean(getattr(self, metric))

    def sd(self, metric: str) -> float:
        """Sample standard deviation over sets (0 for a single set)."""
        values = getattr(self, metric)
        return statistics.stdev(values) if len(values) > 1 else 0.0  # stdev of one value raises


def summarise(sets: Sequence[SetResult]) -> list[Row]:
    """Rows per (task, shots) in first-seen order, then a macro row per shots value."""
    rows = []
    # dict.fromkeys keeps the suite's task order (a set would not); each key is one row.
    for task, kind, shots in dict.fromkeys((s.task, s.kind, s.shots) for s in sets):
        group = [s for s in sets if (s.task, s.shots) == (task, shots)]
        f1, em, rouge_l = (tuple(getattr(s.scores, m) for s in group) for m in METRICS)
        truncated, demos_cut = sum(s.truncated for s in group), sum(s.demos_cut for s in group)
        # n per set: every set of a (task, shots) scores the same records, so the first set's count is each one's.
        rows.append(Row(task, kind, shots, group[0].n, truncated, f1, em, rouge_l, demos_cut))
    return rows + [_macro(rows, shots) for shots in dict.fromkeys(r.shots for r in rows)]


def _macro(rows: Sequence[Row], shots: int) -> Row:
    # Per demonstration set: mean over tasks; the SD then measures how much the set choice matters.
    group = [r for r in rows if r.shots == shots]
    per_set = {
        m: tuple(statistics.fmean(values) for values in zip(*(getattr(r, m) for r in group), strict=True))
        for m in METRICS
    }
    n, truncated = sum(r.n for r in group), sum(r.truncated for r in group)
    demos_cut = sum(r.demos_cut for r in group)
    return Row(MACRO, "-", shots, n, truncated, per_set["f1"], per_set["em"], per_set["rouge_l"], demos_cut)


def _cell(row: Row, metric: str) -> str:
    mean = f"{100 * row.mean(metric):.1f}"
    return mean if len(getattr(row, metric)) == 1 else f"{mean} ± {100 * row.sd(metric):.1f}"


def table_cells(row: Row) -> list[str]:
    sets = len(row.f1)
    return [
        row.task,
        row.kind,
        str(row.shots),
        str(sets),
        str(row.n),
        *(_cell(row, m) for m in METRICS),
        str(row.truncated),
        str(row.demos_cut),
    ]


def format_markdown(rows: Sequence[Row], title: str) -> str:
    """A Markdown table; scores are percentages, ``mean ± SD`` over demonstration sets."""
    lines = [f"# {title}", "", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(table_cells(r)) + " |" for r in rows]
    notes = (
        "n: examples scored per demonstration set; truncated: prompts whose query input was cut to fit, demos cut:"
        " prompts whose demonstrations' inputs were cut (all sets). Label tasks: F1 = macro-F1 over the labels,"
        " EM = accuracy (the prediction mapped to one label or none); other tasks: token-F1 and exact match."
    )
    return "\n".join([*lines, "", notes, ""])


def format_csv(rows: Sequence[Row]) -> str:
    """One line per row, with mean and SD columns as fractions in [0, 1]."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "task",
            "kind",
            "shots",
            "sets",
            "n",
            "truncated",
            "demos_cut",
            *(f"{m}_{s}" for m in METRICS for s in ("mean", "sd")),
        ]
    )
    for r in rows:
        means = [f"{v:.6f}" for m in METRICS for v in (r.mean(m), r.sd(m))]  # fixed digits: stable diffs between runs
        writer.writerow([r.task, r.kind, r.shots, len(r.f1), r.n, r.truncated, r.demos_cut, *means])
    return buffer.getvalue()


def report_json(rows: Sequence[Row], meta: dict[str, Any]) -> dict[str, Any]:
    """Everything needed to redraw or compare the run later (per-set values included)."""
    return {"meta": meta, "rows": [{**asdict(r), **{f"{m}_mean": r.mean(m) for m in METRICS}} for r in rows]}


def write_report(rows: Sequence[Row], out_dir: str | Path, meta: dict[str, Any], stem: str = "eval") -> list[Path]:
    """``<stem>.md``, ``<stem>.csv`` and ``<stem>.json`` in ``out_dir``, each written atomically."""
    out = Path(out_dir)
    paths = [out / f"{stem}.md", out / f"{stem}.csv", out / f"{stem}.json"]
    atomic_write_text(paths[0], format_markdown(rows, f"Evaluation: {meta.get('label', stem)}"))
    atomic_write_text(paths[1], format_csv(rows))
    atomic_write_json(paths[2], report_json(rows, meta))
    return paths


def load_report(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def plot_runs(
    runs: Sequence[tuple[str, dict[str, Any]]], path: str | Path, metric: str = "f1", title: str | None = None
) -> Path:
    """A grouped bar chart of ``metric`` per task (and ``overall``, the macro row), one bar per (run,
    shots), in points with SD over demonstration sets as error bars (``selfspec.evaluation.chart``).

    ``runs`` holds ``(label, report_json)`` pairs, e.g. the base model and each specialisation round.
    """
    named = [(f"{label} ({shots}-shot)", rows) for label, report in runs for shots, rows in _by_shots(report).items()]
    tasks = list(dict.fromkeys(r["task"] for _, rows in named for r in rows))
    tasks = [t for t in tasks if t != MACRO] + ([MACRO] if MACRO in tasks else [])  # the overall group last
    series = []
    for name, rows in named:
        found = {r["task"]: r for r in rows}
        values = [100 * found[t][f"{metric}_mean"] if t in found else None for t in tasks]
        errors = [100 * _sd(found[t][metric]) if t in found else 0.0 for t in tasks]
        series.append(Series(name, values, errors if any(errors) else None))
    groups = [OVERALL if t == MACRO else t for t in tasks]
    # One bar per group: its full name (with shots) fits the title; several: the run labels, once each.
    names = [name for name, _ in named] if len(named) == 1 else dict.fromkeys(label for label, _ in runs)
    default_title = "Evaluation: " + ", ".join(names)
    return grouped_bars(groups, series, path, title or default_title, METRIC_NAMES[metric])


def _by_shots(report: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in report["rows"]:
        grouped.setdefault(row["shots"], []).append(row)
    return grouped


def _sd(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0
