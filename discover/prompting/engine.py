"""Prompt optimization: OPRO (Yang et al., "Large Language Models as Optimizers", ICLR 2024) over instruction texts,
plus directional feedback on the best instruction's failures (in the spirit of Trace/OptoPrime, Cheng et al. 2024,
and GEPA's reflection, Agrawal et al. 2025). Same run store, budgets and review tooling as `discover evolve`:
candidates.code holds the instruction, runs.kind = 'prompt', runs.problem = 'prompt:TASK'.

Per step: one meta-prompt (top-k earlier instructions with their train accuracy ascending, best last; a few train
exemplars; the best's wrong answers and an optimizer-written analysis of why) -> several proposals (one optimizer
call each, distinct sample_index) -> each persisted, then scored on a fixed train minibatch -> only those at least
as good as the best's minibatch score are scored on the full train split. The best few are re-scored on the
held-out test split at the end. Task-model calls use temperature 0 and sample_index 0, so an (instruction, example)
answer is cached by the gateway: a resumed or repeated run re-pays nothing."""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field

from discover.errors import BudgetExhausted, LLMCallFailed, StoreError
from discover.llm.providers import handles_prefill
from discover.prompting.datasets import Example, PromptTask, load_task
from discover.prompting.scorers import BatchScore, LabelScorer, Scorer
from discover.store import CandidateRow, Store
from discover.strategies.base import render

SLOT_STRIDE = 1000
DEFAULT_TASK_MODEL = "local/qwen2.5-coder-0.5b"


class PromptConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str | None = None              # built-in name or JSONL path
    train_file: str | None = None
    test_file: str | None = None
    test_fraction: float = Field(0.5, gt=0, lt=1)  # for a single JSONL file
    max_train: int | None = Field(None, ge=1)      # subsample the splits (cost control)
    max_test: int | None = Field(None, ge=1)
    task_model: str = DEFAULT_TASK_MODEL
    optimizer_model: str = DEFAULT_TASK_MODEL
    api_base: str | None = None
    scorer: str | None = None            # exact | contains | numeric | choice | regex:P | path.py (default: the task's)
    labels: list[str] | None = None      # for the choice and label scorers (default: the task's)
    start: str = ""                      # the starting instruction
    steps: int = Field(5, ge=0)
    candidates_per_step: int = Field(4, ge=1)
    top_k: int = Field(8, ge=1)          # earlier instructions shown in the meta-prompt
    exemplars: int = Field(3, ge=0)      # train examples shown in the meta-prompt
    minibatch: int = Field(10, ge=1)     # screen new instructions on this many train examples first
    screen_margin: float = Field(0.0, ge=0)  # promote if minibatch score >= best's minibatch score - margin
    feedback: bool = True                # show the best's failures + an optimizer-written analysis
    feedback_failures: int = Field(3, ge=0)
    optimizer_temperature: float = Field(1.0, ge=0, le=2)
    optimizer_max_tokens: int = Field(200, gt=0)
    task_max_tokens: int | None = Field(None, gt=0)  # default: the task's
    max_instruction_chars: int = Field(1500, gt=0)
    llm_concurrency: int = Field(2, ge=1)
    llm_timeout_s: float = Field(180, gt=0)
    max_llm_calls: int | None = Field(None, ge=0)    # task-model and optimizer calls together
    max_cost_usd: float | None = Field(None, ge=0)
    timeout_s: float | None = Field(None, gt=0)      # wall clock for the search in this invocation
    test_top_k: int = Field(3, ge=1)
    seed: int = 0
    sandbox: str = "auto"                # for a user scorer
    scorer_timeout_s: float = Field(60, gt=0)

    def load_task(self) -> PromptTask:
        return load_task(self.task, train_file=self.train_file, test_file=self.test_file, seed=self.seed,
                         test_fraction=self.test_fraction, max_train=self.max_train, max_test=self.max_test)


@dataclass
class PromptStats:
    step: int = 0
    best_score: float | None = None      # train accuracy of the best instruction
    best_id: str | None = None
    start_score: float | None = None
    candidates: int = 0
    promoted: int = 0                    # scored on the full train split
    screened_out: int = 0                # stopped after the minibatch
    rejected: int = 0
    duplicates: int = 0
    llm_calls: int = 0                   # paid calls (task + optimizer)
    task_calls: int = 0
    optimizer_calls: int = 0
    cached_calls: int = 0
    llm_errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    phase: str = "starting"
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    # the names the lead's evolve status table uses, so shared tooling can show either
    @property
    def generation(self) -> int:
        return self.step

    @property
    def valid(self) -> int:
        return self.promoted


@dataclass
class PromptSummary:
    run_id: str
    status: str
    stop_reason: str
    task: str
    start: CandidateRow | None
    best: CandidateRow | None
    test_scores: dict[str, float | None]  # candidate id -> held-out accuracy
    stats: PromptStats
    n_train: int = 0
    n_test: int = 0


@dataclass
class _Eval:
    """What Store.add_evaluation expects (the attributes of a sandbox EvalResult)."""

    status: str
    score: float | None
    instances: dict[str, dict]
    error: str | None = None
    traceback: str | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    duration_s: float = 0.0


def instruction_hash(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()[:16]


def parse_instruction(text: str) -> str:
    """The text between <INS> and </INS> (the last complete pair); else the answer itself, unquoted."""
    pairs = re.findall(r"<INS>(.*?)</INS>", text, re.S | re.I)
    if pairs:
        out = pairs[-1]
    elif re.search(r"<INS>", text, re.I):
        out = re.split(r"<INS>", text, flags=re.I)[-1]
    else:
        out = re.sub(r"^\s*(?:new\s+)?instruction\s*:\s*", "", text.strip(), flags=re.I)
    out = out.strip().strip("`").strip()
    if len(out) >= 2 and out[0] == out[-1] and out[0] in "\"'":
        out = out[1:-1].strip()
    return out


OPTIMIZER_PREFILL = "Instruction: <INS>"  # as in prompts/opro_prompt/history_item.txt


class PromptJob:
    def __init__(self, *, store: Store, run_id: str, config: PromptConfig, task: PromptTask, scorer: Scorer,
                 gateway: Any, on_update: Callable[[PromptStats], None] | None = None) -> None:
        self.store, self.run_id, self.config, self.task = store, run_id, config, task
        self.scorer, self.gateway = scorer, gateway
        self.on_update = on_update or (lambda stats: None)
        self.stats = PromptStats()
        self.stop_reason: str | None = None
        self.deadline = time.monotonic() + config.timeout_s if config.timeout_s else None
        self.task_max_tokens = config.task_max_tokens or task.task_max_tokens
        order = list(range(len(task.train)))
        random.Random(f"minibatch-{config.seed}").shuffle(order)
        self.minibatch = [task.train[i] for i in sorted(order[: config.minibatch])]
        self.screening = len(self.minibatch) < len(task.train)
        # keep enough calls (or money: as many calls at the average task-call cost) for the held-out scoring at the end,
        # for a cost budget as much as for a call budget; at most half of either budget
        self.reserve_calls = (config.test_top_k + 1) * len(task.test)
        if config.max_llm_calls is not None:
            self.reserve_calls = min(config.max_llm_calls // 2, self.reserve_calls)
        self._task_cost: list[float] = []
        self._load_existing()

    # -- state from the store -------------------------------------------------------------
    def _load_existing(self) -> None:
        self.candidates: dict[str, CandidateRow] = {c.id: c for c in self.store.candidates(self.run_id)}
        self.train_rows: dict[str, dict[str, dict]] = {}  # candidate id -> example id -> metrics (full train)
        for c in self.candidates.values():
            for e in self.store.evaluations(c.id, "train"):
                if e.instance_set == "train" and e.status == "ok":
                    self.train_rows[c.id] = e.instances
            self._count(c)
        totals = self.store.run_llm_totals(self.run_id)
        self.stats.llm_calls = int(totals["calls"])
        self.stats.prompt_tokens = int(totals["prompt_tokens"])
        self.stats.completion_tokens = int(totals["completion_tokens"])
        self.stats.cost_usd = float(totals["cost_usd"])
        if self.candidates:
            self.stats.step = max(c.generation for c in self.candidates.values())

    def _count(self, c: CandidateRow) -> None:
        self.stats.candidates += 1
        if c.status == "evaluated":
            if c.valid:
                self.stats.promoted += 1
                if c.operator == "start":
                    self.stats.start_score = c.train_score
                if self.stats.best_score is None or (c.train_score or 0) > self.stats.best_score:
                    self.stats.best_score, self.stats.best_id = c.train_score, c.id
            else:
                self.stats.screened_out += 1
        elif c.status == "rejected":
            self.stats.rejected += 1
        elif c.status == "duplicate":
            self.stats.duplicates += 1

    def _remember(self, cid: str) -> CandidateRow:
        row = self.store.get_candidate(cid)
        self.candidates[cid] = row
        return row

    def _rank_key(self, c: CandidateRow) -> tuple:
        return (-(c.train_score if c.train_score is not None else -1.0), c.generation, c.slot)

    def best(self, before_step: int | None = None) -> CandidateRow | None:
        pool = [c for c in self.candidates.values() if c.valid and (before_step is None or c.generation < before_step)]
        return min(pool, key=self._rank_key, default=None)

    def start_row(self) -> CandidateRow | None:
        return next((c for c in self.candidates.values() if c.operator == "start"), None)

    # -- budgets ---------------------------------------------------------------------------
    def _check_budgets(self) -> bool:
        if self.stop_reason:
            return True
        c = self.config
        avg_task_cost = sum(self._task_cost) / len(self._task_cost) if self._task_cost else 0.0
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stop_reason = f"wall-clock timeout of {c.timeout_s:g} s reached"
        elif c.max_llm_calls is not None and self.stats.llm_calls + self.reserve_calls >= c.max_llm_calls:
            self.stop_reason = (f"LLM call budget of {c.max_llm_calls} reached"
                                + (f" ({self.reserve_calls} kept for held-out scoring)" if self.reserve_calls else ""))
        elif c.max_cost_usd is not None and self.stats.cost_usd + (
                kept := min(avg_task_cost * self.reserve_calls, c.max_cost_usd / 2)) >= c.max_cost_usd:
            self.stop_reason = f"cost budget of ${c.max_cost_usd:g} reached" + (
                f" (${kept:.4f} kept for held-out scoring)" if kept else "")
        return self.stop_reason is not None

    # -- LLM calls ------------------------------------------------------------------------
    def _account(self, resp: Any, role: str) -> None:
        if resp.cached:
            self.stats.cached_calls += 1
            return
        self.stats.llm_calls += 1
        self.stats.prompt_tokens += resp.prompt_tokens
        self.stats.completion_tokens += resp.completion_tokens
        self.stats.cost_usd += resp.cost_usd
        if role == "task":
            self.stats.task_calls += 1
            self._task_cost.append(resp.cost_usd)
        else:
            self.stats.optimizer_calls += 1

    def task_messages(self, instruction: str, example: Example) -> list[dict[str, str]]:
        text = render("opro_prompt/task.txt", instruction=instruction.strip(), input=example.input).strip()
        return [{"role": "user", "content": text}]

    async def _answer(self, instruction: str, example: Example) -> tuple[str | None, str | None]:
        """(output, error). None output with an error 'budget' means the budget ran out: nothing is recorded."""
        labels = self.scorer.labels if isinstance(self.scorer, LabelScorer) else None
        try:
            if labels:
                resp = await self.gateway.choose(model=self.config.task_model, labels=labels,
                                                 messages=self.task_messages(instruction, example))
            else:
                resp = await self.gateway.complete(model=self.config.task_model,
                                                   messages=self.task_messages(instruction, example), temperature=0.0,
                                                   max_tokens=self.task_max_tokens, sample_index=0, role="task")
        except BudgetExhausted as exc:
            self.stop_reason = self.stop_reason or str(exc)
            return None, "budget"
        except LLMCallFailed as exc:
            self.stats.llm_errors += 1
            return "", f"LLM call failed: {exc}"
        self._account(resp, "task")
        return resp.text, None

    async def score_examples(self, instruction: str, examples: list[Example],
                             known: dict[str, dict] | None = None) -> _Eval | None:
        """Answers and scores; None when the budget ran out before every answer was in (nothing to record)."""
        t0 = time.monotonic()
        known = known or {}
        todo = [e for e in examples if e.id not in known]
        answers = await asyncio.gather(*(self._answer(instruction, e) for e in todo))
        if any(err == "budget" for _, err in answers):
            return None
        outputs = [o or "" for o, _ in answers]
        batch: BatchScore = await self.scorer.score_batch(outputs, [e.target for e in todo])
        instances = {k: v for k, v in known.items() if k in {e.id for e in examples}}
        for e, (out, err), r in zip(todo, answers, batch.results):
            row: dict[str, Any] = {"score": r.score, "output": (out or "")[:400]}
            if r.pred is not None:
                row["pred"] = r.pred[:80]
            if err or r.error:
                row["error"] = err or r.error
            instances[e.id] = row
        if batch.status != "ok":
            return _Eval(status="error", score=None, instances=instances, error=batch.error, traceback=batch.traceback,
                         duration_s=time.monotonic() - t0)
        score = sum(v["score"] for v in instances.values()) / max(1, len(instances))
        return _Eval(status="ok", score=score, instances=instances, duration_s=time.monotonic() - t0)

    # -- the loop ---------------------------------------------------------------------------
    async def run(self) -> str:
        await self._ensure_start()
        await self._evaluate_pending()
        for step in range(1, self.config.steps + 1):
            taken = {c.slot for c in self.candidates.values() if c.generation == step}
            slots = [s for s in range(self.config.candidates_per_step) if s not in taken]
            if not slots:
                continue
            if self._check_budgets():
                break
            self.stats.step = step
            self.stats.phase = f"step {step}: proposing"
            self.on_update(self.stats)
            messages = await self.meta_prompt(step)
            if self.stop_reason:
                break
            await asyncio.gather(*(self._slot(step, s, messages) for s in slots))
            if self.stop_reason:
                break
        if self.stop_reason is None:
            self.stop_reason = f"all {self.config.steps} steps done"
        self.on_update(self.stats)
        return self.stop_reason

    async def _ensure_start(self) -> None:
        if self.start_row() is None:
            text = self.config.start.strip()
            cid = self.store.add_candidate(run_id=self.run_id, generation=0, slot=0, operator="start", parent_ids=[],
                                           thought="the starting instruction", code=text, code_hash=instruction_hash(text),
                                           llm_call_key=None)
            self._remember(cid)
            self.stats.candidates += 1

    async def _evaluate_pending(self) -> None:
        pending = sorted((c for c in self.candidates.values() if c.status == "pending"), key=lambda c: (c.generation, c.slot))
        for c in pending:
            if self._check_budgets() and c.operator != "start":
                return
            await self._evaluate(c.id)

    async def _slot(self, step: int, slot: int, messages: list[dict[str, str]]) -> None:
        if self._check_budgets():
            return
        try:
            prefilled = messages[-1]["role"] == "assistant"
            resp = await self.gateway.complete(model=self.config.optimizer_model, messages=messages,
                                               temperature=self.config.optimizer_temperature,
                                               max_tokens=self.config.optimizer_max_tokens,
                                               sample_index=step * SLOT_STRIDE + slot, role="optimizer",
                                               stop=["</INS>"] if prefilled else None)
        except BudgetExhausted as exc:
            self.stop_reason = self.stop_reason or str(exc)
            return
        except LLMCallFailed:
            self.stats.llm_errors += 1
            self.on_update(self.stats)
            return
        self._account(resp, "optimizer")
        text = parse_instruction(resp.text)
        best = self.best(step)
        parents = [best.id] if best else []
        digest = instruction_hash(text)
        common = dict(run_id=self.run_id, generation=step, slot=slot, operator="opro", parent_ids=parents, thought="",
                      code=text, code_hash=digest, llm_call_key=resp.key)
        if not text or len(text) > self.config.max_instruction_chars:
            why = "empty instruction" if not text else f"instruction longer than {self.config.max_instruction_chars} characters"
            cid = self.store.add_candidate(**common, status="rejected", reject_reason=why)
        else:
            twin = next((c for c in self.candidates.values() if c.code_hash == digest and c.status != "rejected"), None)
            cid = self.store.add_candidate(**common, status="duplicate" if twin else "pending",
                                           reject_reason=f"duplicate of {twin.id}" if twin else None)
        row = self._remember(cid)
        if row.status != "pending":
            self._count(row)
            self.on_update(self.stats)
            return
        self.stats.candidates += 1
        self.on_update(self.stats)
        await self._evaluate(cid)

    def _minibatch_score(self, cid: str) -> float | None:
        rows = self.train_rows.get(cid)
        if not rows:
            return None
        vals = [rows[e.id]["score"] for e in self.minibatch if e.id in rows]
        return sum(vals) / len(vals) if vals else None

    async def _evaluate(self, cid: str) -> None:
        row = self.candidates[cid]
        existing = {e.instance_set: e for e in self.store.evaluations(cid, "train") if e.status == "ok"}
        known: dict[str, dict] = {}
        if row.operator != "start" and self.screening:
            self.stats.phase = f"step {row.generation}: screening on {len(self.minibatch)} examples"
            self.on_update(self.stats)
            if "minibatch" in existing:
                mb = existing["minibatch"]
                mb_eval = _Eval(status="ok", score=mb.score, instances=mb.instances)
            else:
                mb_eval = await self.score_examples(row.code, self.minibatch)
                if mb_eval is None:
                    return  # budget: stays pending, resumable
                self.store.add_evaluation(cid, "train", "minibatch", mb_eval)
            if mb_eval.status != "ok":
                self._scorer_failed(cid, mb_eval)
                return
            best = self.best(row.generation)
            bar = self._minibatch_score(best.id) if best else None
            if bar is not None and mb_eval.score is not None and mb_eval.score < bar - self.config.screen_margin:
                self.store.finish_candidate(cid, status="evaluated", train_score=mb_eval.score, valid=False,
                                            reject_reason=f"screened out: minibatch accuracy {mb_eval.score:.3f} < best's {bar:.3f}")
                self.store.add_feedback(self.run_id, cid, self._directional(cid, mb_eval.instances, best))
                self._count(self._remember(cid))
                self.on_update(self.stats)
                return
            known = mb_eval.instances
        self.stats.phase = f"step {row.generation}: scoring on {len(self.task.train)} train examples"
        self.on_update(self.stats)
        full = await self.score_examples(row.code, self.task.train, known)
        if full is None:
            return
        self.store.add_evaluation(cid, "train", "train", full)
        if full.status != "ok":
            self._scorer_failed(cid, full)
            return
        best = self.best(row.generation) if row.operator != "start" else None
        self.train_rows[cid] = full.instances
        self.store.finish_candidate(cid, status="evaluated", train_score=full.score, valid=True)
        self.store.add_feedback(self.run_id, cid, self._directional(cid, full.instances, best))
        self._count(self._remember(cid))
        self.on_update(self.stats)

    def _scorer_failed(self, cid: str, ev: _Eval) -> None:
        """The scorer itself failed (a user scorer that does not import, times out...): recorded, and the run stops,
        since every further candidate would fail the same way."""
        self.store.finish_candidate(cid, status="evaluated", train_score=None, valid=False, reject_reason=ev.error)
        self.store.add_feedback(self.run_id, cid, f"Result: ERROR: {ev.error}")
        self._count(self._remember(cid))
        self.stop_reason = self.stop_reason or f"the scorer failed: {ev.error}"
        self.on_update(self.stats)

    def _directional(self, cid: str, instances: dict[str, dict], best: CandidateRow | None) -> str:
        score = sum(v["score"] for v in instances.values()) / max(1, len(instances))
        lines = [f"Result: train accuracy {score:.3f} on {len(instances)} examples."]
        ref = self.train_rows.get(best.id) if best else None
        if best is not None and ref:
            common = [k for k in instances if k in ref]
            fixed = [k for k in common if instances[k]["score"] > ref[k]["score"]]
            broke = [k for k in common if instances[k]["score"] < ref[k]["score"]]
            lines.append(f"vs best {best.id}: fixed {len(fixed)} of the examples it got wrong, broke {len(broke)} it got right"
                         f" (of {len(common)} compared).")
        wrong = [k for k, v in instances.items() if v["score"] < 1]
        if wrong:
            lines.append(f"Wrong on {len(wrong)}: {', '.join(wrong[:8])}{' ...' if len(wrong) > 8 else ''}.")
        return "\n".join(lines)

    # -- meta-prompt and reflection ------------------------------------------------------------
    def _failures(self, best: CandidateRow) -> list[tuple[Example, str]]:
        rows = self.train_rows.get(best.id, {})
        out = []
        for e in self.task.train:
            r = rows.get(e.id)
            if r is not None and r["score"] < 1:
                out.append((e, r.get("output", "")))
            if len(out) >= self.config.feedback_failures:
                break
        return out

    @staticmethod
    def _clip(text: str, n: int = 300) -> str:
        text = " ".join(str(text).split()) if len(text) > n else str(text).strip()
        return text if len(text) <= n else text[: n - 3] + "..."

    async def _reflection(self, best: CandidateRow, failures: list[tuple[Example, str]]) -> str | None:
        stored = self.store.feedback_for(best.id)
        if stored and "\nAnalysis: " in stored:
            return stored.split("\nAnalysis: ", 1)[1].strip()
        block = "\n".join(render("opro_prompt/failure.txt", input=self._clip(e.input), target=e.target,
                                 output=self._clip(out or "(empty)")) for e, out in failures)
        prompt = render("opro_prompt/reflect.txt", instruction=best.code or "(empty)", failures=block).strip()
        try:
            resp = await self.gateway.complete(model=self.config.optimizer_model, messages=[{"role": "user", "content": prompt}],
                                               temperature=0.0, max_tokens=self.config.optimizer_max_tokens, sample_index=0,
                                               role="optimizer")
        except BudgetExhausted as exc:
            self.stop_reason = self.stop_reason or str(exc)
            return None
        except LLMCallFailed:
            self.stats.llm_errors += 1
            return None
        self._account(resp, "optimizer")
        analysis = " ".join(resp.text.split())[:800]
        self.store.add_feedback(self.run_id, best.id, (stored or "").rstrip() + "\nAnalysis: " + analysis)
        return analysis

    async def meta_prompt(self, step: int) -> list[dict[str, str]]:
        seen: set[str] = set()
        shown: list[CandidateRow] = []
        for c in sorted((c for c in self.candidates.values() if c.generation < step and c.status == "evaluated"
                         and c.train_score is not None), key=self._rank_key):
            if c.code_hash not in seen:
                seen.add(c.code_hash)
                shown.append(c)
        shown = shown[: self.config.top_k]
        history = "\n".join(render("opro_prompt/history_item.txt", instruction=c.code or "(empty)",
                                   score=f"{100 * (c.train_score or 0):.0f}%")
                            for c in reversed(shown)).strip() or "(none yet)"
        rng = random.Random(f"{self.config.seed}-exemplars-{step}")
        picks = rng.sample(self.task.train, min(self.config.exemplars, len(self.task.train)))
        exemplars = "\n".join(render("opro_prompt/exemplar.txt", input=self._clip(e.input, 600), target=e.target)
                              for e in picks).strip()
        feedback = ""
        best = self.best(step)
        if self.config.feedback and best is not None and self.config.feedback_failures:
            failures = self._failures(best)
            if failures:
                self.stats.phase = f"step {step}: reflecting on the best's failures"
                self.on_update(self.stats)
                analysis = await self._reflection(best, failures)
                block = "\n".join(render("opro_prompt/failure.txt", input=self._clip(e.input), target=e.target,
                                         output=self._clip(out or "(empty)")) for e, out in failures)
                feedback = "\n" + render("opro_prompt/feedback.txt", failures=block,
                                         analysis=analysis or "(not available)")
        description = f"Task: {self.task.description}\n" if self.task.description else ""
        user = render("opro_prompt/meta.txt", description=description, history=history, exemplars=exemplars,
                      feedback=feedback).strip()
        messages = [{"role": "user", "content": user}]
        if handles_prefill(self.config.optimizer_model):
            # A small in-process model's answer starts the way the history lists instructions and stops at the tag's
            # end (see _slot): one instruction, instead of continuing the meta-prompt's examples and feedback as a
            # 0.5B model does. A bare "<INS>" would read like the exemplars, where an input word follows the tag.
            messages.append({"role": "assistant", "content": OPTIMIZER_PREFILL})
        return messages

    # -- held-out scoring -------------------------------------------------------------------------
    async def score_test(self) -> dict[str, float | None]:
        seen: set[str] = set()
        chosen: list[CandidateRow] = []
        for c in sorted((c for c in self.candidates.values() if c.valid), key=self._rank_key):
            if c.code_hash not in seen and len(chosen) < self.config.test_top_k:
                seen.add(c.code_hash)
                chosen.append(c)
        start = self.start_row()
        if start is not None and start.valid and start.id not in {c.id for c in chosen}:
            chosen.append(start)
        out: dict[str, float | None] = {}
        self.stats.phase = f"scoring {len(chosen)} instructions on {len(self.task.test)} held-out examples"
        self.on_update(self.stats)
        for c in chosen:
            rows = [e for e in self.store.evaluations(c.id, "test") if e.status == "ok"]
            if not rows:
                ev = await self.score_examples(c.code, self.task.test)
                if ev is None:
                    out[c.id] = None
                    continue
                self.store.add_evaluation(c.id, "test", "test", ev)
                rows = [self.store.evaluations(c.id, "test")[-1]]
            out[c.id] = rows[-1].score if rows[-1].status == "ok" else None
        self.stats.phase = "done"
        self.on_update(self.stats)
        return out


def check_prompt_run(store: Store, run_id: str) -> None:
    run = store.get_run(run_id)
    if run.kind != "prompt":
        raise StoreError(f"run {run.id} is a {run.kind} run, not a prompt run; resume it with `discover evolve --resume`")
