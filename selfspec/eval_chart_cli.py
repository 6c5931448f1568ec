"""``selfspec-eval-chart``: one PNG comparing saved evaluation runs (e.g. base vs each round)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from selfspec.evaluation.report import METRICS, load_report, plot_runs


def main(argv: list[str] | None = None) -> int:
    """``selfspec-eval-chart RUN/eval.json ... --out chart.png``: bars per task, one series per run and shots."""
    parser = argparse.ArgumentParser(prog="selfspec-eval-chart", description=main.__doc__)
    parser.add_argument("reports", nargs="+", type=Path, help="eval.json files written by DomainEvaluation")
    parser.add_argument("--labels", nargs="+", help="one name per report (default: the label each report holds)")
    parser.add_argument("--metric", choices=METRICS, default="f1")
    parser.add_argument("--out", type=Path, default=Path("eval_comparison.png"))
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.reports):
        parser.error(f"--labels: give one label per report ({len(args.reports)}), got {len(args.labels)}")
    runs = []
    for k, path in enumerate(args.reports):
        try:
            report = load_report(path)
            label = args.labels[k] if args.labels else report["meta"].get("label", str(path))
            if not isinstance(report["rows"], list):
                raise TypeError("rows: expected a list")
        except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
            sys.stderr.write(f"{path}: not an evaluation report ({err}); give an eval.json written by selfspec\n")
            return 2
        runs.append((label, report))
    sys.stdout.write(f"{plot_runs(runs, args.out, args.metric)}\n")
    return 0
