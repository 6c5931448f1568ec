"""Where model weights come from: the one place that talks to the Hub or the disk.

``base_model`` is one of
* a local directory holding ``config.json`` (what ``save_pretrained`` writes),
* a Hugging Face Hub id such as ``meta-llama/Llama-2-7b-hf`` (used from the local cache when
  the Hub cannot be reached),
* ``builtin:<name>``, a small model that selfspec builds or ships (see ``builtin.py``).

When a Hub id can be neither found in the cache nor fetched, the user gets one line that says so
and how to fix it, at once, instead of a minute of retries and a client stack trace.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from selfspec.errors import ModelLoadError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)

BUILTIN_PREFIX = "builtin:"


@dataclass(frozen=True)
class ModelSource:
    """A resolved ``base_model``: what to pass to ``from_pretrained`` and whether it may go online."""

    name_or_path: str
    local_files_only: bool


def resolve_model_source(base_model: str) -> ModelSource:
    """Turn the user's ``base_model`` into something ``from_pretrained`` can load, or fail clearly."""
    if base_model.startswith(BUILTIN_PREFIX):
        from selfspec.modeling.builtin import ensure_builtin

        # Imported here: builtin imports this module (BUILTIN_PREFIX).
        return ModelSource(str(ensure_builtin(base_model.removeprefix(BUILTIN_PREFIX))), True)
    path = Path(base_model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"base_model {base_model!r} is a directory without config.json; point it at a "
                "directory written by save_pretrained (config.json, weights, tokenizer files)"
            )
        return ModelSource(str(path), True)
    if _looks_like_path(base_model):  # a typo'd path must not be sent to the Hub as a repository id
        raise ModelLoadError(f"base_model {base_model!r}: no such directory")
    if _hub_reachable():  # online: from_pretrained checks for a newer revision and uses the cache
        return ModelSource(base_model, False)
    if _in_hub_cache(base_model):  # offline, but downloaded before: load it without the client's retries
        return ModelSource(base_model, True)
    raise ModelLoadError(
        f"base_model {base_model!r} is not a local directory, is not in the Hugging Face cache, and "
        "the Hub cannot be reached (offline); download it on a connected machine "
        "(`hf download <id> --local-dir DIR`) and pass that directory as base_model"
    )


def load_tokenizer(source: ModelSource, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The base model's tokenizer, with a pad token (the EOS token when the model has none)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source.name_or_path, local_files_only=source.local_files_only, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"cannot load the tokenizer of {source.name_or_path!r}: {_first_line(err)}") from err
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelLoadError(f"the tokenizer of {source.name_or_path!r} has neither a pad nor an EOS token")
        log.info("tokenizer of %s has no pad token; padding with its EOS token", source.name_or_path)
        # Safe for training: padded positions get label -100 (data/tokenize.collate), so no pad is learned.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _looks_like_path(name: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else with separators is meant as a path.
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or (os.sep != "/" and os.sep in name)


def _hub_reachable() -> bool:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)  # DNS only: fails at once offline, where an HTTP request would retry
    except OSError:
        return False
    return True


def _in_hub_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
