"""0-shot / k-shot prompts and the input-only truncation that fits them to a context budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfspec.errors import ConfigError
from selfspec.evaluation.prompting import (
    TokenizerText,
    draw_demonstrations,
    fit_prompt,
    render_prompt,
    task_prompts,
)
from selfspec.evaluation.suite import load_suite
from selfspec.evaluation.tasks import EvalRecord, Task
from selfspec.prompts import ALPACA

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
    assert fit_prompt(ALPACA, [], query, WordText(), budget=1000) == (
        ALPACA.render("Question 1?", "short input"),
        False,
        True,
    )


def test_long_input_is_cut_inside_the_input_field_only() -> None:
    demo = _record(1, "tiny demo input", "no")
    query = _record(2, " ".join(f"w{i}" for i in range(500)))
    budget = 120
    prompt, truncated, fits = fit_prompt(ALPACA, [demo], query, WordText(), budget)
    assert truncated and fits and WordText().count(prompt) <= budget
    assert prompt.endswith("\n\n### Response:\n") and "### Instruction:\nQuestion 2?" in prompt
    assert "tiny demo input" in prompt and "\nno\n\n" in prompt  # the short demonstration stays whole
    kept = prompt.split("### Input:\n")[-1].split("\n\n### Response:")[0].split()
    assert kept == [f"w{i}" for i in range(len(kept))] and 0 < len(kept) < 500  # a prefix of the input
    # The cap is the largest that fits: one more word would overflow.
    one_more = render_prompt(ALPACA, [demo], query, [demo.input, " ".join(f"w{i}" for i in range(len(kept) + 1))])
    assert WordText().count(one_more) > budget


def test_an_instruction_too_long_for_the_budget_is_reported_not_raised() -> None:
    query = EvalRecord("word " * 200, "input text", ("a",), "r")
    prompt, truncated, fits = fit_prompt(ALPACA, [], query, WordText(), budget=50)
    assert truncated and not fits and "input text" not in prompt


def _task(n: int) -> Task:
    return Task("t", "label", tuple(_record(i) for i in range(n)), "memory")


def test_demonstration_sets_are_seeded_disjoint_from_scored_records() -> None:
    task = _task(12)
    demos0, scored0 = draw_demonstrations(task, 3, seed=0)
    assert (demos0, scored0) == draw_demonstrations(task, 3, seed=0)
    assert len(demos0) == 3 and not set(demos0) & set(scored0) and len(scored0) == 9
    assert {tuple(draw_demonstrations(task, 3, seed=s)[0]) for s in range(5)} != {tuple(demos0)}
    with pytest.raises(ConfigError, match=r"task 't' has 3 records; 3-shot evaluation needs at least 4"):
        draw_demonstrations(_task(3), 3, seed=0)


def test_task_prompts_zero_shot_once_k_shot_per_seed() -> None:
    task = _task(6)
    zero = task_prompts(task, 0, [0, 1, 2], ALPACA, WordText(), 1000)
    assert [(i.seed, i.record.id) for i in zero] == [(None, f"r{k}") for k in range(6)]
    two = task_prompts(task, 2, [0, 1, 2], ALPACA, WordText(), 1000)
    assert len(two) == 3 * 4 and {i.seed for i in two} == {0, 1, 2}
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
