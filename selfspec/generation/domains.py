"""Domain prompt files: the brainstorm preamble and the responder's role, kept as data (YAML)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from selfspec.errors import ConfigError

FIELDS = ("name", "brainstorm_preamble", "response_preamble")


@dataclass(frozen=True)
class Domain:
    """The text that makes the base model brainstorm and answer as a domain expert.

    Args:
        name: Domain name (``biomedicine``).
        brainstorm_preamble: Requirements shown before the enumerated seed tasks (docs/method.md step 2).
        response_preamble: Role line shown before the demonstrations (docs/method.md step 4).
    """

    name: str
    brainstorm_preamble: str
    response_preamble: str


def shipped_domains() -> list[str]:
    folder = resources.files("selfspec.assets") / "domains"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_domain(name_or_path: str) -> Domain:
    """A shipped domain by name (``biomedicine``, ``finance``) or a YAML file with the same fields."""
    path = Path(name_or_path)
    # A YAML suffix means a file even when it is missing: "no such file" beats "unknown domain".
    if name_or_path.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise ConfigError(f"--data.generation.domain: no such file {name_or_path!r}")
        text = path.read_text(encoding="utf-8")
    elif name_or_path in shipped_domains():
        text = (resources.files("selfspec.assets") / "domains" / f"{name_or_path}.yaml").read_text(encoding="utf-8")
    else:
        raise ConfigError(
            f"--data.generation.domain={name_or_path!r} is neither a shipped domain ({', '.join(shipped_domains())}) "
            "nor a YAML file"
        )
    return parse_domain(text, name_or_path)


def parse_domain(text: str, where: str) -> Domain:
    """Validate a domain YAML document; the error names the file and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping with fields {', '.join(FIELDS)}")
    for field in FIELDS:
        if not isinstance(data.get(field), str) or not data[field].strip():
            raise ConfigError(f"{where}: {field}: missing or empty (a non-empty string is required)")
    return Domain(*(data[f] for f in FIELDS))
