"""Config and command-line errors as one line: ``file: field: what to change``.

jsonargparse reports a bad config as a usage block, a tip and a message that may span lines
(``Parser key "model.learning_rate":\\n  Expected a <class 'float'>. Got value: fast``). The
parsers of ``selfspec`` and ``selfspec-rounds`` raise :class:`ConfigError` with ``one_line`` of
that message instead, naming the config file(s) given with ``--config``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from selfspec.errors import ConfigError

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Group '(?P<g>[^']+)' does not accept option '(?P<o>[^']+)'"), "{g}.{o}: unknown option"),
    (re.compile(r"Key '(?P<k>[^']+)' is not expected"), "{k}: unknown option"),
    (re.compile(r"Option '(?P<k>[^']+)' is not accepted"), "{k}: unknown option"),
    (re.compile(r"Unrecognized arguments: (?P<k>\S+)"), "{k}: unknown option"),
    (
        re.compile(r"Parser key \"(?P<k>[^\"]+)\":?\s*Expected a <class '(?P<t>\w+)'>\. Got value: (?P<v>.*)"),
        "{k}: expected {t}, got {v}",
    ),
    (re.compile(r"Parser key \"(?P<k>[^\"]+)\":?\s*(?P<m>.*)"), "{k}: {m}"),
    (
        re.compile(r"Key \"(?P<k>[^\"]+)\" is required but not included in config object or its value is None"),
        "{k}: missing required option",
    ),
)
# Keys that moved into ``data.generation`` (issue #15): old name -> new name under data.generation.
MOVED = {
    "num_instructions": "num_instructions",
    "domain": "domain",
    "cache_dir": "cache_dir",
    "generation_seed": "seed",
    "generation_batch_size": "batch_size",
    "generation_precision": "precision",
    "response_adapter": "response_adapter",
    "retrieval_corpus": "retrieval_corpus",
    "eval_files": "eval_files",
    "brainstorm": "brainstorm",
    "filters": "filters",
    "responses": "responses",
}
# Modules renamed so that no two modules of the package share a name (issue #15): a config whose
# class_path names the old module gets one line naming the new path.
RENAMED_MODULES = {"selfspec.callbacks.progress": "selfspec.callbacks.progress_bar"}
_RENAMED_CLASS = re.compile(r"\b(?P<old>" + "|".join(map(re.escape, RENAMED_MODULES)) + r")\.(?P<name>\w+)")
_MOVED_KEY = re.compile(r"\bdata\.(?P<old>" + "|".join(MOVED) + r")(?P<rest>(?:\.\w+)*)(?![\w.])")
_YAML_MARK = re.compile(r"\s*in \"<unicode string>\", line (\d+), column \d+\s*")


def one_line(message: str, config_files: Sequence[str] = (), command: str = "selfspec") -> str:
    """``message`` as ``<files>: <field>: <what>; see `<command> --help```, on one line."""
    flat = " ".join(message.split())
    where = ", ".join(config_files)
    parts = _YAML_MARK.split(flat.removeprefix("Problems parsing config:").strip())
    if len(parts) >= 3 and config_files:  # [text, line, text, line, ...]: the last mark is the problem's
        return f"{config_files[-1]}:{parts[-2]}: yaml: {parts[-3].strip()}"
    renamed = _RENAMED_CLASS.search(flat)
    if renamed:  # checked first: the class path sits deep in a nested message about trainer.callbacks
        old, name = renamed["old"], renamed["name"]
        text = f"class_path {old}.{name}: moved to {RENAMED_MODULES[old]}.{name}"
        return f"{where}: {text}" if where else text
    for pattern, template in _RULES:
        found = pattern.search(flat)
        if found:
            flat = template.format(**found.groupdict())
            flat = flat if where else f"--{flat}"  # no config file: the user typed a flag
            break
    moved = _MOVED_KEY.search(flat)
    if moved:  # an option of before data.generation existed: name its new place, nothing else
        old, rest = moved["old"], moved["rest"]
        dash = "" if where else "--"  # no config file: the user typed a flag
        text = f"{dash}data.{old}{rest}: moved to {dash}data.generation.{MOVED[old]}{rest}"
        return f"{where}: {text}" if where else text
    hint = f"; `{command} --help` lists every option and its type"
    return f"{where}: {flat}{hint}" if where else f"{flat}{hint}"


def config_files(args: Sequence[str] | None) -> list[str]:
    """The values given to ``--config`` / ``-c`` (``--config=FILE`` too) in ``args`` (default: argv)."""
    args = list(sys.argv[1:] if args is None else args)
    files = []
    for k, arg in enumerate(args):
        if arg in ("--config", "-c") and k + 1 < len(args):
            files.append(args[k + 1])
        elif arg.startswith("--config="):
            files.append(arg.split("=", 1)[1])
    return files


class OneLineErrors:
    """Mixin for a jsonargparse parser: a parse error that would print usage and exit raises
    ``ConfigError(one_line(...))`` instead (nested parsers that raise internally are unchanged)."""

    exit_on_error: bool
    prog: str
    args_for_errors: Sequence[str] | None = None

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not self.exit_on_error:
            super().error(message, ex)  # type: ignore[misc]
        parser = getattr(ex, "subcommand_parser", None) or self
        command = parser.prog.split(" [")[0]
        raise ConfigError(one_line(message, config_files(self.args_for_errors), command)) from None


def parser_with_one_line_errors(base: type[Any], args: Sequence[str] | None) -> type[Any]:
    """``base`` (a jsonargparse ``ArgumentParser`` class) with :class:`OneLineErrors` for the command
    line ``args`` (None: ``sys.argv``), whose ``--config`` files the errors name."""
    return type(f"OneLine{base.__name__}", (OneLineErrors, base), {"args_for_errors": args})
