"""What every strategy shares: the view of a candidate it sees, the proposal it returns, template rendering."""

from __future__ import annotations

import os
import random
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from discover.errors import ConfigError
from discover.problem import PACKAGE_ROOT, Problem

PROMPTS_DIR = Path(os.environ.get("DISCOVER_PROMPTS_DIR", PACKAGE_ROOT / "prompts"))


@dataclass
class CandidateView:
    id: str
    thought: str
    code: str
    score: float | None
    generation: int
    feedback: str | None = None


@dataclass
class Proposal:
    operator: str
    parents: list[CandidateView]
    messages: list[dict[str, str]]
    prefix: str = ""  # prefilled start of the assistant's answer ("" when not prefilling)


@dataclass
class SlotContext:
    problem: Problem
    generation: int
    slot: int
    population: list[CandidateView]  # valid candidates, best first
    lessons: list[str]
    rng: random.Random
    prefill: bool = False
    extra: dict = field(default_factory=dict)


def template(name: str) -> Template:
    path = PROMPTS_DIR / name
    try:
        return Template(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"prompt template {path} is missing", path=str(path)) from exc


def render(name: str, **values: object) -> str:
    return template(name).safe_substitute({k: str(v) for k, v in values.items()}).strip() + "\n"


def task_block(problem: Problem, prefill: bool = False) -> str:
    spec = problem.spec
    if prefill:  # the signature and docstring open the answer: do not spend prompt tokens on them twice
        return render("task_prefill.txt", description=spec.description.strip(), entry_name=spec.entry.name,
                      direction_word="lower is better" if problem.minimize else "higher is better",
                      unit=spec.score.unit or "score").strip()
    return render(
        "task.txt",
        description=spec.description.strip(),
        imports=spec.entry.imports,
        signature=spec.entry.signature,
        docstring=textwrap.indent(spec.entry.docstring.strip(), "    ").lstrip(),
        direction_word="lower is better" if problem.minimize else "higher is better",
        unit=spec.score.unit or "score",
    ).strip()


def candidate_block(c: CandidateView, label: str, with_feedback: bool = True) -> str:
    feedback = f"Evaluator feedback:\n{c.feedback.strip()}\n" if (with_feedback and c.feedback) else ""
    score = "n/a" if c.score is None else f"{c.score:.4g}"
    return render("candidate.txt", label=label, score=score, thought=c.thought or "(none given)",
                  code=c.code.strip(), feedback=feedback)


def lessons_block(lessons: list[str]) -> str:
    if not lessons:
        return ""
    return "\n" + render("lessons.txt", lessons="\n".join(f"- {line}" for line in lessons))


def prefill_prefix(problem: Problem) -> str:
    """Completion-style start: the model writes only the body (small local models do far better so; DESIGN.md)."""
    entry = problem.spec.entry
    doc = textwrap.indent(f'"""{entry.docstring.strip()}"""', "    ")
    imports = f"{entry.imports}\n\n" if entry.imports else ""
    return f"```python\n{imports}{entry.signature}\n{doc}\n"


def build_messages(ctx: SlotContext, user: str) -> tuple[list[dict[str, str]], str]:
    answer = render("answer_format_prefill.txt" if ctx.prefill else "answer_format.txt",
                    entry_name=ctx.problem.spec.entry.name)
    user = Template(user).safe_substitute(answer_format=answer.strip()).strip()
    messages = [{"role": "system", "content": render("system.txt").strip()}, {"role": "user", "content": user}]
    prefix = prefill_prefix(ctx.problem) if ctx.prefill else ""
    if prefix:
        messages.append({"role": "assistant", "content": prefix})
    return messages, prefix


def rank_select(population: list[CandidateView], k: int, rng: random.Random) -> list[CandidateView]:
    """Rank-based parent selection, p(rank r) ∝ 1 / (r + N) as in EoH (Liu et al. 2024), without replacement."""
    pool = list(population)
    chosen: list[CandidateView] = []
    n = len(pool)
    while pool and len(chosen) < k:
        weights = [1.0 / (r + 1 + n) for r in range(len(pool))]
        pick = rng.choices(range(len(pool)), weights=weights)[0]
        chosen.append(pool.pop(pick))
    return chosen
