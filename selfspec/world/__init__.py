"""The embedded tiny world: an invented medical domain, its corpus, other domains' instruction data,
seeds, an evaluation suite, and the small Llama pretrained on it (``builtin:tiny-world``).

Everything is a pure function of one integer seed; ``python -m selfspec.world.build`` rebuilds it.
"""
