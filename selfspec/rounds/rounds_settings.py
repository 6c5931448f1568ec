"""What ``selfspec-rounds`` runs: the typed settings of iterative self-specialisation (docs/method.md step 7)."""

from __future__ import annotations

from dataclasses import dataclass, field

from selfspec.errors import ConfigError
from selfspec.evaluation.runner import EvalSettings


@dataclass(frozen=True)
class RoundsSettings:
    """Iterative self-specialisation: evaluate the base, then generate -> train -> evaluate per round.

    Args:
        fit_config: A ``selfspec fit`` YAML (model, data, trainer): every round trains a fresh
            adapter on the base with it. Its generation options (``data.generation.num_instructions``, retrieval,
            filters) make each round's data; for round k >= 2 the driver sets ``data.generation.response_adapter``
            to round k-1's adapter.
        suite: Evaluation suite YAML (tasks scored by token-F1, EM and ROUGE-L).
        rounds: Number of specialisation rounds after the base evaluation.
        name: Run name: everything goes to ``<root>/<name>/``.
        root: Folder of all runs.
        evaluation: Decoding settings of every evaluation; ``evaluation.shots`` applies to the rounds.
        base_shots: Shots settings of the base evaluation (e.g. 0 and 5: the in-context baseline).
        base_chat: Also evaluate the base 0-shot through its own chat template (column
            ``base_0shot_chat``): an instruction-tuned base's fair baseline. Gains are then measured
            against the better of the two 0-shot columns (``best_base_0shot`` in summary.json).
        seeds_only: Also train the control "LoRA on the seeds alone", for as many optimizer steps
            as round 1, and evaluate it.
        min_delta: Stop early when a round's overall F1 (first ``evaluation.shots`` value, in
            points) gains less than this over the previous round (the base for round 1); null never stops.
        launcher: Command that runs ``selfspec`` for each step in a fresh process, e.g.
            ``[srun, python, -m, selfspec]`` on a cluster. Default: each step is a child of a fork
            server that imported selfspec once (about 9 s saved per step on 2 cores;
            ``rounds/step_process.py``), else this Python, ``-m selfspec``.
        step_args: Extra ``selfspec`` arguments for every fit step (e.g. ``--trainer.devices=4``).
    """

    fit_config: str
    suite: str
    rounds: int = 2
    name: str = "rounds"
    root: str = "lightning_logs"
    evaluation: EvalSettings = EvalSettings()  # frozen, so one shared default instance is safe
    base_shots: tuple[int, ...] = (0, 5)
    base_chat: bool = False
    seeds_only: bool = True
    min_delta: float | None = None
    launcher: tuple[str, ...] | None = None
    step_args: tuple[str, ...] = field(default_factory=tuple)

    def check(self) -> None:
        """Raise ``ConfigError`` naming the option of the first impossible value."""
        if self.rounds < 1:
            raise ConfigError(f"--rounds must be at least 1, got {self.rounds}")
        if not self.name or "/" in self.name or self.name in (".", ".."):
            raise ConfigError(f"--name must be a plain folder name, got {self.name!r}")
        if not self.base_shots or min(self.base_shots) < 0:
            raise ConfigError(f"--base_shots must be a non-empty list of numbers >= 0, got {list(self.base_shots)}")
        if self.min_delta is not None and self.min_delta < 0:
            raise ConfigError(f"--min_delta must be >= 0 or null, got {self.min_delta}")
        try:
            self.evaluation.check("--evaluation")
        except ValueError as err:  # EvalSettings raises ValueError (it is also a library class): a user error here
            raise ConfigError(str(err)) from None
