"""The `tune` operator in the loop: numeric tuning of a good candidate's constants on the evaluator's idle capacity,
with no LLM call (LLaMEA-HPO, van Stein et al. 2024, is the precedent; the search is discover.tuning_search).

When a valid code candidate enters the archive's top `tune_top` and has 1..12 liftable constants, a tuning job
starts beside the LLM proposals: CMA-ES over its constants, scored on every 4th train instance first ("screen")
and the best few confirmed on the whole train split ("full"). Only the train split is ever used. If it beats its
parent, the tuned code becomes a child (operator "tune", parameters in meta) evaluated like any other candidate.
Every point scored is kept in the parent's meta (`tuning.known`), so a resumed run re-evaluates none of them."""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

from discover.errors import DiscoverError

MAX_PARAMS = 12
SAVE_EVERY = 5
TUNE_SLOT_BASE = 500  # tuned children live in their parent's generation at slots 500+ (outside the proposal layout)


class Tuner:
    def __init__(self, loop: Any) -> None:
        self.loop = loop
        cfg = loop.config
        budget = getattr(cfg, "tune_budget", None)
        if budget is None:  # the problem's own default ([search] tune_budget in problem.toml)
            problem = getattr(loop.target, "problem", None)
            budget = problem.spec.search.tune_budget if problem is not None else 0
        self.budget = int(budget or 0)
        self.top = int(getattr(cfg, "tune_top", 3) or 0)
        self.enabled = self.budget > 0 and self.top > 0 and loop.target.kind == "code" \
            and hasattr(loop.target, "evaluator")
        self.tasks: set[asyncio.Task] = set()
        self.started: set[str] = set()
        self._screen_ids: dict[str, list[str]] | None = None
        self.error: DiscoverError | None = None  # a problem's failure inside a tuning: stops the run at drain()

    def resume(self) -> None:
        """Restart the tunings a stopped run left half done (their scored points come from meta)."""
        if not self.enabled:
            return
        for c in list(self.loop.candidates.values()):
            t = (c.meta or {}).get("tuning")
            if t and not t.get("done"):
                self._start(c.id)
            elif t:
                self.started.add(c.id)

    def consider(self, row: Any) -> None:
        """Called when a candidate's outcome is recorded."""
        if not self.enabled or not row.valid or row.operator == "tune" or row.id in self.started:
            return
        if (row.meta or {}).get("tuning"):
            self.started.add(row.id)
            return
        top = [m.id for m in self.loop.archive.members() if m.valid][: self.top]
        if row.id in top:
            self._start(row.id)

    def _start(self, cid: str) -> None:
        from discover.tuning import TuningError, lift_constants

        row = self.loop.candidates[cid]
        try:
            template = lift_constants(row.code, self.loop.target.problem.spec.entry.signature)
        except TuningError:
            template = None
        self.started.add(cid)
        if template is None or not 1 <= len(template.params) <= MAX_PARAMS:
            self.loop.store.set_candidate_meta(cid, {"tuning": {"done": True, "skipped": "no tunable constants"
                                                                if template is None or not template.params
                                                                else f"{len(template.params)} constants (> {MAX_PARAMS})"}})
            return
        task = asyncio.ensure_future(self._run(cid, template))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _screen(self) -> dict[str, list[str]]:
        if self._screen_ids is None:
            ev = self.loop.target.evaluator
            out = {}
            for s in self.loop.target.train_sets:
                _, ids = await asyncio.to_thread(ev.judge.payload, s)
                out[s] = ids[::4] or ids
            self._screen_ids = out
        return self._screen_ids

    async def _run(self, cid: str, template: Any) -> None:
        from discover.evaluation import outcome_from
        from discover.tuning_search import known_from, tune

        loop, target = self.loop, self.loop.target
        row = loop.candidates[cid]
        meta = dict((row.meta or {}).get("tuning") or {})
        known_rows: list = list(meta.get("known") or [])
        sign = 1.0 if target.direction == "minimize" else -1.0
        screen_ids = await self._screen()
        seed = int(meta.get("seed", zlib.crc32(f"{loop.config.seed}-{cid}".encode())))
        fresh = 0

        async def objective(values: tuple, fidelity: str) -> float | None:
            nonlocal fresh
            code = template.render(values)
            results = await target.evaluator.evaluate(
                code, target.train_sets, split="train", deadline=loop.deadline,
                instance_ids=screen_ids if fidelity == "screen" else None)
            if any(r.status == "cancelled" for r in results):
                raise asyncio.CancelledError
            outcome = outcome_from(target.train_sets, results)
            score = sign * outcome.score if outcome.valid else None
            known_rows.append([list(values), fidelity, score])
            loop.stats.tune_evaluations += 1
            fresh += 1
            if fresh % SAVE_EVERY == 0:
                loop.store.set_candidate_meta(cid, {"tuning": {"seed": seed, "known": known_rows, "done": False}})
            return score

        loop.store.set_candidate_meta(cid, {"tuning": {"seed": seed, "known": known_rows, "done": False}})
        loop._phase(f"tuning {cid} ({len(template.params)} constants)")
        try:
            result = await tune(template, objective, budget=self.budget, seed=seed, concurrency=target.capacity,
                                original_score=sign * row.train_score, known=known_from(known_rows), signs="free")
        except asyncio.CancelledError:
            loop.store.set_candidate_meta(cid, {"tuning": {"seed": seed, "known": known_rows, "done": False}})
            return
        except DiscoverError as exc:  # e.g. the problem's trusted side failed, or a budget too small to tune
            from discover.tuning_search import TuningBudgetError

            loop.store.set_candidate_meta(cid, {"tuning": {"seed": seed, "known": known_rows, "done": True,
                                                           "skipped": exc.message}})
            if not isinstance(exc, TuningBudgetError):
                self.error = self.error or exc
                loop._stop(exc.message)
            return
        done = {"seed": seed, "known": known_rows, "done": True, "improved": bool(result.improved)}
        if not result.improved:
            loop.store.set_candidate_meta(cid, {"tuning": done})
            return
        child = loop.store.add_candidate(
            run_id=loop.run_id, generation=row.generation, slot=TUNE_SLOT_BASE + len(
                [c for c in loop.candidates.values() if c.generation == row.generation and c.slot >= TUNE_SLOT_BASE]),
            operator="tune", parent_ids=[cid], thought=f"{row.thought} (constants tuned: "
            f"{', '.join(f'{k}={v:.4g}' for k, v in result.params.items())})".strip(),
            code=result.best_code, code_hash=target.fingerprint(result.best_code), llm_call_key=None,
            meta={"tune": result.meta()})
        done["child"] = child
        loop.store.set_candidate_meta(cid, {"tuning": done})
        loop.candidates[child] = loop.store.get_candidate(child)
        loop.candidates[cid] = loop.store.get_candidate(cid)
        await loop._evaluate(child)

    async def drain(self) -> None:
        """Wait for the tunings in flight (the search is over: they may finish before held-out scoring)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        if self.error is not None:
            raise self.error

    def cancel(self) -> None:
        for t in list(self.tasks):
            t.cancel()
