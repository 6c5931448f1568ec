"""``selfspec``: the LightningCLI over the specialist module and the self-specialisation data.

``selfspec fit --config configs/tiny_llama.yaml`` trains; ``validate``, ``test`` and ``predict``
work the same way. ``main(args)`` takes the argument list so tests call the CLI in-process.
User errors (bad seeds, bad options, a model that cannot be found) end with their message lines
on stderr and exit status 2, without a traceback.
"""

from __future__ import annotations

import logging
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from selfspec import stopping
from selfspec.callbacks.progress_bar import default_progress_bar
from selfspec.config_errors import parser_with_one_line_errors
from selfspec.data.module import SelfSpecDataModule
from selfspec.errors import ConfigError, SelfSpecError, configure_package_logging, exit_with
from selfspec.specialist import SpecialistModule

log = logging.getLogger("selfspec")

DESCRIPTION = (
    "selfspec: turn a general LLM into a domain expert from a few dozen seed examples "
    "(self-specialisation, Kang et al.). Run `selfspec-rounds --config configs/quickstart.yaml`; "
    "`selfspec fit --help` documents every option."
)
SUBCOMMAND_HELP = (
    "selfspec's own options come first: --model.* (the base model, LoRA, optimisation) and --data.* (seeds, "
    "self-generated data, tokenisation); Lightning's --trainer.* options follow them."
)


class SelfSpecCLI(LightningCLI):
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # Model and tokenizer must come from the same place: one option sets both.
        parser.link_arguments("model.base_model", "data.base_model")
        parser.link_arguments("model.trust_remote_code", "data.trust_remote_code")

    def before_fit(self) -> None:
        config = self.config_init[self.subcommand]
        _check_ckpt_path(self.trainer, config.get("ckpt_path"))
        if config.get("weights_only") is None:
            # Checkpoints load as tensors and plain types only (never arbitrary pickles) unless
            # the user explicitly passes --weights_only false for a checkpoint they trust.
            config["weights_only"] = True

    before_validate = before_test = before_predict = before_fit

    def before_instantiate_classes(self) -> None:
        if self.subcommand in ("validate", "test"):
            config = self.config[self.subcommand]
            _name_eval_logs(config.trainer, config.model.get("adapter"), config.get("ckpt_path"))

    def after_validate(self) -> None:
        # Lightning's metric box is off (selfspec's evaluation table is the report); the loss on the
        # held-out seeds, which no table shows, gets one line.
        _log_losses(self.trainer)

    after_test = after_validate

    def add_core_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # --help lists groups in the order they are added: selfspec's own options first, the trainer's after.
        parser.add_lightning_class_args(self._model_class, "model", subclass_mode=self.subclass_mode_model)
        parser.add_lightning_class_args(self._datamodule_class, "data", subclass_mode=self.subclass_mode_data)
        parser.add_lightning_class_args(self.trainer_class, "trainer")
        parser.set_defaults({"trainer." + k: v for k, v in self.trainer_defaults.items() if k != "callbacks"})

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
        kwargs["description"] = f"{kwargs.get('description', '')} {SUBCOMMAND_HELP}".strip()
        kwargs["usage"] = f"selfspec {subcommand} [--config FILE] [--model.* ...] [--data.* ...] [--trainer.* ...]"
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if subcommand in ("validate", "test"):
            parser.set_defaults(verbose=False)  # no "Validate metric" box in fractions beside the table in points
        return parser

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        config = self._get(self.config_init, "trainer", default={})
        callbacks = list(kwargs.get("callbacks", config.get("callbacks")) or [])
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in callbacks):
            kwargs["callbacks"] = [*callbacks, default_progress_bar()]
        trainer = super().instantiate_trainer(**kwargs)
        _share_log_version(trainer)
        return trainer


def run(args: list[str], entry: Callable[[list[str]], None] | None = None) -> int:
    """``selfspec ARGS`` (or another console ``entry`` point) in-process, from Python or a test; returns
    the exit status instead of exiting."""
    argv, sys.argv = sys.argv, sys.argv[:1]  # ``args`` are the whole command line (not the caller's)
    try:
        (entry or main)(args)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv = argv
    return 0


def evaluated_name(adapter: str | None, ckpt_path: str | None) -> str:
    """The folder name of what an evaluation scores: ``base``, the adapter's run (``round_1`` for
    ``.../round_1/adapter``) or the checkpoint's file name."""
    if ckpt_path:
        return Path(ckpt_path).stem if ckpt_path not in ("best", "last", "hpc", "registry") else ckpt_path
    if not adapter:
        return "base"
    path = Path(adapter)
    return path.parent.name or path.name if path.name.startswith("adapter") else path.name


def _name_eval_logs(trainer: Any, adapter: str | None, ckpt_path: str | None) -> None:
    """``<save_dir>/<name>/<evaluated>/version_N``: evaluations of different models never share a folder.
    A logger with an empty name (the rounds driver's, one folder per step) is left as it is."""
    loggers = trainer.logger if isinstance(trainer.logger, list) else [trainer.logger]
    for logger in loggers:
        args = getattr(logger, "init_args", None)
        if args is not None and args.get("name"):
            args["name"] = f"{args['name']}/{evaluated_name(adapter, ckpt_path)}"


def _log_losses(trainer: Trainer) -> None:
    losses = {k: float(v) for k, v in trainer.callback_metrics.items() if k.endswith("/loss") and v.numel() == 1}
    if losses and trainer.is_global_zero:
        log.info("held-out seed loss: %s", ", ".join(f"{k} {v:.4f}" for k, v in sorted(losses.items())))


def _check_ckpt_path(trainer: Trainer, ckpt_path: str | None) -> None:
    """A resume request that finds nothing is an error, never a silent fresh start."""
    if ckpt_path is None:
        return
    if ckpt_path == "last":
        callback = trainer.checkpoint_callback
        dirpath = getattr(callback, "dirpath", None)
        if not (isinstance(callback, ModelCheckpoint) and callback.save_last and dirpath):
            raise ConfigError(
                "--ckpt_path last needs a ModelCheckpoint callback with save_last: true and a fixed dirpath "
                "(otherwise each run writes into a new version directory and finds nothing to resume)"
            )
        if not (Path(dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}").is_file():
            raise ConfigError(f"--ckpt_path last: no last checkpoint in {dirpath}; nothing to resume")
    elif ckpt_path not in ("best", "hpc", "registry") and "://" not in ckpt_path and not Path(ckpt_path).is_file():
        raise ConfigError(f"--ckpt_path {ckpt_path}: no such checkpoint file")


def _share_log_version(trainer: Trainer) -> None:
    """Put TensorBoard and CSV logs of one run into one version directory.

    Each logger picks "the next free version" on its own, so with two loggers the second one
    lands in a different ``version_N`` folder from the first (and from config.yaml). Loggers
    without an explicit version take the first logger's.
    """
    loggers = trainer.loggers
    if len(loggers) < 2:
        return
    version = loggers[0].version
    for logger in loggers[1:]:
        if isinstance(logger, CSVLogger | TensorBoardLogger) and logger._version is None:
            logger._version = version


def build_cli(args: ArgsType = None, run: bool = True) -> SelfSpecCLI:
    """The CLI as ``selfspec`` runs it; ``run=False`` only parses and instantiates (no weights load)."""
    return SelfSpecCLI(
        SpecialistModule,
        SelfSpecDataModule,
        args=args,
        run=run,
        # A second run in the same log folder stops rather than overwrite the first run's config.yaml.
        save_config_kwargs={"overwrite": False},
        # The module owns its optimizer (trainable adapter weights only); no --optimizer flag.
        auto_configure_optimizers=False,
        # No environment variable sets an option (default_env): a run is what its config and flags say.
        parser_kwargs={"default_env": False, "description": DESCRIPTION, "prog": "selfspec"},
        parser_class=parser_with_one_line_errors(LightningArgumentParser, _strings(args)),
    )


def _strings(args: ArgsType) -> list[str] | None:
    return [str(a) for a in args] if isinstance(args, list | tuple) else None


def main(args: ArgsType = None) -> None:
    """Run the CLI; ``args`` replaces ``sys.argv[1:]`` when given."""
    _configure_logging()
    with stopping.handled():
        try:
            build_cli(args)
        except SelfSpecError as err:
            exit_with(err)
        except RuntimeError as err:
            earlier = _earlier_config(err)
            if earlier is None:
                raise
            exit_with(
                ConfigError(
                    f"{earlier} already exists: an earlier run wrote to this run's log folder; give the run another"
                    " folder (--trainer.default_root_dir, or the loggers' save_dir/version) or remove that one"
                )
            )
        except (stopping.StopRequested, SIGTERMException) as stop:
            # Lightning's own loops raise SIGTERMException on SIGTERM; selfspec's safe points raise
            # StopRequested (SIGINT too). Either way the last finished checkpoint/shard is on disk.
            signum = getattr(stop, "signum", None) or stopping.requested() or signal.SIGTERM
            stopping.exit_stopped(signum, RESUME_HINTS.get(_subcommand(args), RESUME_HINTS["fit"]))


def _earlier_config(err: RuntimeError) -> str | None:
    """The config.yaml Lightning's SaveConfigCallback refused to overwrite (``overwrite=False``), if that
    is what ``err`` says: Lightning raises it as a RuntimeError with a traceback."""
    found = re.match(r"SaveConfigCallback expected (.+) to NOT exist", str(err))
    return found.group(1) if found else None


RESUME_HINTS = {
    # "last" needs a fixed checkpoint dirpath; configs that checkpoint per version folder name the file.
    "fit": "Resume: run the same command with --ckpt_path last (or the path of the run's checkpoints/last.ckpt).",
    "predict": "Resume: run the same command again; finished generation shards are reused.",
    "validate": "Run the same command again to evaluate from the start (generated data is reused).",
    "test": "Run the same command again to evaluate from the start (generated data is reused).",
}


def _subcommand(args: ArgsType) -> str:
    words = list(args) if isinstance(args, list | tuple) else sys.argv[1:]
    return next((w for w in words if isinstance(w, str) and not w.startswith("-")), "fit")


def _configure_logging() -> None:
    # selfspec prints its own one line on SIGTERM (how to resume); Lightning's notice would be a second.
    logging.getLogger("lightning.pytorch.trainer.connectors.signal_connector").setLevel(logging.WARNING)
    configure_package_logging()


if __name__ == "__main__":
    main()
