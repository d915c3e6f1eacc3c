"""OPRO for instructions (Yang et al., "Large Language Models as Optimizers", ICLR 2024), with directional feedback
on the best instruction's failures in the spirit of Trace/OptoPrime (Cheng et al. 2024) and GEPA's reflection
(Agrawal et al. 2025): the meta-prompt shows earlier instructions with their train accuracy ascending (best last),
a few train exemplars, the best's wrong answers and an optimizer-written analysis of why (one extra call per best,
kept in the best's feedback so it is paid once)."""

from __future__ import annotations

import random

from discover.errors import BudgetExhausted
from discover.llm.providers import handles_prefill
from discover.operators.base import CandidateView, Proposal, ProposeContext, render
from discover.operators.registry import register_operator

OPTIMIZER_PREFILL = "Instruction: <INS>"  # as in prompts/opro_prompt/history_item.txt
ANALYSIS_MARK = "\nAnalysis: "


def clip(text: str, n: int = 300) -> str:
    text = " ".join(str(text).split()) if len(text) > n else str(text).strip()
    return text if len(text) <= n else text[: n - 3] + "..."


class OPROInstructionOperator:
    name = "opro"
    kinds = ("prompt",)
    parents = 0  # it shows the top of the archive; its parent is the best

    def _failures(self, ctx: ProposeContext, best: CandidateView) -> list[tuple[object, str]]:
        rows = best.outcome.details if best.outcome is not None else {}
        out = []
        for e in ctx.target.task.train:
            r = rows.get(e.id)
            if r is not None and r["score"] < 1:
                out.append((e, r.get("output", "")))
            if len(out) >= ctx.target.options.feedback_failures:
                break
        return out

    @staticmethod
    def _failure_block(failures) -> str:
        return "\n".join(render("opro_prompt/failure.txt", input=clip(e.input), target=e.target,
                                output=clip(out or "(empty)")) for e, out in failures)

    async def _reflection(self, ctx: ProposeContext, best: CandidateView, failures) -> str | None:
        stored = ctx.store.feedback_for(best.id)
        if stored and ANALYSIS_MARK in stored:
            return stored.split(ANALYSIS_MARK, 1)[1].strip()
        prompt = render("opro_prompt/reflect.txt", instruction=best.code or "(empty)",
                        failures=self._failure_block(failures)).strip()
        try:
            resp = await ctx.llm.complete(model=ctx.target.optimizer_model, messages=[{"role": "user", "content": prompt}],
                                          temperature=0.0, max_tokens=ctx.target.max_tokens, sample_index=0,
                                          role="optimizer", tolerate_failure=True)
        except BudgetExhausted:
            return None
        if resp is None:
            return None
        analysis = " ".join(resp.text.split())[:800]
        ctx.store.add_feedback(ctx.run_id, best.id, (stored or "").rstrip() + ANALYSIS_MARK + analysis)
        return analysis

    async def propose(self, ctx: ProposeContext) -> Proposal:
        target, opts = ctx.target, ctx.target.options
        shown = [m for m in ctx.members if m.score is not None][: opts.top_k]  # best first, distinct
        history = "\n".join(render("opro_prompt/history_item.txt", instruction=c.code or "(empty)",
                                   score=f"{100 * (c.score or 0):.0f}%") for c in reversed(shown)).strip() or "(none yet)"
        rng = random.Random(f"{ctx.config.seed}-exemplars-{ctx.generation}")
        train = target.task.train
        picks = rng.sample(train, min(opts.exemplars, len(train)))
        exemplars = "\n".join(render("opro_prompt/exemplar.txt", input=clip(e.input, 600), target=e.target)
                              for e in picks).strip()
        feedback = ""
        best = ctx.best
        if opts.feedback and best is not None and opts.feedback_failures:
            failures = self._failures(ctx, best)
            if failures:
                analysis = await self._reflection(ctx, best, failures)
                feedback = "\n" + render("opro_prompt/feedback.txt", failures=self._failure_block(failures),
                                         analysis=analysis or "(not available)")
        description = f"Task: {target.task.description}\n" if target.task.description else ""
        user = render("opro_prompt/meta.txt", description=description, history=history, exemplars=exemplars,
                      feedback=feedback).strip()
        messages = [{"role": "user", "content": user}]
        stop = None
        if handles_prefill(target.optimizer_model):
            # A small in-process model's answer starts the way the history lists instructions and stops at the tag's
            # end: one instruction, instead of continuing the meta-prompt's examples and feedback as a 0.5B model
            # does. A bare "<INS>" would read like the exemplars, where an input word follows the tag.
            messages.append({"role": "assistant", "content": OPTIMIZER_PREFILL})
            stop = ["</INS>"]
        return Proposal(operator="opro", parents=shown[:1], messages=messages, stop=stop)


register_operator(OPROInstructionOperator())
