"""The paper's two domains: hand-written seed files, and the evaluation suites their configs name.

Seeds: the counts the paper reports (80 biomedicine, 90 finance), enough task types each with
enough examples, no duplicates or placeholders, and the arithmetic written out in the finance
numeric answers actually holds. Suites: parsed (never downloaded) with the loader the
``DomainEvaluation`` callback uses.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from selfspec.evaluation.suite import parse_suite_text
from selfspec.seeds import Seed, load_seeds

REPO = Path(__file__).resolve().parents[1]

# file, seed count, minimum task types, minimum seeds per type
DOMAINS = {
    "biomedicine": ("data/seeds/biomedicine.jsonl", 80, 10, 5),
    "finance": ("data/seeds/finance.jsonl", 90, 8, 5),
}
PLACEHOLDER = re.compile(r"(?i:\btodo\b|\btbd\b|\bxxx\b|lorem|<noinput>)|\.\.\.|…|\bN/A\b")
NUMERIC_TASKS = ("table_reasoning", "ratio_computation", "numeric_reasoning")
GROUNDED_TASKS = ("table_reasoning", "ratio_computation")  # every operand comes from the input
CONSTANTS = {1.0, 2.0, 3.0, 4.0, 12.0, 100.0, 360.0, 365.0}


def _seeds(domain: str) -> list[Seed]:
    return load_seeds(REPO / DOMAINS[domain][0])


@pytest.mark.parametrize("domain", DOMAINS)
def test_seed_file_has_the_papers_size_and_task_spread(domain: str) -> None:
    _, count, min_types, min_per_type = DOMAINS[domain]
    seeds = _seeds(domain)
    assert len(seeds) == count
    tasks = Counter(seed.task for seed in seeds)
    assert None not in tasks, "every seed names its task type"
    assert len(tasks) >= min_types, tasks
    assert min(tasks.values()) >= min_per_type, tasks
    prefix = "bio" if domain == "biomedicine" else "fin"
    assert [seed.id for seed in seeds] == [f"{prefix}-{k:03d}" for k in range(1, count + 1)]


@pytest.mark.parametrize("domain", DOMAINS)
def test_seeds_are_distinct_and_complete(domain: str) -> None:
    seeds = _seeds(domain)
    pairs = Counter((seed.instruction.strip().lower(), seed.input.strip().lower()) for seed in seeds)
    assert [pair for pair, n in pairs.items() if n > 1] == []
    for seed in seeds:
        for field in ("instruction", "input", "output"):
            text = getattr(seed, field)
            assert text == text.strip(), f"{seed.id}: {field} has surrounding white space"
            assert not PLACEHOLDER.search(text), f"{seed.id}: {field} looks like a placeholder: {text!r}"
        assert seed.output.strip(), seed.id
        assert seed.input != "<noinput>", f"{seed.id}: an input-less seed has input ''"


def test_each_task_type_uses_varied_instructions() -> None:
    for domain in DOMAINS:
        by_task: dict[str | None, set[str]] = {}
        for seed in _seeds(domain):
            by_task.setdefault(seed.task, set()).add(seed.instruction)
        for task, instructions in by_task.items():
            assert len(instructions) >= 3, f"{domain}/{task}: only {len(instructions)} distinct instructions"


# ---------------------------------------------------------------------------- finance arithmetic

_EXPR_CHARS = set("0123456789.,$%()+-*/×÷^ ")
_NUMBER_TEXT = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"  # 1,234.5 or 1234.5, never a trailing comma
_RHS = re.compile(rf"\s*(-?)\$?({_NUMBER_TEXT})\s*(%?)")
_NUMBER = re.compile(_NUMBER_TEXT)


def _to_float(text: str) -> float:
    return float(text.replace(",", ""))


def _calculations(text: str) -> list[tuple[str, str]]:
    """``(expression, result)`` for every ``<arithmetic> = <number>`` written in ``text``."""
    found = []
    for match in re.finditer("=", text):
        start = match.start()
        while start > 0 and text[start - 1] in _EXPR_CHARS:
            start -= 1
        expression = text[start : match.start()].strip(" ,")
        if not re.search(r"[\d%)]\s*[-+*/×÷^]\s*[-\d($]", expression):
            continue  # "Current ratio = ..." or "= 0.75 = 75%": nothing to check on this side
        result = _RHS.match(text, match.end())
        assert result, f"no number after '=' in {text!r}"
        found.append((expression, result.group(0).strip()))
    return found


def _evaluate(expression: str) -> float:
    python = re.sub(r"(?<=\d),(?=\d{3}\b)", "", expression).replace("$", "")
    python = re.sub(r"(\d+(?:\.\d+)?)%", r"(\1/100)", python)
    python = python.replace("×", "*").replace("÷", "/").replace("^", "**")
    assert set(python) <= set("0123456789.()+-*/ "), f"cannot evaluate {expression!r}"
    return float(eval(python, {"__builtins__": {}}))


def _matches(value: float, shown: str) -> bool:
    """The written result is ``value`` rounded to the decimals shown (a % result may be value x 100)."""
    m = _RHS.match(shown)
    assert m
    number = _to_float(m.group(2)) * (-1 if m.group(1) else 1)
    decimals = len(m.group(2).split(".")[1]) if "." in m.group(2) else 0
    tolerance = 0.5 * 10**-decimals + 1e-9
    candidates = [value, value * 100] if m.group(3) else [value]
    return any(math.isclose(c, number, abs_tol=tolerance) for c in candidates)


def test_calculation_checker_catches_wrong_arithmetic() -> None:
    assert _calculations("(1,240 - 1,105) / 1,105 = 12.2%. Done.") == [("(1,240 - 1,105) / 1,105", "12.2%")]
    assert _matches(_evaluate("(1,240 - 1,105) / 1,105"), "12.2%")
    assert not _matches(_evaluate("(1,240 - 1,105) / 1,105"), "12.4%")
    assert _matches(_evaluate("60% × 10% + 40% × 4%"), "7.6%")
    assert _matches(_evaluate("200,000 × 0.005 / (1 - 1.005^-360)"), "1,199.10")
    assert not _matches(_evaluate("412 + 398"), "820")
    assert _calculations("Working capital: 36,000 - 14,000 = 22,000, i.e.") == [("36,000 - 14,000", "22,000")]
    assert _calculations("Monthly rate: 6% / 12 = 0.5%.") == [("6% / 12", "0.5%")]
    assert _matches(_evaluate("6% / 12"), "0.5%")
    assert _calculations("Current ratio = 1.5.") == []


def _finance_numeric() -> list[Seed]:
    return [seed for seed in _seeds("finance") if seed.task in NUMERIC_TASKS]


@pytest.mark.parametrize("seed", _finance_numeric(), ids=lambda s: s.id)
def test_finance_numeric_answers_show_correct_arithmetic(seed: Seed) -> None:
    calculations = _calculations(seed.output)
    assert calculations, f"{seed.id}: the answer should show its calculation as '<arithmetic> = <result>'"
    given = {_to_float(n) for n in _NUMBER.findall(seed.input)} | CONSTANTS
    for expression, shown in calculations:
        assert _matches(_evaluate(expression), shown), f"{seed.id}: {expression} = {_evaluate(expression)}, not {shown}"
        if seed.task in GROUNDED_TASKS:
            before = seed.output[: seed.output.index(expression)]
            known = given | {_to_float(n) for n in _NUMBER.findall(before)}
            operands = {_to_float(n) for n in _NUMBER.findall(expression)}
            assert operands <= known, f"{seed.id}: {sorted(operands - known)} appear in neither the input nor before"


def test_finance_yes_no_and_label_answers_use_the_offered_labels() -> None:
    labels = {
        "sentiment": {"positive", "negative", "neutral"},
        "headline_classification": {"Yes", "No"},
    }
    for seed in _seeds("finance"):
        if seed.task in labels:
            assert seed.output in labels[seed.task], f"{seed.id}: {seed.output!r}"


# ---------------------------------------------------------------------------- configs and suites


@pytest.mark.parametrize("domain", DOMAINS)
def test_domain_configs_point_at_the_domain(domain: str) -> None:
    fit = yaml.safe_load((REPO / "configs" / domain / "fit.yaml").read_text())
    assert fit["data"]["seeds_path"] == DOMAINS[domain][0]
    assert fit["data"]["generation"]["domain"] == domain
    assert fit["data"]["generation"]["num_instructions"] == 5000
    assert fit["model"]["base_model"] == "meta-llama/Llama-2-7b-hf"
    assert fit["model"]["lora"] == {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"}
    for path in fit["data"]["generation"]["eval_files"]:
        assert (REPO / path).is_file(), path
    evaluation = yaml.safe_load((REPO / "configs" / domain / "eval.yaml").read_text())
    assert evaluation["data"]["seeds_path"] == DOMAINS[domain][0]
    (callback,) = [c for c in evaluation["trainer"]["callbacks"] if c["class_path"].endswith("DomainEvaluation")]
    assert callback["init_args"]["suite"] == f"configs/{domain}/suite.yaml"


@pytest.mark.parametrize("domain", DOMAINS)
def test_domain_suite_parses_without_downloading(domain: str) -> None:
    path = REPO / "configs" / domain / "suite.yaml"
    specs, problems = parse_suite_text(path.read_text(encoding="utf-8"), str(path), path.parent)
    assert problems == []
    assert len(specs) >= 1
    for spec in specs:
        assert spec.path is None or spec.path.is_file(), spec.path
        if spec.dataset:
            assert dict(spec.dataset).get("split"), f"{spec.name}: name the split explicitly"
