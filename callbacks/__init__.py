"""Lightning callbacks of selfspec, installed as ``selfspec.callbacks`` (see pyproject.toml)."""

from selfspec.callbacks.evaluation import DomainEvaluation
from selfspec.callbacks.summary import RunSummary

__all__ = ["DomainEvaluation", "RunSummary"]
