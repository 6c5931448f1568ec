"""Which template a model was trained with, and the refusal to evaluate it with another."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from selfspec.evaluation.provenance import (
    TemplateMismatchError,
    adapter_template,
    check_template,
    checkpoint_template,
)
from selfspec.modeling.adapters import write_adapter_meta


@pytest.fixture
def warnings_seen(caplog: pytest.LogCaptureFixture):  # type: ignore[no-untyped-def]
    # The CLI stops the "selfspec" logger from propagating to the root, where caplog listens.
    logger = logging.getLogger("selfspec.evaluation.provenance")
    logger.addHandler(caplog.handler)
    with caplog.at_level(logging.WARNING, logger=logger.name):
        yield caplog
    logger.removeHandler(caplog.handler)


@pytest.mark.parametrize(
    ("trained", "requested", "override", "refused"),
    [
        ("alpaca", "alpaca", False, False),
        (None, "alpaca", False, False),  # a fresh adapter / base model takes the evaluation's template
        ("vicuna", "alpaca", False, True),
        ("vicuna", "alpaca", True, False),
    ],
)
def test_check_template(trained: str | None, requested: str, override: bool, refused: bool) -> None:
    if refused:
        with pytest.raises(TemplateMismatchError, match=r"adapter x was trained with prompt template 'vicuna'"):
            check_template(trained, "adapter x", requested, override)
    else:
        check_template(trained, "adapter x", requested, override)


def test_override_is_announced(warnings_seen: pytest.LogCaptureFixture) -> None:
    check_template("vicuna", "adapter x", "alpaca", override=True)
    assert "evaluating with 'alpaca' as asked (template_override)" in warnings_seen.text


def test_templates_are_read_from_adapter_meta_and_run_config(
    tmp_path: Path, warnings_seen: pytest.LogCaptureFixture
) -> None:
    write_adapter_meta(tmp_path / "adapter", {"template": "vicuna", "base_model": "m"})
    assert adapter_template(tmp_path / "adapter") == "vicuna"
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("data:\n  template: alpaca\n")
    assert checkpoint_template(run / "checkpoints" / "epoch=0.ckpt") == "alpaca"
    assert adapter_template(tmp_path) is None and checkpoint_template(tmp_path / "x.ckpt") is None
    assert "cannot check it" in warnings_seen.text and "cannot check its template" in warnings_seen.text
