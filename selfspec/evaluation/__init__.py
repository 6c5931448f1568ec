"""Domain evaluation (docs/method.md, "Evaluation"): metrics, task suites, 0-/k-shot prompting, runner, report."""
