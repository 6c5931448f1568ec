"""Random-number-generator state, saved in checkpoints so a resumed run draws the same dropout masks."""

from __future__ import annotations

import random
from typing import Any, cast

import numpy as np
import torch


def rng_states() -> dict[str, Any]:
    """Python, NumPy, torch CPU (and CUDA, when present) generator states, as plain tensors/lists."""
    numpy_state = cast(tuple, np.random.get_state(legacy=True))  # (name, keys, pos, has_gauss, cached)
    states: dict[str, Any] = {
        # Plain lists and tensors, not the state tuples: checkpoints load with weights_only=True.
        "python": list(random.getstate()[1]),
        "python_pos": random.getstate()[2],
        "numpy": torch.from_numpy(numpy_state[1].copy()),
        "numpy_pos": int(numpy_state[2]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    """Inverse of ``rng_states``."""
    random.setstate((3, tuple(states["python"]), states["python_pos"]))  # 3: the Mersenne Twister state version
    # has_gauss 0: a cached Gaussian is dropped; selfspec draws none from NumPy, so nothing is lost.
    np.random.set_state(("MT19937", states["numpy"].numpy().astype(np.uint32), states["numpy_pos"], 0, 0.0))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
