"""GEPA itself (`pip install gepa`; bench only, never a dependency of discover) on a built-in prompt task, pointed at
the same embedded model through discover's gateway: GEPA's DefaultAdapter takes a callable task model (messages ->
text) and a callable reflection model (prompt -> text), so no server is needed. The task data, the scorer and the
held-out split are discover's; `max_metric_calls` is the task-call budget (GEPA counts one metric call per example
evaluated, and does not cache, so metric calls = task-model calls). Used by bench/prompt_search.py --methods gepa.

    PYTHONPATH=/path/to/gepa python bench/gepa_baseline.py --task larger_animal --task-calls 96
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from discover.llm import Gateway  # noqa: E402
from discover.prompting.datasets import load_task  # noqa: E402
from discover.prompting.scorers import LabelScorer, make_scorer  # noqa: E402

MODEL = "local/qwen2.5-coder-0.5b"


def run_gepa(task_name: str, *, start: str, task_calls: int, max_train: int, max_test: int, seed: int = 0,
             scorer_spec: str | None = None, model: str = MODEL, reflection_model: str | None = None) -> dict:
    import gepa
    from gepa.adapters.default_adapter.default_adapter import DefaultAdapter, EvaluationResult

    task = load_task(task_name, seed=seed, max_train=max_train, max_test=max_test)
    labels = task.labels or sorted({e.target for e in task.train})
    scorer = make_scorer(scorer_spec or task.scorer, labels=labels)
    gateway = Gateway(concurrency=4, timeout_s=900, max_retries=1)  # a loaded 2-core machine: slow, not broken
    counts = {"task": 0, "reflection": 0}

    def task_lm(messages) -> str:
        counts["task"] += 1
        msgs = [dict(m) for m in messages]
        if isinstance(scorer, LabelScorer):
            return asyncio.run(gateway.choose(model=model, messages=msgs, labels=scorer.labels)).text
        return asyncio.run(gateway.complete(model=model, messages=msgs, temperature=0.0,
                                            max_tokens=task.task_max_tokens, role="task")).text

    def reflection_lm(prompt: str) -> str:
        counts["reflection"] += 1
        return asyncio.run(gateway.complete(model=reflection_model or model, messages=[{"role": "user", "content": prompt}],
                                            temperature=1.0, max_tokens=200, role="optimizer",
                                            sample_index=counts["reflection"])).text

    def evaluate(data, response: str) -> EvaluationResult:
        r = scorer.one(response, data["answer"])
        verdict = "correct" if r.score >= 1 else f"incorrect; the expected answer is '{data['answer']}'"
        return EvaluationResult(score=r.score, feedback=f"The answer is {verdict}.", objective_scores=None)

    def as_data(rows):
        return [{"input": e.input, "additional_context": {}, "answer": e.target} for e in rows]

    t0 = time.monotonic()
    result = gepa.optimize(seed_candidate={"system_prompt": start}, trainset=as_data(task.train),
                           valset=as_data(task.train), adapter=DefaultAdapter(model=task_lm, evaluator=evaluate),
                           reflection_lm=reflection_lm, max_metric_calls=task_calls, seed=seed,
                           display_progress_bar=False, raise_on_exception=False)
    search_calls = dict(counts)
    best = result.best_candidate["system_prompt"]

    def accuracy(instruction: str) -> float:
        adapter = DefaultAdapter(model=task_lm, evaluator=evaluate)
        batch = adapter.evaluate(as_data(task.test), {"system_prompt": instruction})
        return sum(batch.scores) / len(batch.scores)

    out = dict(best=best, best_test=accuracy(best), start_test=accuracy(start), search_calls=search_calls,
               candidates=len(result.candidates), wall_s=time.monotonic() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="larger_animal")
    ap.add_argument("--start", default="Output the larger animal.")
    ap.add_argument("--task-calls", type=int, default=96)
    ap.add_argument("--train", type=int, default=12)
    ap.add_argument("--test", type=int, default=20)
    ap.add_argument("--scorer", default=None)
    args = ap.parse_args()
    print(run_gepa(args.task, start=args.start, task_calls=args.task_calls, max_train=args.train, max_test=args.test,
                   scorer_spec=args.scorer))


if __name__ == "__main__":
    main()
