"""Which prompt template a model was trained with, and the refusal to evaluate it with another.

An adapter records its template in ``selfspec_adapter.json``; a Lightning checkpoint written by
``selfspec fit`` sits in ``<run>/checkpoints/`` beside the run's ``config.yaml`` (``data.template``).
A fresh adapter (the bare base model) has no template of its own and takes the evaluation's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from selfspec.errors import SelfSpecError
from selfspec.modeling.adapters import ADAPTER_META, read_adapter_meta

log = logging.getLogger(__name__)


class TemplateMismatchError(SelfSpecError):
    """The model was trained with one prompt template and would be evaluated with another."""


def adapter_template(adapter_dir: str | Path) -> str | None:
    """The template an exported adapter was trained with; None (announced) when it did not record one."""
    template = read_adapter_meta(adapter_dir).get("template")
    if template is None:
        log.warning("adapter %s has no %s naming its prompt template; cannot check it", adapter_dir, ADAPTER_META)
    return template


def checkpoint_template(ckpt_path: str | Path) -> str | None:
    """``data.template`` of the run that wrote ``ckpt_path``; None (announced) when its config is not beside it."""
    config = Path(ckpt_path).resolve().parent.parent / "config.yaml"  # <run>/checkpoints/x.ckpt -> <run>/config.yaml
    data = yaml.safe_load(config.read_text(encoding="utf-8")) if config.is_file() else None
    template = (data or {}).get("data", {}).get("template") if isinstance(data, dict) else None
    if template is None:
        log.warning(
            "checkpoint %s: no run config.yaml with data.template beside it; cannot check its template", ckpt_path
        )
    return template


def check_template(trained: str | None, source: str, requested: str, override: bool) -> None:
    """Refuse ``requested`` when ``source`` was trained with another template, unless ``override``."""
    if trained is None or trained == requested:  # nothing recorded: the warning above was the message
        return
    if override:
        log.warning(
            "%s was trained with template %r; evaluating with %r as asked (template_override)",
            source,
            trained,
            requested,
        )
        return
    raise TemplateMismatchError(
        f"{source} was trained with prompt template {trained!r} but would be evaluated with {requested!r}; "
        f"evaluate with --data.template {trained}, or set template_override: true on "
        "selfspec.callbacks.DomainEvaluation to compare across templates on purpose"
    )
