"""Rebuild the tiny world from its seed: text files, tokenizer, pretrained base model.

    python -m selfspec.world.build --seed 0 --out .            # the committed files and model
    python -m selfspec.world.build --seed 1 --out /tmp/world1  # another world, same layout
    python -m selfspec.world.build --seed 0 --out . --no-pretrain   # text files only (seconds)

Under ``--out`` it writes ``data/seeds/tiny_world.jsonl``, ``data/eval/tiny_world/``,
``data/corpus/tiny_world.jsonl`` (BM25 retrieval corpus), ``data/corpus/tiny_world_kb.json`` (the
facts, for inspection), ``selfspec/assets/domains/tiny_world.yaml`` (domain prompts) and, unless
``--no-pretrain``, ``selfspec/assets/tiny_world/model/``. The pretraining corpus is regenerated in
memory and never written.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import yaml

from selfspec.world.documents import BRAINSTORM_PREAMBLE, RESPONSE_PREAMBLE, pretraining_documents
from selfspec.world.kb import World, build_world
from selfspec.world.prose import case_note, leaflet, page
from selfspec.world.suite import EVAL_NER, EVAL_TASKS, eval_records, seed_records

log = logging.getLogger("selfspec.world")

SEEDS = Path("data/seeds/tiny_world.jsonl")
EVAL_DIR = Path("data/eval/tiny_world")
CORPUS = Path("data/corpus/tiny_world.jsonl")
KB = Path("data/corpus/tiny_world_kb.json")
DOMAIN = Path("selfspec/assets/domains/tiny_world.yaml")
MODEL = Path("selfspec/assets/tiny_world/model")
DOCUMENTS = 12_000  # pretraining documents (about 0.7M tokens)
VOCAB_SIZE = 4096  # upper bound; BPE stops when no pair occurs twice


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def text_files(world: World) -> dict[Path, str]:
    """Every committed text file of the world, by relative path (a pure function of the seed)."""
    kb = world.target
    files = {SEEDS: jsonl(seed_records(kb, world.seed))}
    suite = []
    for task in EVAL_TASKS:
        files[EVAL_DIR / f"{task.name}.jsonl"] = jsonl(eval_records(kb, task, world.seed))
        entry: dict[str, Any] = {"name": task.name, "kind": task.kind, "path": f"{task.name}.jsonl"}
        if not task.relation:
            entry["instruction"] = EVAL_NER
        suite.append(entry)
    header = "# The tiny world's held-out evaluation suite (python -m selfspec.world.build writes it).\n"
    files[EVAL_DIR / "suite.yaml"] = header + yaml.safe_dump(suite, sort_keys=False)
    files[CORPUS] = jsonl(retrieval_corpus(world))
    files[KB] = json.dumps({"entities": kb.entities, "facts": kb.facts}, indent=1, sort_keys=True) + "\n"
    domain = {
        "name": "tiny_world",
        "brainstorm_preamble": BRAINSTORM_PREAMBLE.format(domain=kb.spec.name),
        "response_preamble": RESPONSE_PREAMBLE.format(domain=kb.spec.name),
    }
    files[DOMAIN] = "# Domain prompts of the tiny world (written by python -m selfspec.world.build).\n" + "".join(
        f"{key}: |-\n" + "".join(f"  {line}\n" if line else "\n" for line in value.split("\n"))
        for key, value in domain.items()
    )
    return files


def retrieval_corpus(world: World) -> list[dict[str, str]]:
    """Unlabelled domain passages for BM25: pages of every entity, leaflets, case notes."""
    kb, rng = world.target, random.Random(f"tiny-world-{world.seed}-corpus")
    rows = []
    for kind in ("drug", "disease", "gene", "symptom"):
        for name in kb.entities[kind]:
            for v in range(2):
                rows.append({"id": f"{kind}-{name}-{v}", "text": page(kb, rng, name)})
    for name in kb.entities["drug"] + kb.entities["disease"]:
        rows.append({"id": f"leaflet-{name}", "text": leaflet(kb, rng, name)})
    rows += [{"id": f"case-{i}", "text": case_note(kb, rng)} for i in range(100)]
    return rows


def write_text_files(world: World, out: Path) -> None:
    for rel, text in text_files(world).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text, encoding="utf-8")


def build_model(world: World, out: Path, documents: int, settings: Any) -> dict[str, Any]:
    from selfspec.world.pretrain import pack, pretrain
    from selfspec.world.tokenizer import train_tokenizer

    start = time.perf_counter()
    docs = list(pretraining_documents(world, documents))
    extra = [BRAINSTORM_PREAMBLE, RESPONSE_PREAMBLE]  # so the prompt words are whole tokens too
    tokenizer = train_tokenizer(docs + extra, VOCAB_SIZE)
    ids = tokenizer(docs)["input_ids"]
    blocks = pack(ids, tokenizer.eos_token_id, settings.block_size)
    log.info(
        "world %d: %d documents, %d tokens, vocabulary %d (%.0f s)",
        world.seed,
        len(docs),
        blocks.numel(),
        len(tokenizer),
        time.perf_counter() - start,
    )
    stats = pretrain(blocks, tokenizer, out / MODEL, settings)
    return stats | {"documents": len(docs), "tokens": int(blocks.numel()), "vocab": len(tokenizer)}


def pretrain_settings(args: argparse.Namespace) -> Any:
    """The command line's model shape and threads over ``PretrainSettings``' defaults (MLP 3x wide)."""
    from selfspec.world.pretrain import PretrainSettings

    return replace(
        PretrainSettings(),
        epochs=args.epochs,
        hidden_size=args.hidden_size,
        intermediate_size=3 * args.hidden_size,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        threads=args.threads,
    )


def shape_problem(settings: Any) -> str | None:
    """Why the model shape cannot be built (None when it can): 4-bit blocks need a width that is a
    multiple of 64, attention an even head size that divides it."""
    width, heads = settings.hidden_size, settings.num_attention_heads
    if width < 64 or width % 64:
        return f"--hidden-size {width}: must be a positive multiple of 64 (4-bit quantisation blocks)"
    if heads < 1 or width % heads or (width // heads) % 2:
        return f"--heads {heads}: must divide --hidden-size {width} into heads of an even size"
    if settings.num_hidden_layers < 1 or settings.epochs < 1 or settings.threads < 1:
        return "--layers, --epochs and --threads must be at least 1"
    return None


def build_parser() -> argparse.ArgumentParser:
    from selfspec.world.pretrain import PretrainSettings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="world seed (0 is the committed world)")
    parser.add_argument("--out", type=Path, default=Path("."), help="root to write data/ and selfspec/assets/ under")
    parser.add_argument("--no-pretrain", action="store_true", help="write the text files only")
    parser.add_argument("--documents", type=int, default=DOCUMENTS, help="pretraining documents")
    defaults = PretrainSettings()
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="passes over the pretraining corpus")
    parser.add_argument("--hidden-size", type=int, default=defaults.hidden_size, help="model width")
    parser.add_argument("--layers", type=int, default=defaults.num_hidden_layers, help="decoder layers")
    parser.add_argument("--heads", type=int, default=defaults.num_attention_heads, help="attention heads")
    parser.add_argument(
        "--threads", type=int, default=defaults.threads, help="CPU threads (1 when another job shares 2 cores)"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = pretrain_settings(args)
    if problem := shape_problem(settings):
        parser.error(problem)  # one line, exit 2, before anything is written
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    world = build_world(args.seed)
    write_text_files(world, args.out)
    if not args.no_pretrain:
        stats = build_model(world, args.out, args.documents, settings) | {"settings": asdict(settings)}
        (args.out / MODEL / "pretraining.json").write_text(json.dumps(stats, indent=1) + "\n", encoding="utf-8")
        log.info("pretraining: %s", stats)


if __name__ == "__main__":
    main()
