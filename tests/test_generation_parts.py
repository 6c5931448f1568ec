"""Small pure parts of generation: contrastive scores, response prompts, corpus formats, fingerprints."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from selfspec.decoding.generator import Generation
from selfspec.errors import ConfigError
from selfspec.fingerprints import content_hash, fingerprint
from selfspec.generation.cache import item_seed
from selfspec.generation.contrastive import contrastive_scores
from selfspec.generation.plan import GenerationPlan
from selfspec.generation.responses import (
    SEPARATOR,
    demonstration_groups,
    pick_demonstrations,
    render_response_prompt,
)
from selfspec.generation.retrieval import load_corpus
from selfspec.generation.settings import BrainstormSettings
from selfspec.generation.stages import Units
from selfspec.seeds import Seed


def test_contrastive_scores_by_hand() -> None:
    expert = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    amateur = torch.log(torch.tensor([[0.6, 0.1, 0.2, 0.1]]))
    scores = contrastive_scores(expert, amateur, alpha=0.25)  # plausible: p >= 0.125
    expected = [math.log(0.5 / 0.6), math.log(0.3 / 0.1), math.log(0.15 / 0.2), -math.inf]
    assert scores[0].tolist() == pytest.approx(expected)
    assert int(scores.argmax()) == 1  # the token the expert likes much more than the amateur


def test_response_prompt_layout() -> None:
    demos = [Seed("Say yes.", "", "yes", None, "a"), Seed("Name the drug.", "Take aspirin.", "aspirin", None, "b")]
    prompt = render_response_prompt(
        "You are a biomedical expert.", demos, "Name the organ.", "", ["Liver  cells.", "Heart"]
    )
    assert prompt == (
        "You are a biomedical expert.\n\n"
        "Instruction: Say yes.\nOutput: yes"
        + SEPARATOR
        + "Instruction: Name the drug.\nInput: Take aspirin.\nOutput: aspirin"
        + SEPARATOR
        + "Background knowledge:\n[1] Liver cells.\n[2] Heart\n\nInstruction: Name the organ.\nOutput:"
    )


def test_demonstrations_depend_on_seed_and_item_only() -> None:
    seeds = [Seed(f"Task {i}.", "", "x", None, str(i)) for i in range(10)]
    assert pick_demonstrations(seeds, 5, 0, 3) == pick_demonstrations(list(seeds), 5, 0, 3)
    assert len({s.id for s in pick_demonstrations(seeds, 5, 0, 3)}) == 5
    assert pick_demonstrations(seeds, 5, 0, 3) != pick_demonstrations(seeds, 5, 0, 4)
    with pytest.raises(ConfigError, match="10 seeds cannot give 11 demonstrations"):
        pick_demonstrations(seeds, 11, 0, 0)


def test_a_generation_batch_shares_its_demonstrations() -> None:
    seeds = [Seed(f"Task {i}.", "", "x", None, str(i)) for i in range(20)]
    group = [pick_demonstrations(seeds, 5, 0, i, 16) for i in range(16, 32)]
    assert all(demos == group[0] for demos in group)  # one prompt prefix, computed once per batch
    assert pick_demonstrations(seeds, 5, 0, 15, 16) != group[0] != pick_demonstrations(seeds, 5, 0, 32, 16)
    assert pick_demonstrations(seeds, 5, 0, 1, 16) == pick_demonstrations(seeds, 5, 0, 0)  # group 0 = item 0's
    # A chunk of responses is generated one demonstration group at a time, whatever its bounds.
    assert demonstration_groups(range(10, 40), 16) == [range(10, 16), range(16, 32), range(32, 40)]
    assert demonstration_groups(range(0, 16), 16) == [range(0, 16)]
    assert demonstration_groups(range(5, 5), 16) == []


def test_fingerprints_are_canonical() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 1.5})
    assert item_seed(0, "brainstorm", 1, 2) == item_seed(0, "brainstorm", 1, 2) != item_seed(0, "brainstorm", 2, 1)
    assert 0 <= item_seed("x") < 2**63


def test_content_hash_of_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "w.bin").write_bytes(b"1")
    before = content_hash(tmp_path / "a")
    (tmp_path / "a" / "w.bin").write_bytes(b"2")
    assert content_hash(tmp_path / "a") != before


def test_corpus_formats(tmp_path: Path) -> None:
    text = tmp_path / "abstracts"
    text.mkdir()
    (text / "one.txt").write_text("First passage.\n\nSecond passage\non two lines.\n")
    assert [p.text for p in load_corpus(text)] == ["First passage.", "Second passage\non two lines."]
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text(json.dumps({"id": 7, "text": "t"}) + "\n\n" + json.dumps({"title": "T", "abstract": "A"}) + "\n")
    assert [(p.id, p.text) for p in load_corpus(jsonl)] == [("7", "t"), ("c.jsonl:3", "T A")]
    jsonl.write_text('{"id": 1}\n')
    with pytest.raises(ConfigError, match=r"c\.jsonl:1: text: missing"):
        load_corpus(jsonl)
    from datasets import Dataset

    Dataset.from_dict({"id": ["x", "y"], "text": ["alpha", "beta"]}).save_to_disk(str(tmp_path / "hf"))
    assert [(p.id, p.text) for p in load_corpus(tmp_path / "hf")] == [("x", "alpha"), ("y", "beta")]


def test_local_model_is_fingerprinted_by_content_hashed_once(
    tmp_path: Path, example_seeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selfspec.generation import model_id
    from selfspec.generation.plan import GenerationPlan

    monkeypatch.setenv("SELFSPEC_CACHE", str(tmp_path / "selfspec-cache"))
    model = tmp_path / "model"
    (model / ".cache").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    weights = model / "model.safetensors"
    weights.write_bytes(b"\x00" * 64)
    (model / ".cache" / "download.metadata").write_text("etag 1")
    hour_ago = time.time() - 3600  # written a while ago (a fresh file is not trusted by its mtime)
    for file in (model / "config.json", weights):
        os.utime(file, (hour_ago, hour_ago))
    hashed: list[str] = []
    sha256_file = model_id.sha256_file
    monkeypatch.setattr(model_id, "sha256_file", lambda p: hashed.append(p.name) or sha256_file(p))

    def key() -> Path:  # a fresh plan, as a new run makes
        return GenerationPlan(seeds_path=example_seeds, base_model=str(model)).instructions_dir

    first = key()
    assert sorted(hashed) == ["config.json", "model.safetensors"]
    assert key() == first and len(hashed) == 2  # untouched: same fingerprint, nothing hashed again
    (model / ".cache" / "download.metadata").write_text("etag 2")  # hidden metadata is no weight
    assert key() == first and len(hashed) == 2
    shutil.copytree(model, tmp_path / "moved")
    assert (
        GenerationPlan(seeds_path=example_seeds, base_model=str(tmp_path / "moved")).instructions_dir == first
    )  # content, not path
    weights.write_bytes(b"\x01" * 64)  # same path, same size, new weights (a fine-tune saved in place)
    hashed.clear()
    assert key() != first and hashed == ["model.safetensors"]
    assert GenerationPlan(seeds_path=example_seeds, base_model="org/hub-model").model_identity == "org/hub-model"


class _Recorder:
    """Answers every sampled call with nothing and remembers the prompts."""

    tokens_per_second = 0.0

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def generate(self, prompts: Any, sampling: Any, seeds: Any = None, on_batch: Any = None) -> list[Generation]:
        self.prompts += prompts
        return [Generation("", "", 0, 0) for _ in prompts]


def _round_prompts(plan: GenerationPlan) -> tuple[list[str], dict[str, Any]]:
    recorder = _Recorder()
    shard = Units(plan, lambda adapter: recorder).brainstorm_round(0)  # type: ignore[arg-type,return-value]
    return recorder.prompts, shard.to_json()


def test_grounded_brainstorm_prompts_are_a_function_of_the_plan(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"id": f"p{i}", "text": f"zorvex{i} treats flum{i}."}) + "\n" for i in range(9))
    )
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(
        "".join(json.dumps({"instruction": f"Task {i}?", "input": "", "output": "x"}) + "\n" for i in range(5))
    )
    plain = GenerationPlan(
        seeds_path=seeds, base_model="some/hub-model", domain="biomedicine", cache_dir=tmp_path / "a"
    )
    plain = dataclasses.replace(plain, brainstorm=BrainstormSettings(prompts_per_round=4), retrieval_corpus=str(corpus))
    grounded = dataclasses.replace(plain, brainstorm=BrainstormSettings(prompts_per_round=4, grounding_passages=2))
    plain_prompts, plain_shard = _round_prompts(plain)
    prompts, shard = _round_prompts(grounded)
    again, _ = _round_prompts(dataclasses.replace(grounded, cache_dir=tmp_path / "b"))
    assert prompts == again and plain.instructions_dir != grounded.instructions_dir
    for row, paper_row, prompt in zip(shard["prompts"], plain_shard["prompts"], prompts, strict=True):
        ids = row["passage_ids"]
        assert len(set(ids)) == 2 and all(f"zorvex{i[1:]} treats" in prompt for i in ids)
        assert row["seed_ids"] == paper_row["seed_ids"]  # passages are drawn after the seeds
    assert not any("Passages:" in p for p in plain_prompts)


def test_a_plan_hashes_each_input_file_once(
    example_seeds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import selfspec.generation.plan as plan_module

    corpus, evaluation = tmp_path / "corpus.txt", tmp_path / "eval.txt"
    corpus.write_text("A passage about aspirin.\n")
    evaluation.write_text("An evaluation question.\n")
    hashed: list[str] = []
    real_hash = plan_module.content_hash
    monkeypatch.setattr(plan_module, "content_hash", lambda path: hashed.append(str(path)) or real_hash(path))
    plan = GenerationPlan(
        seeds_path=example_seeds,
        base_model="org/hub-model",
        retrieval_corpus=str(corpus),
        eval_files=(str(evaluation),),
        brainstorm=BrainstormSettings(grounding_passages=1),
    )
    for _ in range(50):  # a run asks for its folders once per unit
        plan.rounds_dir, plan.instructions_dir, plan.dataset_dir  # noqa: B018
    assert sorted(hashed) == sorted([str(example_seeds), str(corpus), str(evaluation)])


class _Rambler:
    """Writes one whole item, a blank line, then rambles until the token limit, as a small model does."""

    tokens_per_second = 0.0
    RAW = " Name the drug.\n4. Input: Aspirin treats pain.\n\nA) one\nB) two\n5. Instruction: List the"

    def __init__(self) -> None:
        self.stops: list[tuple[str, ...]] = []

    def generate(self, prompts: Any, sampling: Any, seeds: Any = None, on_batch: Any = None) -> list[Generation]:
        from selfspec.decoding.generator import cut_at_stop

        self.stops.append(sampling.stop)
        # With a stop string the real generator ends the row early; the raw text keeps what it wrote.
        new = 12 if sampling.stop else sampling.max_new_tokens
        return [Generation(cut_at_stop(self.RAW, sampling.stop), self.RAW, new, 0) for _ in prompts]


def test_first_item_only_ends_each_continuation_at_its_first_blank_line(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(
        "".join(json.dumps({"instruction": f"Task {i}?", "input": "", "output": "x"}) + "\n" for i in range(5))
    )
    paper = GenerationPlan(seeds_path=seeds, base_model="some/hub-model", domain="biomedicine", cache_dir=tmp_path)
    paper = dataclasses.replace(paper, brainstorm=BrainstormSettings(prompts_per_round=2, max_new_tokens=30))
    first = dataclasses.replace(paper, brainstorm=dataclasses.replace(paper.brainstorm, first_item_only=True))
    # Off is the paper's open list, and the key of data cached before the setting existed.
    assert "first_item_only" not in paper.rounds_key["brainstorm"] and paper.rounds_dir != first.rounds_dir
    shards = {}
    for name, plan in (("paper", paper), ("first", first)):
        rambler = _Rambler()
        units = Units(plan, lambda adapter, r=rambler: r)  # type: ignore[arg-type,return-value]
        shards[name] = units.brainstorm_round(0).to_json()
        assert rambler.stops == [("\n\n",) if plan is first else ()]
    # Open list: the continuation used every token, so its cut-off last item goes; the first stays.
    assert [row["items"] for row in shards["paper"]["prompts"]] == [[["Name the drug.", "Aspirin treats pain."]]] * 2
    assert all(row["truncated"] for row in shards["paper"]["prompts"])
    # First item only: the row ended at the blank line, nothing was cut off, the raw text is kept.
    for row in shards["first"]["prompts"]:
        assert row["items"] == [["Name the drug.", "Aspirin treats pain."]] and not row["truncated"]
        assert row["raw"] == _Rambler.RAW and row["unparsed"] == []
