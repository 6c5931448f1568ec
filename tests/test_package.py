"""Packaging: callbacks install under the selfspec namespace, never as a top-level module."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_maps_callbacks_into_selfspec_namespace(tmp_path: Path) -> None:
    # Built from a copy of the sources: setuptools reuses the tree's build/ folder, whose stale
    # files would hide a package missing from pyproject.toml's list.
    source = tmp_path / "source"
    for folder in ("selfspec", "callbacks"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for file in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / file, source / file)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "wheel"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "wheel").glob("selfspec-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "selfspec/callbacks/summary.py" in names and "selfspec/assets/tiny_corpus.txt" in names
    assert not [n for n in names if n.startswith("callbacks/")]
    # no model weights and no tiny world in the package (builtin models are built or converted on first use)
    assert not [n for n in names if "world" in n or n.endswith((".safetensors", ".bin", ".gguf"))]
    assert wheel.stat().st_size < 1_000_000
    # every package of the source tree is in the wheel (pyproject lists them by hand)
    modules = {str(f.relative_to(REPO)) for f in (REPO / "selfspec").rglob("*.py")}
    assert not modules - set(names), "pyproject.toml's packages list misses a subpackage"
    top_level = next(n for n in names if n.endswith("top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["selfspec"]


def test_yaml_refers_to_callbacks_by_namespace() -> None:
    import selfspec.callbacks

    assert selfspec.callbacks.RunSummary.__module__ == "selfspec.callbacks.summary"
    assert "selfspec.callbacks.RunSummary" in (REPO / "configs" / "tiny_llama.yaml").read_text()
