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
from typing import Any

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


WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")  # what PEFT saves, safetensors first


def describe_adapter(adapter_dir: str | Path, name: str | None = None) -> AdapterInfo:
    """Read an adapter directory's records; ``ModelLoadError`` (naming it) when it is not one."""
    path = Path(adapter_dir).expanduser()  # a YAML value is not shell-expanded: "~/runs/..." must work too
    label = f"adapter {name!r} ({adapter_dir})" if name else f"adapter {str(adapter_dir)!r}"
    if not path.is_dir():
        raise ModelLoadError(f"{label}: no such directory")
    config_file = path / "adapter_config.json"
    if not config_file.is_file():
        raise ModelLoadError(f"{label}: no adapter_config.json there (not a PEFT adapter directory)")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise ModelLoadError(f"{label}: no adapter_model.safetensors there (an interrupted export?); export it again")
    try:
        peft_config = json.loads(config_file.read_text(encoding="utf-8"))
        meta = read_adapter_meta(path)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{label}: unreadable adapter record ({err})") from err
    # selfspec's record first: PEFT's holds the resolved local path of a builtin: model, not its name.
    base = meta.get("base_model") or peft_config.get("base_model_name_or_path")
    return AdapterInfo(label, path, base, meta.get("template"), meta.get("quantization"))


def same_base(a: str, b: str) -> bool:
    """Whether two ``base_model`` strings name the same model (local paths compared resolved)."""
    if a == b:
        return True
    if a.startswith(BUILTIN_PREFIX) or b.startswith(BUILTIN_PREFIX):  # not paths; unequal names differ
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
        if value is None:  # an adapter that records nothing agrees with anything
            continue
        if recorded is None:
            recorded, first = value, label
        elif not same(recorded, value):
            raise ConfigError(message.format(label=label, value=value, first=first, recorded=recorded))
    return recorded


def check_adapter_fits(model: Any, info: AdapterInfo, base_model: str | None = None) -> None:
    """Refuse, in one line naming both, an adapter whose weights do not fit ``model``'s layers.

    Reads only the adapter's safetensors header (shapes), never its tensors, so the refusal comes
    before PEFT's size-mismatch traceback. ``base_model`` is how the user named the model.
    """
    # describe_adapter (where every AdapterInfo comes from) already refused a folder without weights
    weights = next(info.path / f for f in WEIGHT_FILES if (info.path / f).is_file())
    if weights.suffix != ".safetensors":
        return  # a pickled .bin has no header to read without loading it; PEFT checks it
    problem = shape_problem(_layer_shapes(model), _adapter_shapes(weights))
    if problem is not None:
        here = base_model or getattr(model, "name_or_path", "this model")
        raise ConfigError(
            f"{info.label} was trained on base model {info.base_model!r} and does not fit {here!r} ({problem}); "
            "load it on the base it was trained on"
        )


def shape_problem(layers: dict[str, tuple[int, int]], adapter: dict[str, tuple[int, ...]]) -> str | None:
    """The first LoRA tensor that does not fit the model's layers, as a phrase; None when all fit.

    ``layers``: module path -> (in_features, out_features); ``adapter``: PEFT key -> shape, where
    ``lora_A`` is [r, in_features] and ``lora_B`` is [out_features, r].
    """
    for key, shape in sorted(adapter.items()):
        for part, side in ((".lora_A.weight", 0), (".lora_B.weight", 1)):
            if not key.endswith(part):
                continue
            module = key.removesuffix(part).removeprefix("base_model.model.")  # PEFT's wrapper prefix
            if module not in layers:
                return f"it adapts {module}, which this model does not have"
            want = layers[module][side]
            got = shape[1] if side == 0 else shape[0]
            if want != got:
                what = "inputs" if side == 0 else "outputs"
                return f"{module} has {want} {what} here, the adapter expects {got}"
    return None


def _layer_shapes(model: Any) -> dict[str, tuple[int, int]]:
    # Unwrapped: a PeftModel's names carry the prefix the adapter keys lose in shape_problem.
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return {
        name: (int(m.in_features), int(m.out_features))
        for name, m in base.named_modules()
        if isinstance(getattr(m, "in_features", None), int) and isinstance(getattr(m, "out_features", None), int)
    }


def _adapter_shapes(weights: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except Exception as err:  # safetensors raises its own error types for a damaged header
        raise ModelLoadError(f"{weights}: not a readable safetensors file ({err})") from err
