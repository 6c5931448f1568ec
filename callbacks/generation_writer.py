"""``selfspec.callbacks.GenerationWriter``: kept so that configs listing it still load; it does nothing.

``selfspec predict`` used to need it to assemble the dataset on rank 0 after every process had
written its shards. The generation recipe (``selfspec.generation.recipe``) now does that itself, on
rank 0 behind a barrier, the same way for one process and for many; ``predict`` needs no callback.
"""

from __future__ import annotations

from lightning.pytorch.callbacks import Callback


class GenerationWriter(Callback):
    """No-op: the recipe writes the dataset (see the module docstring); remove it from your config."""
