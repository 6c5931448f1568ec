"""The knowledge base: invented names for every entity type and one object per (relation, subject)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from selfspec.world.names import make_names
from selfspec.world.schema import GENERIC_QUESTIONS, MEDICINE, OTHER_DOMAINS, DomainSpec, Relation


@dataclass(frozen=True)
class DomainKB:
    """One domain's entities (type key -> names) and facts (relation key -> subject -> object)."""

    spec: DomainSpec
    entities: dict[str, list[str]]
    facts: dict[str, dict[str, str]]

    def relation(self, key: str) -> Relation:
        return next(r for r in self.spec.relations if r.key == key)

    def type_of(self, name: str) -> str:
        return next(t for t, names in self.entities.items() if name in names)


@dataclass(frozen=True)
class World:
    """The target domain and the other domains, all from one seed."""

    seed: int
    target: DomainKB
    others: tuple[DomainKB, ...]


def build_domain(spec: DomainSpec, rng: random.Random, taken: set[str]) -> DomainKB:
    entities = {t.key: list(t.words) or make_names(rng, t.count, taken) for t in spec.types}
    facts: dict[str, dict[str, str]] = {}
    for rel in spec.relations:
        objects = entities[rel.object]
        facts[rel.key] = {s: rng.choice([o for o in objects if o != s]) for s in entities[rel.subject]}
    return DomainKB(spec, entities, facts)


def build_world(seed: int) -> World:
    """Every name and fact; the same seed gives the same world."""
    rng = random.Random(f"tiny-world-{seed}-kb")
    taken = template_words()  # an invented name is never an English word of the world's prose
    target = build_domain(MEDICINE, rng, taken)
    others = tuple(build_domain(spec, rng, taken) for spec in OTHER_DOMAINS)
    return World(seed, target, others)


def template_words() -> set[str]:
    """Every lower-case word of the schema's wordings and type nouns."""
    texts: list[str] = list(GENERIC_QUESTIONS)
    for spec in (MEDICINE, *OTHER_DOMAINS):
        texts += [f"{t.noun} {t.plural} {' '.join(t.words)}" for t in spec.types]
        for rel in spec.relations:
            texts += [rel.noun, *rel.statements, *rel.questions, *rel.checks, *rel.seed_questions]
            texts += [*rel.eval_questions, *rel.seed_checks, *rel.eval_checks, *(q + a for q, a in rel.leaflets)]
    from bm25s.stopwords import STOPWORDS_EN_PLUS  # a name BM25 ignores could never be retrieved

    return set(re.findall(r"[a-z]+", " ".join(texts).lower())) | set(STOPWORDS_EN_PLUS)
