"""Few-shot demo search for prompt targets (`demos`), with no LLM call: a child keeps its parent's instruction and
gets a new set of demos drawn from the train split. Selection among demo sets helps a small task model even when
the optimizer writes poor instructions, because what a 0.5B model copies best is the shape of an answer it saw.
The idea of searching demos next to instructions is DSPy's (MIPROv2: bootstrapped demo sets, Opsahl-Ong et al.
2024); here the sets are drawn from the labelled train examples, by one of these moves (chosen at random):

  random   a fresh random subset of `demos` examples
  wrong    an example the parent gets wrong joins (its expected answer shown), replacing a random demo when full
  right    an example the parent gets right joins, replacing a random demo when full
  drop     one demo leaves (a smaller prompt may do as well)

The target scores an example without itself among the demos (leave-one-out), so a demo set is not rewarded for
answering its own examples. A move that would repeat an existing candidate is redrawn a few times."""

from __future__ import annotations

import random
from typing import Any

from discover.operators.base import CandidateView, Proposal, ProposeContext
from discover.operators.registry import register_operator
from discover.prompting.parts import Demo, PromptParts, decode, encode

MOVES = ("random", "wrong", "right", "drop")
REDRAWS = 8


def stored_parts(ctx: ProposeContext, view: CandidateView) -> PromptParts:
    """A parent's parts (the view shows only its instruction)."""
    return decode(ctx.store.get_candidate(view.id).code)


def known_fingerprints(ctx: ProposeContext) -> set[str]:
    return {c.code_hash for c in ctx.store.candidates(ctx.run_id) if c.status != "rejected"}


def _outcome_split(ctx: ProposeContext, view: CandidateView) -> tuple[list[Any], list[Any]]:
    """(train examples the parent gets right, those it gets wrong), in train order."""
    scores = view.outcome.instances if view.outcome is not None and view.outcome.valid else {}
    train = ctx.target.task.train
    return ([e for e in train if scores.get(e.id, 0) >= 1], [e for e in train if e.id in scores and scores[e.id] < 1])


def move(parts: PromptParts, name: str, ctx: ProposeContext, view: CandidateView, rng: random.Random) -> PromptParts:
    k = max(1, ctx.target.options.demos)
    train = ctx.target.task.train
    demos = list(parts.demos)
    used = {d.id for d in demos}
    if name == "random" or (name != "drop" and not view.outcome):
        return parts.with_demos([Demo.of(e) for e in rng.sample(train, min(k, len(train)))])
    if name == "drop":
        if len(demos) > 1:
            demos.pop(rng.randrange(len(demos)))
        return parts.with_demos(demos)
    right, wrong = _outcome_split(ctx, view)
    pool = [e for e in (wrong if name == "wrong" else right) if e.id not in used]
    if not pool:
        pool = [e for e in train if e.id not in used]
    if not pool:
        return parts
    new = Demo.of(rng.choice(pool))
    if len(demos) >= k:
        demos[rng.randrange(len(demos))] = new
    else:
        demos.insert(rng.randrange(len(demos) + 1), new)
    return parts.with_demos(demos)


def demo_proposal(ctx: ProposeContext, parent: CandidateView, rng: random.Random, operator: str = "demos",
                  note: str = "") -> Proposal:
    parts = stored_parts(ctx, parent)
    seen = known_fingerprints(ctx)
    weights = (1, 2, 1, 0) if not parts.demos else (1, 2, 1, 1)
    child, name = parts, "random"
    for _ in range(REDRAWS):
        name = rng.choices(MOVES, weights=weights)[0]
        child = move(parts, name, ctx, parent, rng)
        if ctx.target.fingerprint(encode(child)) not in seen:
            break
    meta = {"demo_move": name, "demos": [d.id for d in child.demos]}
    if note:
        meta["fallback"] = note
    return Proposal(operator=operator, parents=[parent], content=encode(child),
                    thought=f"demos ({name}): {', '.join(d.id for d in child.demos) or 'none'}", meta=meta)


class DemoOperator:
    name = "demos"
    kinds = ("prompt",)
    parents = 1

    async def propose(self, ctx: ProposeContext) -> Proposal:
        parent = ctx.parents[0] if ctx.parents else ctx.best
        return demo_proposal(ctx, parent, ctx.rng)


register_operator(DemoOperator())
