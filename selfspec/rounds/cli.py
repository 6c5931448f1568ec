"""``selfspec-rounds``: iterative self-specialisation from one command.

    selfspec-rounds --config configs/quickstart.yaml            # every option in the YAML
    selfspec-rounds --config configs/quickstart.yaml --rounds 3  # one more round, finished ones reused

Each step (base evaluation, round k fit, its evaluation, the seeds-only control) runs in a fresh
``selfspec`` process; ``lightning_logs/<name>/`` gets one folder per round, ``lineage.json``,
``rounds_config.yaml`` (this command's resolved config) and the table as ``summary.json``/``.md``/``.png``.
"""

from __future__ import annotations

import sys

from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from selfspec.errors import SelfSpecError
from selfspec.io import atomic_write_text
from selfspec.rounds.settings import RoundsSettings

USER_ERROR_EXIT = 2


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="selfspec-rounds",
        description="Iterative self-specialisation: evaluate the base, then generate -> train -> evaluate per round.",
        default_env=False,
    )
    parser.add_argument("--config", action=ActionConfigFile, help="YAML file with any of the options below.")
    parser.add_class_arguments(RoundsSettings, None, as_group=False)
    return parser


def parse(args: list[str] | None = None) -> tuple[RoundsSettings, ArgumentParser, Namespace]:
    """The settings, and the parser and parsed namespace (to save the resolved config)."""
    parser = build_parser()
    config = parser.parse_args(args)
    values = parser.instantiate(config).as_dict()
    values.pop("config", None)
    settings = RoundsSettings(**values)
    return settings, parser, config


def main(args: list[str] | None = None) -> None:
    """Run the rounds; ``args`` replaces ``sys.argv[1:]`` when given."""
    from selfspec.cli import _configure_logging
    from selfspec.rounds.driver import RoundsDriver, StepFailedError

    _configure_logging()
    settings, parser, config = parse(args)
    try:
        driver = RoundsDriver(settings)
        driver.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(driver.root / "rounds_config.yaml", parser.dump(config, skip_none=False))
        driver.run()
    except StepFailedError as err:
        sys.stderr.write(f"error: {err}\n")
        raise SystemExit(err.status) from None
    except SelfSpecError as err:
        sys.stderr.write(f"error: {err}\n")
        raise SystemExit(USER_ERROR_EXIT) from None


if __name__ == "__main__":
    main()
