"""Instruction items of the other domains, and generic tasks over any domain's sentences.

An item is made from a *form* (task type, relation, wording) and an entity, so a brainstorm list
can show the same form again with another entity, as a model continuing a list of seeds does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from selfspec.world.kb import DomainKB
from selfspec.world.prose import page, sentence, state
from selfspec.world.schema import GENERIC_QUESTIONS


@dataclass(frozen=True)
class Item:
    """One instruction example."""

    instruction: str
    input: str
    output: str
    task: str


@dataclass(frozen=True)
class Form:
    task: str  # qa | ask | reading | yes_no | ner
    relation: str
    wording: str


NER_WORDINGS = (
    "List the {plural} mentioned in the sentence, separated by commas.",
    "Which {plural} appear in the text?",
    "Extract every {noun} name from the sentence.",
    "Find the names of {plural} in the input.",
)
ASK_WORDINGS = ("Answer the question.", "Answer the following question about {domain}.", "Reply briefly.")
READING_WORDINGS = ("Answer the question using the passage.", "Read the passage and answer the question.")


def random_form(kb: DomainKB, rng: random.Random) -> Form:
    task = rng.choice(["qa", "qa", "ask", "reading", "yes_no", "ner"])
    rel = rng.choice(kb.spec.relations)
    if task in ("qa", "ask", "reading"):
        wording = rng.choice(rel.questions + GENERIC_QUESTIONS)
    elif task == "yes_no":
        wording = rng.choice(rel.checks)
    else:
        wording = rng.choice(NER_WORDINGS)
    return Form(task, rel.key, wording)


def make_item(kb: DomainKB, rng: random.Random, form: Form, subject: str | None = None) -> Item:
    """Fill ``form`` with ``subject`` or a random subject of its relation (the answer comes from the facts)."""
    if form.task == "ner":
        return ner_item(kb, rng, form.wording)
    rel = kb.relation(form.relation)
    s = subject if subject is not None else rng.choice(sorted(kb.facts[rel.key]))
    o = kb.facts[rel.key][s]
    question = sentence(form.wording.replace("{noun}", rel.noun), s, o)
    if form.task == "qa":
        return Item(question, "", o, "qa")
    if form.task == "ask":
        return Item(rng.choice(ASK_WORDINGS).format(domain=kb.spec.name), question, o, "qa")
    if form.task == "reading":
        return Item(rng.choice(READING_WORDINGS), f"Passage: {page(kb, rng, s)}\nQuestion: {question}", o, "qa")
    yes = rng.random() < 0.5  # yes_no
    other = o if yes else rng.choice([x for x in kb.entities[rel.object] if x != o])
    return Item(sentence(form.wording, s, other), "", "yes" if yes else "no", "yes_no")


def ner_item(kb: DomainKB, rng: random.Random, wording: str) -> Item:
    """Names of one invented-name type in a two- or three-fact sentence (answer: in order of appearance)."""
    named = [t for t in kb.spec.types if t.count]
    for _ in range(100):
        text = mixed_sentence(kb, rng)
        kind = rng.choice(named)
        found = [w.strip(".,") for w in text.split() if w.strip(".,") in kb.entities[kind.key]]
        if found:
            answer = ", ".join(dict.fromkeys(found))
            return Item(wording.format(plural=kind.plural, noun=kind.noun), text, answer, "ner")
    raise RuntimeError("no sentence names an entity")  # unreachable with the shipped schemas


def mixed_sentence(kb: DomainKB, rng: random.Random) -> str:
    """Two or three facts about different subjects joined into one sentence."""
    parts = []
    for _ in range(rng.choice([2, 2, 3])):
        rel = rng.choice(kb.spec.relations)
        s = rng.choice(sorted(kb.facts[rel.key]))
        parts.append(state(kb, rng, (rel.key, s, kb.facts[rel.key][s])).rstrip("."))
    joined = parts[0] + "".join(rng.choice([", and ", "; ", ", while "]) + p[0].lower() + p[1:] for p in parts[1:])
    return joined + "."


GENERIC_TASKS = (
    "Repeat the sentence exactly.",
    "What is the first word of the text?",
    "What is the last word of the sentence?",
    "Copy the invented names that appear in the sentence, separated by commas.",
    "Which word comes right after {w} in the sentence?",
)


def generic_item(text: str, rng: random.Random, names: set[str]) -> Item:
    """A task any model can do from the input alone (no domain knowledge): copy, first/last word, names."""
    words = text.rstrip(".").split()
    choice = rng.randrange(len(GENERIC_TASKS))
    if choice == 0:
        return Item(GENERIC_TASKS[0], text, text, "copy")
    if choice == 1:
        return Item(GENERIC_TASKS[1], text, words[0].strip(",;"), "copy")
    if choice == 2:
        return Item(GENERIC_TASKS[2], text, words[-1].strip(",;"), "copy")
    if choice == 3:
        found = [w.strip(".,;") for w in words if w.strip(".,;") in names]
        if found:
            return Item(GENERIC_TASKS[3], text, ", ".join(dict.fromkeys(found)), "copy")
    i = rng.randrange(len(words) - 1)
    return Item(GENERIC_TASKS[4].format(w=words[i].strip(",;")), text, words[i + 1].strip(",;"), "copy")
