"""Domain evaluation (METHOD "Evaluation"): metrics, task suites, 0-/k-shot prompting, runner, report."""
