"""The pretraining mix: target-domain prose, and other domains' prose and instruction documents.

Instruction documents use selfspec's own formats, byte for byte (the Alpaca template with k-shot
demonstrations, the brainstorm list, the grounded brainstorm list that opens with corpus passages,
the response prompt with seed demonstrations and retrieved passages), but *only for the other
domains*: the base model learns to follow instructions, continue a task list in the domain it shows
(or about the entities its passages name), and copy an answer from a passage, and never sees an
instruction of the target domain.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from selfspec.evaluation.prompting import DEMO_SEPARATOR
from selfspec.generation.brainstorm import render_brainstorm_prompt, render_item
from selfspec.generation.responses import SEPARATOR, render_passages, render_response_prompt, render_task
from selfspec.prompts import ALPACA
from selfspec.seeds import Seed
from selfspec.world.fresh import fresh_domain
from selfspec.world.kb import DomainKB, World
from selfspec.world.prose import case_note, leaflet, mixed_paragraph, page
from selfspec.world.tasks import Form, Item, generic_item, make_item, mixed_sentence, random_form

BRAINSTORM_PREAMBLE = """You are asked to come up with a set of diverse task instructions in the field of {domain}. These task instructions will be given to a language model, and we will evaluate it on completing them.

Here are the requirements:
1. Try not to repeat the verb for each instruction to maximise diversity.
2. The type of tasks should be diverse: question answering, yes or no questions, finding names in a sentence, and so on.
3. The instructions should be in English and 1 to 2 sentences long.
4. Write a realistic input for each instruction. If the task needs no input, write <noinput>.

List of tasks:"""  # noqa: E501
RESPONSE_PREAMBLE = "You are a {domain} expert. Complete each task accurately and concisely."

# Share of documents of each kind (by count); about half of the tokens state target-domain facts.
MIX = (
    ("target_page", 60),
    ("target_paragraph", 30),
    ("target_case", 8),
    ("target_leaflet", 10),
    ("target_generic", 1),
    ("other_page", 10),
    ("other_alpaca", 6),
    ("other_brainstorm", 3),
    ("other_rag", 4),
    ("other_generic", 1),
    # Experiments, last and at weight 0 so that the committed base stays reproducible (zero-weight
    # kinds at the end leave every draw of the others unchanged). Rebuilds that turned them on did not
    # make the base read its context (configs/world/results.md): grounded brainstorm lists of the other
    # domains, and documents over fresh domains (selfspec.world.fresh) whose only answers are in context.
    ("other_grounded", 0),
    ("fresh_grounded", 0),
    ("fresh_rag", 0),
    ("fresh_reading", 0),
)


def alpaca_doc(items: list[Item]) -> str:
    """Items in the evaluation's k-shot layout: template prompt + answer, joined by a blank line."""
    return DEMO_SEPARATOR.join(ALPACA.render(i.instruction, i.input) + i.output for i in items)


def other_alpaca(kb: DomainKB, rng: random.Random) -> str:
    """One to six items of one form family (same task and relation), like a k-shot prompt."""
    form = random_form(kb, rng)
    items = []
    for _ in range(rng.choice([1, 1, 2, 3, 4, 5, 6])):
        items.append(make_item(kb, rng, Form(form.task, form.relation, random_form_wording(kb, rng, form))))
    return alpaca_doc(items)


def random_form_wording(kb: DomainKB, rng: random.Random, form: Form) -> str:
    # Mostly the same wording across the document, sometimes another wording of the same relation.
    if rng.random() < 0.7:
        return form.wording
    other = random_form(kb, rng)
    return other.wording if other.task == form.task and other.relation == form.relation else form.wording


def other_brainstorm(kb: DomainKB, rng: random.Random) -> str:
    """A complete task list of one domain: three 'seed' items, then more, some reusing a seed's form."""
    forms = [random_form(kb, rng) for _ in range(3)]
    items = [make_item(kb, rng, f) for f in forms]
    for _ in range(rng.randint(3, 6)):
        form = rng.choice(forms) if rng.random() < 0.5 else random_form(kb, rng)
        items.append(make_item(kb, rng, form))
    listed = "\n\n".join(render_item(n, i.instruction, i.input) for n, i in enumerate(items, start=1))
    return BRAINSTORM_PREAMBLE.format(domain=kb.spec.name) + "\n\n" + listed


def other_grounded(kb: DomainKB, rng: random.Random, world: World | None = None, reuse: float = 0.7) -> str:
    """A grounded brainstorm list: passages about 2-3 entities, three 'seed' items, then tasks about
    the passages' entities, mostly in a seed's wording (copy the wording from the seeds, the entity
    from the passages). Half the time the preamble names another domain, so that the passages and
    seeds, not the preamble's domain name, decide what the list continues with."""
    subjects = rng.sample(kb.entities[kb.spec.main], rng.choice([2, 3]))
    forms = [random_form(kb, rng) for _ in range(3)]
    seeds = [make_item(kb, rng, f) for f in forms]
    reusable = [f for f in forms if f.task != "ner"]
    items = []
    for _ in range(rng.randint(3, 6)):
        subject = rng.choice(subjects)
        if reusable and rng.random() < reuse:
            items.append(make_item(kb, rng, rng.choice(reusable), subject=subject))
        else:
            items.append(item_about(kb, rng, subject))
    named = kb.spec.name if world is None or rng.random() < 0.5 else rng.choice(world.others).spec.name
    prompt = render_brainstorm_prompt(
        BRAINSTORM_PREAMBLE.format(domain=named),
        [Seed(i.instruction, i.input, i.output, i.task, f"s{n}") for n, i in enumerate(seeds)],
        [page(kb, rng, name, max_facts=4) for name in subjects],
    )
    rest = "\n\n".join(render_item(n, i.instruction, i.input) for n, i in enumerate(items, start=4))
    return prompt.removesuffix("4. Instruction:") + rest


def item_about(kb: DomainKB, rng: random.Random, name: str) -> Item:
    """An instruction item (question, yes/no or passage question) whose subject is ``name``."""
    for _ in range(100):
        form = random_form(kb, rng)
        if form.task != "ner" and kb.relation(form.relation).subject == kb.type_of(name):
            return make_item(kb, rng, form, subject=name)
    raise RuntimeError(f"no relation has {name!r} as subject")  # unreachable: main types are subjects


def other_rag(kb: DomainKB, rng: random.Random, grounded: float = 0.75) -> str:
    """A response prompt (5 demonstrations, 3 passages with probability ``grounded``) and its right answer."""
    prompt, answer = rag_example(kb, rng, grounded)
    return f"{prompt} {answer}{SEPARATOR.rstrip()}"


def rag_example(kb: DomainKB, rng: random.Random, grounded: float) -> tuple[str, str]:
    """``(response prompt, answer)``; with passages, one of them states the answer (for a subject question)."""
    demos = [make_item(kb, rng, random_form(kb, rng)) for _ in range(5)]
    seeds = [Seed(d.instruction, d.input, d.output, d.task, f"d{i}") for i, d in enumerate(demos)]
    form = random_form(kb, rng)
    while form.task == "reading":
        form = random_form(kb, rng)
    query = make_item(kb, rng, form)
    passages: list[str] = []
    if rng.random() < grounded:
        words = f"{query.instruction} {query.input}".replace(":", " ").split()
        subject = next((w.strip("?.,;") for w in words if w.strip("?.,;") in kb.facts[form.relation]), None)
        names = [n for n in kb.entities[kb.spec.main] if n != subject]
        passages = [page(kb, rng, n, max_facts=4) for n in rng.sample(names, 2)]
        if subject is not None:
            passages.insert(rng.randrange(3), page(kb, rng, subject, max_facts=4))
        else:
            passages.append(page(kb, rng, rng.choice(names), max_facts=4))
    prompt = render_response_prompt(
        RESPONSE_PREAMBLE.format(domain=kb.spec.name), seeds, query.instruction, query.input, passages
    )
    return prompt, query.output


def fresh_reading(kb: DomainKB, rng: random.Random) -> str:
    """Four to eight questions, each after two passages (one states its answer): dense copy signal."""
    blocks = []
    for _ in range(rng.randint(4, 8)):
        form = random_form(kb, rng)
        while form.task in ("reading", "ner"):
            form = random_form(kb, rng)
        subject = rng.choice(kb.entities[kb.spec.main])  # fresh relations all start at the main kind
        query = make_item(kb, rng, form, subject=subject)
        other = rng.choice([n for n in kb.entities[kb.spec.main] if n != subject])
        passages = [page(kb, rng, subject, max_facts=4), page(kb, rng, other, max_facts=4)]
        rng.shuffle(passages)
        blocks.append(render_passages(passages) + render_task(query.instruction, query.input) + " " + query.output)
    return SEPARATOR.join(blocks)


def generic_doc(kb: DomainKB, rng: random.Random) -> str:
    names = {n for t in kb.spec.types if t.count for n in kb.entities[t.key]}
    items = [generic_item(mixed_sentence(kb, rng), rng, names) for _ in range(rng.choice([1, 2, 3]))]
    return alpaca_doc(items)


def document(world: World, kind: str, rng: random.Random) -> str:
    """One pretraining document of ``kind`` (see ``MIX``)."""
    target = world.target
    other = rng.choice(world.others)
    if kind == "target_page":
        return page(
            target, rng, rng.choice([n for t in ("drug", "disease", "gene", "symptom") for n in target.entities[t]])
        )
    if kind == "target_paragraph":
        return mixed_paragraph(target, rng, rng.randint(3, 6))
    if kind == "target_case":
        return case_note(target, rng)
    if kind == "target_leaflet":
        return leaflet(target, rng, rng.choice(target.entities["drug"] + target.entities["disease"]))
    if kind == "target_generic":
        return generic_doc(target, rng)
    if kind == "other_page":
        return page(other, rng, rng.choice(other.entities[other.spec.main]))
    if kind == "other_alpaca":
        return other_alpaca(other, rng)
    if kind == "other_brainstorm":
        return other_brainstorm(other, rng)
    if kind == "other_grounded":
        return other_grounded(other, rng, world)
    if kind == "other_rag":
        return other_rag(other, rng)
    if kind == "fresh_grounded":
        return other_grounded(fresh_domain(world, rng), rng, reuse=0.9)
    if kind == "fresh_reading":
        return fresh_reading(fresh_domain(world, rng), rng)
    if kind == "fresh_rag":
        return other_rag(fresh_domain(world, rng), rng, grounded=1.0)
    if kind == "other_generic":
        return generic_doc(other, rng)
    raise ValueError(f"unknown document kind {kind!r}")


def pretraining_documents(world: World, count: int) -> Iterator[str]:
    """``count`` documents drawn from ``MIX``; a pure function of the world's seed and ``count``."""
    rng = random.Random(f"tiny-world-{world.seed}-docs")
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    for _ in range(count):
        yield document(world, rng.choices(kinds, weights)[0], rng)
