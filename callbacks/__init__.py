"""Lightning callbacks of selfspec, installed as ``selfspec.callbacks`` (see pyproject.toml)."""

from selfspec.callbacks.adapter_export import AdapterExport
from selfspec.callbacks.checkpoint import ResumableCheckpoint
from selfspec.callbacks.evaluation import DomainEvaluation
from selfspec.callbacks.generation_writer import GenerationWriter
from selfspec.callbacks.summary import RunSummary

__all__ = ["AdapterExport", "DomainEvaluation", "GenerationWriter", "ResumableCheckpoint", "RunSummary"]
