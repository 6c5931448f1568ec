"""Prompt templates: pure text in, text out.

The Alpaca template is what selfspec trains and evaluates with by default (docs/method.md step 6).
The template's name is saved with every adapter so evaluation can refuse a mismatched one. ``chat``
is the model's own chat template, built from its tokenizer: the fair 0-shot baseline of an
instruction-tuned base that never saw the Alpaca format, and (beyond the paper) a template to train
such a base with, so the adapter builds on the format its instruction tuning taught.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from selfspec.errors import ConfigError

ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n"
)


@dataclass(frozen=True)
class PromptTemplate:
    """A named pair of formats, one for examples with input and one for examples without.

    Args:
        name: Recorded with each adapter; evaluation checks it.
        with_input: Format with ``{instruction}`` and ``{input}`` fields.
        no_input: Format with an ``{instruction}`` field, used when the input is empty.
    """

    name: str
    with_input: str
    no_input: str

    def render(self, instruction: str, input: str = "") -> str:
        """The prompt up to and including the response slot (the response itself is not added)."""
        if input.strip():  # a whitespace-only input would otherwise render an empty "### Input:" section
            return self.with_input.format(instruction=instruction.strip(), input=input.strip())
        return self.no_input.format(instruction=instruction.strip())


ALPACA = PromptTemplate("alpaca", ALPACA_WITH_INPUT, ALPACA_NO_INPUT)
TEMPLATES = {ALPACA.name: ALPACA}


CHAT = "chat"
_SLOTS = ("\x00INSTRUCTION\x00", "\x00INPUT\x00")  # NUL-delimited: no chat template or text contains them


def chat_template(tokenizer: Any) -> PromptTemplate:
    """The model's own chat template (``tokenizer.apply_chat_template``) as a ``PromptTemplate``.

    One user turn holds the instruction (then a blank line and the input, when there is one) and
    the prompt ends with the assistant's turn opened, as the model saw in its instruction tuning.
    The tokenizer renders the turn once with placeholders, so rendering stays pure text.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError("template 'chat': the model's tokenizer has no chat template; use 'alpaca'")

    def render(content: str) -> str:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
        )
        text = str(text).replace("{", "{{").replace("}", "}}")  # the template's own braces survive str.format
        return text.replace(_SLOTS[0], "{instruction}").replace(_SLOTS[1], "{input}")

    return PromptTemplate(CHAT, render(f"{_SLOTS[0]}\n\n{_SLOTS[1]}"), render(_SLOTS[0]))


def get_template(name: str) -> PromptTemplate:
    """Look a template that needs no tokenizer up by name; the error lists the known names."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ConfigError(f"prompt template {name!r} is unknown; choose one of {template_names()}") from None


def template_names() -> list[str]:
    return [*sorted(TEMPLATES), CHAT]


def check_template_name(name: str, flag: str = "--data.template") -> str:
    """``name`` when it names a template (``chat`` included); else a ``ConfigError`` naming ``flag``."""
    if name != CHAT and name not in TEMPLATES:
        raise ConfigError(f"{flag}: prompt template {name!r} is unknown; choose one of {template_names()}")
    return name


def resolve_template(name: str, tokenizer: Any) -> PromptTemplate:
    """The template called ``name``: ``chat`` is built from ``tokenizer``, the others need none."""
    return chat_template(tokenizer) if name == CHAT else get_template(name)
