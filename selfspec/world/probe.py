"""How much of the world a model stores: fill-in-the-blank probes over every target-domain fact.

    python -m selfspec.world.probe selfspec/assets/tiny_world/model --seed 0

Each fact is probed with the prefix of a corpus statement that ends right before the object
("doctors prescribe troldron for"); a hit is a greedy continuation that starts with the object.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from selfspec.world.kb import DomainKB, build_world


def probes(kb: DomainKB) -> list[tuple[str, str, str]]:
    """``(relation, prefix, object)`` for every fact, with the first statement that ends in ``{o}.``"""
    out = []
    for rel in kb.spec.relations:
        template = next(t for t in rel.statements if t.endswith("{o}."))
        for s, o in kb.facts[rel.key].items():
            prefix = template.removesuffix("{o}.").format(s=s).rstrip()
            out.append((rel.key, prefix[0].upper() + prefix[1:] if not template.startswith("{") else prefix, o))
    return out


def recall(model: Any, tokenizer: Any, kb: DomainKB) -> dict[str, float]:
    """Share of facts recalled per relation, and overall."""
    import torch

    hits: dict[str, list[int]] = {}
    for rel, prefix, obj in probes(kb):
        ids = tokenizer(prefix, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=3, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        text = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        hits.setdefault(rel, []).append(int(text.strip().startswith(obj)))
    scores = {rel: sum(h) / len(h) for rel, h in hits.items()}
    return scores | {"all": sum(sum(h) for h in hits.values()) / sum(len(h) for h in hits.values())}


def main(argv: list[str] | None = None) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model directory")
    parser.add_argument("--seed", type=int, default=0, help="world seed the model was trained on")
    args = parser.parse_args(argv)
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    print(json.dumps(recall(model, tokenizer, build_world(args.seed).target), indent=1))


if __name__ == "__main__":
    main()
