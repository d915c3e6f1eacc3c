"""The evolutionary loop: strategy builds a prompt -> LLM proposes -> response persisted -> sandbox scores it on
train -> directional feedback stored -> next prompts. Everything is derived from the store, so a stopped or
crashed run resumes where it was and re-pays nothing."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from discover.config import RunConfig
from discover.errors import BudgetExhausted, LLMCallFailed
from discover.evaluation import evaluate_sets, outcome_from, outcome_from_rows
from discover.extract import MalformedOutput, code_hash, drop_docstring, parse_response
from discover.feedback import Outcome, Reference, candidate_feedback, lessons
from discover.problem import Problem
from discover.store import CandidateRow, Store
from discover.strategies import CandidateView, SlotContext, make_strategy
from discover.strategies.base import render

SLOT_STRIDE = 1000  # sample_index = generation * SLOT_STRIDE + slot: distinct cache keys for identical prompts
DUPLICATE_STRIDE = 100_000_000  # sample-index offset of a re-ask after a duplicate answer
MAX_LLM_FAILURES_IN_A_ROW = 3


# A prefilled answer is the body of the entry function, so the first unindented line ends it: the closing fence, or
# the demo/test code small models append ("# Test the function", "def test_...", "print(...)").
PREFILL_STOPS = ["\n```", "\n#", "\ndef ", "\nclass ", "\nif ", "\nprint(", "\nimport ", "\nfrom ", "\nfor ",
                 "\nwhile ", "\ntry:", "\nassert "]


@dataclass
class RunStats:
    generation: int = 0
    best_score: float | None = None
    best_id: str | None = None
    valid: int = 0
    invalid: int = 0
    rejected: int = 0
    duplicates: int = 0
    duplicate_retries: int = 0  # re-asks after an answer that repeated earlier code
    llm_calls: int = 0
    cached_calls: int = 0
    llm_errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started


@dataclass
class RunSummary:
    run_id: str
    status: str
    stop_reason: str
    best: CandidateRow | None
    seed_id: str | None
    test_scores: dict[str, dict[str, float | None]]  # candidate id -> instance set -> score
    stats: RunStats


def _ask_for_something_new(messages: list[dict]) -> list[dict]:
    """The proposal's messages with a note that the last answer repeated existing code (models tend to copy a
    parent verbatim, and a new sample of the same prompt often copies it again)."""
    out = [dict(m) for m in messages]
    user = max(i for i, m in enumerate(out) if m["role"] == "user")
    out[user]["content"] += "\n\n" + render("duplicate_retry.txt").strip()
    return out


class Evolution:
    def __init__(self, *, store: Store, run_id: str, config: RunConfig, problem: Problem, gateway: Any,
                 sandbox: Any, on_update: Callable[[RunStats], None] | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self.config = config
        self.problem = problem
        self.gateway = gateway
        self.sandbox = sandbox
        self.strategy = make_strategy(config.strategy)
        self.on_update = on_update or (lambda stats: None)
        self.stats = RunStats()
        self.stop_reason: str | None = None
        self._failures_in_a_row = 0
        self.deadline = time.monotonic() + config.timeout_s if config.timeout_s else None
        self.train_sets = problem.spec.splits.train
        self.eval_slots = asyncio.Semaphore(max(1, getattr(sandbox, "workers", 1)))
        self.outcomes: dict[str, Outcome] = {}
        self._load_existing()

    # -- state derived from the store --------------------------------------------------
    def _load_existing(self) -> None:
        self.candidates: dict[str, CandidateRow] = {c.id: c for c in self.store.candidates(self.run_id)}
        for c in self.candidates.values():
            if c.status == "evaluated":
                self.outcomes[c.id] = outcome_from_rows(self.train_sets, self.store.evaluations(c.id, "train"))
            self._count(c)
        totals = self.store.run_llm_totals(self.run_id)
        self.stats.llm_calls = int(totals["calls"])
        self.stats.prompt_tokens = int(totals["prompt_tokens"])
        self.stats.completion_tokens = int(totals["completion_tokens"])
        self.stats.cost_usd = float(totals["cost_usd"])
        if self.candidates:
            self.stats.generation = max(c.generation for c in self.candidates.values())

    def _count(self, c: CandidateRow) -> None:
        if c.status == "evaluated":
            if c.valid:
                self.stats.valid += 1
                if self.problem.better(c.train_score, self.stats.best_score):
                    self.stats.best_score, self.stats.best_id = c.train_score, c.id
            else:
                self.stats.invalid += 1
        elif c.status == "rejected":
            self.stats.rejected += 1
        elif c.status == "duplicate":
            self.stats.duplicates += 1

    def _view(self, c: CandidateRow) -> CandidateView:
        entry = self.problem.spec.entry
        code = drop_docstring(c.code, entry.name, entry.docstring) if entry.docstring else c.code
        return CandidateView(id=c.id, thought=c.thought, code=code, score=c.train_score, generation=c.generation,
                             feedback=self.store.feedback_for(c.id))

    def population(self, generation: int) -> list[CandidateView]:
        """The best `population` distinct valid candidates from earlier generations, best first."""
        seen: set[str] = set()
        pool = []
        for c in sorted(self.candidates.values(), key=lambda c: (self.problem.sort_key(c.train_score), c.generation, c.slot)):
            if c.valid and c.generation < generation and c.code_hash not in seen:
                seen.add(c.code_hash)
                pool.append(c)
        return [self._view(c) for c in pool[: self.config.population]]

    def lessons(self, generation: int) -> list[str]:
        earlier = sorted((c for c in self.candidates.values() if c.generation < generation), key=lambda c: (c.generation, c.slot))
        return lessons([t for c in earlier if (t := self.store.feedback_for(c.id))])

    def best(self, before_generation: int | None = None) -> CandidateRow | None:
        valid = [c for c in self.candidates.values()
                 if c.valid and (before_generation is None or c.generation < before_generation)]
        return min(valid, key=lambda c: (self.problem.sort_key(c.train_score), c.generation, c.slot), default=None)

    # -- stopping ---------------------------------------------------------------------
    def _check_budgets(self) -> bool:
        if self.stop_reason:
            return True
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stop_reason = f"wall-clock timeout of {self.config.timeout_s:g} s reached"
        elif self.config.max_llm_calls is not None and self.stats.llm_calls >= self.config.max_llm_calls:
            self.stop_reason = f"LLM call budget of {self.config.max_llm_calls} reached"
        elif self.config.max_cost_usd is not None and self.stats.cost_usd >= self.config.max_cost_usd:
            self.stop_reason = f"cost budget of ${self.config.max_cost_usd:g} reached"
        return self.stop_reason is not None

    # -- the loop -----------------------------------------------------------------------
    async def run(self) -> str:
        await self._ensure_seed()
        await self._evaluate_pending()
        pop = self.config.population
        for gen in range(self.config.generations):
            taken = {c.slot for c in self.candidates.values() if c.generation == gen}
            slots = [s for s in range(1 if gen == 0 else 0, pop) if s not in taken]
            if not slots:
                continue
            if self._check_budgets():
                break
            self.stats.generation = gen
            self.on_update(self.stats)
            population, run_lessons = self.population(gen), self.lessons(gen)
            await asyncio.gather(*(self._slot(gen, s, population, run_lessons) for s in slots))
            if self.stop_reason:
                break
        if self.stop_reason is None:
            self.stop_reason = f"all {self.config.generations} generations done"
        self.on_update(self.stats)
        return self.stop_reason

    async def _ensure_seed(self) -> None:
        if any(c.generation == 0 and c.slot == 0 for c in self.candidates.values()):
            return
        code = self.problem.seed_code
        cid = self.store.add_candidate(run_id=self.run_id, generation=0, slot=0, operator="seed", parent_ids=[],
                                       thought="the problem's seed heuristic", code=code, code_hash=code_hash(code),
                                       llm_call_key=None)
        self._remember(cid)
        await self._evaluate(cid, parents=[])

    async def _evaluate_pending(self) -> None:
        pending = [c for c in self.candidates.values() if c.status == "pending"]
        await asyncio.gather(*(self._evaluate(c.id, parents=c.parent_ids) for c in pending))

    def _remember(self, cid: str) -> CandidateRow:
        row = self.store.get_candidate(cid)
        self.candidates[cid] = row
        return row

    async def _ask(self, proposal, sample_index: int, messages: list[dict] | None = None):
        """One LLM call for a proposal; None when the budget or the provider stops it (recorded in stats)."""
        # Stopping at the end of the body skips text that on a CPU model costs as much time as the function itself
        # (16 % of the generated tokens of two 30-call TSP runs) and would be dropped anyway.
        stop = PREFILL_STOPS if proposal.prefix else None
        try:
            resp = await self.gateway.complete(
                model=self.config.model, messages=messages or proposal.messages, temperature=self.config.temperature,
                max_tokens=self.config.max_tokens, sample_index=sample_index, role="propose", stop=stop,
            )
        except BudgetExhausted as exc:
            self.stop_reason = self.stop_reason or str(exc)
            return None
        except LLMCallFailed:
            self.stats.llm_errors += 1
            self._failures_in_a_row += 1
            self.on_update(self.stats)
            if self._failures_in_a_row >= MAX_LLM_FAILURES_IN_A_ROW:
                raise  # the provider is down or misconfigured: stop, the run can be resumed later
            return None
        self._failures_in_a_row = 0
        if resp.cached:
            self.stats.cached_calls += 1
        else:
            self.stats.llm_calls += 1
            self.stats.prompt_tokens += resp.prompt_tokens
            self.stats.completion_tokens += resp.completion_tokens
            self.stats.cost_usd += resp.cost_usd
        return resp

    async def _slot(self, gen: int, slot: int, population: list[CandidateView], run_lessons: list[str]) -> None:
        if self._check_budgets():
            return
        rng = random.Random(f"{self.config.seed}-{gen}-{slot}")
        ctx = SlotContext(problem=self.problem, generation=gen, slot=slot, population=population, lessons=run_lessons,
                          rng=rng, prefill=self.config.use_prefill())
        proposal = self.strategy.propose(ctx)
        parent_ids = [p.id for p in proposal.parents]
        entry = self.problem.spec.entry
        for attempt in range(self.config.duplicate_retries + 1):
            # Each attempt has its own sample index, so its response is cached under its own key and a resumed
            # run replays the same attempts without paying again.
            sample_index = gen * SLOT_STRIDE + slot + attempt * DUPLICATE_STRIDE
            answer = await self._ask(proposal, sample_index,
                                     _ask_for_something_new(proposal.messages) if attempt else None)
            if answer is None:
                if attempt == 0:
                    return
                break  # the re-ask got no answer (budget, provider): record the duplicate already paid for
            resp = answer
            try:
                parsed = parse_response(resp.text, entry.name, entry.signature, prefix=proposal.prefix)
            except MalformedOutput as exc:
                cid = self.store.add_candidate(run_id=self.run_id, generation=gen, slot=slot, operator=proposal.operator,
                                               parent_ids=parent_ids, thought="", code=proposal.prefix + resp.text,
                                               code_hash=code_hash(resp.text), llm_call_key=resp.key, status="rejected",
                                               reject_reason=str(exc))
                self._finish_without_eval(cid, Outcome(status="rejected", error=f"unusable response: {exc}"))
                return
            digest = code_hash(parsed.code)
            twin = next((c for c in self.candidates.values() if c.code_hash == digest and c.status != "rejected"), None)
            if twin is None:
                break
            if attempt < self.config.duplicate_retries:
                self.stats.duplicate_retries += 1
                if self._check_budgets():
                    break
        cid = self.store.add_candidate(
            run_id=self.run_id, generation=gen, slot=slot, operator=proposal.operator, parent_ids=parent_ids,
            thought=parsed.thought, code=parsed.code, code_hash=digest, llm_call_key=resp.key,
            status="duplicate" if twin else "pending", reject_reason=f"duplicate of {twin.id}" if twin else None,
        )
        if twin:
            self._finish_without_eval(cid, Outcome(status="duplicate", error=f"same code as candidate {twin.id}"))
            return
        self._remember(cid)
        self.on_update(self.stats)
        await self._evaluate(cid, parents=parent_ids)

    def _finish_without_eval(self, cid: str, outcome: Outcome) -> None:
        row = self._remember(cid)
        self.store.add_feedback(self.run_id, cid, candidate_feedback(self.problem, row.thought, outcome, None, None))
        self._count(self._remember(cid))
        self.on_update(self.stats)

    async def _evaluate(self, cid: str, parents: list[str]) -> None:
        row = self.candidates[cid]
        results = await evaluate_sets(self.sandbox, self.problem, row.code, self.train_sets, self.eval_slots)
        for s, r in zip(self.train_sets, results):
            self.store.add_evaluation(cid, "train", s, r)
        outcome = outcome_from(self.train_sets, results)
        parent = self._reference(parents[0]) if parents else None
        best_row = self.best(before_generation=row.generation)  # not siblings: they finish in any order
        best = self._reference(best_row.id) if best_row else None
        self.store.finish_candidate(cid, status="evaluated", train_score=outcome.score, valid=outcome.valid)
        self.store.add_feedback(self.run_id, cid, candidate_feedback(self.problem, row.thought, outcome, parent, best))
        self.outcomes[cid] = outcome
        self._count(self._remember(cid))
        self.on_update(self.stats)

    def _reference(self, cid: str) -> Reference | None:
        row = self.candidates.get(cid)
        if row is None or cid not in self.outcomes:
            return None
        return Reference(id=cid, thought=row.thought, outcome=self.outcomes[cid])

    # -- held-out scoring ---------------------------------------------------------------
    async def score_test(self) -> dict[str, dict[str, float | None]]:
        """Re-score the best few (and the seed) on the test split; stored results are reused."""
        test_sets = self.problem.spec.splits.test
        if not test_sets:
            return {}
        seen: set[str] = set()
        chosen: list[CandidateRow] = []
        ranked = sorted((c for c in self.candidates.values() if c.valid),
                        key=lambda c: (self.problem.sort_key(c.train_score), c.generation, c.slot))
        for c in ranked:
            if c.code_hash not in seen and len(chosen) < self.config.test_top_k:
                seen.add(c.code_hash)
                chosen.append(c)
        seed = next((c for c in self.candidates.values() if c.operator == "seed"), None)
        if seed is not None and seed.valid and seed not in chosen:
            chosen.append(seed)

        async def one(c: CandidateRow) -> None:
            done = {e.instance_set for e in self.store.evaluations(c.id, "test")}
            todo = [s for s in test_sets if s not in done]
            if todo:
                results = await evaluate_sets(self.sandbox, self.problem, c.code, todo, self.eval_slots)
                for s, r in zip(todo, results):
                    self.store.add_evaluation(c.id, "test", s, r)

        await asyncio.gather(*(one(c) for c in chosen))
        out: dict[str, dict[str, float | None]] = {}
        for c in chosen:
            rows = {e.instance_set: e for e in self.store.evaluations(c.id, "test")}
            out[c.id] = {s: (rows[s].score if s in rows and rows[s].status == "ok" else None) for s in test_sets}
        return out
