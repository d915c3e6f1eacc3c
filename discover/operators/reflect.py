"""Reflective mutation for prompt targets (`reflect`), after GEPA (Agrawal et al. 2025): the parent's instruction
and a few of its train examples with the task model's actual answers (mostly wrong ones, one right one to keep)
go into one reflection prompt; the optimizer answers with an improved instruction. The child keeps the parent's
other parts (demos, system text, format line).

The operator makes its call itself (through the run's LLM, role "optimizer", so it is budgeted, cached and
recorded like every call) and hands the loop a finished candidate: a prompt with parts is then built from the
parent's parts rather than parsed from the answer. A resumed run rebuilds the same prompt and gets the answer from
the cache. When the answer is unusable, or the optimizer budget is spent, the slot is not wasted: it becomes a demo
move on the same parent (recorded in the candidate's meta as a fallback)."""

from __future__ import annotations

from typing import Any

from discover.errors import BudgetExhausted
from discover.extract import MalformedOutput
from discover.llm.providers import handles_prefill
from discover.operators.base import CandidateView, Proposal, ProposeContext, render
from discover.operators.demos import demo_proposal, known_fingerprints, stored_parts
from discover.operators.opro_prompt import clip
from discover.operators.registry import register_operator
from discover.prompting.parts import encode

PREFILL = "New instruction: <INS>"
SLOT_STRIDE = 1000  # as the loop's: distinct sample indices per (generation, slot)


def description(ctx: ProposeContext) -> str:
    d = ctx.target.task.description
    return f"Task: {d}\n" if d else ""


async def ask_for_instruction(ctx: ProposeContext, prompt: str) -> tuple[str | None, str]:
    """One optimizer call -> (instruction or None, why not). BudgetExhausted for the optimizer role is a "why not";
    any other spent budget (task calls, the run's total) propagates and stops the run."""
    target = ctx.target
    messages = [{"role": "user", "content": prompt.strip()}]
    stop = None
    if handles_prefill(target.optimizer_model):
        # As for OPRO: a small in-process model continues "<INS>" with the instruction itself and stops at the tag.
        messages.append({"role": "assistant", "content": PREFILL})
        stop = ["</INS>"]
    try:
        resp = await ctx.llm.complete(model=target.optimizer_model, messages=messages, temperature=target.temperature,
                                      max_tokens=target.max_tokens, sample_index=ctx.generation * SLOT_STRIDE + ctx.slot,
                                      role="optimizer", stop=stop, tolerate_failure=True)
    except BudgetExhausted as exc:
        if ctx.llm.limit_reached("optimizer"):
            return None, str(exc)
        raise
    if resp is None:
        return None, "the optimizer call failed"
    try:
        return target.parse(resp.text).content, ""
    except MalformedOutput as exc:
        return None, f"unusable answer: {exc}"


def examples_block(ctx: ProposeContext, view: CandidateView, n_wrong: int, n_right: int = 1) -> str:
    details = view.outcome.details if view.outcome is not None and view.outcome.valid else {}
    train = [e for e in ctx.target.task.train if e.id in details]
    wrong = [e for e in train if details[e.id]["score"] < 1]
    right = [e for e in train if details[e.id]["score"] >= 1]
    picks = ctx.rng.sample(wrong, min(n_wrong, len(wrong))) + ctx.rng.sample(right, min(n_right, len(right)))
    return "\n".join(render("prompt/example.txt", input=clip(e.input, 400), output=clip(details[e.id].get("output") or
                            "(empty)"), target=e.target, verdict="right" if details[e.id]["score"] >= 1 else "wrong")
                     for e in picks).strip()


def finished(ctx: ProposeContext, operator: str, parents: list[CandidateView], base: Any, instruction: str,
             meta: dict[str, Any]) -> Proposal | None:
    """The child (base's parts with the new instruction), or None when it repeats an existing candidate."""
    content = encode(base.with_instruction(instruction))
    if ctx.target.fingerprint(content) in known_fingerprints(ctx):
        return None
    return Proposal(operator=operator, parents=parents, content=content, thought=f"{operator}: {clip(instruction, 120)}",
                    meta=meta)


class ReflectOperator:
    name = "reflect"
    kinds = ("prompt",)
    parents = 1

    async def propose(self, ctx: ProposeContext) -> Proposal:
        parent = ctx.parents[0] if ctx.parents else ctx.best
        parts = stored_parts(ctx, parent)
        examples = examples_block(ctx, parent, n_wrong=max(1, ctx.target.options.feedback_failures))
        if not examples:
            return demo_proposal(ctx, parent, ctx.rng, note="no scored examples to reflect on")
        prompt = render("prompt/reflect.txt", description=description(ctx), instruction=parts.instruction or "(empty)",
                        examples=examples, accuracy=f"{100 * (parent.score or 0):.0f}%")
        instruction, why = await ask_for_instruction(ctx, prompt)
        if instruction is None:
            return demo_proposal(ctx, parent, ctx.rng, note=why)
        child = finished(ctx, self.name, [parent], parts, instruction, {"reflected_on": parent.id})
        return child or demo_proposal(ctx, parent, ctx.rng, note="the new instruction repeats an existing candidate")


register_operator(ReflectOperator())
