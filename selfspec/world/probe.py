"""What a world's base model stores, and whether it reads its context.

    python -m selfspec.world.probe selfspec/assets/tiny_world/model --seed 0

Recall: each target-domain fact is probed with the prefix of a corpus statement that ends right
before the object ("doctors prescribe troldron for"); a hit is a greedy continuation that starts with
the object. Reading: response prompts over fresh domains (``selfspec.world.fresh``: known names,
new random facts, so memory cannot answer) with the answer in one of three passages; a hit is a
greedy answer equal to it. Self-generated data is only as right as the model's reading lets it be.
"""

from __future__ import annotations

import argparse
import json
import random
from typing import Any

from selfspec.world.kb import DomainKB, World, build_world


def probes(kb: DomainKB) -> list[tuple[str, str, str]]:
    """``(relation, prefix, object)`` for every fact, with the first statement that ends in ``{o}.``"""
    out = []
    for rel in kb.spec.relations:
        template = next(t for t in rel.statements if t.endswith("{o}."))
        for s, o in kb.facts[rel.key].items():
            prefix = template.removesuffix("{o}.").format(s=s).rstrip()
            out.append((rel.key, prefix[0].upper() + prefix[1:] if not template.startswith("{") else prefix, o))
    return out


def greedy(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> str:
    """The greedy continuation of ``prompt`` (new text only)."""
    import torch

    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return str(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))


def recall(model: Any, tokenizer: Any, kb: DomainKB) -> dict[str, float]:
    """Share of facts recalled per relation, and overall."""
    hits: dict[str, list[int]] = {}
    for rel, prefix, obj in probes(kb):
        text = greedy(model, tokenizer, prefix, max_new_tokens=3)
        hits.setdefault(rel, []).append(int(text.strip().startswith(obj)))
    scores = {rel: sum(h) / len(h) for rel, h in hits.items()}
    return scores | {"all": sum(sum(h) for h in hits.values()) / sum(len(h) for h in hits.values())}


def reading(model: Any, tokenizer: Any, world: World, n: int = 60) -> float:
    """Share of ``n`` fresh-domain response prompts answered with the fact their passage states."""
    from selfspec.world.documents import rag_example
    from selfspec.world.fresh import fresh_domain

    rng, hits = random.Random(f"tiny-world-{world.seed}-reading-probe"), 0
    for _ in range(n):
        prompt, answer = rag_example(fresh_domain(world, rng), rng, grounded=1.0)
        text = greedy(model, tokenizer, prompt, max_new_tokens=4)
        hits += int(text.split("\n")[0].strip() == answer)
    return hits / n


def main(argv: list[str] | None = None) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model directory")
    parser.add_argument("--seed", type=int, default=0, help="world seed the model was trained on")
    args = parser.parse_args(argv)
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    world = build_world(args.seed)
    report = {"recall": recall(model, tokenizer, world.target), "reading": reading(model, tokenizer, world)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
