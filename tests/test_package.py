"""Packaging: callbacks install under the selfspec namespace, never as a top-level module."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_maps_callbacks_into_selfspec_namespace(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("selfspec-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "selfspec/callbacks/summary.py" in names and "selfspec/assets/tiny_corpus.txt" in names
    assert not [n for n in names if n.startswith("callbacks/")]
    # no model weights and no tiny world in the package (builtin models are built or converted on first use)
    assert not [n for n in names if "world" in n or n.endswith((".safetensors", ".bin", ".gguf"))]
    assert wheel.stat().st_size < 1_000_000
    # every package of the source tree is in the wheel (pyproject lists them by hand)
    source = {str(f.relative_to(REPO)) for f in (REPO / "selfspec").rglob("*.py")}
    assert not source - set(names), "pyproject.toml's packages list misses a subpackage"
    top_level = next(n for n in names if n.endswith("top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["selfspec"]


def test_yaml_refers_to_callbacks_by_namespace() -> None:
    import selfspec.callbacks

    assert selfspec.callbacks.RunSummary.__module__ == "selfspec.callbacks.summary"
    assert "selfspec.callbacks.RunSummary" in (REPO / "configs" / "tiny_llama.yaml").read_text()
