"""The tiny world: reproducible from its seed, seeds and evaluation kept apart, no domain instruction
in the pretraining mix, and the shipped base model loads like any Hub model."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from selfspec.world.build import EVAL_DIR, SEEDS, text_files
from selfspec.world.documents import fresh_reading, other_grounded, pretraining_documents, rag_example
from selfspec.world.fresh import fresh_domain
from selfspec.world.kb import build_world
from selfspec.world.schema import MEDICINE
from selfspec.world.suite import EVAL_TASKS, eval_records, seed_records, split

REPO = Path(__file__).resolve().parents[1]


def test_committed_world_files_are_the_seed_0_world_byte_for_byte() -> None:
    for rel, text in text_files(build_world(0)).items():
        assert (REPO / rel).read_text(encoding="utf-8") == text, f"{rel} differs: rebuild with selfspec.world.build"


def test_another_seed_gives_another_world() -> None:
    a, b = build_world(0).target, build_world(1).target
    assert a.entities["drug"] != b.entities["drug"] and build_world(1).target == b


def _names(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_seeds_and_evaluation_share_no_entity_and_no_wording() -> None:
    kb = build_world(0).target
    seeds = seed_records(kb, 0)
    evals = {task.name: eval_records(kb, task, 0) for task in EVAL_TASKS}
    seed_drugs, eval_drugs = (set(names) for names in split(kb, "drug"))
    seed_diseases = set(split(kb, "disease")[0])
    all_drugs = seed_drugs | eval_drugs
    for s in seeds:  # drugs are never the object of a fact, so every drug a seed names is a seed drug
        assert _names(s["instruction"] + " " + s["input"]) & all_drugs <= seed_drugs, s
    for name, records in evals.items():
        for r in records:
            text = r.get("instruction", "") + " " + r.get("input", "")
            assert not _names(text) & seed_drugs, r
            if name in ("gene", "organ"):  # questions about a disease ask about a held-out one
                assert not _names(text) & seed_diseases, r
    for rel in MEDICINE.relations:
        assert not set(rel.seed_questions) & set(rel.eval_questions)
    assert not {s["instruction"] for s in seeds} & {r.get("instruction") for rs in evals.values() for r in rs}


def test_pretraining_mix_holds_no_target_domain_instruction() -> None:
    world = build_world(0)
    kb = world.target
    target_names = {n for t in ("drug", "disease", "gene", "symptom") for n in kb.entities[t]}
    wordings = [w.split("{")[0] for rel in MEDICINE.relations for w in rel.seed_questions + rel.eval_questions]
    wordings = [w for w in wordings if len(w) > 8]
    generic = ("Repeat the sentence", "first word", "last word", "invented names", "comes right after")
    for doc in pretraining_documents(world, 2000):
        assert not any(w in doc for w in wordings), doc
        if "Instruction:" not in doc:
            continue
        assert "medicine" not in doc  # the domain's name is in no instruction document
        if not any(g in doc for g in generic):  # generic tasks (copy a word) may take a domain sentence
            assert not _names(doc) & target_names, doc


def test_target_domain_names_are_one_token_of_the_shipped_tokenizer() -> None:
    from transformers import AutoTokenizer

    from selfspec.modeling.builtin import shipped_model_dir

    tokenizer = AutoTokenizer.from_pretrained(shipped_model_dir("tiny-world"))
    assert tokenizer.pad_token == "<pad>" and tokenizer.eos_token == "</s>"
    kb = build_world(0).target
    names = [n for t in kb.spec.types if t.count for n in kb.entities[t.key]]
    # One token per name is what lets the small model copy a name from a passage in one step.
    assert all(len(tokenizer(" " + n, add_special_tokens=False)["input_ids"]) == 1 for n in names)


@pytest.mark.parametrize("path", [SEEDS, EVAL_DIR / "suite.yaml"])
def test_world_files_load_with_the_selfspec_readers(path: Path) -> None:
    from selfspec.evaluation.suite import load_suite
    from selfspec.seeds import load_seeds

    loaded = load_seeds(REPO / path) if path.suffix == ".jsonl" else load_suite(str(REPO / path))
    assert len(loaded) in (28, len(EVAL_TASKS))


def test_grounded_brainstorm_documents_ask_about_the_entities_of_their_passages() -> None:
    world = build_world(0)
    rng = random.Random(0)
    for _ in range(50):
        kb = rng.choice(world.others)
        doc = other_grounded(kb, rng)
        head, tasks = doc.split("\n\n4. Instruction: ", 1)
        passages = head.split("Passages:\n", 1)[1].split("\n\n1. Instruction:")[0]
        named = {w for w in _names(passages) if w in kb.entities[kb.spec.main]}
        assert len(named) >= 2, passages
        for item in ("4. Instruction: " + tasks).split("\n\n"):
            assert _names(item) & named, item  # every brainstormed task asks about a passage's entity


def test_fresh_domain_prompts_state_their_answer_in_a_passage_and_nothing_of_the_target() -> None:
    world = build_world(0)
    target = {n for t in world.target.spec.types if t.count for n in world.target.entities[t.key]}
    others = {n for kb in world.others for names in kb.entities.values() for n in names}
    rng, checked = random.Random(0), 0
    for _ in range(50):
        kb = fresh_domain(world, rng)
        names = {n for t in kb.spec.types for n in kb.entities[t.key]}
        assert names <= others and not names & target  # one-token names; the facts are new
        prompt, answer = rag_example(kb, rng, grounded=1.0)
        passages = prompt.rsplit("Background knowledge:", 1)[1].split("Instruction:")[0]
        query = set(re.findall(r"[a-z]+", prompt.rsplit("Instruction:", 1)[1]))
        if any(facts.get(s) == answer for facts in kb.facts.values() for s in query):  # a question of a fact
            assert answer in re.findall(r"[a-z]+", passages), (passages, answer)
            checked += 1
        assert "medicine" not in prompt
    assert checked > 20


def test_build_flags_reach_the_pretraining_settings_and_default_to_the_committed_shape() -> None:
    from selfspec.world.build import build_parser, pretrain_settings, shape_problem
    from selfspec.world.pretrain import PretrainSettings

    assert pretrain_settings(build_parser().parse_args([])) == PretrainSettings()
    assert shape_problem(PretrainSettings()) is None
    args = build_parser().parse_args(["--hidden-size", "256", "--layers", "2", "--heads", "4", "--threads", "1"])
    got = pretrain_settings(args)
    assert (got.hidden_size, got.intermediate_size, got.num_hidden_layers) == (256, 768, 2)
    assert (got.num_attention_heads, got.threads, got.epochs) == (4, 1, 3) and shape_problem(got) is None


def test_fresh_reading_documents_state_every_entity_answer_in_the_block_passages() -> None:
    world, rng = build_world(0), random.Random(1)
    for _ in range(30):
        kb = fresh_domain(world, rng)
        for block in fresh_reading(kb, rng).split("\n\n###\n\n"):
            passages, task = block.split("\n\nInstruction:", 1)
            answer = task.rsplit("Output:", 1)[1].strip()
            assert passages.startswith("Background knowledge:\n[1] ") and "medicine" not in block
            if answer not in ("yes", "no"):
                assert answer in re.findall(r"[a-z]+", passages), block


@pytest.mark.parametrize(
    ("flags", "named"),
    [(["--hidden-size", "100"], "--hidden-size 100"), (["--heads", "3"], "--heads 3"), (["--layers", "0"], "--layers")],
)
def test_build_refuses_a_shape_it_cannot_build_in_one_line_before_writing(
    flags: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from selfspec.world.build import main

    with pytest.raises(SystemExit) as stop:
        main(["--out", str(tmp_path), *flags])
    assert stop.value.code == 2 and named in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
