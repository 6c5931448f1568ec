"""Fresh domains: a new small domain for every document or probe that uses one.

A task list or response prompt about a domain the model has never seen can only be continued by
reading it: the list's wordings copied from its seed items and its entities from its passages, the
answer copied from a passage. A fresh domain borrows one-token names from the world's other domains
and gives them new, random facts, so memory cannot answer. ``selfspec.world.probe`` measures the base's
reading with them; the pretraining kinds ``fresh_*`` (weight 0 in ``documents.MIX``) were meant to
teach it and did not (configs/world/results.md). The word pools hold no target-domain word.
"""

from __future__ import annotations

import random

from selfspec.world.kb import DomainKB, World
from selfspec.world.schema import DomainSpec, EntityType, Relation

FIELDS = tuple(
    """
    gardening weaving mining music trade folklore pottery fishing beekeeping archery painting
    clockmaking farming baking carpentry sailing theatre chess dancing hunting masonry glassmaking
    brewing
    """.split()  # noqa: SIM905
)
# Regular plurals (noun + "s").
KINDS = tuple(
    """
    tool river castle song robot lake tree bird coin lamp road village guild clock boat horse garden
    bridge tower book machine island festival mountain wagon statue temple market forest valley
    dance recipe poem banner shield engine kite bell drum
    """.split()  # noqa: SIM905
)
ROLES = tuple(
    """
    owner maker colour home leader friend rival food teacher keeper builder partner guard neighbour
    source shape sound symbol guest helper origin material destination master favourite
    """.split()  # noqa: SIM905
)
VERBS = (
    ("guard", "guards"),
    ("carry", "carries"),
    ("visit", "visits"),
    ("build", "builds"),
    ("follow", "follows"),
    ("paint", "paints"),
    ("protect", "protects"),
    ("hold", "holds"),
    ("feed", "feeds"),
    ("love", "loves"),
    ("fear", "fears"),
    ("watch", "watches"),
    ("serve", "serves"),
    ("hide", "hides"),
    ("light", "lights"),
    ("trade", "trades"),
    ("mend", "mends"),
    ("teach", "teaches"),
    ("cross", "crosses"),
    ("join", "joins"),
    ("honour", "honours"),
    ("chase", "chases"),
)
STATEMENTS = (
    "{s} {v3} {o}.",
    "the {noun} of {s} is {o}.",
    "{o} is the {noun} of {s}.",
    "everyone knows that {s} {v3} {o}.",
    "{s} has {o} as its {noun}.",
    "it is {o} that {s} {v3}.",
)
QUESTIONS = (
    "Which {kind} does {s} {v}?",
    "What does {s} {v}?",
    "Which {kind} is the {noun} of {s}?",
    "Name the {kind} that {s} {v3}.",
    "Who is the {noun} of {s}?",
    "Tell me what {s} {v3}.",
    "{s} {v3} which {kind}?",
    "What {kind} can {s} {v}?",
    "Which {kind} is linked to {s}?",
)
CHECKS = ("Does {s} {v} {o}?", "Is {o} the {noun} of {s}?", "Is it true that {s} {v3} {o}?", "Can {s} {v} {o}?")


def fill(template: str, kind: str, role: str, verb: tuple[str, str]) -> str:
    """Put the relation's object kind, role noun and verb in; ``{s}`` and ``{o}`` stay."""
    return template.replace("{kind}", kind).replace("{noun}", role).replace("{v3}", verb[1]).replace("{v}", verb[0])


def fresh_spec(rng: random.Random) -> DomainSpec:
    """A random domain: one subject kind, one or two object kinds, two or three relations."""
    kinds = rng.sample(KINDS, 3)
    main = EntityType(kinds[0], kinds[0], kinds[0] + "s", 6)
    objects = [EntityType(k, k, k + "s", 5) for k in kinds[1 : 1 + rng.choice([1, 2])]]
    relations = []
    for i, role in enumerate(rng.sample(ROLES, rng.choice([2, 3]))):
        target = rng.choice(objects)
        verb = rng.choice(VERBS)
        relations.append(
            Relation(
                f"r{i}",
                main.key,
                target.key,
                role,
                statements=tuple(fill(t, target.noun, role, verb) for t in rng.sample(STATEMENTS, 3)),
                questions=tuple(fill(t, target.noun, role, verb) for t in rng.sample(QUESTIONS, 3)),
                checks=tuple(fill(t, target.noun, role, verb) for t in rng.sample(CHECKS, 2)),
            )
        )
    return DomainSpec(rng.choice(FIELDS), main.key, (main, *objects), tuple(relations))


_NAMES: dict[int, list[str]] = {}


def _names(world: World) -> list[str]:
    """The other domains' names: one token each in the world's tokenizer, so copying one is one step."""
    if world.seed not in _NAMES:
        _NAMES[world.seed] = sorted(
            {n for kb in world.others for t in kb.spec.types if t.count for n in kb.entities[t.key]}
        )
    return _NAMES[world.seed]


def fresh_domain(world: World, rng: random.Random) -> DomainKB:
    """A new domain whose names are other domains' names with new, random facts: memory cannot answer."""
    spec = fresh_spec(rng)
    drawn = iter(rng.sample(_names(world), sum(t.count for t in spec.types)))
    entities = {t.key: [next(drawn) for _ in range(t.count)] for t in spec.types}
    facts = {rel.key: {s: rng.choice(entities[rel.object]) for s in entities[rel.subject]} for rel in spec.relations}
    return DomainKB(spec, entities, facts)
