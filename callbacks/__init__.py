"""Lightning callbacks of selfspec, installed as ``selfspec.callbacks`` (see pyproject.toml)."""

from selfspec.callbacks.summary import RunSummary

__all__ = ["RunSummary"]
