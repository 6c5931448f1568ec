"""Target-domain seeds and the held-out evaluation suite.

Seeds and evaluation never share an entity (the first ``SEED_SHARE`` of the drugs and diseases are
the seeds'), and they never share a wording: ``Relation.seed_questions`` vs ``eval_questions``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from selfspec.world.kb import DomainKB
from selfspec.world.prose import sentence, state

SEED_SHARE = 0.2
EVAL_PER_TASK = 20
SEED_NER = "List every drug named in this sentence, separated by commas."
EVAL_NER = "Which of the names in the text are medicines? Give them separated by commas."
ASK = "Answer this question about medicine."


@dataclass(frozen=True)
class EvalTask:
    name: str
    kind: str  # suite kind: label | extraction
    relation: str  # "" for the NER task
    checks: bool = False


EVAL_TASKS = (
    EvalTask("treatment", "extraction", "treats"),
    EvalTask("side_effect", "extraction", "side_effect"),
    EvalTask("gene", "extraction", "gene_of"),
    EvalTask("organ", "label", "organ"),
    EvalTask("yes_no", "label", "treats", checks=True),
    EvalTask("ner", "extraction", ""),
)
# task -> how many seeds, in seed order (28 seeds)
SEED_PLAN = (("treats", 4), ("side_effect", 4), ("gene_of", 4), ("organ", 4), ("yes_no", 4), ("ner", 4))
SEED_EXTRA = (("targets", 2), ("sign", 2))


def split(kb: DomainKB, kind: str) -> tuple[list[str], list[str]]:
    """(seed entities, evaluation entities) of one type."""
    names = kb.entities[kind]
    cut = max(1, round(len(names) * SEED_SHARE))
    return names[:cut], names[cut:]


def seed_records(kb: DomainKB, seed: int) -> list[dict[str, Any]]:
    """The seed file's records: every task type, seed entities and seed wordings only."""
    rng = random.Random(f"tiny-world-{seed}-seeds")
    records: list[dict[str, Any]] = []
    for task, count in SEED_PLAN + SEED_EXTRA:
        subject_type = "drug" if task in ("yes_no", "ner") else kb.relation(task).subject
        subjects = rng.sample(split(kb, subject_type)[0], count)  # distinct entities per task
        for i, s in enumerate(subjects):
            records.append({"id": f"world-{len(records) + 1:02d}"} | _seed(kb, rng, task, i, s))
    return records


def _seed(kb: DomainKB, rng: random.Random, task: str, i: int, s: str) -> dict[str, Any]:
    if task == "ner":
        text = _sentence(kb, rng, split(kb, "drug")[0], split(kb, "disease")[0])
        return {"task": "ner", "instruction": SEED_NER, "input": text, "output": _drugs_in(kb, text)}
    if task == "yes_no":
        rel = kb.relation("treats")
        s, o, answer = _check_pair(kb, rng, [s], i % 2 == 0)
        return {"task": "yes_no", "instruction": sentence(rel.seed_checks[i % 2], s, o), "input": "", "output": answer}
    rel = kb.relation(task)
    question = sentence(rel.seed_questions[i % len(rel.seed_questions)], s, "")
    if i % 2 == 1:  # half the question seeds put the question in the input
        return {"task": "qa", "instruction": ASK, "input": question, "output": kb.facts[task][s]}
    return {"task": "qa", "instruction": question, "input": "", "output": kb.facts[task][s]}


def eval_records(kb: DomainKB, task: EvalTask, seed: int) -> list[dict[str, Any]]:
    """``EVAL_PER_TASK`` records of one task over evaluation entities, evaluation wordings only."""
    rng = random.Random(f"tiny-world-{seed}-eval-{task.name}")
    records = []
    if not task.relation:
        drugs, diseases = split(kb, "drug")[1], split(kb, "disease")[1]
        for i in range(EVAL_PER_TASK):
            text = _sentence(kb, rng, drugs, diseases)
            records.append({"id": f"{task.name}-{i:02d}", "input": text, "answers": [_drugs_in(kb, text)]})
        return records
    rel = kb.relation(task.relation)
    subjects = rng.sample(split(kb, rel.subject)[1], EVAL_PER_TASK)
    for i, s in enumerate(subjects):
        if task.checks:
            s, o, answer = _check_pair(kb, rng, [s], i % 2 == 0)
            instruction = sentence(rel.eval_checks[i % len(rel.eval_checks)], s, o)
        else:
            instruction, answer = sentence(rng.choice(rel.eval_questions), s, ""), kb.facts[rel.key][s]
        records.append({"id": f"{task.name}-{i:02d}", "instruction": instruction, "answers": [answer]})
    return records


def _check_pair(kb: DomainKB, rng: random.Random, drugs: list[str], yes: bool) -> tuple[str, str, str]:
    s = rng.choice(drugs)
    true = kb.facts["treats"][s]
    o = true if yes else rng.choice([d for d in kb.entities["disease"] if d != true])
    return s, o, "yes" if yes else "no"


def _sentence(kb: DomainKB, rng: random.Random, drugs: list[str], diseases: list[str]) -> str:
    """A statement about one or two drugs and a disease (subjects from the given split)."""
    facts = [(r, rng.choice(drugs)) for r in rng.sample(["treats", "side_effect", "targets"], rng.choice([1, 2]))]
    facts.append((rng.choice(["gene_of", "organ", "sign"]), rng.choice(diseases)))
    rng.shuffle(facts)
    parts = [state(kb, rng, (r, s, kb.facts[r][s])).rstrip(".") for r, s in facts]
    return parts[0] + "".join(", and " + p[0].lower() + p[1:] for p in parts[1:]) + "."


def _drugs_in(kb: DomainKB, text: str) -> str:
    found = [w.strip(".,") for w in text.split() if w.strip(".,") in kb.entities["drug"]]
    return ", ".join(dict.fromkeys(found))
