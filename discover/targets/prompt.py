"""The prompt target: a candidate is an instruction placed before each input of a task; a task model answers and a
scorer compares each answer with the expected one. Evaluation makes task-model calls through the run's gateway
(budgeted, cached: temperature 0 and sample_index 0, so an (instruction, example) answer is paid once). Screening is
a fixed train minibatch: an instruction below the best's minibatch accuracy goes no further.

Task data comes from a prompt problem folder (problem.toml with kind = "prompt"; see docs/architecture.md) or from
the [prompt] options (a built-in task name, one JSONL file, or train/test files)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import re
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from discover.errors import ConfigError, ProblemError
from discover.extract import MalformedOutput
from discover.feedback import Outcome, Reference
from discover.llm.providers import in_process
from discover.operators.base import render
from discover.prompting import parts as prompt_parts
from discover.prompting.datasets import Example, PromptTask, load_task, read_jsonl
from discover.prompting.scorers import LabelScorer, Scorer, make_scorer
from discover.targets.base import DirectionMixin, EvalRecord, Parsed, Seed, Stage


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


class PromptFolderTask(BaseModel):
    """[task] of a prompt problem folder's problem.toml."""

    model_config = ConfigDict(extra="forbid")

    train: str = "train.jsonl"
    test: str = "test.jsonl"
    scorer: str = "exact"
    labels: list[str] = Field(default_factory=list)
    task_model: str | None = None
    task_max_tokens: int = Field(128, gt=0)


class PromptFolderSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    kind: str
    description: str = ""
    task: PromptFolderTask = Field(default_factory=PromptFolderTask)


def load_prompt_folder(root: Path) -> tuple[PromptTask, PromptFolderSpec, str]:
    """-> (task, spec, starting instruction from seed.txt or "")."""
    path = root / "problem.toml"
    try:
        spec = PromptFolderSpec.model_validate(tomllib.loads(path.read_text()))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ProblemError(f"{path}: {str(exc).splitlines()[0]}", path=str(path)) from None
    t = spec.task
    task = PromptTask(name=spec.name, source=str(root), train=read_jsonl(root / t.train, "train-"),
                      test=read_jsonl(root / t.test, "test-"), description=spec.description.strip(), scorer=t.scorer,
                      labels=list(t.labels), task_max_tokens=t.task_max_tokens)
    start = (root / "seed.txt").read_text().strip() if (root / "seed.txt").is_file() else ""
    return task, spec, start


@contextlib.contextmanager
def open_scorer(spec: str, *, labels: list[str], task_model: str, config: Any) -> Iterator[tuple[Scorer, str | None]]:
    """A built-in scorer, or the user's scorer.py run in a sandbox. -> (scorer, sandbox backend or None)."""
    if spec.endswith(".py"):
        from discover.sandbox import open_sandbox

        scorer = make_scorer(spec, timeout_s=config.prompt.scorer_timeout_s)
        try:
            with open_sandbox(config.sandbox, workers=1) as sb:
                scorer.sandbox = sb  # type: ignore[attr-defined]
                yield scorer, sb.backend
        finally:
            scorer.close()  # type: ignore[attr-defined]
        return
    if spec == "label" and not in_process(task_model):
        raise ConfigError(f"the label scorer needs an in-process task model (local/...), not {task_model}: "
                          f"a hosted API returns text only; use --scorer choice")
    yield make_scorer(spec, labels=labels), None


class PromptTarget(DirectionMixin):
    kind = "prompt"
    direction = "maximize"
    fills_first_generation = False   # step 0 is the starting instruction alone
    propose_role = "optimizer"
    default_strategy = "opro"

    def __init__(self, task: PromptTask, scorer: Scorer, config: Any, *, task_model: str, start: str,
                 source: str, backend: str | None = None) -> None:
        self.task, self.scorer, self.config, self.options = task, scorer, config, config.prompt
        self.name = f"prompt:{task.name}"
        self.source = source
        self.backend = backend
        self.model = self.optimizer_model = config.model
        self.task_model = task_model
        self.temperature = 1.0 if config.temperature is None else config.temperature
        self.max_tokens = config.max_tokens or 200
        self.task_max_tokens = self.options.task_max_tokens or task.task_max_tokens
        self.start = start
        self.train_sets, self.test_sets = ["train"], ["test"]
        self.llm: Any = None  # the loop's LLM (discover.engine.llm.LLM), attached before the first evaluation
        order = list(range(len(task.train)))
        random.Random(f"minibatch-{config.seed}").shuffle(order)
        self.minibatch = [task.train[i] for i in sorted(order[: self.options.minibatch])]
        self.screening = len(self.minibatch) < len(task.train)

    def attach(self, llm: Any) -> None:
        self.llm = llm

    # -- what a candidate is ---------------------------------------------------------------------------------
    def seed(self) -> Seed:
        return Seed(content=self.start.strip(), thought="the starting instruction", operator="start")

    def parse(self, text: str, prefix: str = "") -> Parsed:
        out = parse_instruction(text)
        if not out:
            raise MalformedOutput("empty instruction")
        if len(out) > self.options.max_instruction_chars:
            raise MalformedOutput(f"instruction longer than {self.options.max_instruction_chars} characters")
        return Parsed(content=out)

    def stop_sequences(self, prefix: str) -> list[str] | None:
        return None  # the operator sets its own (</INS> when prefilled)

    def fingerprint(self, content: str) -> str:
        return instruction_hash(content)

    def render(self, content: str) -> str:
        return prompt_parts.decode(content).instruction  # operators edit the instruction; demos are searched apart

    def call_limits(self) -> dict[str, int | None]:
        """Per-role budgets of the search (the loop's LLM enforces them; held-out scoring is not counted)."""
        return {"task": self.options.max_task_calls, "optimizer": self.options.max_optimizer_calls}

    def spent_calls(self, store: Any, run_id: str) -> Counter:
        """Budgeted calls earlier sessions of the run paid for, by role: held-out scoring's task calls (recognised by
        their test input, which the search never asks) are not counted."""
        test_only = {e.input.strip() for e in self.task.test} - {e.input.strip() for e in self.task.train}
        out: Counter = Counter()
        for r in store.llm_calls(run_id):
            if r["cached"] or r["error"] is not None:
                continue
            if r["role"] == "task" and test_only:
                last = next((m["content"] for m in reversed(json.loads(r["messages"])) if m["role"] == "user"), "")
                if last.strip() in test_only or last.rsplit("\n\n", 1)[-1].strip() in test_only:
                    continue
            out[r["role"]] += 1
        return out

    # -- evaluation ------------------------------------------------------------------------------------------
    def task_messages(self, content: str, example: Example) -> list[dict[str, str]]:
        """A plain instruction: one user turn (instruction, blank line, input); a candidate with parts adds its
        system text, format line and demos (discover/prompting/parts.py)."""
        def first_turn(head: str, text: str) -> str:
            return render("opro_prompt/task.txt", instruction=head.strip(), input=text).strip()

        return prompt_parts.task_messages(prompt_parts.decode(content), example, first_turn)

    async def _answer(self, instruction: str, example: Example, budgeted: bool = True) -> tuple[str, str | None]:
        """(output, error). A single failed call scores its example 0 with the error; three failures in a row stop
        the run (the LLM raises); a spent budget raises BudgetExhausted (the candidate stays pending)."""
        messages = self.task_messages(instruction, example)
        if isinstance(self.scorer, LabelScorer):
            resp = await self.llm.choose(model=self.task_model, labels=self.scorer.labels, messages=messages,
                                         tolerate_failure=True, budgeted=budgeted)
        else:
            resp = await self.llm.complete(model=self.task_model, messages=messages, temperature=0.0,
                                           max_tokens=self.task_max_tokens, sample_index=0, role="task",
                                           tolerate_failure=True, budgeted=budgeted)
        if resp is None:
            return "", "LLM call failed"
        return resp.text, None

    async def _score(self, instruction: str, examples: list[Example], known: dict[str, dict] | None = None,
                     budgeted: bool = True) -> EvalRecord:
        t0 = time.monotonic()
        known = known or {}
        todo = [e for e in examples if e.id not in known]
        answers = await asyncio.gather(*(self._answer(instruction, e, budgeted) for e in todo))
        batch = await self.scorer.score_batch([o for o, _ in answers], [e.target for e in todo])
        wanted = {e.id for e in examples}
        instances = {k: v for k, v in known.items() if k in wanted}
        for e, (out, err), r in zip(todo, answers, batch.results):
            row: dict[str, Any] = {"score": r.score, "output": (out or "")[:400]}
            if r.pred is not None:
                row["pred"] = r.pred[:80]
            if err or r.error:
                row["error"] = err or r.error
            instances[e.id] = row
        if batch.status != "ok":
            return EvalRecord(status="error", score=None, instances=instances, error=batch.error,
                              traceback=batch.traceback, duration_s=time.monotonic() - t0)
        score = sum(v["score"] for v in instances.values()) / max(1, len(instances))
        return EvalRecord(status="ok", score=score, instances=instances, duration_s=time.monotonic() - t0)

    @staticmethod
    def _outcome(ev: Any) -> Outcome:
        if ev.status != "ok":
            return Outcome(status="error", error=ev.error, traceback=ev.traceback, duration_s=ev.duration_s or 0.0)
        return Outcome(status="ok", score=ev.score, instances={k: float(v["score"]) for k, v in ev.instances.items()},
                       details=dict(ev.instances), duration_s=ev.duration_s or 0.0)

    def _stage(self, name: str, ev: EvalRecord) -> Stage:
        fatal = None if ev.status == "ok" else f"the scorer failed: {ev.error}"
        return Stage(rows=[(name, ev)], outcome=self._outcome(ev), fatal=fatal)

    async def screen(self, content: str, *, best: Outcome | None, deadline: float | None) -> Stage | None:
        if not self.screening:
            return None
        stage = self._stage("minibatch", await self._score(content, self.minibatch))
        if stage.fatal or best is None or not best.details:
            return stage
        vals = [best.details[e.id]["score"] for e in self.minibatch if e.id in best.details]
        bar = sum(vals) / len(vals) if vals else None
        score = stage.outcome.score
        if bar is not None and score is not None and score < bar - self.options.screen_margin:
            stage.verdict = f"screened out: minibatch accuracy {score:.3f} < best's {bar:.3f}"
        return stage

    async def evaluate(self, content: str, *, split: str, sets: list[str] | None = None, prior: Stage | None = None,
                       deadline: float | None = None) -> Stage:
        examples = self.task.train if split == "train" else self.task.test
        known = prior.outcome.details if prior is not None and split == "train" else None
        return self._stage(split, await self._score(content, examples, known, budgeted=split == "train"))

    def outcome_from_rows(self, rows: list[Any]) -> Outcome:
        by_set = {r.instance_set: r for r in rows}
        row = by_set.get("train") or by_set.get("minibatch")
        return self._outcome(row) if row is not None else Outcome(status="pending")

    def feedback(self, thought: str, outcome: Outcome, parent: Reference | None, best: Reference | None) -> str:
        if not outcome.valid:
            return f"Result: ERROR: {outcome.error}"
        instances = outcome.instances
        lines = [f"Result: train accuracy {outcome.score:.3f} on {len(instances)} examples."]
        ref = best.outcome.instances if best is not None and best.outcome.valid else None
        if best is not None and ref:
            common = [k for k in instances if k in ref]
            fixed = [k for k in common if instances[k] > ref[k]]
            broke = [k for k in common if instances[k] < ref[k]]
            lines.append(f"vs best {best.id}: fixed {len(fixed)} of the examples it got wrong, broke {len(broke)} it got "
                         f"right (of {len(common)} compared).")
        wrong = [k for k, v in instances.items() if v < 1]
        if wrong:
            lines.append(f"Wrong on {len(wrong)}: {', '.join(wrong[:8])}{' ...' if len(wrong) > 8 else ''}.")
        return "\n".join(lines)

    def test_reserve_calls(self, top_k: int) -> int:
        return (top_k + 1) * len(self.task.test)

    def header(self) -> dict[str, Any]:
        return {"problem": self.name, "target": self.kind, "task_model": self.task_model, "sandbox": self.backend,
                "n_train": len(self.task.train), "n_test": len(self.task.test)}

    def close(self) -> None:
        pass


def task_from_options(config: Any) -> PromptTask:
    o = config.prompt
    return load_task(o.task, train_file=o.train_file, test_file=o.test_file, seed=config.seed,
                     test_fraction=o.test_fraction, max_train=o.max_train, max_test=o.max_test)


def _subsample(rows: list[Example], n: int | None, seed: int, tag: str) -> list[Example]:
    if n is None or n >= len(rows):
        return rows
    idx = sorted(random.Random(f"{tag}-{seed}").sample(range(len(rows)), n))
    return [rows[i] for i in idx]


@contextlib.contextmanager
def open_prompt_target(config: Any, root: Path | None) -> Iterator[PromptTarget]:
    """From a prompt problem folder (root) or from config.prompt's task options."""
    o = config.prompt
    folder_model = None
    if root is not None and not (o.task or o.train_file):
        task, spec, start = load_prompt_folder(root)
        task.train = _subsample(task.train, o.max_train, config.seed, "train")
        task.test = _subsample(task.test, o.max_test, config.seed, "test")
        folder_model, source = spec.task.task_model, str(root)
    else:
        task, start, source = task_from_options(config), "", None
        source = task.source
    task_model = o.task_model or folder_model or config.model
    start = o.start if o.start is not None else start
    spec_name = o.scorer or task.scorer
    labels = o.labels or task.labels or sorted({e.target for e in task.train})
    with open_scorer(spec_name, labels=labels, task_model=task_model, config=config) as (scorer, backend):
        yield PromptTarget(task, scorer, config, task_model=task_model, start=start, source=source, backend=backend)
