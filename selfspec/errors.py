"""User-facing errors: each says what is wrong and what to change.

The console scripts print these as plain lines (no traceback, ``exit_with``) and exit with
status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, NoReturn

from selfspec.noise import silence_known_noise
from selfspec.progress import interactive

USER_ERROR_EXIT = 2


class SelfSpecError(Exception):
    """An error caused by the user's input (files, configs, options), not by selfspec."""


class SeedFileError(SelfSpecError):
    """A seed file has one or more problems; ``problems`` holds one ``path:line: field: message`` each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ModelLoadError(SelfSpecError):
    """``base_model`` names neither a local model directory nor a reachable Hub model."""


class RequestFileError(SelfSpecError):
    """A file of requests has one or more bad lines; one ``path:line: message`` each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ConfigError(SelfSpecError):
    """An option has a value that cannot work; the message names the option."""


def exit_with(err: SelfSpecError, status: int = USER_ERROR_EXIT) -> NoReturn:
    """End a console script on a user error: its lines on stderr (no traceback), then ``status``."""
    # A multi-line error is a list of `path:line: ...` problems: an "error:" prefix would misalign the first.
    sys.stderr.write(f"error: {err}\n" if "\n" not in str(err) else f"{err}\n")
    raise SystemExit(status) from None


def configure_package_logging() -> None:
    """Console scripts: selfspec's log lines on stderr as ``selfspec: message`` (INFO and up), known
    third-party notices silenced (``selfspec.noise``), and in a log file no weight-loading bars
    (their redraws pile up on one line there)."""
    import os

    silence_known_noise()
    if not interactive():
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # read when transformers is imported
        if "transformers" in sys.modules:  # imported already (selfspec.cli imports it)
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
    package_log = logging.getLogger("selfspec")
    if not package_log.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("selfspec: %(message)s"))
        package_log.addHandler(handler)
        package_log.setLevel(logging.INFO)
        package_log.propagate = False  # else a root handler (pytest's, a user's basicConfig) prints each line twice


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is *now*: a handler bound to the stream of its creation
    breaks when that stream is swapped and closed (in-process CLI calls under pytest's capture)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # StreamHandler.__init__ and setStream assign it; the property above always wins


def configure_model_script() -> None:
    """Console scripts that load a model and print answers: ``configure_package_logging``, and no
    weight-loading progress bars between the answers."""
    from transformers.utils import logging as hf_logging

    configure_package_logging()
    hf_logging.disable_progress_bar()  # the terminal gets answers or one error line, not weight-loading bars
