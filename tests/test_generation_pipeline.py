"""Generation end to end on the real tiny model: cache, fingerprints, retrieval, regeneration, errors.

Sampled brainstorm calls are scripted (see generation_kit); every response is written by the real
tiny model (base, or base + a LoRA adapter, plainly or contrastively decoded).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from generation_kit import ScriptedBrainstormer, hybrid_factory

from selfspec.decoding.generator import Generation, SamplingSettings
from selfspec.errors import ConfigError, SeedFileError
from selfspec.fingerprints import fingerprint
from selfspec.generation.filters import FilterSettings
from selfspec.generation.models import model_generator_factory
from selfspec.generation.plan import GenerationPlan
from selfspec.generation.recipe import GenerationRun, as_hf_dataset
from selfspec.generation.records import read_rows
from selfspec.generation.responses import SEPARATOR
from selfspec.generation.settings import BrainstormSettings, ResponseSettings
from selfspec.generation.stages import GenerationError


def small_plan(model: Path, cache: Path, seeds: Path, **changes: object) -> GenerationPlan:
    plan = GenerationPlan(
        seeds_path=seeds,
        base_model=str(model),
        num_instructions=6,
        brainstorm=BrainstormSettings(prompts_per_round=2, max_rounds=20),
        responses=ResponseSettings(max_new_tokens=8, chunk_size=4),
        cache_dir=cache,
        batch_size=4,
    )
    return dataclasses.replace(plan, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def base_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationPlan, Path]:
    seeds = Path(__file__).resolve().parents[1] / "data" / "seeds" / "example.jsonl"
    plan = small_plan(tiny_model_dir, tmp_path_factory.mktemp("cache"), seeds)
    return plan, GenerationRun(plan, hybrid_factory(plan)).dataset()


def test_dataset_funnel_and_manifest(base_run: tuple[GenerationPlan, Path]) -> None:
    plan, out = base_run
    rows = read_rows(out / "data.jsonl", dict)
    funnel = json.loads((out / "funnel.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert funnel["kept"] == plan.num_instructions == funnel["responses"]
    assert funnel["examples"] == len(rows) == manifest["examples"]
    assert funnel["parsed"] == funnel["kept"] + sum(funnel["dropped"].values())
    assert set(manifest["files"]) == {"data.jsonl", "funnel.json", "config.json"}
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert all(r["instruction"] and r["output"] and r["passages"] == [] for r in rows)
    assert out.name == fingerprint(plan.dataset_key)
    assert [dict(r) for r in as_hf_dataset(out)] == rows


def test_second_run_makes_no_model_call(base_run: tuple[GenerationPlan, Path]) -> None:
    plan, out = base_run
    before = (out / "data.jsonl").read_bytes()
    loads: list[str | None] = []
    run = GenerationRun(plan, hybrid_factory(plan, loads))
    assert run.dataset() == out
    assert loads == [] and run.model_calls == 0
    assert (out / "data.jsonl").read_bytes() == before


def test_every_setting_changes_the_fingerprint(base_run: tuple[GenerationPlan, Path], tmp_path: Path) -> None:
    plan, _ = base_run
    edited_seeds = tmp_path / "seeds.jsonl"
    edited_seeds.write_text(plan.seeds_path.read_text() + "\n")
    evals = tmp_path / "eval.jsonl"
    evals.write_text('{"input": "x"}\n')
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Metformin lowers glucose.")
    instruction_changes = {
        "seeds_path": edited_seeds,
        "base_model": "other/model",
        "domain": "finance",
        "num_instructions": 7,
        "seed": 1,
        "brainstorm": dataclasses.replace(plan.brainstorm, top_p=0.9),
        "filters": FilterSettings(rouge_threshold=0.6),
        "eval_files": (str(evals),),
        "batch_size": 3,  # batch composition changes logits numerically (see plan.py)
    }
    response_changes = {
        "responses": dataclasses.replace(plan.responses, max_new_tokens=9),
        "retrieval_corpus": str(corpus),
    }
    keys = {fingerprint(plan.dataset_key)}
    for name, value in {**instruction_changes, **response_changes}.items():
        changed = dataclasses.replace(plan, **{name: value})  # type: ignore[arg-type]
        keys.add(fingerprint(changed.dataset_key))
        same_instructions = changed.instructions_dir == plan.instructions_dir
        assert same_instructions == (name in response_changes), name
    assert len(keys) == 1 + len(instruction_changes) + len(response_changes)
    renamed = tmp_path / "renamed.jsonl"
    renamed.write_bytes(plan.seeds_path.read_bytes())
    assert dataclasses.replace(plan, seeds_path=renamed).dataset_dir == plan.dataset_dir  # content, not name


def test_retrieval_stores_passages_and_caches_the_index(base_run: tuple[GenerationPlan, Path], tmp_path: Path) -> None:
    plan, _ = base_run
    corpus = tmp_path / "corpus.jsonl"
    lines = [
        {"id": "p1", "text": "Metformin reduces hepatic glucose production in type 2 diabetes."},
        {"id": "p2", "text": "Aspirin irreversibly inhibits cyclooxygenase in platelets."},
        {"id": "p3", "title": "Asthma", "abstract": "Asthma is a chronic inflammatory disease of the airways."},
        {"id": "p4", "text": "A story about a train and a passport."},
    ]
    corpus.write_text("".join(json.dumps(x) + "\n" for x in lines))
    rag = dataclasses.replace(
        plan, retrieval_corpus=str(corpus), responses=dataclasses.replace(plan.responses, retrieval_top_k=2)
    )
    loads: list[str | None] = []
    out = GenerationRun(rag, hybrid_factory(rag, loads)).dataset()
    assert out != plan.dataset_dir and rag.instructions_dir == plan.instructions_dir
    rows = read_rows(out / "data.jsonl", dict)
    assert all(len(r["passages"]) == 2 for r in rows)
    assert {p["id"] for r in rows for p in r["passages"]} <= {"p1", "p2", "p3", "p4"}
    assert all(r["passages"][0]["score"] >= r["passages"][1]["score"] for r in rows)
    index_dirs = list((plan.cache_dir / "bm25").iterdir())
    assert len(index_dirs) == 1
    stamp = {p.name: p.stat().st_mtime_ns for p in index_dirs[0].iterdir()}
    from selfspec.generation.retrieval import Retriever

    again = Retriever(corpus, plan.cache_dir)
    assert {p.name: p.stat().st_mtime_ns for p in index_dirs[0].iterdir()} == stamp  # loaded, not rebuilt
    assert again.search(["hepatic glucose metformin"], 1)[0][0].id == "p1"


def test_regeneration_with_adapter_reuses_instructions(base_run: tuple[GenerationPlan, Path], tmp_path: Path) -> None:
    plan, base_out = base_run
    adapter = make_adapter(Path(plan.base_model), tmp_path / "adapter")
    rounds_before = sorted(p.name for p in plan.rounds_dir.iterdir())
    outputs = {}
    for alpha in (None, 0.1):
        regen = dataclasses.replace(
            plan, response_adapter=str(adapter), responses=dataclasses.replace(plan.responses, contrastive_alpha=alpha)
        )
        loads: list[str | None] = []
        out = GenerationRun(regen, hybrid_factory(regen, loads)).dataset()
        assert loads == [str(adapter)]  # no base model load: the instructions come from the cache
        outputs[alpha] = [r["output"] for r in read_rows(out / "data.jsonl", dict)]
        assert [r["instruction"] for r in read_rows(out / "data.jsonl", dict)] == [
            r["instruction"] for r in read_rows(base_out / "data.jsonl", dict)
        ]
    assert sorted(p.name for p in plan.rounds_dir.iterdir()) == rounds_before
    base_outputs = [r["output"] for r in read_rows(base_out / "data.jsonl", dict)]
    assert outputs[None] != base_outputs and outputs[0.1] != outputs[None]


def make_adapter(model_dir: Path, out: Path) -> Path:
    """A LoRA adapter with random (non-zero) weights, saved as a PEFT directory."""
    from selfspec.modeling.adapters import LoraSettings, add_lora, load_base

    model = add_lora(load_base(str(model_dir), "none"), LoraSettings(r=4, alpha=32, dropout=0.0))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    model.save_pretrained(out)
    return out


def test_a_model_that_writes_garbage_ends_in_a_clear_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    seeds = Path(__file__).resolve().parents[1] / "data" / "seeds" / "example.jsonl"
    plan = small_plan(
        tiny_model_dir,
        tmp_path,
        seeds,
        brainstorm=BrainstormSettings(prompts_per_round=2, max_rounds=2, max_new_tokens=16),
    )
    with pytest.raises(GenerationError) as err:
        GenerationRun(plan, model_generator_factory(plan)).dataset()
    message = str(err.value)
    assert "kept no instruction after 2 rounds" in message and "4 prompts" in message
    assert str(plan.rounds_dir) in message
    shards = sorted(plan.rounds_dir.glob("round-*.json"))
    assert len(shards) == 2 and all(len(json.loads(s.read_text())["prompts"]) == 2 for s in shards)
    assert not (plan.instructions_dir / "manifest.json").exists()


def test_input_errors_are_clear(tiny_model_dir: Path, tmp_path: Path) -> None:
    few = tmp_path / "few.jsonl"
    few.write_text(
        "".join(json.dumps({"instruction": f"Task {i} here now.", "input": "", "output": "x"}) + "\n" for i in range(4))
    )
    with pytest.raises(ConfigError, match="4 seeds, but each response prompt shows 5 demonstrations"):
        small_plan(tiny_model_dir, tmp_path, few).check_files()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x"}\n')
    with pytest.raises(SeedFileError, match=r"bad\.jsonl:1"):
        small_plan(tiny_model_dir, tmp_path, bad).check_files()
    good = Path(__file__).resolve().parents[1] / "data" / "seeds" / "example.jsonl"
    with pytest.raises(ConfigError, match=r"--data\.generation\.retrieval_corpus='nowhere.jsonl': no such file"):
        small_plan(tiny_model_dir, tmp_path, good, retrieval_corpus="nowhere.jsonl").check_files()
    with pytest.raises(ConfigError, match=r"--data\.generation\.response_adapter=.*no adapter_config.json"):
        small_plan(tiny_model_dir, tmp_path, good, response_adapter=str(tmp_path)).check_files()
    with pytest.raises(ConfigError, match=r"--data\.generation\.eval_files: no such file 'gone.jsonl'"):
        small_plan(tiny_model_dir, tmp_path, good, eval_files=("gone.jsonl",)).check_files()
    alpha_only = dataclasses.replace(ResponseSettings(), contrastive_alpha=0.1)
    with pytest.raises(ConfigError, match=r"contrastive_alpha needs --data\.generation\.response_adapter"):
        small_plan(tiny_model_dir, tmp_path, good, responses=alpha_only).check_files()
    from selfspec.generation.retrieval import load_corpus

    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(ConfigError, match="no passages found"):
        load_corpus(empty)


EVAL_ANSWER = "Metformin is the first line drug for type two diabetes in adults whose kidneys work normally."


class QuotingResponder:
    """Greedy calls: tasks (a prompt's last instruction) of odd length are answered by quoting the eval answer."""

    def generate(self, prompts: list[str], sampling: SamplingSettings, *args: object, **kw: object) -> list[Generation]:
        quote = [len(p.rsplit("Instruction:", 1)[1]) % 2 for p in prompts]
        answers = [f"As known, {EVAL_ANSWER.lower()}" if q else "Ask a physician." for q in quote]
        return [Generation(a, a, 8, len(p)) for a, p in zip(answers, prompts, strict=True)]


def test_responses_quoting_the_evaluation_files_are_dropped(
    base_run: tuple[GenerationPlan, Path], tmp_path: Path
) -> None:
    plan, _ = base_run
    evals = tmp_path / "eval.jsonl"
    evals.write_text(json.dumps({"instruction": "First-line drug?", "answers": [EVAL_ANSWER]}) + "\n")
    checked = dataclasses.replace(plan, eval_files=(str(evals),))
    out = GenerationRun(checked, lambda adapter: ScriptedBrainstormer(QuotingResponder())).dataset()  # type: ignore[arg-type]
    raw = [r for chunk in sorted((out / "chunks").iterdir()) for r in json.loads(chunk.read_text())["rows"]]
    quoting = {r["index"] for r in raw if "metformin" in r["output"]}
    assert 0 < len(quoting) < len(raw)
    rows = read_rows(out / "data.jsonl", dict)
    assert {int(r["id"].removeprefix("gen-")) for r in rows} == {r["index"] for r in raw} - quoting
    funnel = json.loads((out / "funnel.json").read_text())
    assert funnel["dropped"]["contamination"] == 0  # the instructions were clean; only responses quoted
    assert funnel["contaminated_responses"] == len(quoting) and funnel["examples"] == len(raw) - len(quoting)


class RecordingResponder:
    """Greedy calls: remembers each call's prompts, answers every one."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def generate(self, prompts: list[str], sampling: SamplingSettings, *args: object, **kw: object) -> list[Generation]:
        self.calls.append(list(prompts))
        return [Generation("An answer.", "An answer.", 3, len(p)) for p in prompts]


def test_responses_come_one_demonstration_group_per_call_sharing_the_prompt_head(
    base_run: tuple[GenerationPlan, Path], tmp_path: Path
) -> None:
    plan, _ = base_run  # 6 instructions, chunks of 4
    per_item = RecordingResponder()  # the default (the paper): demonstrations drawn per instruction
    fresh = dataclasses.replace(plan, cache_dir=tmp_path / "per_item")
    GenerationRun(fresh, lambda adapter: ScriptedBrainstormer(per_item)).dataset()  # type: ignore[arg-type]
    assert [len(call) for call in per_item.calls] == [4, 2]  # one call per chunk, bucketed by length
    assert len({prompt.rsplit(SEPARATOR, 1)[0] for prompt in per_item.calls[0]}) > 1
    shared = dataclasses.replace(plan.responses, shared_demonstrations=True)
    grouped = dataclasses.replace(plan, cache_dir=tmp_path / "shared", batch_size=3, responses=shared)
    responder = RecordingResponder()
    GenerationRun(grouped, lambda adapter: ScriptedBrainstormer(responder)).dataset()  # type: ignore[arg-type]
    # items 0-3 (chunk 0) and 4-5 (chunk 1), cut where item // 3 changes: [0,1,2] [3] [4,5]
    assert [len(call) for call in responder.calls] == [3, 1, 2]
    for call in responder.calls:  # one head (preamble + demonstrations) per call: its KV cache is computed once
        assert len({prompt.rsplit(SEPARATOR, 1)[0] for prompt in call}) == 1
