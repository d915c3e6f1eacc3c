"""What every operator shares: the view of a candidate it sees, the context it proposes in, the proposal it
returns, template rendering, and the blocks code operators build their prompts from."""

from __future__ import annotations

import functools
import os
import random
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

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
    outcome: Any = None       # discover.feedback.Outcome of its train evaluation (per-instance details included)


@dataclass
class Proposal:
    """What an operator wants asked: the messages (persisted before the call), or, for an operator that needs no
    LLM, `content` ready to evaluate."""

    operator: str
    parents: list[CandidateView]
    messages: list[dict[str, str]] = field(default_factory=list)
    prefix: str = ""          # prefilled start of the assistant's answer ("" when not prefilling)
    stop: list[str] | None = None
    content: str | None = None  # set by operators that need no LLM (tune); then messages are empty
    thought: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProposeContext:
    """Everything an operator may look at. `members` are the archive's eligible candidates, best first."""

    target: Any               # discover.targets.base.Target
    generation: int
    slot: int
    members: list[CandidateView]
    lessons: list[str]
    rng: random.Random
    prefill: bool = False
    llm: Any = None           # discover.engine.llm.LLM, for operators that make calls of their own (reflection)
    archive: Any = None
    parents: list[CandidateView] = field(default_factory=list)  # chosen by the loop (repair: the failed one)
    best: CandidateView | None = None  # the archive's best valid candidate (eligible ones)
    config: Any = None
    store: Any = None         # operators that keep notes on a candidate (the prompt reflection) write them here
    run_id: str = ""


@functools.lru_cache(maxsize=256)
def template(name: str) -> Template:
    """Read once per process: every proposal renders several (a re-read per render cost about 1 ms each)."""
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


def build_messages(ctx: ProposeContext, user: str) -> tuple[list[dict[str, str]], str]:
    problem = ctx.target.problem
    answer = render("answer_format_prefill.txt" if ctx.prefill else "answer_format.txt",
                    entry_name=problem.spec.entry.name)
    user = Template(user).safe_substitute(answer_format=answer.strip()).strip()
    messages = [{"role": "system", "content": render("system.txt").strip()}, {"role": "user", "content": user}]
    prefix = prefill_prefix(problem) if ctx.prefill else ""
    if prefix:
        messages.append({"role": "assistant", "content": prefix})
    return messages, prefix


