"""0-shot / k-shot prompts and the input-only truncation that fits them to a context budget."""

from __future__ import annotations

from dataclasses import astuple
from pathlib import Path

import pytest

from selfspec.errors import ConfigError
from selfspec.evaluation.prompting import (
    Fitted,
    TokenizerText,
    draw_demonstrations,
    fit_prompt,
    render_prompt,
    task_prompts,
)
from selfspec.evaluation.suite import load_suite
from selfspec.evaluation.tasks import EvalRecord, Task
from selfspec.prompts import ALPACA, chat_template

REPO = Path(__file__).resolve().parents[1]


class WordText:
    """Unit-test stand-in for a tokenizer: one token per white-space separated word."""

    def count(self, text: str) -> int:
        return len(text.split())

    def head(self, text: str, n_tokens: int) -> str:
        return " ".join(text.split()[:n_tokens])


def _record(i: int, input: str = "", answer: str = "yes") -> EvalRecord:
    return EvalRecord(f"Question {i}?", input, (answer,), f"r{i}")


def test_zero_shot_prompt_is_the_training_template() -> None:
    query = _record(1, "some context")
    assert render_prompt(ALPACA, [], query, [query.input]) == ALPACA.render("Question 1?", "some context")


def test_k_shot_prompt_puts_answered_demonstrations_before_the_query() -> None:
    demos = [_record(1, "ctx one", "no"), _record(2, "", "maybe, perhaps")]
    query = _record(3, "ctx three")
    prompt = render_prompt(ALPACA, demos, query, [d.input for d in (*demos, query)])
    assert prompt == (
        ALPACA.render("Question 1?", "ctx one")
        + "no\n\n"
        + ALPACA.render("Question 2?")
        + "maybe, perhaps\n\n"
        + ALPACA.render("Question 3?", "ctx three")
    )
    assert prompt.endswith("### Input:\nctx three\n\n### Response:\n")


def test_a_prompt_that_fits_is_left_alone() -> None:
    query = _record(1, "short input")
    assert fit_prompt(ALPACA, [], query, WordText(), budget=1000) == Fitted(
        ALPACA.render("Question 1?", "short input"), False, False, True
    )


def test_long_input_is_cut_inside_the_input_field_only() -> None:
    demo = _record(1, "tiny demo input", "no")
    query = _record(2, " ".join(f"w{i}" for i in range(500)))
    budget = 120
    prompt, truncated, demos_cut, fits = astuple(fit_prompt(ALPACA, [demo], query, WordText(), budget))
    assert truncated and demos_cut and fits and WordText().count(prompt) <= budget
    assert prompt.endswith("\n\n### Response:\n") and "### Instruction:\nQuestion 2?" in prompt
    assert "tiny demo input" in prompt and "\nno\n\n" in prompt  # the short demonstration stays whole
    kept = prompt.split("### Input:\n")[-1].split("\n\n### Response:")[0].split()
    assert kept == [f"w{i}" for i in range(len(kept))] and 0 < len(kept) < 500  # a prefix of the input
    # The cap is the largest that fits: one more word would overflow.
    one_more = render_prompt(ALPACA, [demo], query, [demo.input, " ".join(f"w{i}" for i in range(len(kept) + 1))])
    assert WordText().count(one_more) > budget


def test_an_instruction_too_long_for_the_budget_is_reported_not_raised() -> None:
    query = EvalRecord("word " * 200, "input text", ("a",), "r")
    prompt, truncated, demos_cut, fits = astuple(fit_prompt(ALPACA, [], query, WordText(), budget=50))
    assert truncated and not demos_cut and not fits and "input text" not in prompt


def test_demonstrations_are_cut_before_the_query() -> None:
    demos = [_record(1, " ".join(f"d{i}" for i in range(300)), "no"), _record(2, "short demo", "yes")]
    query = _record(3, " ".join(f"q{i}" for i in range(60)))
    budget = 200
    fitted = fit_prompt(ALPACA, demos, query, WordText(), budget)
    assert (fitted.query_cut, fitted.demos_cut, fitted.fits) == (False, True, True)
    assert WordText().count(fitted.prompt) <= budget and "q59" in fitted.prompt  # the query whole
    assert "d0" in fitted.prompt and "d299" not in fitted.prompt and "short demo" in fitted.prompt
    # the common cap is the largest that fits
    longer = render_prompt(ALPACA, demos, query, [*(WordText().head(d.input, 10**6) for d in demos), query.input])
    assert WordText().count(longer) > budget


def _task(n: int, pool: int = 4) -> Task:
    demos = tuple(_record(100 + i) for i in range(pool))
    return Task("t", "label", tuple(_record(i) for i in range(n)), "memory", demos, "pool", ("yes",))


def test_demonstrations_come_from_the_pool_seeded() -> None:
    task = _task(12)
    demos0 = draw_demonstrations(task, 3, seed=0)
    assert demos0 == draw_demonstrations(task, 3, seed=0)
    assert len(demos0) == 3 and set(demos0) <= set(task.demos) and not set(demos0) & set(task.records)
    assert {tuple(draw_demonstrations(task, 3, seed=s)) for s in range(5)} != {tuple(demos0)}
    with pytest.raises(ConfigError, match=r"task 't': 5-shot evaluation needs 5 demonstrations but its pool"):
        draw_demonstrations(task, 5, seed=0)
    with pytest.raises(ConfigError, match=r"it has no demonstration pool; give the task `demos: <file>`"):
        draw_demonstrations(_task(12, pool=0), 1, seed=0)


def test_every_shots_setting_scores_the_same_records() -> None:
    task = _task(6)
    zero = task_prompts(task, 0, [0, 1, 2], ALPACA, WordText(), 1000)
    assert [(i.seed, i.record.id) for i in zero] == [(None, f"r{k}") for k in range(6)]
    two = task_prompts(task, 2, [0, 1, 2], ALPACA, WordText(), 1000)
    assert len(two) == 3 * 6 and {i.seed for i in two} == {0, 1, 2}
    assert [i.record.id for i in two if i.seed == 1] == [i.record.id for i in zero]
    assert all(i.prompt.count("### Response:") == 3 for i in two)


def test_real_tokenizer_fits_the_example_suite_and_counts_truncations(tiny_model_dir: Path) -> None:
    from selfspec.modeling.loading import load_tokenizer, resolve_model_source

    tokenizer = load_tokenizer(resolve_model_source(str(tiny_model_dir)))
    text = TokenizerText(tokenizer)
    summary = next(t for t in load_suite(REPO / "data/eval/example/suite.yaml") if t.name == "summary")
    budget = 400
    items = task_prompts(summary, 0, [0], ALPACA, text, budget)
    assert all(len(tokenizer(i.prompt)["input_ids"]) <= budget for i in items)
    assert [i.record.id for i in items if i.truncated] == ["sum6"]  # the one long passage
    long_item = next(i for i in items if i.truncated)
    assert long_item.prompt.startswith(ALPACA.render(long_item.record.instruction, "x").split("### Input:")[0])
    assert long_item.prompt.endswith("\n\n### Response:\n")


class ChatMLTokenizer:
    """Renders one user turn the way SmolLM2-Instruct's chat template does (system line included)."""

    chat_template = "chatml"

    def apply_chat_template(self, messages: list[dict], tokenize: bool, add_generation_prompt: bool) -> str:
        assert not tokenize and add_generation_prompt and [m["role"] for m in messages] == ["user"]
        system = "<|im_start|>system\nYou are {a} helpful assistant<|im_end|>\n"  # braces survive rendering
        return f"{system}<|im_start|>user\n{messages[0]['content']}<|im_end|>\n<|im_start|>assistant\n"


def test_chat_template_renders_the_models_own_turns() -> None:
    template = chat_template(ChatMLTokenizer())
    head = "<|im_start|>system\nYou are {a} helpful assistant<|im_end|>\n<|im_start|>user\n"
    assert template.render("List the diseases.", "BRCA1 causes {x} cancer.") == (
        f"{head}List the diseases.\n\nBRCA1 causes {{x}} cancer.<|im_end|>\n<|im_start|>assistant\n"
    )
    assert template.render("Define apoptosis.") == f"{head}Define apoptosis.<|im_end|>\n<|im_start|>assistant\n"
    with pytest.raises(ConfigError, match="no chat template; use 'alpaca'"):
        chat_template(object())
