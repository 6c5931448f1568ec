"""``selfspec-rounds``: iterative self-specialisation from one command.

    selfspec-rounds --config configs/quickstart.yaml            # every option in the YAML
    selfspec-rounds --config configs/quickstart.yaml --rounds 3  # one more round, finished ones reused

Each step (base evaluation, round k fit, its evaluation, the seeds-only control) runs in a fresh
``selfspec`` process; ``lightning_logs/<name>/`` gets one folder per round, ``lineage.json``,
``rounds_config.yaml`` (this command's resolved config) and the table as ``summary.json``/``.md``/``.png``.
"""

from __future__ import annotations

from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from selfspec import stopping
from selfspec.config_errors import parser_with_one_line_errors
from selfspec.errors import SelfSpecError, configure_package_logging, exit_with
from selfspec.io import atomic_write_text
from selfspec.rounds.rounds_settings import RoundsSettings


def build_parser(args: list[str] | None = None) -> ArgumentParser:
    parser = parser_with_one_line_errors(ArgumentParser, args)(
        prog="selfspec-rounds",
        description="Iterative self-specialisation: evaluate the base, then generate -> train -> evaluate per round.",
        default_env=False,
    )
    parser.add_argument("--config", action=ActionConfigFile, help="YAML file with any of the options below.")
    parser.add_class_arguments(RoundsSettings, None, as_group=False)
    return parser


def parse(args: list[str] | None = None) -> tuple[RoundsSettings, ArgumentParser, Namespace]:
    """The settings, and the parser and parsed namespace (to save the resolved config)."""
    parser = build_parser(args)
    config = parser.parse_args(args)
    values = parser.instantiate(config).as_dict()
    values.pop("config", None)  # the --config file itself is no setting
    settings = RoundsSettings(**values)
    return settings, parser, config


def main(args: list[str] | None = None) -> None:
    """Run the rounds; ``args`` replaces ``sys.argv[1:]`` when given."""
    # Imported here, not at the top: the driver pulls in torch and peft (seconds), which parsing the
    # command line and `selfspec-rounds --help` do not need.
    from selfspec.rounds.driver import RoundsDriver, StepFailedError

    configure_package_logging()  # the driver's own lines; each step's process configures its own
    with stopping.handled():
        try:
            settings, parser, config = parse(args)
            driver = RoundsDriver(settings)
            # After the driver's checks, so a refused command leaves no config behind; nulls kept: the full picture.
            atomic_write_text(driver.root / "rounds_config.yaml", parser.dump(config, skip_none=False))
            driver.run()
        except stopping.StopRequested as stop:
            stopping.exit_stopped(stop.signum, "Resume: run the same command again; finished steps are reused.")
        except StepFailedError as err:
            exit_with(err, err.status)
        except SelfSpecError as err:
            exit_with(err)


if __name__ == "__main__":
    main()
