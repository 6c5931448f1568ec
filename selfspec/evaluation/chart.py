"""The one chart style of selfspec: grouped bars in points, titled, every value written on its bar.

Used by the per-step evaluation chart (``eval.png``), ``selfspec-eval-chart`` and the rounds
summary (``summary.png``). A zero is drawn as a visible outlined stub labelled ``0.0`` so it never
reads as a missing value; a missing value (a task a run did not score) gets ``n/a``. Figures grow
with the number of bars and task names are tilted once they would collide.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfspec.io import atomic_write_bytes

UNIT = "points"
ZERO_STUB = 0.6  # points: the height a zero bar is drawn with (its label still says 0.0)


@dataclass(frozen=True)
class Series:
    """One bar per group: a run (and shots setting), its values in points, optional SDs.

    Args:
        name: Legend entry.
        values: One value per group, in points (0-100); None where the run has no value.
        errors: Standard deviations in points (None: no error bars).
    """

    name: str
    values: Sequence[float | None]
    errors: Sequence[float] | None = None


def grouped_bars(groups: Sequence[str], series: Sequence[Series], path: str | Path, title: str, metric: str) -> Path:
    """Render the chart to ``path`` (PNG, atomically): a group per entry of ``groups``, a bar per series."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to a file
    import matplotlib.pyplot as plt

    n = max(len(series), 1)
    width = 0.8 / n
    per_group = max(0.9, 0.36 * n + 0.2)  # inches: room for n bars and their value labels
    fig, ax = plt.subplots(figsize=(min(16.0, max(6.0, per_group * len(groups) + 2.0)), 4.5))
    for k, s in enumerate(series):
        xs = [x + (k - (n - 1) / 2) * width for x in range(len(groups))]
        _draw_series(ax, xs, s, width, f"C{k % 10}", 7 if n <= 3 else 6)
    ax.set_xticks(range(len(groups)), list(groups))
    if len(groups) > 1 and max(len(g) for g in groups) * 0.09 > per_group:
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    ax.set_ylabel(f"{metric} ({UNIT})")
    ax.set_ylim(0, 110)  # headroom for the labels of 100-point bars
    ax.set_yticks(range(0, 101, 20))
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if len(series) > 1:  # handles drawn here: a series' first bar may be a hollow zero stub
        from matplotlib.patches import Patch

        handles = [Patch(color=f"C{k % 10}", label=s.name) for k, s in enumerate(series)]
        ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_png(fig, path)


def _draw_series(ax: Any, xs: list[float], s: Series, width: float, color: str, fontsize: float) -> None:
    values = [v if v is not None else 0.0 for v in s.values]
    heights = [max(v, ZERO_STUB) if s.values[i] is not None else 0.0 for i, v in enumerate(values)]
    errors = None if s.errors is None else [e if e else float("nan") for e in s.errors]  # nan: no error bar
    bars = ax.bar(xs, heights, width, yerr=errors, capsize=3 if errors else 0, label=s.name, color=color)
    for bar, value in zip(bars, s.values, strict=True):
        if value is not None and value == 0:
            bar.set_facecolor("white")
            bar.set_edgecolor(color)
    for k, (bar, value) in enumerate(zip(bars, s.values, strict=True)):
        error = errors[k] if errors and errors[k] == errors[k] else 0.0  # (nan != nan)
        top = bar.get_height() + error  # the label goes above the error bar, not across it
        label = "n/a" if value is None else f"{value:.1f}"
        ax.text(bar.get_x() + bar.get_width() / 2, top + 1.0, label, ha="center", va="bottom", fontsize=fontsize)


def save_png(fig: Any, path: str | Path) -> Path:
    """Render a matplotlib figure to ``path`` atomically (a reader never sees half a PNG) and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
