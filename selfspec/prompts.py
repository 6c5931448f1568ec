"""Prompt templates: pure text in, text out.

The Alpaca template is what selfspec trains and evaluates with (METHOD step 6). The template's
name is saved with every adapter so evaluation can refuse a mismatched one.
"""

from __future__ import annotations

from dataclasses import dataclass

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
        if input.strip():
            return self.with_input.format(instruction=instruction.strip(), input=input.strip())
        return self.no_input.format(instruction=instruction.strip())


ALPACA = PromptTemplate("alpaca", ALPACA_WITH_INPUT, ALPACA_NO_INPUT)
TEMPLATES = {ALPACA.name: ALPACA}


def get_template(name: str) -> PromptTemplate:
    """Look a template up by name; the error lists the known names."""
    try:
        return TEMPLATES[name]
    except KeyError:
        from selfspec.errors import ConfigError

        raise ConfigError(f"prompt template {name!r} is unknown; choose one of {sorted(TEMPLATES)}") from None
