"""Lightning callbacks of selfspec, installed as ``selfspec.callbacks`` (see pyproject.toml)."""

from selfspec.callbacks.generation_writer import GenerationWriter
from selfspec.callbacks.summary import RunSummary

__all__ = ["GenerationWriter", "RunSummary"]
