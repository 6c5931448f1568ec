"""Unlabelled prose stating the world's facts: encyclopedia pages, case notes, patient leaflets.

Pure functions of a knowledge base and a ``random.Random``. Sentences never start with a capital
invented name: names are always lower case, so each is one token in every position.
"""

from __future__ import annotations

import random

from selfspec.world.kb import DomainKB


def sentence(template: str, s: str, o: str) -> str:
    """Fill a template; capitalise its first letter unless it starts with a name."""
    text = template.format(s=s, o=o)
    return text if template.startswith("{") else text[0].upper() + text[1:]


def facts_about(kb: DomainKB, name: str) -> list[tuple[str, str, str]]:
    """``(relation, subject, object)`` of every fact that mentions ``name`` (as subject or object)."""
    out = []
    for rel in kb.spec.relations:
        for s, o in kb.facts[rel.key].items():
            if name in (s, o):
                out.append((rel.key, s, o))
    return out


def state(kb: DomainKB, rng: random.Random, fact: tuple[str, str, str]) -> str:
    rel, s, o = fact
    return sentence(rng.choice(kb.relation(rel).statements), s, o)


def page(kb: DomainKB, rng: random.Random, name: str, max_facts: int = 6) -> str:
    """A short encyclopedia page: what ``name`` is, then facts about it in a random order."""
    noun = kb.spec.type(kb.type_of(name)).noun
    facts = facts_about(kb, name)
    rng.shuffle(facts)
    own = [f for f in facts if f[1] == name]
    rest = [f for f in facts if f[1] != name][: max(0, max_facts - len(own))]
    facts = own + rest
    rng.shuffle(facts)
    opener = rng.choice([f"{name} is a {noun}.", f"About the {noun} {name}.", f"{name} ({noun})."])
    return " ".join([opener, *(state(kb, rng, f) for f in facts)])


def mixed_paragraph(kb: DomainKB, rng: random.Random, n: int = 4) -> str:
    """``n`` facts about different subjects, as one paragraph."""
    rel_keys = [r.key for r in kb.spec.relations]
    facts = []
    for _ in range(n):
        rel = rng.choice(rel_keys)
        s = rng.choice(sorted(kb.facts[rel]))
        facts.append((rel, s, kb.facts[rel][s]))
    return " ".join(state(kb, rng, f) for f in facts)


def case_note(kb: DomainKB, rng: random.Random) -> str:
    """A clinic story consistent with the facts (target domain only)."""
    drug = rng.choice(kb.entities["drug"])
    disease = kb.facts["treats"][drug]
    sign = kb.facts["sign"][disease]
    lines = [
        rng.choice(["A patient came to the clinic with {x}.", "A woman arrived at the hospital with {x}."]).format(
            x=sign
        ),
        f"The doctor found {disease}, which mostly harms the {kb.facts['organ'][disease]}.",
        rng.choice(["She was given {x}.", "The doctor chose {x}.", "Treatment with {x} began."]).format(x=drug),
        rng.choice(["Later she noticed {x}.", "After some days {x} appeared.", "The only trouble was {x}."]).format(
            x=kb.facts["side_effect"][drug]
        ),
        f"A test showed a fault in {kb.facts['gene_of'][disease]}.",
    ]
    return " ".join(lines)


def leaflet(kb: DomainKB, rng: random.Random, drug_or_disease: str) -> str:
    """Patient-leaflet questions and answers about one drug or disease (target domain only)."""
    lines = [f"Leaflet for patients: {drug_or_disease}."]
    for rel_key, s, o in facts_about(kb, drug_or_disease):
        rel = kb.relation(rel_key)
        if s != drug_or_disease or not rel.leaflets:
            continue
        question, answer = rng.choice(rel.leaflets)
        lines.append(f"- {sentence(question, s, o)} {sentence(answer, s, o)}")
    return "\n".join(lines)
