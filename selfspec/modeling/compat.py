"""What a saved adapter says about itself, and the refusal to combine adapters that do not fit together.

An adapter directory holds ``adapter_config.json`` (PEFT: ``base_model_name_or_path``) and, when
selfspec exported it, ``selfspec_adapter.json`` (the ``base_model`` as the user named it, the
prompt ``template`` and the base's ``quantization`` during training). selfspec's record wins
where both exist. Pure functions of the files: no model is loaded here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from selfspec.errors import ConfigError, ModelLoadError
from selfspec.modeling.adapters import read_adapter_meta
from selfspec.modeling.loading import BUILTIN_PREFIX

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdapterInfo:
    """A saved adapter's provenance.

    Args:
        label: How messages name it, e.g. ``adapter 'biomed' (runs/bio/adapter)``.
        path: The adapter directory.
        base_model: The base it was trained on (selfspec's record, else PEFT's).
        template: Its prompt template, or None when it recorded none.
        quantization: The base's quantisation during training (``nf4``, ``int8``, ``none``), or None.
    """

    label: str
    path: Path
    base_model: str | None
    template: str | None
    quantization: str | None


def describe_adapter(adapter_dir: str | Path, name: str | None = None) -> AdapterInfo:
    """Read an adapter directory's records; ``ModelLoadError`` (naming it) when it is not one."""
    path = Path(adapter_dir).expanduser()
    label = f"adapter {name!r} ({adapter_dir})" if name else f"adapter {str(adapter_dir)!r}"
    if not path.is_dir():
        raise ModelLoadError(f"{label}: no such directory")
    config_file = path / "adapter_config.json"
    if not config_file.is_file():
        raise ModelLoadError(f"{label}: no adapter_config.json there (not a PEFT adapter directory)")
    if not any((path / name).is_file() for name in ("adapter_model.safetensors", "adapter_model.bin")):
        raise ModelLoadError(f"{label}: no adapter_model.safetensors there (an interrupted export?); export it again")
    try:
        peft_config = json.loads(config_file.read_text(encoding="utf-8"))
        meta = read_adapter_meta(path)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{label}: unreadable adapter record ({err})") from err
    base = meta.get("base_model") or peft_config.get("base_model_name_or_path")
    return AdapterInfo(label, path, base, meta.get("template"), meta.get("quantization"))


def same_base(a: str, b: str) -> bool:
    """Whether two ``base_model`` strings name the same model (local paths compared resolved)."""
    if a == b:
        return True
    if a.startswith(BUILTIN_PREFIX) or b.startswith(BUILTIN_PREFIX):
        return False
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    return pa.is_dir() and pb.is_dir() and pa.resolve() == pb.resolve()


def common_base(infos: Sequence[AdapterInfo], base_model: str | None = None) -> str:
    """The one base every adapter was trained on; ``ConfigError`` naming the adapter that differs.

    ``base_model``, when given, is what gets loaded (e.g. the same weights moved to another
    directory); a difference from the adapters' record is announced, not refused.
    """
    recorded = _agreed(
        [(i.label, i.base_model) for i in infos],
        same_base,
        "{label} was trained on base model {value!r}, but {first} on {recorded!r}; "
        "adapters loaded together must share one base",
    )
    if base_model is not None:
        if recorded is not None and not same_base(recorded, base_model):
            log.warning("the adapters were trained on %r; loading %r as asked (--base_model)", recorded, base_model)
        return base_model
    if recorded is None:
        raise ConfigError("no adapter records its base model; pass --base_model")
    return recorded


def common_template(infos: Sequence[AdapterInfo], default: str = "alpaca") -> str:
    """The one prompt template the adapters were trained with; ``ConfigError`` naming the odd one."""
    template = _agreed(
        [(i.label, i.template) for i in infos],
        str.__eq__,
        "{label} was trained with prompt template {value!r}, but {first} with {recorded!r}; "
        "experts must share one template",
    )
    return template or default


def _agreed(records: Sequence[tuple[str, str | None]], same: Callable[[str, str], bool], message: str) -> str | None:
    """The first recorded value (None: nothing recorded); ``ConfigError(message)`` for one that differs."""
    recorded: str | None = None
    first = ""
    for label, value in records:
        if value is None:
            continue
        if recorded is None:
            recorded, first = value, label
        elif not same(recorded, value):
            raise ConfigError(message.format(label=label, value=value, first=first, recorded=recorded))
    return recorded
