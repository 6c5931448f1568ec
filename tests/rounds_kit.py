"""``python tests/rounds_kit.py <selfspec args>``: ``selfspec`` with scripted brainstorming, as a launcher.

Imported by a fork server (``tests/test_rounds_run.py``'s ``scripted_step_server``), it scripts
brainstorming in every step forked from it: never import it into the test process itself.

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


models.model_generator_factory = _hybrid  # on import: as the launcher's script or a fork server's preload

if __name__ == "__main__":
    main(sys.argv[1:])
