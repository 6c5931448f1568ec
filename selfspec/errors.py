"""User-facing errors: each says what is wrong and what to change.

The CLI prints these as plain lines (no traceback) and exits with status 2; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations


class SelfSpecError(Exception):
    """An error caused by the user's input (files, configs, options), not by selfspec."""


class SeedFileError(SelfSpecError):
    """A seed file has one or more problems; ``problems`` holds one ``path:line: field: message`` each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ModelLoadError(SelfSpecError):
    """``base_model`` names neither a local model directory nor a reachable Hub model."""


class ConfigError(SelfSpecError):
    """An option has a value that cannot work; the message names the option."""
