"""Invented names made of syllables: nothing real, one lower-case word each."""

from __future__ import annotations

import random

ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "th", "sh", "dr", "kr", "tr", "pl")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
CODAS = ("", "", "", "n", "r", "l", "s", "x", "m")


# Common English words the syllables can spell; a name is never one of them.
ENGLISH = frozenset(
    """these those there where more sure dose base same make take like have give five save sour pour four
    tour mountain lemon melon salon robin sugar tuna data sofa pilot lazy zone size vase rose nose note
    vote hole pole role sole mole bone tone lone cone done gone none some come home dome tame name game
    fame lame mane pane sane vane wine mine line fine dine pine kine tile mile file pile vile bile rule
    mule tune dune rude nude cute mute lute fuse muse ruse bare care dare fare hare mare rare ware here
    mere were fire hire mire tire wire bore core fore gore lore pore sore tore wore cure lure pure baker
    maker taker water later paper tiger liver lever never sever fever river diver rider wider token
    total tumor humor motor rotor visor valor favor savor manor minor donor tenor color""".split()  # noqa: SIM905
)


def syllable(rng: random.Random) -> str:
    return rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)


def make_names(rng: random.Random, count: int, taken: set[str], syllables: tuple[int, ...] = (2,)) -> list[str]:
    """``count`` new names of 4 to 8 letters that are not in ``taken`` (which they join)."""
    names: list[str] = []
    while len(names) < count:
        name = "".join(syllable(rng) for _ in range(rng.choice(syllables)))
        if 4 <= len(name) <= 8 and name not in taken and name not in ENGLISH and _marked(name):
            taken.add(name)
            names.append(name)
    return names


def _marked(name: str) -> bool:
    """Has a letter or vowel pair that English words of this shape rarely have (so it reads invented)."""
    return any(c in name for c in "xzkv") or "ai" in name or "ou" in name
