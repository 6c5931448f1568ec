"""``python tests/rounds_kit.py <selfspec args>``: ``selfspec`` with scripted brainstorming, as a launcher.

The random tiny model never writes a parseable task list, so the rounds tests launch each step
through this script: sampled brainstorm calls get scripted Alpaca items (``generation_kit``), every
greedy call (responses, with or without the previous round's adapter) and all training and
evaluation are real.
"""

from __future__ import annotations

import sys

from generation_kit import ScriptedBrainstormer

import selfspec.generation.models as models
from selfspec.cli import main

_real_factory = models.model_generator_factory


def _hybrid(plan):  # type: ignore[no-untyped-def]
    real = _real_factory(plan)
    return lambda adapter: ScriptedBrainstormer(real(adapter))


if __name__ == "__main__":
    models.model_generator_factory = _hybrid
    main(sys.argv[1:])
