"""The one evolutionary loop, generic over a Target: an operator builds a prompt from the archive -> the prompt is
persisted (a proposal) -> the LLM answers -> the target parses it -> duplicates are caught -> the target screens and
evaluates it -> directional feedback is stored -> the archive is updated -> the next prompts see it.

Two schedules share every step:
  steady        `llm_concurrency` proposals always in flight; an answer is evaluated as soon as it arrives (on the
                evaluator's capacity, so its LLM slot takes the next proposal at once) and the archive is updated as
                each evaluation finishes.
  generational  a generation's prompts are built from the earlier generations only, asked together, and the next
                generation starts when all of them are evaluated (reproducible prompts for a given seed).
Proposal i has a fixed (generation, slot) and sample_index in both, so its cache key is the same whichever schedule
asked it. Everything is in the store: a stopped, killed or crashed run resumes by re-issuing exactly the proposals
that have no candidate yet (their answers come from the gateway's response cache) and re-evaluating the candidates
that have no outcome yet."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

from discover.archives import ARCHIVES, Member
from discover.engine.crew import Crew
from discover.engine.llm import LLM
from discover.engine.stats import RunStats
from discover.errors import BudgetExhausted
from discover.events import EventBus
from discover.extract import MalformedOutput
from discover.feedback import Outcome, Reference, lessons
from discover.operators import CandidateView, Proposal, ProposeContext, get_operator, get_strategy, has_operator, render
from discover.operators.repair import REPAIRABLE
from discover.store import CandidateRow, Store

SLOT_STRIDE = 1000  # sample_index = generation * SLOT_STRIDE + slot: distinct cache keys for identical prompts
DUPLICATE_STRIDE = 100_000_000  # sample-index offset of a re-ask after a duplicate answer
SEED_OPERATORS = ("seed", "start")
SEED_SLOT_BASE = 900  # further seeds: generation 0, slots 901.. (outside the proposal layout)
REISSUE = ("pending", "answered", "failed")
LOOKAHEAD = 2  # steady schedule: prompts built ahead, waiting for an LLM slot  # proposals without a candidate: asked again on resume


@dataclass(frozen=True)
class Layout:
    """Proposal index <-> (generation, slot). Generation 0 holds the seed at slot 0 and, for targets that fill it,
    population - 1 proposals; every later generation holds `population` proposals."""

    population: int
    generations: int
    fills_first: bool

    @property
    def first(self) -> int:
        return self.population - 1 if self.fills_first else 0

    @property
    def last_generation(self) -> int:
        return self.generations - 1 if self.fills_first else self.generations

    @property
    def max_proposals(self) -> int:
        return self.first + self.last_generation * self.population

    def position(self, idx: int) -> tuple[int, int]:
        if idx < self.first:
            return 0, idx + 1
        k = idx - self.first
        return 1 + k // self.population, k % self.population

    def index(self, generation: int, slot: int) -> int:
        if generation == 0:
            return slot - 1
        return self.first + (generation - 1) * self.population + slot

    def indices(self, generation: int) -> range:
        if generation == 0:
            return range(self.first)
        start = self.first + (generation - 1) * self.population
        return range(start, start + self.population)


def ask_for_something_new(messages: list[dict]) -> list[dict]:
    """The proposal's messages with a note that the last answer repeated existing content (models tend to copy a
    parent verbatim, and a new sample of the same prompt often copies it again)."""
    out = [dict(m) for m in messages]
    user = max(i for i, m in enumerate(out) if m["role"] == "user")
    out[user]["content"] += "\n\n" + render("duplicate_retry.txt").strip()
    return out


class Loop:
    def __init__(self, *, store: Store, run_id: str, config: Any, target: Any, gateway: Any,
                 events: EventBus | None = None) -> None:
        from discover.targets.info import target_info

        self.store, self.run_id, self.config, self.target = store, run_id, config, target
        self.events = events or EventBus()
        self.stats = RunStats()
        # per-role budgets (a prompt target's task-model and optimizer calls), with what earlier sessions spent
        limits = target.call_limits() if hasattr(target, "call_limits") else {}
        self.llm = LLM(gateway, self.stats, on_change=self._budget_event, limits=limits,
                       used=target.spent_calls(store, run_id) if limits else None)
        if hasattr(target, "attach"):
            target.attach(self.llm)
        self.strategy = get_strategy(config.strategy)
        self.archive = ARCHIVES[config.archive](population=config.population)
        self.layout = Layout(config.population, config.generations, target.fills_first_generation)
        self.step_word = target_info(target.kind).step_word
        self.stop_reason: str | None = None
        # the wall clock: the config's, else the problem's own default ([search] timeout_s in problem.toml)
        problem = getattr(target, "problem", None)
        self.timeout_s = config.timeout_s if config.timeout_s is not None else (
            getattr(problem.spec.search, "timeout_s", None) if problem is not None else None)
        self.deadline = time.monotonic() + self.timeout_s if self.timeout_s else None
        self.prefill = config.use_prefill()
        self.candidates: dict[str, CandidateRow] = {}
        self.outcomes: dict[str, Outcome] = {}
        self.feedback: dict[str, str] = {}
        self._rendered: dict[str, str] = {}
        self.repairs_due: list[str] = []    # failed candidates waiting for their repair proposal
        self.done: set[int] = set()         # proposal indices with a candidate
        self.stored: dict[int, Any] = {}    # proposals persisted without a candidate (re-issued first)
        self.claimed: set[int] = set()      # indices taken by a proposal in flight
        self._build_lock = asyncio.Lock()
        self._eval_room: asyncio.Semaphore | None = None
        max_calls = config.max_llm_calls
        self.reserve_calls = target.test_reserve_calls(config.test_top_k)
        if max_calls is not None:
            self.reserve_calls = min(max_calls // 2, self.reserve_calls)
        self._load()
        from discover.engine.tuner import Tuner

        self.tuner = Tuner(self)  # numeric tuning beside the proposals (config.tune_budget > 0)

    # -- state derived from the store ---------------------------------------------------------------------------
    def _load(self) -> None:
        for c in self.store.candidates(self.run_id):
            self.candidates[c.id] = c
            fb = self.store.feedback_for(c.id)
            if fb:
                self.feedback[c.id] = fb
            if c.status == "evaluated":
                self.outcomes[c.id] = self.target.outcome_from_rows(self.store.evaluations(c.id, "train"))
                self._add_to_archive(c, save=False)
            self._count(c)
            if c.operator not in (*SEED_OPERATORS, "tune"):  # tuned children live outside the proposal layout
                self.done.add(self.layout.index(c.generation, c.slot))
        for p in self.store.proposals(self.run_id):
            if p.candidate_id is None and p.status in REISSUE and p.idx not in self.done:
                self.stored[p.idx] = p
            elif p.candidate_id is not None:
                self.done.add(p.idx)
        # a failure is repaired once: by a repair candidate, or by a stored repair proposal about to be re-issued
        repaired = {c.parent_ids[0] for c in self.candidates.values() if c.operator == "repair" and c.parent_ids}
        repaired |= {p.parent_ids[0] for p in self.stored.values() if p.operator == "repair" and p.parent_ids}
        self.repairs_due = [c.id for c in sorted(self.candidates.values(), key=lambda c: (c.generation, c.slot))
                            if self._repairable(c) and c.id not in repaired]
        state = self.store.load_archive_state(self.run_id)
        if state:
            self.archive.load(state)
        totals = self.store.run_llm_totals(self.run_id)
        self.stats.llm_calls = int(totals["calls"])
        self.stats.prompt_tokens = int(totals["prompt_tokens"])
        self.stats.completion_tokens = int(totals["completion_tokens"])
        self.stats.cost_usd = float(totals["cost_usd"])
        self.stats.proposals = len(self.done)
        if self.candidates:
            self.stats.generation = max(c.generation for c in self.candidates.values())

    def _count(self, c: CandidateRow) -> None:
        s = self.stats
        if c.status == "evaluated":
            if c.valid:
                s.valid += 1
                if c.operator in SEED_OPERATORS:
                    s.seed_score = c.train_score
                if self.target.better(c.train_score, s.best_score):
                    s.best_score, s.best_id = c.train_score, c.id
            elif c.reject_reason and c.reject_reason.startswith("screened out"):
                s.screened_out += 1
            else:
                s.invalid += 1
        elif c.status == "rejected":
            s.rejected += 1
        elif c.status == "duplicate":
            s.duplicates += 1
        if c.operator == "repair":
            s.repairs += 1

    def _member(self, c: CandidateRow) -> Member:
        o = self.outcomes.get(c.id)
        return Member(id=c.id, fingerprint=c.code_hash, score=c.train_score, valid=c.valid, generation=c.generation,
                      slot=c.slot, sort_key=self.target.sort_key(c.train_score),
                      meta={"parent_ids": list(c.parent_ids), **(getattr(c, "meta", {}) or {})},  # islands follow parents
                      instances=dict(o.instances) if o is not None and o.valid else {})

    def _add_to_archive(self, c: CandidateRow, save: bool = True) -> None:
        self.archive.add(self._member(c))
        if save:
            self.store.save_archive_state(self.run_id, self.archive.state())

    def _repairable(self, c: CandidateRow) -> bool:
        o = self.outcomes.get(c.id)
        return (self.config.use_repair() and c.status == "evaluated" and not c.valid and o is not None
                and o.status in REPAIRABLE and c.operator not in ("repair", *SEED_OPERATORS)
                and has_operator("repair", self.target.kind))

    def _view(self, cid: str) -> CandidateView:
        c = self.candidates[cid]
        if cid not in self._rendered:  # rendering parses the code: once per candidate, not once per prompt
            self._rendered[cid] = self.target.render(c.code)
        return CandidateView(id=c.id, thought=c.thought, code=self._rendered[cid], score=c.train_score,
                             generation=c.generation, feedback=self.feedback.get(c.id), outcome=self.outcomes.get(c.id))

    def _eligible(self, generation: int):
        """Generational: only earlier generations (the prompt does not depend on which sibling finished first)."""
        if self.config.schedule == "generational":
            return lambda m: m.generation < generation
        return None

    def _lessons(self, generation: int) -> list[str]:
        gen_ok = (lambda c: c.generation < generation) if self.config.schedule == "generational" else (lambda c: True)
        earlier = sorted((c for c in self.candidates.values() if gen_ok(c)), key=lambda c: (c.generation, c.slot))
        return lessons([self.feedback[c.id] for c in earlier if c.id in self.feedback])

    def best(self) -> CandidateRow | None:
        m = self.archive.best()
        return self.candidates[m.id] if m else None

    def seed_row(self) -> CandidateRow | None:
        """The first seed (slot 0): the reference every run reports against."""
        seeds = [c for c in self.candidates.values() if c.operator in SEED_OPERATORS and c.generation == 0]
        return min(seeds, key=lambda c: c.slot, default=None)

    # -- events -------------------------------------------------------------------------------------------------
    def _emit(self, kind: str, **data: Any) -> None:
        self.events.emit(kind, self.run_id, **data)

    def _phase(self, text: str, slot: int | None = None) -> None:
        """slot: the proposal index the phase belongs to (None: the run itself); "" marks it idle."""
        if text:
            self.stats.phase = text
        self._emit("phase", slot=slot, phase=text or None)

    def _budget_event(self) -> None:
        c = self.config
        self._emit("budget", llm_calls=self.stats.llm_calls, max_llm_calls=c.max_llm_calls, cost_usd=self.stats.cost_usd,
                   max_cost_usd=c.max_cost_usd, elapsed_s=self.stats.elapsed_s, timeout_s=self.timeout_s,
                   proposals=self.stats.proposals, max_proposals=self.layout.max_proposals)

    def _candidate_event(self, c: CandidateRow, outcome: Outcome | None, parent_score: float | None) -> None:
        score = c.train_score
        delta = score - parent_score if score is not None and parent_score is not None else None
        error = outcome.error if outcome is not None and not outcome.valid else c.reject_reason
        self._emit("candidate", id=c.id, operator=c.operator, status=c.status if not (c.status == "evaluated" and not c.valid)
                   else (outcome.status if outcome else "invalid"), score=score, parent_score=parent_score, delta=delta,
                   error=(error or "")[:120] or None, is_best=self.stats.best_id == c.id)

    # -- stopping -----------------------------------------------------------------------------------------------
    def _check_budgets(self) -> bool:
        if self.stop_reason:
            return True
        c = self.config
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stop_reason = f"wall-clock timeout of {self.timeout_s:g} s reached"
        elif c.max_llm_calls is not None and self.stats.llm_calls + self.reserve_calls >= c.max_llm_calls:
            self.stop_reason = f"LLM call budget of {c.max_llm_calls} reached" + (
                f" ({self.reserve_calls} kept for held-out scoring)" if self.reserve_calls else "")
        elif spent := [r for r in self.llm.limits if r != self.target.propose_role and self.llm.limit_reached(r)]:
            # a spent proposing role stops the run at its next call instead: operators without an LLM may go on
            self.stop_reason = f"{spent[0]} call budget of {self.llm.limits[spent[0]]} reached"
        elif c.max_cost_usd is not None:
            kept = min(self.llm.mean_cost * self.reserve_calls, c.max_cost_usd / 2)
            if self.stats.cost_usd + kept >= c.max_cost_usd:
                self.stop_reason = f"cost budget of ${c.max_cost_usd:g} reached" + (
                    f" (${kept:.4f} kept for held-out scoring)" if kept else "")
        return self.stop_reason is not None

    def _stop(self, reason: str) -> None:
        self.stop_reason = self.stop_reason or reason

    # -- the run ------------------------------------------------------------------------------------------------
    async def run(self) -> str:
        await self._ensure_seed()
        pending = [c.id for c in self.candidates.values() if c.status == "pending"]
        if pending:
            self._phase(f"evaluating {len(pending)} candidates left pending")
            await asyncio.gather(*(self._evaluate(cid) for cid in pending))
        crew = Crew()
        watchdog = asyncio.create_task(self._watchdog(crew)) if self.deadline is not None else None
        self.tuner.resume()
        try:
            if self.config.schedule == "steady":
                await self._steady(crew)
            else:
                await self._generational(crew)
            self._phase("waiting for tunings in flight" if self.tuner.tasks else "search done")
            await self.tuner.drain()
        finally:
            if watchdog is not None:
                watchdog.cancel()
            self.tuner.cancel()
        if self.stop_reason is None:
            self.stop_reason = f"all {self.config.generations} {self.step_word}s done"
        self._phase("search done")
        return self.stop_reason

    async def _watchdog(self, crew: Crew) -> None:
        """The wall clock is a hard bound: at the deadline every LLM call and evaluation in flight is cancelled
        (their proposals and candidates stay pending in the store, for a resume)."""
        await asyncio.sleep(max(0.0, self.deadline - time.monotonic()))
        self._stop(f"wall-clock timeout of {self.timeout_s:g} s reached")
        crew.cancel_all()
        self.tuner.cancel()

    async def _steady(self, crew: Crew) -> None:
        n = self.config.llm_concurrency
        # Answers wait for the evaluator at most this deep, so proposals are not built from a stale archive.
        self._eval_room = asyncio.Semaphore(max(1, getattr(self.target, "capacity", 1)) + n + LOOKAHEAD)
        # LOOKAHEAD more workers than LLM slots: their prompts are built and wait at the gateway's limit of n calls,
        # so a freed slot is taken at once instead of after the next prompt is built (at most one answer's staleness).
        for _ in range(n + LOOKAHEAD):
            crew.spawn(self._worker(crew))
        await crew.join()

    async def _worker(self, crew: Crew) -> None:
        while True:
            await self._eval_room.acquire()
            idx = self._claim_next()
            if idx is None:
                self._eval_room.release()
                return
            try:
                cid = await self._propose_and_record(idx)
            except BaseException:
                self._eval_room.release()
                raise
            if cid is None:
                self._eval_room.release()
                continue
            crew.spawn(self._evaluate_then_release(cid))

    async def _evaluate_then_release(self, cid: str) -> None:
        try:
            await self._evaluate(cid)
        finally:
            self._eval_room.release()

    def _claim_next(self) -> int | None:
        if self._check_budgets():
            return None
        for idx in sorted(self.stored):
            if idx not in self.claimed:
                self.claimed.add(idx)
                return idx
        for idx in range(self.layout.max_proposals):
            if idx not in self.done and idx not in self.claimed:
                self.claimed.add(idx)
                return idx
        return None

    async def _generational(self, crew: Crew) -> None:
        for gen in range(self.layout.last_generation + 1):
            todo = [i for i in self.layout.indices(gen) if i not in self.done]
            if not todo:
                continue
            if self._check_budgets():
                return
            self.stats.generation = gen
            built: list[tuple[int, Any]] = []
            for idx in todo:  # every prompt of the generation first, from the earlier generations only
                job = await self._job_for(idx)
                if job is None or self.stop_reason:
                    break
                built.append((idx, job))
            for idx, job in built:
                crew.spawn(self._ask_then_evaluate(idx, job))
            await crew.join()
            if self.stop_reason:
                return

    async def _ask_then_evaluate(self, idx: int, job: Any) -> None:
        cid = await self._record_answer(idx, job)
        if cid is not None:
            await self._evaluate(cid)

    # -- proposals ----------------------------------------------------------------------------------------------
    async def _propose_and_record(self, idx: int) -> str | None:
        async with self._build_lock:  # one builder at a time: operators read the archive, reflections are paid once
            job = await self._job_for(idx)
        if job is None:
            return None
        return await self._record_answer(idx, job)

    async def _job_for(self, idx: int) -> Any:
        """The stored proposal for idx, or a new one built now and persisted before its call."""
        if idx in self.stored:
            return self.stored.pop(idx)
        gen, slot = self.layout.position(idx)
        self.stats.generation = max(self.stats.generation, gen)
        eligible = self._eligible(gen)
        rng = random.Random(f"{self.config.seed}-{gen}-{slot}")
        parents: list[CandidateView] = []
        if self.repairs_due and has_operator("repair", self.target.kind):
            op = get_operator("repair", self.target.kind)
            failed = min(self.repairs_due, key=lambda cid: (self.candidates[cid].generation, self.candidates[cid].slot))
            self.repairs_due.remove(failed)
            parents = [self._view(failed)]
        else:
            n_members = len(self.archive.population_members(eligible)) if hasattr(self.archive, "population_members") \
                else len(self.archive.members(eligible))
            op = get_operator(self.strategy.operator_for(gen, slot, n_members), self.target.kind)
            parents = [self._view(m.id) for m in self.archive.sample(op.parents, rng, eligible)] if op.parents else []
        members = [self._view(m.id) for m in self.archive.members(eligible)]
        best = self.archive.best(eligible)
        ctx = ProposeContext(target=self.target, generation=gen, slot=slot, members=members,
                             lessons=self._lessons(gen), rng=rng, prefill=self.prefill, llm=self.llm, archive=self.archive,
                             parents=parents, best=self._view(best.id) if best else None, config=self.config,
                             store=self.store, run_id=self.run_id)
        self._phase(f"building {op.name} prompt", idx)
        try:
            proposal: Proposal = await op.propose(ctx)
        except BudgetExhausted as exc:
            self._stop(str(exc))
            return None
        if self._check_budgets():
            return None
        if proposal.content is not None:
            return proposal  # an operator that needs no LLM
        stop = proposal.stop if proposal.stop is not None else self.target.stop_sequences(proposal.prefix)
        meta = {"generation": gen, "slot": slot, "stop": stop, **proposal.meta}
        job = _Stored(idx=idx, operator=proposal.operator, parent_ids=[p.id for p in proposal.parents],
                      messages=proposal.messages, prefix=proposal.prefix or None, sample_index=gen * SLOT_STRIDE + slot,
                      model=self.target.model, meta=meta)
        self.store.add_proposal(self.run_id, idx, operator=job.operator, parent_ids=job.parent_ids, messages=job.messages,
                                prefix=job.prefix, sample_index=job.sample_index, model=job.model, meta=meta)
        return job

    async def _record_answer(self, idx: int, job: Any) -> str | None:
        """Ask (with re-asks after duplicates), parse, record the candidate. -> its id if it needs evaluating."""
        gen, slot = self.layout.position(idx)
        if isinstance(job, Proposal):  # no LLM: the content is ready
            return self._new_candidate(idx, gen, slot, job.operator, [p.id for p in job.parents], job.thought, job.content,
                                       None, meta=job.meta)
        operator, parent_ids, messages = job.operator, list(job.parent_ids), job.messages
        prefix, meta = job.prefix or "", dict(job.meta)
        stop = meta.get("stop")
        self.stats.in_flight += 1
        self._phase(f"asking the model ({operator})", idx)
        try:
            resp = parsed = twin = digest = None
            for attempt in range(self.config.duplicate_retries + 1):
                # Each attempt has its own sample index, so its response is cached under its own key and a resumed
                # run replays the same attempts without paying again.
                try:
                    answer = await self.llm.complete(
                        model=job.model, messages=ask_for_something_new(messages) if attempt else messages,
                        temperature=self.target.temperature, max_tokens=self.target.max_tokens,
                        sample_index=job.sample_index + attempt * DUPLICATE_STRIDE, role=self.target.propose_role,
                        stop=stop)
                except BudgetExhausted as exc:
                    self._stop(str(exc))
                    answer = None
                if answer is None:
                    if attempt == 0:
                        self.store.finish_proposal(self.run_id, idx, status="failed")
                        return None
                    break  # the re-ask got no answer (budget, provider): record the duplicate already paid for
                resp = answer
                if attempt == 0:
                    self.store.finish_proposal(self.run_id, idx, status="answered")
                try:
                    parsed = self.target.parse(resp.text, prefix=prefix)
                except MalformedOutput as exc:
                    cid = self._new_candidate(idx, gen, slot, operator, parent_ids, "", prefix + resp.text, resp.key,
                                              status="rejected", reason=str(exc),
                                              digest=self.target.fingerprint(resp.text), meta=meta)
                    self._finish_without_eval(cid, Outcome(status="rejected", error=f"unusable response: {exc}"))
                    return None
                digest = self.target.fingerprint(parsed.content)
                twin = next((c for c in self.candidates.values() if c.code_hash == digest and c.status != "rejected"), None)
                if twin is None:
                    break
                if attempt < self.config.duplicate_retries:
                    self.stats.duplicate_retries += 1
                    if self._check_budgets():
                        break
        finally:
            self.stats.in_flight -= 1
            self._phase("", idx)
        self.stats.proposals += 1
        if twin is not None:
            cid = self._new_candidate(idx, gen, slot, operator, parent_ids, parsed.thought, parsed.content, resp.key,
                                      status="duplicate", reason=f"duplicate of {twin.id}", digest=digest, meta=meta)
            self._finish_without_eval(cid, Outcome(status="duplicate", error=f"same content as candidate {twin.id}"))
            return None
        return self._new_candidate(idx, gen, slot, operator, parent_ids, parsed.thought, parsed.content, resp.key,
                                   digest=digest, meta=meta)

    def _new_candidate(self, idx: int, gen: int, slot: int, operator: str, parent_ids: list[str], thought: str,
                       content: str, key: str | None, *, status: str = "pending", reason: str | None = None,
                       digest: str | None = None, meta: dict | None = None) -> str:
        keep = {k: v for k, v in (meta or {}).items() if k not in ("generation", "slot", "stop")}
        cid = self.store.add_candidate(run_id=self.run_id, generation=gen, slot=slot, operator=operator,
                                       parent_ids=parent_ids, thought=thought, code=content,
                                       code_hash=digest or self.target.fingerprint(content), llm_call_key=key,
                                       status=status, reject_reason=reason, meta=keep)
        if key is not None:
            self.store.finish_proposal(self.run_id, idx, status="done", candidate_id=cid)
        self.done.add(idx)
        self.claimed.discard(idx)
        # the row as stored, without reading it back (a lookup by id prefix scans the whole table)
        self.candidates[cid] = CandidateRow(
            id=cid, run_id=self.run_id, generation=gen, slot=slot, operator=operator, parent_ids=list(parent_ids),
            thought=thought, code=content, code_hash=digest or self.target.fingerprint(content), llm_call_key=key,
            status=status, reject_reason=reason, train_score=None, valid=False, created_at=time.time(), meta=keep)
        return cid

    def _finish_without_eval(self, cid: str, outcome: Outcome) -> None:
        row = self.candidates[cid]
        text = self.target.feedback(row.thought, outcome, None, None)
        self.store.add_feedback(self.run_id, cid, text)
        self.feedback[cid] = text
        self._count(row)
        self._candidate_event(row, outcome, None)

    # -- evaluation ---------------------------------------------------------------------------------------------
    async def _ensure_seed(self) -> None:
        """Every seed the target has (a problem's seed.py, then its seeds/*.py priors) is scored before the search:
        every comparison starts from them. The first sits at slot 0, the others at SEED_SLOT_BASE + i."""
        seeds = self.target.seeds() if hasattr(self.target, "seeds") else [self.target.seed()]
        have = {c.slot for c in self.candidates.values() if c.generation == 0 and c.operator in SEED_OPERATORS}
        new = []
        for i, seed in enumerate(seeds):
            slot = 0 if i == 0 else SEED_SLOT_BASE + i
            if slot in have:
                continue
            cid = self.store.add_candidate(run_id=self.run_id, generation=0, slot=slot, operator=seed.operator,
                                           parent_ids=[], thought=seed.thought, code=seed.content,
                                           code_hash=self.target.fingerprint(seed.content), llm_call_key=None)
            self.candidates[cid] = self.store.get_candidate(cid)
            new.append(cid)
        if new:
            self._phase("evaluating the seed" if len(new) == 1 else f"evaluating {len(new)} seeds")
            await asyncio.gather(*(self._evaluate(cid, deadline=None) for cid in new))

    def _store_rows(self, cid: str, split: str, rows: list[tuple[str, Any]]) -> bool:
        """False (nothing stored) when the deadline cancelled part of it: the candidate stays pending, and a resume
        evaluates it (each (candidate, split, set) is recorded once, so a cancelled row must not be)."""
        if any(getattr(r, "status", None) == "cancelled" for _, r in rows):
            return False
        for instance_set, result in rows:
            self.store.add_evaluation(cid, split, instance_set, result)
        return True

    def _reference(self, cid: str | None) -> Reference | None:
        if cid is None or cid not in self.outcomes or cid not in self.candidates:
            return None
        return Reference(id=cid, thought=self.candidates[cid].thought, outcome=self.outcomes[cid])

    async def _evaluate(self, cid: str, deadline: Any = "run") -> None:
        row = self.candidates[cid]
        deadline = self.deadline if deadline == "run" else deadline
        gen_ok = self._eligible(row.generation)
        best_member = self.archive.best(gen_ok)
        best_outcome = self.outcomes.get(best_member.id) if best_member else None
        key = None if row.operator in (*SEED_OPERATORS, "tune") else self.layout.index(row.generation, row.slot)
        self.stats.evaluating += 1
        self._phase(f"evaluating {cid}", key)
        try:
            stage = None
            if row.operator not in SEED_OPERATORS:
                stage = await self.target.screen(row.code, best=best_outcome, deadline=deadline)
            if stage is not None:
                if not self._store_rows(cid, "train", stage.rows):
                    return
                if stage.fatal or not stage.outcome.valid or stage.verdict:
                    self._finish(cid, stage.outcome, best_member, verdict=stage.verdict, fatal=stage.fatal)
                    return
            full = await self.target.evaluate(row.code, split="train", prior=stage, deadline=deadline)
            if not self._store_rows(cid, "train", full.rows):
                return
            self._finish(cid, full.outcome, best_member, fatal=full.fatal)
        except BudgetExhausted as exc:
            self._stop(str(exc))  # the candidate stays pending: a resume evaluates it
        finally:
            self.stats.evaluating -= 1
            self._phase("", key)

    def _finish(self, cid: str, outcome: Outcome, best_member: Member | None, *, verdict: str | None = None,
                fatal: str | None = None) -> None:
        row = self.candidates[cid]
        parent = self._reference(row.parent_ids[0]) if row.parent_ids else None
        best = self._reference(best_member.id) if best_member and best_member.id != cid else None
        valid = outcome.valid and verdict is None
        self.store.finish_candidate(cid, status="evaluated", train_score=outcome.score if outcome.valid else None,
                                    valid=valid, reject_reason=verdict or fatal)
        text = self.target.feedback(row.thought, outcome, parent, best)
        self.store.add_feedback(self.run_id, cid, text)
        self.feedback[cid] = text
        self.outcomes[cid] = outcome
        row = self.candidates[cid] = row.model_copy(update=dict(
            status="evaluated", train_score=outcome.score if outcome.valid else None, valid=valid,
            reject_reason=verdict or fatal))
        self._count(row)
        self._add_to_archive(row)
        self.tuner.consider(row)
        if self._repairable(row):
            self.repairs_due.append(cid)
        if fatal:
            self._stop(fatal)
        self._candidate_event(row, outcome, parent.outcome.score if parent else None)

    # -- held-out scoring ---------------------------------------------------------------------------------------
    def test_choice(self) -> list[CandidateRow]:
        chosen = [self.candidates[m.id] for m in self.archive.members() if m.valid][: self.config.test_top_k]
        seed = self.seed_row()
        if seed is not None and seed.valid and seed.id not in {c.id for c in chosen}:
            chosen.append(seed)
        return chosen

    async def score_test(self) -> dict[str, dict[str, float | None]]:
        """Re-score the best few (and the seed) on the test split, within test_timeout_s; stored results are reused."""
        sets = self.target.test_sets
        chosen = self.test_choice() if sets else []
        if not chosen:
            return {}
        done = {"n": 0}
        self._phase(f"scoring {len(chosen)} candidates on the held-out test split")

        async def one(c: CandidateRow) -> None:
            have = {e.instance_set for e in self.store.evaluations(c.id, "test")}
            todo = [s for s in sets if s not in have]
            if todo:
                try:
                    stage = await self.target.evaluate(c.code, split="test", sets=todo, deadline=test_deadline)
                except BudgetExhausted:
                    return
                self._store_rows(c.id, "test", stage.rows)
            done["n"] += 1
            self._emit("test_scoring", done=done["n"], total=len(chosen), candidate=c.id)

        limit = self.config.test_timeout_s
        test_deadline = time.monotonic() + limit if limit else None
        try:
            await asyncio.wait_for(asyncio.gather(*(one(c) for c in chosen)), timeout=limit)
        except asyncio.TimeoutError:
            self._phase(f"held-out scoring stopped at its limit of {limit:g} s")
        out: dict[str, dict[str, float | None]] = {}
        for c in chosen:
            rows = {e.instance_set: e for e in self.store.evaluations(c.id, "test")}
            out[c.id] = {s: (rows[s].score if s in rows and rows[s].status == "ok" else None) for s in sets}
        self._phase("done")
        return out


@dataclass
class _Stored:
    """A proposal persisted in this session: the fields of a stored ProposalRow that the loop reads."""

    idx: int
    operator: str
    parent_ids: list[str]
    messages: list[dict]
    prefix: str | None
    sample_index: int
    model: str
    meta: dict
