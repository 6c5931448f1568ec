"""The filter replay: finished brainstorm rounds, in order, through the instruction filters (no I/O).

Which instructions are kept is not stored per round: it is recomputed by feeding the rounds, in
round order, through one ``InstructionFilter`` (its novelty index grows with every kept item) until
the target is reached. This is deterministic, so every process of a distributed run, and every
resumed run, keeps the same items; and the rounds themselves can serve any target (see
``GenerationPlan.rounds_key``).
"""

from __future__ import annotations

from typing import Any

from selfspec.generation.filters import FILTER_NAMES, InstructionFilter
from selfspec.generation.plan import GenerationPlan
from selfspec.generation.records import BrainstormRound, Candidate


class FilterReplay:
    """Feeds finished brainstorm rounds, in order, through the filters; counts the funnel."""

    def __init__(self, plan: GenerationPlan) -> None:
        self.target = plan.num_instructions
        # The seeds' instructions start the novelty index: a paraphrase of a seed is not a new task.
        self.filter = InstructionFilter(plan.filters, [s.instruction for s in plan.seeds], plan.eval_ngrams)
        self.kept: list[Candidate] = []
        self.counts = {"rounds": 0, "prompts": 0, "parsed": 0, "unparsed": 0, "truncated": 0}

    @property
    def funnel(self) -> dict[str, Any]:
        return self.counts | {"dropped": dict(self.filter.counts), "kept": len(self.kept)}

    @property
    def done(self) -> bool:
        return len(self.kept) >= self.target

    def feed(self, shard: BrainstormRound) -> None:
        """Filter one round's items in order; items after the target is reached are not looked at.

        Stopping mid-round (not at a round's end) makes the kept list of target ``n`` a prefix of the
        kept list of any larger target: the filters see the same items in the same order up to there.
        """
        self.counts["rounds"] += 1
        for row in shard.prompts:
            self.counts["prompts"] += 1
            self.counts["unparsed"] += len(row.unparsed)
            self.counts["truncated"] += int(row.truncated)
            for candidate in row.candidates:
                if self.done:  # checked per item, not per round: see the docstring
                    return
                self.counts["parsed"] += 1
                if self.filter.reason_to_drop(candidate) is None:
                    self.kept.append(candidate)

    def postfix(self) -> dict[str, int]:
        return {"kept": len(self.kept), "dropped": sum(self.filter.counts.values())}

    def describe(self) -> str:
        return format_funnel(self.funnel)


def format_funnel(funnel: dict[str, Any]) -> str:
    """One line: prompts -> parsed -> each filter's drops -> kept (-> responses/examples)."""
    dropped = funnel.get("dropped", {})
    parts = [f"{funnel.get('prompts', 0)} prompts", f"{funnel.get('parsed', 0)} items parsed"]
    parts += [f"{funnel.get('unparsed', 0)} unreadable", f"{funnel.get('truncated', 0)} cut off"]
    parts += [f"-{dropped.get(name, 0)} {name}" for name in FILTER_NAMES]
    parts.append(f"{funnel.get('kept', 0)} kept")
    if "examples" in funnel:
        parts.append(f"{funnel['empty_responses']} empty responses")
        parts.append(f"-{funnel.get('contaminated_responses', 0)} contaminated responses")
        parts.append(f"{funnel['examples']} examples")
    return ", ".join(parts)
