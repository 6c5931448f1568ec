"""Brainstorm prompts and the continuation parser (pure; the parser never raises)."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfspec.errors import ConfigError
from selfspec.generation.brainstorm import parse_continuation, parse_item, render_brainstorm_prompt, render_grounding
from selfspec.generation.domains import load_domain, parse_domain, shipped_domains
from selfspec.generation.filters import Candidate
from selfspec.generation.plan import GenerationPlan
from selfspec.generation.settings import BrainstormSettings
from selfspec.seeds import Seed

SEEDS = [
    Seed("Answer the question.", "Is aspirin an NSAID?", "yes", "qa", "a"),
    Seed("List the diseases.", "", "asthma", "ner", "b"),
]


def test_prompt_lists_seeds_and_opens_the_next_item() -> None:
    prompt = render_brainstorm_prompt("Write tasks.\n", SEEDS)
    assert prompt == (
        "Write tasks.\n\n"
        "1. Instruction: Answer the question.\n1. Input: Is aspirin an NSAID?\n\n"
        "2. Instruction: List the diseases.\n2. Input: <noinput>\n\n"
        "3. Instruction:"
    )


@pytest.mark.parametrize(
    ("text", "limit", "items", "unparsed", "truncated"),
    [
        # two complete items, the model stopped by itself
        (
            " Name a gene.\n3. Input: <noinput>\n\n4. Instruction: Tag the drug.\n4. Input: Take ibuprofen.",
            False,
            [Candidate("Name a gene.", ""), Candidate("Tag the drug.", "Take ibuprofen.")],
            [],
            False,
        ),
        # token limit: the last item is dropped even if it looks complete
        (
            " Name a gene.\n3. Input: <noinput>\n\n4. Instruction: Tag the drug.\n4. Input: Take ibu",
            True,
            [Candidate("Name a gene.", "")],
            [],
            True,
        ),
        # no input line: kept as raw text, not raised
        (" just rambling on\nwithout structure", False, [], [" just rambling on\nwithout structure"], False),
        # empty instruction is unreadable
        ("\n3. Input: x", False, [], ["\n3. Input: x"], False),
        ("", False, [], [], False),
        ("", True, [], [], True),
        # multi-line instruction is joined; multi-line input is kept
        (
            " Read the note\nand answer.\n3) Input: line one\nline two\n",
            False,
            [Candidate("Read the note and answer.", "line one\nline two")],
            [],
            False,
        ),
    ],
)
def test_parse_continuation(
    text: str, limit: bool, items: list[Candidate], unparsed: list[str], truncated: bool
) -> None:
    parsed = parse_continuation(text, hit_token_limit=limit)
    assert (parsed.items, parsed.unparsed, parsed.truncated) == (items, unparsed, truncated)


@pytest.mark.parametrize(
    ("chunk", "expected"),
    [
        # junk seen from SmolLM2-135M (issue 14): another field's line ends the input
        (
            " Name the disease.\n3. Input: The patient had asthma.\n4. Output: asthma",
            Candidate("Name the disease.", "The patient had asthma."),
        ),
        (
            " Name the disease.\n3. Input: Asthma flared.\n5. Input: Fever rose.",
            Candidate("Name the disease.", "Asthma flared."),
        ),
        (
            " Name the disease.\n3. Input: Asthma flared.\nResponse: asthma",
            Candidate("Name the disease.", "Asthma flared."),
        ),
        # whatever follows <noinput> is not an input
        (" Define apoptosis.\n3. Input: <noinput> Apoptosis is cell death.", Candidate("Define apoptosis.", "")),
        (" Define apoptosis.\n3. Input: <noinput>\nAnd another:", Candidate("Define apoptosis.", "")),
        # chatter after a blank line, or a short last line ending in ':', is dropped
        (" Name a gene.\n3. Input: BRCA1 is mutated.\n\nAnd another:", Candidate("Name a gene.", "BRCA1 is mutated.")),
        (" Name a gene.\n3. Input: BRCA1 is mutated.\nAnd another:", Candidate("Name a gene.", "BRCA1 is mutated.")),
        (
            " Name a gene.\n3. Input: BRCA1 is mutated.\n\nHere are more tasks you could try.",
            Candidate("Name a gene.", "BRCA1 is mutated."),
        ),
        # an Output line written before the input ends the instruction
        (" Name a gene.\n3. Output: BRCA1\n3. Input: <noinput>", Candidate("Name a gene.", "")),
        # a real multi-line input, and a long last line ending in ':', are kept
        (" Read.\n3. Input: line one\nline two", Candidate("Read.", "line one\nline two")),
        (
            " Read.\n3. Input: Dose was raised.\nThe trial compared three arms of patients treated with:",
            Candidate("Read.", "Dose was raised.\nThe trial compared three arms of patients treated with:"),
        ),
    ],
)
def test_parse_item_drops_small_model_junk(chunk: str, expected: Candidate) -> None:
    assert parse_item(chunk) == expected


@pytest.mark.parametrize("junk", ["\x00\x01", "Instruction: Input:", "1. Instruction:\n1. Input:", "🙂" * 50, "\n\n\n"])
def test_parser_never_raises(junk: str) -> None:
    for limit in (True, False):
        parse_continuation(junk, limit)
    assert parse_item(junk) is None or isinstance(parse_item(junk), Candidate)


def test_shipped_domains_load() -> None:
    assert {"biomedicine", "finance"} <= set(shipped_domains())
    for name in ("biomedicine", "finance"):
        domain = load_domain(name)
        assert domain.name == name and "1 to 2 sentences" in domain.brainstorm_preamble
        assert name.rstrip("e") in domain.response_preamble.lower() or "expert" in domain.response_preamble


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nbrainstorm_preamble: y\n", "response_preamble: missing"),
        ("[1, 2]", "expected a mapping"),
        ("a: [", "not valid YAML"),
    ],
)
def test_bad_domain_files_name_the_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_domain(text, "my.yaml")


def test_unknown_domain_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="biomedicine, finance"):
        load_domain("law")


def test_grounded_prompt_puts_numbered_passages_before_the_seed_tasks() -> None:
    prompt = render_brainstorm_prompt("Write tasks.\n", SEEDS[:1], ["zorvex treats  flum.", "A gene."])
    assert prompt == (
        "Write tasks.\n\n"
        "Passages:\n[1] zorvex treats flum.\n[2] A gene.\n\n"
        "1. Instruction: Answer the question.\n1. Input: Is aspirin an NSAID?\n\n"
        "2. Instruction:"
    )
    assert render_grounding([]) == ""
    assert render_brainstorm_prompt("Write tasks.\n", SEEDS, []) == render_brainstorm_prompt("Write tasks.\n", SEEDS)


def test_grounding_without_a_corpus_is_a_config_error_naming_both_flags() -> None:
    grounded = BrainstormSettings(grounding_passages=2)
    with pytest.raises(ConfigError, match=r"grounding_passages=2 .*--data\.generation\.retrieval_corpus"):
        GenerationPlan(seeds_path=Path("seeds.jsonl"), base_model="builtin:tiny-llama", brainstorm=grounded)
    with pytest.raises(ConfigError, match="grounding_passages must be >= 0"):
        BrainstormSettings(grounding_passages=-1)
    plan = GenerationPlan(
        seeds_path=Path("seeds.jsonl"), base_model="m", brainstorm=grounded, retrieval_corpus="corpus.jsonl"
    )
    assert plan.grounding and not GenerationPlan(seeds_path=Path("seeds.jsonl"), base_model="m").grounding
