"""``selfspec-check-seeds``: validate seed files without loading any model (one line per problem)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from selfspec.errors import SeedFileError
from selfspec.seeds import load_seeds


def main(argv: list[str] | None = None) -> int:
    """``selfspec-check-seeds FILE...``: validate seed files without loading any model."""
    parser = argparse.ArgumentParser(prog="selfspec-check-seeds", description=main.__doc__)
    parser.add_argument("files", nargs="+", type=Path, help="seed files (.jsonl or .json)")
    status = 0
    for path in parser.parse_args(argv).files:
        try:
            seeds = load_seeds(path)
        except SeedFileError as err:
            sys.stderr.write(f"{err}\n")
            status = 2  # the other files are still checked: one run reports every bad file
            continue
        tasks = Counter(seed.task or "(none)" for seed in seeds)
        summary = ", ".join(f"{task} {n}" for task, n in tasks.most_common())
        sys.stdout.write(f"{path}: {len(seeds)} seeds, {len(tasks)} task types ({summary})\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
