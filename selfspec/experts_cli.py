"""``selfspec-experts``: answer prompts with a base model and the domain adapter each one asks for.

    selfspec-experts --adapters.biomed runs/bio/adapter --adapters.finance runs/fin/adapter \\
        --expert biomed --prompt "What does BRCA1 encode?"
    selfspec-experts --config experts.yaml --prompts_file prompts.jsonl --output answers.jsonl

The function signature below is the configuration (``--help`` shows it; ``--config`` takes the same
keys in YAML). A prompts file is JSON Lines of ``{"instruction", "input"?, "expert"?, "id"?}``; a
record's ``expert`` (a name, or null for the bare base) overrides ``--expert``. Each answer is one
JSON line: the request's fields plus ``expert`` and ``output``. Bad input is one line per problem
on stderr and exit status 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfspec.errors import ConfigError, RequestFileError, SelfSpecError, configure_model_script, exit_with
from selfspec.io import atomic_write_text
from selfspec.modeling.quantization import Quantization

UNSET: Any = object()  # a record without "expert" takes --expert; null means the bare base


@dataclass(frozen=True)
class Request:
    """One prompt: its text fields, the expert asked for, and the record to echo back."""

    instruction: str
    input: str
    expert: str | None
    record: dict[str, Any]


def parse_requests(text: str, path: str, default_expert: str | None) -> list[Request]:
    """Requests from JSON Lines ``text``; ``RequestFileError`` listing every bad line as ``path:line: message``."""
    requests: list[Request] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            requests.append(_request(json.loads(line), default_expert))
        except json.JSONDecodeError as err:
            problems.append(f"{path}:{number}: not JSON ({err.msg} at column {err.colno})")
        except (ValueError, TypeError) as err:  # _request's own messages: collected, so every bad line is listed
            problems.append(f"{path}:{number}: {err}")
    if problems:
        raise RequestFileError(problems)
    if not requests:
        raise RequestFileError([f"{path}: no requests in the file"])
    return requests


def _request(record: Any, default_expert: str | None) -> Request:
    if not isinstance(record, dict):
        raise TypeError("expected a JSON object with an instruction")
    instruction, input, expert = record.get("instruction"), record.get("input", ""), record.get("expert", UNSET)
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError("instruction: must be a non-empty string")
    if not isinstance(input, str):
        raise ValueError("input: must be a string")
    if expert is not UNSET and expert is not None and not isinstance(expert, str):
        raise ValueError("expert: must be an adapter name or null")
    return Request(instruction, input, default_expert if expert is UNSET else expert, record)


def answer_lines(requests: Sequence[Request], answers: Sequence[str]) -> str:
    """One JSON line per answer: the request's record plus ``expert`` and ``output``."""
    # The whole record echoed back: a caller's own fields (an id, a gold answer) stay beside the output.
    rows = [{**r.record, "expert": r.expert, "output": a} for r, a in zip(requests, answers, strict=True)]
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def experts(
    adapters: dict[str, str],
    prompt: str | None = None,
    prompts_file: Path | None = None,
    expert: str | None = None,
    output: Path | None = None,
    base_model: str | None = None,
    quantization: Quantization | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 16,
    raw: bool = False,
    device: str | None = None,
    trust_remote_code: bool = False,
) -> None:
    """Answer prompts with one base model and several domain adapters, each prompt with its expert.

    Args:
        adapters: Expert name -> adapter directory (``--adapters.biomed DIR --adapters.finance DIR``);
            all trained on one base with one prompt template.
        prompt: One instruction to answer (or use ``--prompts_file``).
        prompts_file: JSON Lines of ``{"instruction", "input"?, "expert"?, "id"?}``.
        expert: The adapter that answers (a record's ``expert`` overrides it); unset: the bare
            base model with every adapter disabled.
        output: Write the answers here (JSON Lines) instead of stdout.
        base_model: The base to load; default: the one the adapters record.
        quantization: Base precision (nf4, int8, none); default: what the adapters were trained with.
        max_new_tokens: Longest answer, in tokens (greedy decoding).
        batch_size: Prompts generated together.
        raw: Send the instructions as they are, without the adapters' prompt template.
        device: ``cpu``, ``cuda``, ``cuda:1``...; default: CUDA when available.
        trust_remote_code: Allow custom model code from the base's repository.
    """
    requests = _requests(prompt, prompts_file, expert)
    # Imported after the requests are read: selfspec.experts pulls in torch and transformers (seconds),
    # which `--help` and a bad request file do not need.
    from selfspec.experts import Experts, check_names

    check_names(adapters)  # every name check before Experts.load, which takes a while
    unknown = sorted({r.expert for r in requests if r.expert is not None} - set(adapters))
    if unknown:
        raise ConfigError(f"--expert {unknown[0]!r}: no such adapter; given: {', '.join(adapters)}")
    model = Experts.load(base_model, adapters, quantization, device, batch_size, trust_remote_code)
    answers = model.generate(
        [r.instruction for r in requests],
        [r.expert for r in requests],
        max_new_tokens,
        template=not raw,
        inputs=[r.input for r in requests],
    )
    text = answer_lines(requests, answers)
    if output is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(output, text)


def _requests(prompt: str | None, prompts_file: Path | None, expert: str | None) -> list[Request]:
    if (prompt is None) == (prompts_file is None):
        raise ConfigError("Give exactly one of --prompt and --prompts_file")
    if prompt is not None:
        return [Request(prompt, "", expert, {"instruction": prompt})]
    assert prompts_file is not None
    if not prompts_file.is_file():
        raise ConfigError(f"--prompts_file {prompts_file}: no such file")
    return parse_requests(prompts_file.read_text(encoding="utf-8"), str(prompts_file), expert)


def main(args: list[str] | None = None) -> None:
    """``selfspec-experts``; ``args`` replaces ``sys.argv[1:]`` (tests call it in-process)."""
    from jsonargparse import auto_cli

    configure_model_script()
    try:
        auto_cli(experts, args=args, as_positional=False)
    except SelfSpecError as err:
        exit_with(err)
